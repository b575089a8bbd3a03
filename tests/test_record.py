"""The collect/read flow on the real store (SQLite file or PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from confida import consent, record
from confida.config import Config
from confida.errors import (
    ConsentRequired,
    InvalidRecord,
    KeyUnavailable,
    NotFound,
    PayloadTooLarge,
    PurposeNotAllowed,
    SubjectRestricted,
    UnknownKind,
    UnknownPurpose,
)
from confida.record import CollectItem
from confida.store.engine import sqlite_checkpoint
from confida.store.pages import copy_database, file_bytes
from confida.store.schema import record as record_t
from confida.store.schema import subject as subject_t
from confida.vault import Vault
from tests.actors import ADMIN

MSG = {"conversation_id": "c-1", "text": "My secret plan: QUOKKA-LANTERN-7781", "role": "user"}


def test_collect_then_read_round_trips(vault: Vault) -> None:
    res = record.collect(vault, "user-1", "conversation_message", MSG, "service", actor=ADMIN)
    rec = record.read(vault, res.record_id, "service", actor=ADMIN)
    assert rec.data == MSG
    assert rec.kind == "conversation_message"
    assert rec.retain_until > rec.created_at


def test_undeclared_fields_dropped_and_counted(vault: Vault) -> None:
    res = record.collect(vault, "u", "conversation_message", {**MSG, "mood": "happy", "x": 1}, "service", actor=ADMIN)
    assert res.dropped_fields == 2
    assert "mood" not in record.read(vault, res.record_id, "service", actor=ADMIN).data


def test_fields_outside_purpose_categories_are_dropped(vault: Vault) -> None:
    ev = {"event": "login", "ip": "203.0.113.9", "country": "DE"}
    res = record.collect(vault, "u", "usage_event", ev, "safety", actor=ADMIN)  # safety: no account.locale
    assert res.dropped_fields == 1
    assert record.read(vault, res.record_id, "safety", actor=ADMIN).data == {"event": "login", "ip": "203.0.113.9"}


def test_read_shows_only_the_purpose_categories(vault: Vault) -> None:
    ev = {"event": "login", "ip": "203.0.113.9", "country": "DE"}
    res = record.collect(vault, "u", "usage_event", ev, "service" if False else "analytics", actor=ADMIN)
    # analytics may not use device.ip_address, so the ip was dropped at collection
    assert "ip" not in record.read(vault, res.record_id, "analytics", actor=ADMIN).data


def test_consent_based_purpose_refused_without_consent(vault: Vault) -> None:
    with pytest.raises(ConsentRequired, match="model_training"):
        record.collect(vault, "u", "conversation_message", MSG, "model_training", actor=ADMIN)


def test_consent_grant_then_withdraw_takes_effect_at_once(vault: Vault) -> None:
    consent.grant(vault, "u", "model_training", actor=ADMIN)
    res = record.collect(vault, "u", "conversation_message", MSG, "model_training", actor=ADMIN)
    assert record.read(vault, res.record_id, "model_training", actor=ADMIN).data["text"] == MSG["text"]
    consent.withdraw(vault, "u", "model_training", actor=ADMIN)
    with pytest.raises(ConsentRequired):
        record.read(vault, res.record_id, "model_training", actor=ADMIN)
    with pytest.raises(ConsentRequired):
        record.collect(vault, "u", "conversation_message", MSG, "model_training", actor=ADMIN)
    # data given under consent serves that purpose only (purpose binding)
    with pytest.raises(PurposeNotAllowed):
        record.read(vault, res.record_id, "service", actor=ADMIN)
    other = record.collect(vault, "u", "conversation_message", MSG, "service", actor=ADMIN)
    assert record.read(vault, other.record_id, "service", actor=ADMIN).data == MSG  # contract data unaffected


def test_consent_ledger_is_append_only_history(vault: Vault) -> None:
    consent.grant(vault, "u", "model_training", notice_version="n1", actor=ADMIN)
    consent.withdraw(vault, "u", "model_training", source="web", notice_version="n2", actor=ADMIN)
    consent.grant(vault, "u", "model_training", source="cli", actor=ADMIN)
    current, hist = consent.show(vault, "u", actor=ADMIN)
    assert [e.action for e in hist] == ["grant", "withdraw", "grant"]
    assert [e.source for e in hist] == ["api", "web", "cli"]
    assert hist[0].notice_version == "n1"
    assert current["model_training"]["granted"] is True


def test_consent_for_non_consent_purpose_is_bad_input(vault: Vault) -> None:
    from confida.errors import BadInput

    with pytest.raises(BadInput, match="not consent"):
        consent.grant(vault, "u", "service", actor=ADMIN)


def test_collect_records_consent_grant_as_evidence(vault: Vault) -> None:
    ev = consent.grant(vault, "u", "model_training", actor=ADMIN)
    res = record.collect(vault, "u", "conversation_message", MSG, "model_training", actor=ADMIN)
    with vault.engine.connect() as conn:
        row = conn.execute(select(record_t).where(record_t.c.id == res.record_id)).one()
    assert row.consent_event_id == ev.id


@pytest.mark.parametrize(
    ("kind", "purpose", "data", "error"),
    [
        ("nope", "service", MSG, UnknownKind),
        ("conversation_message", "nope", MSG, UnknownPurpose),
        ("usage_event", "model_training", {"event": "x"}, PurposeNotAllowed),
        ("temporary_chat", "model_training", {"conversation_id": "c", "text": "t"},
         PurposeNotAllowed),
        ("conversation_message", "service", {"conversation_id": "c"}, InvalidRecord),
        ("conversation_message", "service", {"conversation_id": 5, "text": "t"}, InvalidRecord),
        ("usage_event", "safety", {"event": "e", "duration_ms": "long"}, InvalidRecord),
        ("usage_event", "safety", {"event": "e", "duration_ms": True}, InvalidRecord),
        ("usage_event", "safety", {"event": "e", "created_at": "yesterday"}, InvalidRecord),
        ("conversation_message", "service", {"conversation_id": "c", "text": "\ud800"},
         InvalidRecord),
        ("conversation_message", "service", ["not", "an", "object"], InvalidRecord),
        ("conversation_message", "service", {"conversation_id": "c", "text": "x" * 70_000},
         PayloadTooLarge),
    ],
)
def test_bad_input_is_refused_and_stores_nothing(vault: Vault, kind, purpose, data, error) -> None:
    with pytest.raises(error):
        record.collect(vault, "u", kind, data, purpose, actor=ADMIN)
    with vault.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM record")).scalar() == 0


def test_batch_is_atomic_and_names_the_bad_item(vault: Vault) -> None:
    items = [CollectItem(f"u{i}", "conversation_message", MSG, "service") for i in range(5)]
    items.append(CollectItem("u9", "conversation_message", {"text": "no id"}, "service"))
    with pytest.raises(InvalidRecord, match="item 5"):
        record.collect_many(vault, items, actor=ADMIN)
    with vault.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM record")).scalar() == 0
    assert len(record.collect_many(vault, items[:5], actor=ADMIN)) == 5


def test_restricted_subject_is_refused(vault: Vault) -> None:
    res = record.collect(vault, "u", "conversation_message", MSG, "service", actor=ADMIN)
    with vault.engine.begin() as conn:
        conn.execute(update(subject_t).values(status="restricted"))
    with pytest.raises(SubjectRestricted):
        record.read(vault, res.record_id, "service", actor=ADMIN)
    with pytest.raises(SubjectRestricted):
        record.collect(vault, "u", "conversation_message", MSG, "service", actor=ADMIN)


def test_update_replaces_value(vault: Vault) -> None:
    res = record.collect(vault, "u", "account", {"email": "a@example.org", "display_name": "A"}, "service", actor=ADMIN)
    rec = record.update(vault, res.record_id, {"display_name": "Bee"}, "service", actor=ADMIN)
    assert rec.data["display_name"] == "Bee"
    assert record.read(vault, res.record_id, "service", actor=ADMIN).data["display_name"] == "Bee"
    with pytest.raises(InvalidRecord):
        record.update(vault, res.record_id, {"email": None}, "service", actor=ADMIN)
    with pytest.raises(InvalidRecord):
        record.update(vault, res.record_id, {"favourite_colour": "red"}, "service", actor=ADMIN)


def test_list_is_metadata_only(vault: Vault) -> None:
    record.collect(vault, "u", "conversation_message", MSG, "service", actor=ADMIN)
    record.collect(vault, "u", "usage_event", {"event": "login"}, "safety", actor=ADMIN)
    record.collect(vault, "other", "usage_event", {"event": "login"}, "safety", actor=ADMIN)
    rows = record.list_records(vault, "u", actor=ADMIN)
    assert {r.kind for r in rows} == {"conversation_message", "usage_event"}
    assert record.list_records(vault, "u", kind="usage_event", actor=ADMIN)[0].purpose == "safety"
    assert record.list_records(vault, "nobody", actor=ADMIN) == []


def test_unknown_record_id(vault: Vault) -> None:
    with pytest.raises(NotFound):
        record.read(vault, "00000000-0000-0000-0000-000000000000", "service", actor=ADMIN)
    with pytest.raises(NotFound):
        record.read(vault, "'; DROP TABLE record; --", "service", actor=ADMIN)


def test_ciphertext_moved_to_another_record_fails(vault: Vault) -> None:
    a = record.collect(vault, "u", "conversation_message", MSG, "service", actor=ADMIN)
    b = record.collect(vault, "u", "conversation_message", {**MSG, "text": "other"}, "service", actor=ADMIN)
    with vault.engine.begin() as conn:
        q = select(record_t.c.ciphertext).where(record_t.c.id == a.record_id)
        ct = conn.execute(q).scalar()
        conn.execute(update(record_t).where(record_t.c.id == b.record_id).values(ciphertext=ct))
    with pytest.raises(KeyUnavailable):
        record.read(vault, b.record_id, "service", actor=ADMIN)


def test_no_plaintext_in_sqlite_file(vault: Vault, config: Config, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("byte scan of the SQLite file")
    marker = "QUOKKA-LANTERN-7781"
    subject_id = "jane.doe@example.org"
    record.collect(vault, subject_id, "conversation_message", MSG, "service", actor=ADMIN)
    record.collect(vault, subject_id, "account", {"email": subject_id, "display_name": "Jane"}, "service", actor=ADMIN)
    sqlite_checkpoint(vault.engine)
    for f in config.data_dir.rglob("*"):
        if f.is_file():  # databases through SQLite, their WAL by a lock-free child
            blob = file_bytes(f, (vault.engine, vault.key_engine))
            assert marker.encode() not in blob, f
            assert subject_id.encode() not in blob, f


def test_no_plaintext_in_postgres(vault: Vault, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("PostgreSQL table scan")
    record.collect(vault, "jane.doe@example.org", "conversation_message", MSG, "service", actor=ADMIN)
    with vault.engine.connect() as conn:
        for table in ("record", "subject", "consent_event"):
            dump = conn.execute(text(f"SELECT t::text FROM {table} t")).scalars().all()
            assert not any("QUOKKA" in d or "jane.doe" in d for d in dump)


def test_database_backup_without_key_store_is_useless(
    vault: Vault, config: Config, tmp_path: Path, backend: str
) -> None:
    """A copy of the record store next to any other key store decrypts nothing."""
    if backend != "sqlite":
        pytest.skip("file copy of the SQLite store")
    res = record.collect(vault, "u", "conversation_message", MSG, "service", actor=ADMIN)
    sqlite_checkpoint(vault.engine)
    other = tmp_path / "restored"
    from .conftest import make_config

    cfg2 = make_config(other, f"sqlite:///{other / 'confida.db'}")
    copy_database(vault.engine, other / "confida.db")
    v2 = Vault.open(cfg2)
    try:
        with pytest.raises((NotFound, KeyUnavailable)):
            record.read(v2, res.record_id, "service", actor=ADMIN)
    finally:
        v2.close()


def test_missing_kek_file_refuses_clearly(vault: Vault, config: Config) -> None:
    res = record.collect(vault, "u", "conversation_message", MSG, "service", actor=ADMIN)
    (config.kek_dir / "v1.key").rename(config.kek_dir / "moved.key")
    v2 = Vault.open(config)
    try:
        with pytest.raises(KeyUnavailable, match="missing"):
            record.read(v2, res.record_id, "service", actor=ADMIN)
    finally:
        v2.close()
    (config.kek_dir / "moved.key").rename(config.kek_dir / "v1.key")
    assert record.read(vault, res.record_id, "service", actor=ADMIN).data == MSG


def test_wrong_kek_file_refuses_and_overwrites_nothing(vault: Vault, config: Config) -> None:
    res = record.collect(vault, "u", "conversation_message", MSG, "service", actor=ADMIN)
    path = config.kek_dir / "v1.key"
    good = path.read_bytes()
    path.write_bytes(bytes(32))
    v2 = Vault.open(config)
    try:
        with pytest.raises(KeyUnavailable, match="wrong key"):
            record.read(v2, res.record_id, "service", actor=ADMIN)
    finally:
        v2.close()
    assert path.read_bytes() == bytes(32)
    path.write_bytes(good)
    assert record.read(vault, res.record_id, "service", actor=ADMIN).data == MSG


def test_record_module_exports() -> None:
    assert callable(record.collect) and callable(record.collect_many)
