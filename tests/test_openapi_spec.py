"""The published OpenAPI document, ``schemas/openapi.json``, is the one the code generates.

Clients are generated from the committed file, so a change to a route, a model or an example
must come with the regenerated file: ``make openapi`` (``python -m
confida.server.openapi_export``) writes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from confida.server import openapi_export

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "schemas" / "openapi.json"
REGENERATE = ("schemas/openapi.json differs from what the code generates: run `make openapi` "
              "(python -m confida.server.openapi_export) and commit the file")


@pytest.fixture(scope="module")
def generated() -> str:
    return openapi_export.generate()


def test_published_document_matches_the_code(generated: str) -> None:
    assert PUBLISHED.is_file(), f"schemas/openapi.json is missing: {REGENERATE}"
    if PUBLISHED.read_text(encoding="utf-8") != generated:
        pytest.fail(REGENERATE, pytrace=False)


def test_generation_is_stable_and_canonical(generated: str) -> None:
    assert openapi_export.generate() == generated
    doc = json.loads(generated)
    assert generated == json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert doc["openapi"].startswith("3.1") and doc["paths"] and doc["tags"]


def test_check_mode_reports_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "openapi.json"
    assert openapi_export.main(["--out", str(out), "--check"]) == 1
    assert "run `make openapi`" in capsys.readouterr().err
    assert openapi_export.main(["--out", str(out)]) == 0
    assert openapi_export.main(["--out", str(out), "--check"]) == 0
    out.write_text(out.read_text().replace('"collectRecord"', '"collect"'))
    assert openapi_export.main(["--out", str(out), "--check"]) == 1
