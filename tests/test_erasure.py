"""Erasure (Art. 17) by crypto-shredding: the proofs the issue asks for.

- after erasure, a byte scan of the SQLite files and their logs (no checkpoint by the test)
  and of the PostgreSQL tables finds none of the subject's plaintext values, nor their
  ciphertexts, nor their wrapped key;
- a copy of the database taken before the erasure cannot be decrypted afterwards;
- an erasure interrupted at any step and run again completes;
- an erasure racing with collects for the same subject leaves nothing of them readable;
- Art. 17(3): records under legal hold or a legal obligation are kept, under a separate key,
  and the request says which and why.
"""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from confida import consent, downstream, record, rights
from confida import request as requests
from confida import subject as subjects
from confida.config import Config
from confida.crypto import aead
from confida.errors import BadInput, KeyUnavailable, NotFound, StoreUnavailable, SubjectErased
from confida.record import CollectItem, decrypt_row
from confida.rights import erasure
from confida.store.engine import sqlite_checkpoint
from confida.store.keyschema import data_key
from confida.store.pages import copy_database, restore_database
from confida.store.schema import erasure_notice, retained_record
from confida.store.schema import record as record_t
from confida.store.schema import subject as subject_t
from confida.vault import Vault
from tests.actors import ADMIN
from tests.keys_support import found_in_file

V = "session:password+totp"
SECRET = "QUOKKA-LANTERN-7781"
EMAIL = "jane.doe@example.org"


def populate(vault: Vault, who: str = "jane", n: int = 20) -> None:
    record.collect_many(vault, [
        CollectItem(who, "conversation_message",
                    {"conversation_id": f"c{i}", "text": f"{SECRET} message {i}"}, "service")
        for i in range(n)
    ], actor=ADMIN)
    record.collect(vault, who, "account", {"email": EMAIL, "display_name": "Jane Doe"}, "service", actor=ADMIN)
    record.collect(vault, who, "usage_event", {"event": "login", "ip": "198.51.100.77"}, "safety", actor=ADMIN)
    consent.grant(vault, who, "model_training", actor=ADMIN)
    record.collect(vault, who, "conversation_message", {"conversation_id": "t", "text": SECRET},
                  "model_training", actor=ADMIN)
    s = _subject(vault, who)
    with vault.engine.begin() as conn:
        downstream.record_refs(vault, conn, "dataset:train-2027-01", [(s.id, "ds-ref-93f1")])
        downstream.record_refs(vault, conn, "processor:cache", [(s.id, "cache-ref-17")])


def _subject(vault: Vault, who: str) -> subjects.Subject:
    with vault.engine.connect() as conn:
        return subjects.require(vault, conn, who)


def _rows(vault: Vault, subject_id: str) -> list[Any]:
    with vault.engine.connect() as conn:
        return conn.execute(select(record_t).where(record_t.c.subject_id == subject_id)).all()


def _wrapped(vault: Vault, key_id: str) -> bytes | None:
    with vault.key_engine.connect() as conn:
        return conn.execute(
            select(data_key.c.wrapped).where(data_key.c.key_id == key_id)
        ).scalar()


def assert_erased(vault: Vault, s: subjects.Subject, who: str = "jane") -> None:
    assert not vault.keys.has_key(s.id)
    assert _rows(vault, s.id) == []
    with vault.engine.connect() as conn:
        row = conn.execute(select(subject_t).where(subject_t.c.id == s.id)).one()
        assert row.ref is None and row.status == "erased" and row.pseudonym == s.pseudonym
        for table in ("consent_event", "downstream_ref", "objection"):
            n = conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE subject_id = :s"), {"s": s.id}
            ).scalar()
            assert n == 0, table
        assert subjects.find(vault, conn, who) is None


def test_erase_shreds_then_deletes_and_notifies(vault: Vault) -> None:
    populate(vault)
    populate(vault, "bob", 3)
    s = _subject(vault, "jane")
    steps: list[str] = []
    res = rights.erase(vault, "jane", verified_by=V, progress=steps.append, actor=ADMIN)
    assert steps == list(erasure.STEPS)
    assert res.request.status == "completed" and res.request.type == "erasure"
    assert res.records == 23 and res.kept == [] and not res.resumed
    assert_erased(vault, s)
    # the feed tells each downstream system its own reference, and nothing else
    notices = rights.erasure_feed(vault, actor=ADMIN)
    assert len(notices) == 1 and notices[0].id == res.notice_id
    assert notices[0].references == [
        {"system": "dataset:train-2027-01", "reference": "ds-ref-93f1"},
        {"system": "processor:cache", "reference": "cache-ref-17"},
    ]
    with vault.engine.connect() as conn:
        raw = str(conn.execute(select(erasure_notice)).all())
    assert s.id not in raw and s.pseudonym not in raw
    assert rights.erasure_feed(vault, since=notices[0].id, actor=ADMIN) == []
    # bob is untouched
    assert len(_rows(vault, _subject(vault, "bob").id)) == 6


