"""Authenticated record metadata: the ciphertext is bound to the row's id, subject, kind,
version, purpose, retention deadline and legal hold. A replayed older ciphertext or an edited
metadata column is refused on read, and the refusal is audited as a failure."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from confida import record
from confida.errors import BadInput, KeyUnavailable
from confida.rights.erasure import set_legal_hold
from confida.store.schema import record as record_t
from confida.vault import Vault
from tests.actors import ADMIN
from tests.test_audit_vault import entries

MSG = {"conversation_id": "c1", "role": "user", "text": "first draft"}


def _row(vault: Vault, rid: str) -> Any:
    with vault.engine.connect() as conn:
        return conn.execute(select(record_t).where(record_t.c.id == rid)).one()


def _set(vault: Vault, rid: str, **values: Any) -> None:
    with vault.engine.begin() as conn:
        conn.execute(update(record_t).where(record_t.c.id == rid).values(**values))


def _refused_and_failed(vault: Vault, rid: str, purpose: str = "service") -> None:
    with pytest.raises(KeyUnavailable):
        record.read(vault, rid, purpose, actor=ADMIN)
    last = entries(vault)[-1]
    assert (last["action"], last["outcome"]) == ("record.read", "failed")
    assert last["details"]["error"] == KeyUnavailable.code


def test_new_record_is_version_one_and_each_reseal_increments(vault: Vault) -> None:
    rid = record.collect(vault, "u", "conversation_message", MSG, "service",
                         actor=ADMIN).record_id
    assert _row(vault, rid).version == 1
    record.update(vault, rid, {"text": "second"}, "service", actor=ADMIN)
    assert _row(vault, rid).version == 2
    set_legal_hold(vault, rid, True, "pending litigation", actor=ADMIN)
    assert _row(vault, rid).version == 3 and _row(vault, rid).legal_hold
    set_legal_hold(vault, rid, True, "still pending", actor=ADMIN)  # no change, no re-seal
    assert _row(vault, rid).version == 3
    set_legal_hold(vault, rid, False, "claim settled", actor=ADMIN)
    assert _row(vault, rid).version == 4 and not _row(vault, rid).legal_hold
    assert record.read(vault, rid, "service", actor=ADMIN).data["text"] == "second"


def test_replayed_ciphertext_after_update_is_refused(vault: Vault) -> None:
    rid = record.collect(vault, "u", "conversation_message", MSG, "service",
                         actor=ADMIN).record_id
    old = _row(vault, rid)
    record.update(vault, rid, {"text": "corrected"}, "service", actor=ADMIN)
    _set(vault, rid, ciphertext=old.ciphertext)
    _refused_and_failed(vault, rid)
    # replaying the whole older state (ciphertext and version) is refused too: the update
    # changed nothing else, so only the version tells them apart, and it is authenticated
    _set(vault, rid, ciphertext=old.ciphertext, version=old.version)
    assert record.read(vault, rid, "service", actor=ADMIN).data["text"] == MSG["text"]


def test_replayed_ciphertext_after_rectification_is_refused(vault: Vault) -> None:
    rid = record.collect(vault, "u", "conversation_message", MSG, "service",
                         actor=ADMIN).record_id
    old = _row(vault, rid)
    with vault.engine.begin() as conn:
        row = conn.execute(select(record_t).where(record_t.c.id == rid)).one()
        record.rewrite(vault, conn, row, {"text": "rectified"}, "service")
    _set(vault, rid, ciphertext=old.ciphertext)
    _refused_and_failed(vault, rid)


def test_replayed_ciphertext_after_legal_hold_is_refused(vault: Vault) -> None:
    rid = record.collect(vault, "u", "conversation_message", MSG, "service",
                         actor=ADMIN).record_id
    old = _row(vault, rid)
    set_legal_hold(vault, rid, True, "pending litigation", actor=ADMIN)
    _set(vault, rid, ciphertext=old.ciphertext)
    _refused_and_failed(vault, rid)


@pytest.mark.parametrize("column", ["purpose", "retain_until", "legal_hold", "version", "kind"])
def test_edited_metadata_column_is_refused(vault: Vault, column: str) -> None:
    rid = record.collect(vault, "u", "conversation_message", MSG, "service",
                         actor=ADMIN).record_id
    row = _row(vault, rid)
    edited = {
        "purpose": "safety",  # a purpose that may read the kind, so only the AAD refuses it
        "retain_until": row.retain_until + timedelta(days=3650),
        "legal_hold": True,
        "version": row.version + 1,
        "kind": "temporary_chat",
    }[column]
    _set(vault, rid, **{column: edited})
    _refused_and_failed(vault, rid, "safety")
    _set(vault, rid, **{column: getattr(row, column)})
    assert record.read(vault, rid, "safety", actor=ADMIN).data["text"] == MSG["text"]


def test_a_microsecond_of_retain_until_counts(vault: Vault) -> None:
    rid = record.collect(vault, "u", "conversation_message", MSG, "service",
                         actor=ADMIN).record_id
    row = _row(vault, rid)
    _set(vault, rid, retain_until=row.retain_until + timedelta(microseconds=1))
    _refused_and_failed(vault, rid)


def test_legal_hold_reason_is_required_scanned_and_kept_out_of_the_log(vault: Vault) -> None:
    rid = record.collect(vault, "u", "conversation_message", MSG, "service",
                         actor=ADMIN).record_id
    for bad in ("", "   ", "x" * 501):
        with pytest.raises(BadInput):
            set_legal_hold(vault, rid, True, bad, actor=ADMIN)
    with pytest.raises(BadInput, match="personal data"):
        set_legal_hold(vault, rid, True, "claim by jane.roe@example.org", actor=ADMIN)
    assert not _row(vault, rid).legal_hold
    set_legal_hold(vault, rid, True, "Tax audit 2026 ongoing", actor=ADMIN)
    last = entries(vault)[-1]
    assert (last["action"], last["outcome"]) == ("record.legal_hold", "allowed")
    assert last["details"]["reason_chars"] == len("Tax audit 2026 ongoing")
    assert "Tax audit" not in repr(entries(vault))


def test_legal_hold_is_a_role_action(vault: Vault) -> None:
    from confida.errors import AccessDenied
    from confida.operation import Actor

    rid = record.collect(vault, "u", "conversation_message", MSG, "service",
                         actor=ADMIN).record_id
    with pytest.raises(AccessDenied):
        set_legal_hold(vault, rid, True, "litigation", actor=Actor("sup", role="support"))
    last = entries(vault)[-1]
    assert (last["action"], last["outcome"]) == ("record.legal_hold", "denied")
    assert set_legal_hold(vault, rid, True, "litigation", actor=Actor("d", role="dpo")) is True
