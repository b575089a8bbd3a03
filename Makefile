# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= ./confida-data
HOST ?= 127.0.0.1
PORT ?= 8443

.PHONY: run test venv lint bench clean mutate model

# Two stamps: `make run` installs only what serving needs (the package and its dependencies);
# `make test` adds the test extras (Ray, spaCy, Playwright, ...: about 1.5 GB).
$(VENV)/.serve-installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.serve-installed

venv: $(VENV)/.test-installed

run: $(VENV)/.serve-installed
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

# --- openapi: regenerate the published OpenAPI document, schemas/openapi.json, from the code
# (tests/test_openapi_spec.py fails while it differs; docs/api.md, "The published spec")
.PHONY: openapi
openapi: venv
	$(BIN)/python -m confida.server.openapi_export --out schemas/openapi.json
# ---

clean:
	rm -rf mutants $(VENV) .pytest_cache .ruff_cache .hypothesis build *.egg-info src/*.egg-info

# --- register reference: docs/register.md and schemas/register.schema.json, generated from the
# register models (src/confida/register/models.py); tests/test_register_reference.py fails when
# they drift.
.PHONY: register-docs
register-docs: venv
	$(BIN)/python -m confida.register.reference
# --- end register reference
