"""The OpenAPI document as a product: every operation tagged and exemplified, every example valid.

The examples and tags come from ``confida.server.openapi_doc`` (post-processing of FastAPI's
document). Each example is validated with jsonschema against the schema it illustrates, with
``additionalProperties: false`` added to every object schema that lists its properties (so a
misspelt field fails too; ``Problem`` keeps its RFC 9457 extension members).
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from confida.config import Config
from confida.server import openapi_doc
from confida.server.app import create_app

ROOT = Path(__file__).resolve().parent.parent
DOC: dict[str, Any] = create_app(Config(data_dir=Path("/nonexistent"))).openapi()
OPS = [(method.upper(), path, op) for path, item in DOC["paths"].items()
       for method, op in item.items()]
IDS = [f"{op['operationId']}" for _, _, op in OPS]
PROBLEM = "application/problem+json"

FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


COMPONENTS = copy.deepcopy(DOC["components"])
COMPONENTS["schemas"] = {name: s if name == "Problem" else _strict(s)
                         for name, s in COMPONENTS["schemas"].items()}


def _validate(schema: dict[str, Any], value: Any, where: str) -> None:
    root = {"components": COMPONENTS, "allOf": [_strict(schema)]}
    errors = sorted(Draft202012Validator(root, format_checker=FORMATS).iter_errors(value),
                    key=lambda e: list(e.absolute_path))
    assert not errors, f"{where}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors)


def _values(examples: dict[str, Any]) -> list[tuple[str, Any]]:
    """(name, value) of each example, references to components/examples resolved."""
    out = []
    for name, ex in examples.items():
        if "$ref" in ex:
            ref = ex["$ref"].removeprefix("#/components/examples/")
            ex = DOC["components"]["examples"][ref]
        assert "value" in ex and ex.get("summary"), f"example {name} needs a summary and a value"
        out.append((name, ex["value"]))
    return out


def _is_binary(media: dict[str, Any]) -> bool:
    return media.get("schema", {}).get("format") == "binary"


@pytest.mark.parametrize(("method", "path", "op"), OPS, ids=IDS)
def test_operation_has_a_tag_and_valid_examples(method: str, path: str,
                                                op: dict[str, Any]) -> None:
    oid = op["operationId"]
    assert op.get("tags"), f"{oid} has no tag"
    for p in op.get("parameters", []):
        assert "example" in p, f"{oid}: parameter {p['name']} has no example " \
            "(confida.server.openapi_doc.PARAMETERS)"
        _validate(p["schema"], p["example"], f"{oid} parameter {p['name']}")
    for media_type, media in op.get("requestBody", {}).get("content", {}).items():
        assert media.get("examples"), f"{oid}: request body {media_type} has no example"
        for name, value in _values(media["examples"]):
            _validate(media["schema"], value, f"{oid} request {name}")
    documented = 0
    for status, response in op["responses"].items():
        for media_type, media in response.get("content", {}).items():
            if _is_binary(media):
                continue
            if status.startswith("2") or media_type == PROBLEM:
                assert media.get("examples"), f"{oid}: response {status} {media_type} has no " \
                    "example (confida.server.openapi_doc.OPERATIONS)"
            for name, value in _values(media.get("examples", {})):
                _validate(media["schema"], value, f"{oid} response {status} {name}")
                documented += status.startswith("2")
    has_body = "requestBody" in op
    assert documented or has_body, f"{oid} has neither a request nor a response example"


def test_every_example_belongs_to_an_operation() -> None:
    assert set(openapi_doc.OPERATIONS) == set(IDS), (
        "examples for unknown operations: " f"{set(openapi_doc.OPERATIONS) - set(IDS)}; "
        f"operations without examples: {set(IDS) - set(openapi_doc.OPERATIONS)}")
    for oid, spec in openapi_doc.OPERATIONS.items():
        op = next(o for _, _, o in OPS if o["operationId"] == oid)
        for status, media in spec.get("responses", {}).items():
            assert status in op["responses"], f"{oid}: no response {status} to exemplify"
            assert set(media) <= set(op["responses"][status].get("content", {})), (oid, status)
    params = {p["name"] for _, _, op in OPS for p in op.get("parameters", [])}
    assert set(openapi_doc.PARAMETERS) == params


def test_operation_ids_are_the_documented_ones() -> None:
    assert sorted(IDS) == sorted([
        "collectRecord", "collectRecords", "getRecord", "updateRecord", "setLegalHold",
        "listSubjectRecords", "getConsents", "recordConsent", "issueSubjectToken",
        "createPrivacyLink", "listMyRecords", "getMyConsents", "setMyConsent", "getRegister",
        "scanText", "redactText", "exportAccess", "rectifyRecord", "restrictProcessing",
        "objectToPurpose", "eraseSubject", "registerReference", "listErasureNotices",
        "listRequests",
        "getLatestCheckpoint", "getInclusionProof", "getConsistencyProof", "getHealth",
        "getReadiness"])
    docs = (ROOT / "docs" / "api.md").read_text()
    missing = [i for i in IDS if f"`{i}`" not in docs]
    assert not missing, f"docs/api.md does not name these operations: {missing}"


def test_tags_are_described_and_point_at_the_docs() -> None:
    declared = {t["name"]: t for t in DOC["tags"]}
    used = {t for _, _, op in OPS for t in op["tags"]}
    assert used == set(declared), "every tag an operation uses is declared, and only those"
    for _, _, op in OPS:
        assert len(op["tags"]) == len(set(op["tags"])), op["operationId"]
    for name, tag in declared.items():
        assert tag.get("description"), f"tag {name!r} has no description"
        url = tag["externalDocs"]["url"]
        page, _, anchor = url.partition("#")
        assert (ROOT / page).is_file(), f"tag {name!r}: {page} does not exist"
        if anchor:
            slugs = {_slug(line.lstrip("#").strip()) for line in (ROOT / page).read_text()
                     .splitlines() if line.startswith("#")}
            assert anchor in slugs, f"tag {name!r}: no heading #{anchor} in {page}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    s = re.sub(r"[^\w\- ]", "", heading.lower().replace("`", ""))
    return s.replace(" ", "-")


def test_schema_names_are_chosen_not_generated() -> None:
    bad = [n for n in DOC["components"]["schemas"]
           if n.startswith("_") or n.startswith("Body_") or re.search(
               r"_(get|post|put|patch|delete)$", n) or not re.fullmatch(r"[A-Z][A-Za-z0-9]*", n)]
    assert not bad, f"generated or private schema names in the document: {bad}"


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_examples_use_fictional_data_only() -> None:
    found: list[str] = []
    for _, _, op in OPS:
        for p in op.get("parameters", []):
            found += _strings(p.get("example"))
        media = [*op.get("requestBody", {}).get("content", {}).values(),
                 *(m for r in op["responses"].values() for m in r.get("content", {}).values())]
        for m in media:
            found += [s for _, v in _values(m.get("examples", {})) for s in _strings(v)]
    text = "\n".join(found)
    emails = re.findall(r"[\w.+-]+@[\w.-]+", text)
    assert emails and all(e.endswith("@example.org") for e in emails), emails
    hosts = {urlsplit(u).hostname for u in re.findall(r"https?://[^\s\"'<>]+", text)}
    assert hosts <= {"confida.example.org", "confida.dev"}, hosts
    subjects = [p["example"] for _, _, op in OPS for p in op.get("parameters", [])
                if p["name"] == "subject_id"]
    assert set(subjects) == {"user-1"}