def test_returning_person_is_a_new_subject(vault: Vault) -> None:
    populate(vault)
    old = _subject(vault, "jane")
    rights.erase(vault, "jane", verified_by=V, actor=ADMIN)
    with pytest.raises(NotFound):
        rights.erase(vault, "jane", verified_by=V, actor=ADMIN)
    record.collect(vault, "jane", "account", {"email": "new@example.org"}, "service", actor=ADMIN)
    new = _subject(vault, "jane")
    assert new.id != old.id and new.pseudonym != old.pseudonym and new.status == "active"
    assert consent.show(vault, "jane", actor=ADMIN)[0]["model_training"]["granted"] is False
    assert [r.kind for r in record.list_records(vault, "jane", actor=ADMIN)] == ["account"]


def test_erase_retry_with_host_request_id_is_idempotent(vault: Vault) -> None:
    populate(vault)
    a = rights.erase(vault, "jane", verified_by=V, request_id="del-42", actor=ADMIN)
    b = rights.erase(vault, "jane", verified_by=V, request_id="del-42", actor=ADMIN)
    assert a.request.id == b.request.id and b.request.status == "completed"
    assert len(rights.erasure_feed(vault, actor=ADMIN)) == 1


def test_no_plaintext_or_ciphertext_left_in_sqlite_file(
    vault: Vault, config: Config, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("byte scan of the SQLite files")
    populate(vault)
    s = _subject(vault, "jane")
    cts = [r.ciphertext for r in _rows(vault, s.id)]
    wrapped = _wrapped(vault, s.id)
    with vault.engine.connect() as conn:
        ref = conn.execute(select(subject_t.c.ref).where(subject_t.c.id == s.id)).scalar()
    rights.erase(vault, "jane", verified_by=V, actor=ADMIN)
    # no checkpoint here: the vault stays open (a close would fold the logs and hide a destroy
    # that left the key in them), and the files are read by a child process (keys_support)
    needles = [SECRET.encode(), EMAIL.encode(), b"198.51.100.77", b"Jane Doe",
               b"ds-ref-93f1" + b"x"]  # (the feed keeps the downstream reference itself)
    needles += [ct[12:44] for ct in cts]  # 32 bytes of each record's ciphertext
    needles += [wrapped[12:44], ref.encode()]
    files = [f for f in config.data_dir.rglob("*") if f.is_file()]
    assert any(f.name == "confida.db" for f in files)
    assert any(f.name == "keystore.db" for f in files)
    assert any(f.name == "keystore.db-wal" for f in files)  # the log is there, and empty
    for f in files:  # read by a child process: the parent's SQLite locks are never dropped
        hits = found_in_file(f, needles)
        assert not hits, (f.name, [needles[i][:8] for i in hits])


def test_no_plaintext_or_ciphertext_left_in_postgres(vault: Vault, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("PostgreSQL table scan")
    populate(vault)
    s = _subject(vault, "jane")
    cts = [r.ciphertext.hex()[24:88] for r in _rows(vault, s.id)]
    rights.erase(vault, "jane", verified_by=V, actor=ADMIN)
    with vault.engine.connect() as conn:
        tables = conn.execute(text(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )).scalars().all()
        assert "record" in tables and "subject_request" in tables
        dump = "\n".join(
            d for t in tables
            for d in conn.execute(text(f'SELECT t::text FROM "{t}" t')).scalars().all()
        )
    for needle in (SECRET, EMAIL, "198.51.100.77", "Jane Doe", *cts):
        assert needle not in dump, needle[:12]
    assert not vault.keys.has_key(s.id)


def test_copy_taken_before_erasure_cannot_be_decrypted(
    vault: Vault, config: Config, tmp_path: Path, backend: str
) -> None:
    populate(vault)
    s = _subject(vault, "jane")
    backup_rows = _rows(vault, s.id)  # a logical backup: every row of the subject, as stored
    assert decrypt_row(vault, backup_rows[0])  # readable before
    if backend == "sqlite":
        sqlite_checkpoint(vault.engine)
        copy_database(vault.engine, tmp_path / "backup.db")  # online, like a real backup
    rights.erase(vault, "jane", verified_by=V, actor=ADMIN)
    fresh = Vault.open(config)  # a new process: no key in any cache
    try:
        for row in backup_rows:
            with pytest.raises(NotFound):
                decrypt_row(fresh, row)
        if backend == "sqlite":  # the restored file, next to the live key store
            restore_database(tmp_path / "backup.db", vault.engine)
            restored = Vault.open(config)
            try:
                rid = backup_rows[0].id
                with pytest.raises(NotFound):
                    record.read(restored, rid, backup_rows[0].purpose, actor=ADMIN)  # the subject row is back, the key is not
                with restored.engine.connect() as conn:
                    row = conn.execute(select(record_t).where(record_t.c.id == rid)).one()
                with pytest.raises(NotFound):
                    decrypt_row(restored, row)
            finally:
                restored.close()
    finally:
        fresh.close()
    # and no other key opens them
    other = aead.new_key()
    with pytest.raises(KeyUnavailable):
        decrypt_row(vault, backup_rows[0], other)


class Crash(Exception):
    pass


@pytest.mark.parametrize("at", erasure.STEPS[:-1])
def test_erasure_interrupted_after_any_step_completes_on_rerun(vault: Vault, at: str) -> None:
    populate(vault)
    s = _subject(vault, "jane")
    inv = record.collect(vault, "jane", "invoice", {"invoice_number": "INV-7"}, "billing", actor=ADMIN).record_id

    def crash(step: str) -> None:
        if step == at:
            raise Crash(step)

    with pytest.raises(Crash):
        rights.erase(vault, "jane", verified_by=V, progress=crash, actor=ADMIN)
    # while half-erased, nothing processes the subject
    with pytest.raises(SubjectErased):
        record.collect(vault, "jane", "account", {"email": "x@example.org"}, "service", actor=ADMIN)
    res = rights.erase(vault, "jane", verified_by=V, actor=ADMIN)
    assert res.resumed and res.request.status == "completed"
    assert_erased_except_kept(vault, s, [inv])
    assert len(rights.erasure_feed(vault, actor=ADMIN)) == 1
    assert len(requests.list_requests(vault, actor=ADMIN)) == 1  # the same request, finished


def assert_erased_except_kept(vault: Vault, s: subjects.Subject, kept: list[str]) -> None:
    assert not vault.keys.has_key(s.id)
    assert sorted(r.id for r in _rows(vault, s.id)) == sorted(kept)
    with vault.engine.connect() as conn:
        row = conn.execute(select(subject_t).where(subject_t.c.id == s.id)).one()
    assert row.ref is None and row.status == "erased"


def test_erasure_interrupted_between_delete_chunks(vault: Vault, monkeypatch) -> None:
    populate(vault, n=30)
    s = _subject(vault, "jane")
    monkeypatch.setattr(erasure, "CHUNK", 7)
    real = erasure.delete_records_chunk
    calls = {"n": 0}

    def flaky(conn, sid, chunk):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash("power cut")
        return real(conn, sid, chunk)

    monkeypatch.setattr(erasure, "delete_records_chunk", flaky)
    with pytest.raises(Crash):
        rights.erase(vault, "jane", verified_by=V, actor=ADMIN)
    assert 0 < len(_rows(vault, s.id)) < 33  # two chunks gone, the rest unreadable
    assert not vault.keys.has_key(s.id)
    rights.erase(vault, "jane", verified_by=V, actor=ADMIN)
    assert_erased(vault, s)


def test_erasure_interrupted_inside_retain_rolls_back_and_resumes(
    vault: Vault, monkeypatch
) -> None:
    populate(vault)
    s = _subject(vault, "jane")
    inv = record.collect(vault, "jane", "invoice", {"invoice_number": "INV-9"}, "billing", actor=ADMIN).record_id
    real_seal = aead.seal

    def broken(*a, **kw):
        raise Crash("disk full")

    monkeypatch.setattr(aead, "seal", broken)
    with pytest.raises(Crash):
        rights.erase(vault, "jane", verified_by=V, actor=ADMIN)
    assert vault.keys.has_key(s.id)  # the key is never destroyed before the kept are safe
    monkeypatch.setattr(aead, "seal", real_seal)
    res = rights.erase(vault, "jane", verified_by=V, actor=ADMIN)
    assert [k["record"] for k in res.kept] == [inv]
    assert rights.read_retained(vault, inv, actor=ADMIN)["invoice_number"] == "INV-9"


def test_art_17_3_exceptions_are_kept_under_their_own_key(vault: Vault, config: Config) -> None:
    populate(vault)
    s = _subject(vault, "jane")
    inv = record.collect(vault, "jane", "invoice", {"invoice_number": "INV-1", "amount_cents": 990},
                        "billing", actor=ADMIN).record_id
    held = record.collect(vault, "jane", "conversation_message",
                         {"conversation_id": "c", "text": "threat, kept for court"},
                         "service", actor=ADMIN).record_id
    rights.set_legal_hold(vault, held, True, "pending litigation", actor=ADMIN)
    res = rights.erase(vault, "jane", verified_by=V, actor=ADMIN)
    kept = {k["record"]: k for k in res.kept}
    assert set(kept) == {inv, held}
    assert kept[inv]["ground"] == "legal_obligation" and "17(3)(b)" in kept[inv]["article"]
    assert kept[held]["ground"] == "legal_hold" and "17(3)(e)" in kept[held]["article"]
    assert kept[inv]["kind"] == "invoice" and kept[inv]["purpose"] == "billing"
    assert "INV-1" not in str(res.request.details)  # the request says which and why, no values
    assert not vault.keys.has_key(s.id)
    assert vault.keys.has_key(erasure.retained_key_id(s.id))
    assert sorted(r.id for r in _rows(vault, s.id)) == sorted([inv, held])
    assert rights.read_retained(vault, inv, actor=ADMIN) == {"invoice_number": "INV-1", "amount_cents": 990}
    with pytest.raises((SubjectErased, NotFound)):
        record.read(vault, inv, "billing", actor=ADMIN)  # not for ordinary processing
    with pytest.raises(NotFound):
        rights.read_retained(vault, "00000000-0000-0000-0000-000000000000", actor=ADMIN)
    # retention: when the last kept record goes, the retained key goes with it
    later = Vault.open(config, clock=lambda: datetime.now(UTC) + timedelta(days=365 * 11))
    try:
        assert later.keys.has_key(erasure.retained_key_id(s.id))
        out = rights.purge_retained(later, actor=ADMIN)
        assert out == {"deleted": 2, "keys_destroyed": 1}
        assert _rows(later, s.id) == []
        assert not later.keys.has_key(erasure.retained_key_id(s.id))
        with later.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(retained_record)).scalar() == 0
    finally:
        later.close()


def test_erasure_racing_with_collects_leaves_nothing_readable(vault: Vault, backend: str) -> None:
    """Collectors hammer the same subject while it is erased: whatever interleaving the
    database picks, no record of the erased subject survives or can be decrypted."""
    populate(vault, n=50)
    old = _subject(vault, "jane")

    def slow_scan(_text: str) -> dict[str, int]:
        time.sleep(0.04)  # widens the window between the subject check and the insert
        return {}

    racer = Vault.open(vault.config, scanner=slow_scan)  # another process, its own pool
    stop = threading.Event()
    stored: list[str] = []
    refused: list[str] = []

    def collector(k: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                r = record.collect_many(racer, [
                    CollectItem("jane", "conversation_message",
                                {"conversation_id": f"race-{k}-{i}", "text": SECRET},
                                "service") for _ in range(5)
                ], actor=ADMIN)
                stored.extend(x.record_id for x in r)
            except Exception as exc:  # refused (erasing), locked, or racing a new subject row
                refused.append(type(exc).__name__)
            time.sleep(0.01)  # let the eraser in (SQLite's busy handler is not fair)

    threads = [threading.Thread(target=collector, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    try:
        for attempt in range(5):  # erasure is resumable: a run that met a busy lock is re-run
            try:
                rights.erase(vault, "jane", verified_by=V, actor=ADMIN)
                break
            except StoreUnavailable:
                if attempt == 4:
                    raise
    finally:
        stop.set()
        for t in threads:
            t.join()
        racer.close()
    assert stored, "the collectors never ran concurrently"
    assert not vault.keys.has_key(old.id)
    assert _rows(vault, old.id) == []
    # anything stored after the erasure finished belongs to a new subject with a new key
    with vault.engine.connect() as conn:
        owners = set(conn.execute(
            select(record_t.c.subject_id).where(record_t.c.id.in_(stored))
        ).scalars())
    assert old.id not in owners
    fresh = Vault.open(vault.config)
    try:
        with fresh.engine.connect() as conn:
            rows = conn.execute(select(record_t)).all()
        for row in rows:
            assert row.subject_id != old.id
    finally:
        fresh.close()
    if backend == "postgresql":  # (SQLite's single writer usually lets the eraser run through)
        assert "SubjectErased" in refused, refused  # some collects met the erasure half-way


def test_erase_restricted_subject_and_unknown(vault: Vault) -> None:
    populate(vault)
    rights.restrict(vault, "jane", verified_by=V, actor=ADMIN)
    rights.erase(vault, "jane", verified_by=V, actor=ADMIN)
    with pytest.raises(NotFound):
        rights.erase(vault, "nobody", verified_by=V, actor=ADMIN)
    with pytest.raises(NotFound):
        rights.access_export(vault, "jane", io.BytesIO(), verified_by=V, actor=ADMIN)


class CapturingSink:
    def __init__(self) -> None:
        self.entries: list[dict] = []

    def append(self, conn, entry) -> None:
        self.entries.append(dict(entry))


def test_audit_entries_name_pseudonyms_never_values(config: Config) -> None:
    sink = CapturingSink()
    v = Vault.open(config, audit=sink)
    try:
        populate(v)
        s = _subject(v, "jane")
        ids = [r.id for r in _rows(v, s.id)]
        acct = next(r.id for r in _rows(v, s.id) if r.kind == "account")
        rights.access_export(v, "jane", io.BytesIO(), verified_by=V, actor=ADMIN)
        rights.rectify(v, "jane", acct, {"display_name": "SECRET-NEW-NAME"}, verified_by=V, actor=ADMIN)
        rights.restrict(v, "jane", verified_by=V, actor=ADMIN)
        with pytest.raises(Exception):
            record.read(v, ids[0], "service", actor=ADMIN)
        rights.lift_restriction(v, "jane", verified_by=V, actor=ADMIN)
        rights.object_to(v, "jane", "safety", verified_by=V, actor=ADMIN)
        rights.erase(v, "jane", verified_by=V, actor=ADMIN)
    finally:
        v.close()
    actions = [e["action"] for e in sink.entries]
    for a in ("rights.access", "rights.rectify", "rights.restrict", "rights.restrict.lift",
              "rights.object", "rights.erase.begin", "rights.erase.shred", "rights.erase"):
        assert a in actions, a
    assert any(e["outcome"] == "denied" for e in sink.entries)
    blob = repr(sink.entries)
    for secret in (SECRET, EMAIL, "SECRET-NEW-NAME", "jane", "Jane Doe", s.id):
        assert secret not in blob, secret
    assert s.pseudonym in blob


def test_feed_cursor_pages_through_erasures_in_order(vault: Vault) -> None:
    for i in range(5):
        record.collect(vault, f"p{i}", "account", {"email": f"p{i}@example.org"}, "service", actor=ADMIN)
        s = _subject(vault, f"p{i}")
        with vault.engine.begin() as conn:
            downstream.record_refs(vault, conn, "dataset:d1", [(s.id, f"ref-{i}")])
    for i in range(5):
        rights.erase(vault, f"p{i}", verified_by=V, actor=ADMIN)
    seen, cursor = [], 0
    while page := rights.erasure_feed(vault, since=cursor, limit=2, actor=ADMIN):
        seen += [n.references[0]["reference"] for n in page]
        cursor = page[-1].id
    assert seen == [f"ref-{i}" for i in range(5)]
    for bad in (-1, True, "3"):
        with pytest.raises(BadInput):
            rights.erasure_feed(vault, since=bad, actor=ADMIN)
    with pytest.raises(BadInput):
        rights.erasure_feed(vault, limit=0, actor=ADMIN)


def test_real_audit_log_after_erasure_verifies_and_names_only_pseudonyms(vault: Vault) -> None:
    """The tamper-evident log (confida.audit) still verifies after an erasure deleted rows, and
    says what was done to whom only by pseudonym."""
    import json as _json

    from confida.audit.sink import audit_log, load_signer
    from confida.store.schema import audit_tables

    populate(vault)
    s = _subject(vault, "jane")
    rights.erase(vault, "jane", verified_by=V, actor=ADMIN)
    log = audit_log(vault.config)
    with vault.engine.connect() as conn:
        assert log.verify_live(conn, load_signer(vault.config).verifier).ok
        rows = conn.execute(select(audit_tables.entry.c.entry)).scalars().all()
    entries = [_json.loads(r) for r in rows]
    erase = [e for e in entries if e["action"].startswith("rights.erase")]
    assert [e["action"] for e in erase] == [
        "rights.erase.begin", "rights.erase.shred", "rights.erase.notify",
        "rights.erase.delete", "rights.erase"]
    assert all(e["subjects"] == [s.pseudonym] for e in erase)
    blob = _json.dumps(entries)
    for needle in (SECRET, EMAIL, "Jane Doe", "198.51.100.77", s.id, "jane\""):
        assert needle not in blob, needle
