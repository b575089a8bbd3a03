"""Audit endpoints: checkpoints and proofs, verified client-side with the audit module's own
verifier; only roles with the `audit` action may read them."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from confida.audit import verify_consistency, verify_inclusion
from confida.server.app import create_app
from confida.store.engine import transaction
from tests.apihelp import auth, setup


def _b(s: str) -> bytes:
    return base64.b64decode(s)


def test_checkpoint_and_proofs_verify(tmp_path: Path, database_url: str) -> None:
    cfg, keys = setup(tmp_path, database_url)
    app = create_app(cfg)
    with TestClient(app) as c:
        h = auth(keys["dpo"])
        for i in range(6):  # real operations, each with its entry in the log
            c.post("/v1/records", headers=auth(keys["service"]), json={
                "subject": f"u{i}", "kind": "account", "purpose": "service",
                "data": {"email": "a@example.org"}})
        vault = app.state.ctx.vault()
        with transaction(vault.engine) as conn:
            vault.audit.log.checkpoint(conn, vault.audit.signer)
        cp = c.get("/v1/audit/checkpoints/latest",
                   headers={**h, "Accept": "application/json"}).json()
        assert cp["tree_size"] >= 6 and cp["note"].startswith(cfg.audit_origin)
        n = cp["tree_size"]
        r = c.get("/v1/audit/proofs/inclusion", headers=h, params={"index": 3, "tree_size": n})
        assert r.status_code == 200, r.text
        p = r.json()
        verify_inclusion(_b(p["leaf_hash"]), 3, n, [_b(x) for x in p["proof"]], _b(p["root"]))
        r = c.get("/v1/audit/proofs/consistency", headers=h, params={"first": 2, "second": n})
        q = r.json()
        verify_consistency(2, n, _b(q["first_root"]), _b(q["second_root"]),
                           [_b(x) for x in q["proof"]])
        # a proof that cannot exist is bad input, not a server error
        r = c.get("/v1/audit/proofs/inclusion", headers=h,
                  params={"index": n + 5, "tree_size": n + 10})
        assert r.status_code == 400


@pytest.mark.parametrize(("role", "expected"), [
    ("admin", 200), ("dpo", 200), ("support", 403), ("service", 403), ("ml_engineer", 403),
    ("analyst", 403),
])
def test_audit_endpoints_by_role(tmp_path: Path, database_url: str, role: str,
                                 expected: int) -> None:
    cfg, keys = setup(tmp_path, database_url)
    app = create_app(cfg)
    with TestClient(app) as c:
        vault = app.state.ctx.vault()
        with transaction(vault.engine) as conn:
            vault.audit.log.checkpoint(conn, vault.audit.signer)
        with vault.engine.connect() as conn:
            before = vault.audit.log.size(conn)
        r = c.get("/v1/audit/checkpoints/latest", headers=auth(keys[role]))
        assert r.status_code == expected
        with vault.engine.connect() as conn:  # the decision, allowed or denied, is in the log
            assert vault.audit.log.size(conn) == before + 1
            last = vault.audit.log.entry(conn, before).decode()
        assert '"audit.checkpoint"' in last and role in last
        assert ('"denied"' in last) == (expected == 403)

