# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= ./confida-data
HOST ?= 127.0.0.1
PORT ?= 8443

.PHONY: run test venv lint bench clean mutate model

$(BIN)/confida: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/confida

venv: $(BIN)/confida

run: venv
	test -f $(DATA_DIR)/confida.toml || $(BIN)/confida --data-dir $(DATA_DIR) init
	$(BIN)/confida --data-dir $(DATA_DIR) serve --host $(HOST) --port $(PORT)

test: venv
	$(BIN)/ruff check .
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .

# Mutation testing (manual, slow; not part of `make test`). The modules mutated and the tests run
# against them are listed once, in pyproject.toml's [tool.mutmut]; docs/testing.md has the
# figures and the survivors accepted. MUTANTS narrows the run, e.g. MUTANTS='confida.authz.*'.
MUTATE_JOBS ?= 1
MUTANTS ?=
mutate: venv
	$(BIN)/pip install --quiet -e '.[test,mutate]'
	nice -n 10 $(BIN)/mutmut run --max-children $(MUTATE_JOBS) $(MUTANTS)
	$(BIN)/mutmut results

# Rebuild the shipped name and place tagger from the corpora in ../shared/data/ner (not part of
# `make test`; about 10 minutes on 2 cores). Fixed seed: the same data gives the same file, and
# tests/test_pii_tagger.py checks the committed file against the hash and scores in ner.json.
NER_DATA ?= ../shared/data/ner
MODEL_DIR := src/confida/pii/model
model: venv
	$(BIN)/pip install --quiet -e '.[test,model]'
	PYTHONHASHSEED=0 $(BIN)/python -m confida.pii.build_model --corpora $(NER_DATA) \
		--output $(MODEL_DIR)/ner.crfsuite

clean:
	rm -rf mutants $(VENV) .pytest_cache .ruff_cache .hypothesis build *.egg-info src/*.egg-info
