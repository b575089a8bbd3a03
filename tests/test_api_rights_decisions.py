"""Over HTTP the rights endpoints decide nothing: the core's operation holds the decision.

There is no separate ``authorise.*`` entry any more: each call leaves one entry, the real
operation's, with the rule that allowed or refused it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from confida.audit import reads as audit_reads
from confida.config import Config
from confida.server.app import create_app
from confida.store.engine import snapshot
from confida.vault import Vault
from tests.apihelp import auth, setup

V = {"verified_by": "session:password+totp"}


def _entries(cfg: Config) -> list[dict[str, Any]]:
    with Vault.open(cfg) as v, snapshot(v.engine) as conn:
        return list(audit_reads.entries(conn))


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[tuple[TestClient, dict[str, str], Config]]:
    cfg, keys = setup(tmp_path, database_url)
    with TestClient(create_app(cfg)) as c:
        r = c.post("/v1/records", headers=auth(keys["service"]), json={
            "subject": "user-1", "kind": "account", "purpose": "service",
            "data": {"email": "jane@example.com"}})
        assert r.status_code == 201
        yield c, keys, cfg


def test_an_allowed_call_is_one_entry_with_its_decision(api) -> None:  # type: ignore[no-untyped-def]
    c, keys, cfg = api
    assert c.post("/v1/subjects/user-1/restriction", headers=auth(keys["dpo"]),
                  json=V).status_code == 201
    assert c.get("/v1/requests", headers=auth(keys["dpo"])).status_code == 200
    assert c.get("/v1/erasure-feed", headers=auth(keys["dpo"])).status_code == 200
    entries = _entries(cfg)
    assert not [e for e in entries if e["action"].startswith("authorise.")]
    by_action = {e["action"]: e for e in entries}
    for action, want in (("rights.restrict", "rights"), ("request.list", "requests"),
                         ("rights.erasure_feed", "rights")):
        assert by_action[action]["details"]["authz"] == {
            "action": want, "decision": "allowed", "rule": "role:dpo"}


def test_a_refused_call_is_denied_in_the_core_operation(api) -> None:  # type: ignore[no-untyped-def]
    c, keys, cfg = api
    r = c.post("/v1/subjects/user-1/erasure", headers=auth(keys["support"]), json=V)
    assert r.status_code == 403
    entries = _entries(cfg)
    assert not [e for e in entries if e["action"].startswith("authorise.")]
    last = [e for e in entries if e["action"].startswith("rights.")][-1]
    assert last["action"] == "rights.erase.begin" and last["outcome"] == "denied"
    assert last["details"]["authz"]["rule"] == "role:support:action"
    assert c.post("/v1/subjects/user-1/access-export", headers=auth(keys["dpo"]),
                  json=V).status_code == 200  # the subject is still there


def test_audit_reads_decide_in_the_core(api) -> None:  # type: ignore[no-untyped-def]
    c, keys, cfg = api
    assert c.get("/v1/audit/proofs/consistency?first=1&second=1",
                 headers=auth(keys["support"])).status_code == 403
    last = _entries(cfg)[-1]
    assert last["action"] == "audit.proof" and last["outcome"] == "denied"
    assert last["details"]["authz"]["rule"] == "role:support:action"
