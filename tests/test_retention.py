"""Retention runs: what is deleted, what is kept, and when a subject's key goes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from confida import consent, record
from confida.errors import NotFound
from confida.retention import EXPIRED, run_retention
from confida.server.retention_task import RetentionTask
from confida.store.engine import transaction
from confida.store.schema import record as record_t
from confida.store.schema import subject
from confida.vault import Vault
from tests.actors import ADMIN
from tests.tr_support import Clock, ListSink, set_record

pytest_plugins = ["tests.tr_support"]





def _subject(v: Vault, record_id: str):
    with v.engine.connect() as conn:
        sid = conn.execute(select(record_t.c.subject_id).where(record_t.c.id == record_id)).scalar()
        return conn.execute(select(subject).where(subject.c.id == sid)).first()


def test_deletes_by_kind_and_purpose_and_reports_it(v: Vault, clock: Clock,
                                                    sink: ListSink) -> None:
    keep = record.collect(v, "u-1", "account", {"email": "a@example.com"}, "service", actor=ADMIN).record_id
    gone = [record.collect(v, "u-1", "usage_event", {"event": "open"}, "safety", actor=ADMIN).record_id
            for _ in range(3)]
    record.collect(v, "u-1", "temporary_chat", {"conversation_id": "c", "text": "x"}, "service", actor=ADMIN)
    clock.advance(days=29)
    assert run_retention(v, actor=ADMIN).removed_total == 0
    clock.advance(days=2)
    rep = run_retention(v, actor=ADMIN)
    assert rep.removed == {"usage_event": {"safety": 3}, "temporary_chat": {"service": 1}}
    assert rep.removed_total == 4 and rep.keys_destroyed == 0
    with v.engine.connect() as conn:
        left = [r for (r,) in conn.execute(select(record_t.c.id))]
    assert left == [keep] and not set(gone) & set(left)
    entry = next(e for e in reversed(sink.entries) if e["action"] == "retention.run")
    assert entry["outcome"] == "allowed"
    assert sink.entries[-1]["action"] == "rights.retained.purge"  # the rights module's step
    assert entry["details"]["by_kind_purpose"] == {"temporary_chat/service": 1,
                                                   "usage_event/safety": 3}


def test_legal_hold_and_restriction_suspend_deletion(v: Vault, clock: Clock) -> None:
    held = record.collect(v, "u-1", "usage_event", {"event": "a"}, "safety", actor=ADMIN).record_id
    restricted = record.collect(v, "u-2", "usage_event", {"event": "b"}, "safety", actor=ADMIN).record_id
    sid = _subject(v, restricted).id
    with transaction(v.engine) as conn:
        set_record(conn, held, legal_hold=True)
        conn.execute(subject.update().where(subject.c.id == sid).values(status="restricted"))
    clock.advance(days=31)
    rep = run_retention(v, actor=ADMIN)
    assert rep.removed_total == 0 and rep.kept_legal_hold == 1 and rep.kept_restricted == 1
    assert v.keys.has_key(sid)


def test_emptied_subject_loses_its_key_and_returns_as_a_new_subject(v: Vault,
                                                                     clock: Clock) -> None:
    rid = record.collect(v, "u-1", "usage_event", {"event": "a"}, "safety", actor=ADMIN).record_id
    old = _subject(v, rid)
    clock.advance(days=31)
    rep = run_retention(v, actor=ADMIN)
    assert rep.keys_destroyed == 1
    with v.engine.connect() as conn:
        row = conn.execute(select(subject).where(subject.c.id == old.id)).first()
    assert row.status == EXPIRED and row.ref is None
    assert not v.keys.has_key(old.id)
    with pytest.raises(NotFound):
        v.keys.get_key(old.id)
    again = record.collect(v, "u-1", "usage_event", {"event": "b"}, "safety", actor=ADMIN).record_id
    assert _subject(v, again).id != old.id
    assert run_retention(v, actor=ADMIN).keys_destroyed == 0  # idempotent


def test_subject_with_consent_in_force_keeps_its_key(v: Vault, clock: Clock) -> None:
    consent.grant(v, "u-1", "model_training", actor=ADMIN)
    rid = record.collect(v, "u-1", "usage_event", {"event": "a"}, "safety", actor=ADMIN).record_id
    sid = _subject(v, rid).id
    clock.advance(days=31)
    rep = run_retention(v, actor=ADMIN)
    assert rep.removed_total == 1 and rep.keys_destroyed == 0 and v.keys.has_key(sid)


def test_a_crash_before_key_destruction_is_finished_by_the_next_run(v: Vault,
                                                                     clock: Clock) -> None:
    rid = record.collect(v, "u-1", "usage_event", {"event": "a"}, "safety", actor=ADMIN).record_id
    sid = _subject(v, rid).id
    clock.advance(days=31)
    original = v.keys.destroy
    v.keys.destroy = lambda key_id: False  # type: ignore[method-assign]  # crash stand-in
    run_retention(v, actor=ADMIN)
    assert v.keys.has_key(sid)
    v.keys.destroy = original  # type: ignore[method-assign]
    assert run_retention(v, actor=ADMIN).keys_destroyed == 1 and not v.keys.has_key(sid)


def test_background_task_runs_retention(config, clock: Clock) -> None:
    with Vault.open(config, clock=clock) as v:
        record.collect(v, "u-1", "usage_event", {"event": "a"}, "safety", actor=ADMIN)
    clock.advance(days=31)
    task = RetentionTask(config, every_seconds=0.05,
                         open_vault=lambda cfg: Vault.open(cfg, clock=clock))
    task.run_once()
    assert task.runs == 1 and task.errors == 0
    with Vault.open(config) as v, v.engine.connect() as conn:
        assert conn.execute(select(record_t.c.id)).first() is None
    task.start()
    task.stop()
    assert task.runs >= 2
    with pytest.raises(ValueError):
        RetentionTask(config, every_seconds=0)


def test_retention_boundary_is_exact(v: Vault, clock: Clock) -> None:
    c = record.collect(v, "u-1", "usage_event", {"event": "a"}, "safety", actor=ADMIN)
    clock.now = c.retain_until - timedelta(seconds=1)
    assert run_retention(v, actor=ADMIN).removed_total == 0
    clock.now = c.retain_until
    assert run_retention(v, actor=ADMIN).removed_total == 1


def test_subject_with_an_open_request_keeps_its_key(v: Vault, clock: Clock) -> None:
    """An open request in the rights module's ``subject_request`` table, written directly."""
    from sqlalchemy import insert

    from confida.store.schema import subject_request

    rid = record.collect(v, "u-1", "usage_event", {"event": "a"}, "safety", actor=ADMIN).record_id
    sid = _subject(v, rid).id
    with transaction(v.engine) as conn:
        conn.execute(insert(subject_request).values(
            id="11111111-1111-1111-1111-111111111111", type="access", subject_id=sid,
            verified_by="test", status="received", received_at=clock.now,
            due_at=clock.now + timedelta(days=30), extended_months=0))
    clock.advance(days=31)
    rep = run_retention(v, actor=ADMIN)
    assert rep.removed_total == 1 and rep.keys_destroyed == 0 and v.keys.has_key(sid)
    with transaction(v.engine) as conn:
        conn.execute(subject_request.update().values(status="completed", closed_at=clock.now))
    record.collect(v, "u-9", "usage_event", {"event": "b"}, "safety", actor=ADMIN)  # unrelated
    assert run_retention(v, actor=ADMIN).keys_destroyed == 1 and not v.keys.has_key(sid)  # request ended


def test_serve_records_its_mode_and_runs_retention_while_up(config, monkeypatch) -> None:
    """The network server itself is the boundary replaced here: its ``run`` returns at once."""
    import uvicorn

    from confida.server import retention_task as rt
    from confida.server.run import run_server
    from confida.tls import create_self_signed
    from confida.transparency.serving import last_serve_mode

    started: list[rt.RetentionTask] = []
    real_start = rt.start_retention_task

    def spy(cfg, every_seconds=rt.DEFAULT_EVERY_SECONDS):
        started.append(real_start(cfg, every_seconds))
        return started[-1]

    monkeypatch.setattr(rt, "start_retention_task", spy)
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: None)
    run_server(config, host="127.0.0.1", port=0, insecure_http=True)
    assert last_serve_mode(config)["mode"] == "http"
    assert len(started) == 1 and not started[0]._thread.is_alive()  # stopped with the server
    assert started[0].runs == 1 and started[0].errors == 0  # ran once on start
    create_self_signed(config.tls_cert, config.tls_key)
    run_server(config, host="127.0.0.1", port=0, insecure_http=False)
    mode = last_serve_mode(config)
    assert mode["mode"] == "https" and mode["cert"] == str(config.tls_cert)
