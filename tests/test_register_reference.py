"""docs/register.md and schemas/register.schema.json are generated from the register models and
never drift from them; the sample register names the schema on its first line and validates
against it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from confida.register import reference
from confida.register.models import Register
from tests.conftest import ROOT, SAMPLE_REGISTER

SCHEMA = ROOT / "schemas" / "register.schema.json"
DOC = ROOT / "docs" / "register.md"
FIRST_LINE = "# yaml-language-server: $schema=../schemas/register.schema.json"


def test_generated_files_are_up_to_date() -> None:
    stale = reference.stale(ROOT)
    assert stale == [], (
        f"{', '.join(map(str, stale))} out of date with src/confida/register/models.py: "
        "run `make register-docs`")


def test_every_field_documents_its_article_and_an_example() -> None:
    for _title, model, _where, _anchor in reference.SECTIONS:
        for name in model.model_fields:
            meta = reference.field_meta(model, name)
            assert meta.get("gdpr", "").startswith(("Art.", "Recital")), (model, name)
            assert meta.get("examples"), (model, name)
    text = DOC.read_text("utf-8")
    for _title, model, _where, anchor in reference.SECTIONS:
        for name in model.model_fields:
            assert f'<a id="{anchor}-{name.replace("_", "-")}"></a>' in text, (model, name)
    assert "| [`retention`](#purpose-retention) | [duration](#durations) | **required** | " \
           "Art. 5(1)(e), 13(2)(a), 30(1)(f) |" in text
    assert "| `explicit_consent` | Art. 9(2)(a) GDPR |" in text


def test_examples_are_valid_values() -> None:
    """Each example, put in the sample register where its field lives, still validates."""
    doc = yaml.safe_load(SAMPLE_REGISTER.read_text("utf-8"))
    meta = {name: reference.field_meta(Register, name)["examples"][0]
            for name in Register.model_fields}
    # the top-level examples form a register of their own
    Register.model_validate({**meta, "categories": {**meta["categories"]}})
    purpose = {name: reference.field_meta(reference.Purpose, name)["examples"][0]
               for name in reference.Purpose.model_fields}
    purpose.update({"legal_basis": "consent", "categories": ["contact.email"],
                    "kinds": ["account"], "compatible_with": {}})
    doc["purposes"]["example"] = purpose
    Register.model_validate(doc)


def test_sample_names_the_schema_and_validates_against_it() -> None:
    text = SAMPLE_REGISTER.read_text("utf-8")
    assert text.splitlines()[0] == FIRST_LINE
    # the path is relative to the file itself (the sample in examples/; the package's copy
    # src/confida/data/sample-register.yaml is a link to it)
    target = (SAMPLE_REGISTER.resolve().parent / FIRST_LINE.split("=", 1)[1]).resolve()
    assert target == SCHEMA.resolve() and target.is_file()
    schema = json.loads(SCHEMA.read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors(yaml.safe_load(text))) == []


@pytest.mark.parametrize("path,value", [
    (("purposes", "service", "retension"), "1y"),  # a typo
    (("purposes", "service", "retention"), 30),  # a number without its unit
    (("purposes", "service", "legal_basis"), "because"),
    (("purposes", "service", "special_category_condition"), "because"),
    (("categories", "Not-A-Name"), {"description": "x"}),
    (("roles", "admin", "actions"), ["fly"]),
])
def test_schema_rejects_what_the_loader_rejects(path: tuple[str, ...], value: object) -> None:
    doc = yaml.safe_load(SAMPLE_REGISTER.read_text("utf-8"))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    schema = json.loads(SCHEMA.read_text("utf-8"))
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(doc))


def test_generator_check_and_write(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "docs").mkdir()
    (tmp_path / "schemas").mkdir()
    run = [sys.executable, "-m", "confida.register.reference", "--root", str(tmp_path)]
    env = {"PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([*run, "--check"], capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "run `make register-docs`" in r.stderr
    r = subprocess.run(run, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "docs" / "register.md").read_text() == DOC.read_text()
    assert (tmp_path / "schemas" / "register.schema.json").read_text() == SCHEMA.read_text()
    r = subprocess.run([*run, "--check"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr


def test_makefile_has_the_target() -> None:
    assert "register-docs:" in (ROOT / "Makefile").read_text()
