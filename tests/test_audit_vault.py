"""Every core operation writes its audit entry in its own transaction, refusals included."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from confida import consent, record
from confida.audit.sink import audit_log, load_signer
from confida.errors import ConsentRequired, InvalidRecord
from confida.store.schema import audit_tables
from confida.vault import Vault
from tests.actors import ADMIN

MSG = {"conversation_id": "c", "text": "Call Jane Roe at jane.roe@example.org"}


def entries(vault: Vault) -> list[dict]:
    with vault.engine.connect() as conn:
        rows = conn.execute(
            select(audit_tables.entry.c.entry).order_by(audit_tables.entry.c.idx)
        ).scalars()
        return [json.loads(r) for r in rows]


def test_operations_are_logged_without_personal_values(vault: Vault) -> None:
    res = record.collect(vault, "jane.roe@example.org", "conversation_message", MSG, "service", actor=ADMIN)
    record.read(vault, res.record_id, "service", actor=ADMIN)
    consent.grant(vault, "jane.roe@example.org", "model_training", actor=ADMIN)
    log = entries(vault)
    assert [(e["action"], e["outcome"]) for e in log] == [
        ("record.collect", "allowed"), ("record.read", "allowed"), ("consent.grant", "allowed")]
    assert log[0]["object_ids"] == [res.record_id] and log[0]["purpose"] == "service"
    assert len(log[0]["subjects"]) == 1 and log[0]["subjects"] == log[2]["subjects"]
    blob = json.dumps(log)
    assert "jane" not in blob.lower() and "example.org" not in blob


def test_refusals_and_failures_are_logged_and_change_nothing(vault: Vault) -> None:
    with pytest.raises(ConsentRequired):
        record.collect(vault, "u", "conversation_message", MSG, "model_training", actor=ADMIN)
    with pytest.raises(InvalidRecord):
        record.collect(vault, "u", "conversation_message", {"text": 1}, "service", actor=ADMIN)
    log = entries(vault)
    assert [(e["action"], e["outcome"], e["details"].get("error")) for e in log] == [
        ("record.collect", "denied", "consent-required"),
        ("record.collect", "failed", "invalid-record"),
    ]


def test_log_verifies_and_is_checkpointed(vault: Vault) -> None:
    for i in range(5):
        record.collect(vault, f"u{i}", "usage_event", {"event": "login"}, "safety", actor=ADMIN)
    log = audit_log(vault.config)
    with vault.engine.connect() as conn:
        assert log.size(conn) == 5
        assert log.latest_checkpoint(conn) is not None  # the first append signs one
        result = log.verify_live(conn, load_signer(vault.config).verifier)
    assert result.ok, result
