"""Group commit of read entries, read-only transactions, and checkpoints off the hot path.

Reads hand their audit entries to a group commit: concurrent reads share one transaction, yet
each read answers only once its own entry is committed, and a read whose entry cannot be
written answers nothing (fail-closed). The body of a read runs in a transaction that cannot
write. Deciding whether a checkpoint is due costs no query while none is.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from sqlalchemy import event, insert, select

from confida import record
from confida.audit.group_commit import GroupCommit
from confida.audit.sink import audit_log, load_signer
from confida.errors import AccessDenied, NotFound, StoreUnavailable
from confida.operation import Operation
from confida.store.engine import read_transaction
from confida.store.schema import audit_tables
from confida.store.schema import record as record_t
from confida.vault import Vault
from tests.actors import ADMIN
from tests.serving_support import run_threads

MSG = {"conversation_id": "c", "text": "hello there", "role": "user"}


def _entries(vault: Vault) -> list[dict[str, Any]]:
    with vault.engine.connect() as conn:
        rows = conn.execute(select(audit_tables.entry.c.entry)
                            .order_by(audit_tables.entry.c.idx)).scalars()
        return [json.loads(r) for r in rows]


def _committed_reads_of(vault: Vault, record_id: str) -> int:
    """Entries of reads of ``record_id`` that another connection can see (committed)."""
    with vault.engine.connect() as conn:
        rows = conn.execute(select(audit_tables.entry.c.entry)).scalars()
        return sum(1 for r in rows if record_id in r and '"record.read"' in r)


def test_concurrent_reads_are_grouped_and_each_answers_after_its_entry(vault: Vault) -> None:
    ids = [record.collect(vault, f"p{i}", "conversation_message", MSG, "service",
                          actor=ADMIN).record_id for i in range(8)]
    seen_after: list[tuple[str, int]] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        for j in range(10):
            rid = ids[(i + j) % len(ids)]
            assert record.read(vault, rid, "service", actor=ADMIN).data["text"] == MSG["text"]
            with lock:
                seen_after.append((rid, _committed_reads_of(vault, rid)))

    before = vault.group_commit.batches
    assert not run_threads(12, work)
    reads = [e for e in _entries(vault) if e["action"] == "record.read"]
    assert len(reads) == 120 and all(e["outcome"] == "allowed" for e in reads)
    assert all(n >= 1 for _, n in seen_after)  # answered only once its entry was committed
    assert vault.group_commit.batches - before <= 120
    log = audit_log(vault.config)
    with vault.engine.connect() as conn:
        assert log.verify_live(conn, load_signer(vault.config).verifier).ok


def test_batches_form_under_contention() -> None:
    """A slow transaction lets the queue fill: the next leader takes the queue in one batch."""
    gate = threading.Event()
    batches: list[int] = []

    class FakeEngine:
        pass

    def append(_conn: Any, entries: Any) -> None:
        batches.append(len(entries))
        if len(batches) == 1:
            gate.wait(5)

    import confida.audit.group_commit as gc

    real = gc.transaction
    gc.transaction = lambda _engine: _null()  # type: ignore[assignment]
    try:
        group = GroupCommit(FakeEngine(), append, lambda _n: None)  # type: ignore[arg-type]
        first = threading.Thread(target=group.append, args=({"n": 0},))
        first.start()
        while not batches:
            pass
        rest = [threading.Thread(target=group.append, args=({"n": i},)) for i in range(1, 21)]
        for t in rest:
            t.start()
        while len(group._queue) < 20:
            pass
        gate.set()
        for t in [first, *rest]:
            t.join(10)
    finally:
        gc.transaction = real  # type: ignore[assignment]
    assert batches == [1, 20]
    assert group.entries == 21 and group.batches == 2


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_a_read_whose_entry_cannot_be_written_answers_nothing(vault: Vault) -> None:
    rid = record.collect(vault, "p", "conversation_message", MSG, "service",
                         actor=ADMIN).record_id
    group = vault.group_commit
    real = group._append

    def broken(conn: Any, entries: Any) -> None:
        raise StoreUnavailable("database unavailable: disk full")

    group._append = broken
    try:
        with pytest.raises(StoreUnavailable):
            record.read(vault, rid, "service", actor=ADMIN)
        with pytest.raises(StoreUnavailable):
            record.list_records(vault, "p", actor=ADMIN)
    finally:
        group._append = real
    assert record.read(vault, rid, "service", actor=ADMIN).data["text"] == MSG["text"]


def test_every_caller_of_a_failed_batch_fails() -> None:
    errors: list[BaseException] = []

    def append(_conn: Any, entries: Any) -> None:
        raise StoreUnavailable("down")

    import confida.audit.group_commit as gc

    real = gc.transaction
    gc.transaction = lambda _engine: _null()  # type: ignore[assignment]
    try:
        group = GroupCommit(object(), append, lambda _n: None)  # type: ignore[arg-type]

        def call(i: int) -> None:
            group.append({"n": i})

        errors = run_threads(10, call)
    finally:
        gc.transaction = real  # type: ignore[assignment]
    assert len(errors) == 10 and all(isinstance(e, StoreUnavailable) for e in errors)


def test_refused_reads_are_logged_through_the_group_commit(vault: Vault) -> None:
    with pytest.raises(NotFound):
        record.read(vault, "00000000-0000-4000-8000-000000000000", "service", actor=ADMIN)
    last = _entries(vault)[-1]
    assert (last["action"], last["outcome"], last["details"]["error"]) == (
        "record.read", "failed", "not-found")  # as for every operation: not a refusal


def test_a_read_operation_cannot_write(vault: Vault) -> None:
    with pytest.raises(Exception) as info:  # noqa: PT011 - SQLite and PostgreSQL differ
        with vault.read_operation(Operation("record.read", ADMIN, "service")) as (conn, op):
            conn.execute(insert(record_t).values(id="x"))
    assert "read" in str(info.value).lower()  # "readonly database" / "read-only transaction"
    with read_transaction(vault.engine) as conn:  # the pooled connection is not left read-only
        conn.execute(select(record_t.c.id)).all()
    record.collect(vault, "p", "conversation_message", MSG, "service", actor=ADMIN)


def test_a_read_operation_without_a_decision_is_refused(vault: Vault) -> None:
    with pytest.raises(AccessDenied, match="no access decision"):
        with vault.read_operation(Operation("record.read", ADMIN, "service")):
            pass


def test_no_checkpoint_query_while_none_is_due(vault: Vault) -> None:
    record.collect(vault, "p", "usage_event", {"event": "login"}, "safety", actor=ADMIN)
    statements: list[str] = []

    def count(_conn: Any, _cur: Any, stmt: str, *_a: Any) -> None:
        statements.append(stmt)

    event.listen(vault.engine, "before_cursor_execute", count)
    try:
        for _ in range(5):
            record.collect(vault, "p", "usage_event", {"event": "login"}, "safety", actor=ADMIN)
    finally:
        event.remove(vault.engine, "before_cursor_execute", count)
    assert not [s for s in statements if "audit_checkpoint" in s]


def test_checkpoints_still_follow_the_policy(vault: Vault) -> None:
    every = vault.config.checkpoint_every_entries
    log = audit_log(vault.config)
    with vault.engine.connect() as conn:
        first = log.latest_checkpoint(conn)
    for _ in range(every + 1):
        record.collect(vault, "p", "usage_event", {"event": "login"}, "safety", actor=ADMIN)
    with vault.engine.connect() as conn:
        last = log.latest_checkpoint(conn)
        size = log.size(conn)
    assert last is not None and (first is None or last[0] > first[0])
    assert size - last[0] < every
