"""PII scan and redact over the API (runs once ``confida.pii`` is installed: it lands from the
``pii`` branch; until then these endpoints are not mounted and not in the OpenAPI document)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from confida.server.app import create_app
from tests.apihelp import auth, setup

pytest.importorskip("confida.pii")

TEXT = "Hi, I am Jane Doe, mail jane.doe@example.com or call +49 30 1234567"


@pytest.mark.parametrize(("role", "expected"), [
    ("admin", 200), ("dpo", 403), ("support", 403), ("service", 200), ("ml_engineer", 200),
    ("analyst", 403),
])
def test_scan_and_redact_by_role(tmp_path: Path, database_url: str, role: str,
                                 expected: int) -> None:
    cfg, keys = setup(tmp_path, database_url)
    with TestClient(create_app(cfg)) as c:
        r = c.post("/v1/pii/scan", headers=auth(keys[role]), json={"text": TEXT})
        assert r.status_code == expected, r.text
        if expected == 200:
            labels = {f["label"] for f in r.json()["findings"]}
            assert "EMAIL" in labels
        r = c.post("/v1/pii/redact", headers=auth(keys[role]), json={"text": TEXT})
        assert r.status_code == expected
        if expected == 200:
            assert "jane.doe@example.com" not in r.json()["text"]
            assert r.json()["replaced"] >= 2


def test_bad_policy_is_400(tmp_path: Path, database_url: str) -> None:
    cfg, keys = setup(tmp_path, database_url)
    with TestClient(create_app(cfg)) as c:
        r = c.post("/v1/pii/redact", headers=auth(keys["service"]),
                   json={"text": TEXT, "policy": {"EMAIL": "bogus"}})
        assert r.status_code == 400 and r.json()["type"].endswith("/bad-input")
        r = c.post("/v1/pii/redact", headers=auth(keys["service"]),
                   json={"text": TEXT, "policy": {"EMAIL": "tokenize"}})
        assert r.status_code == 400
