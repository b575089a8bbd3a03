"""Replaying the erasure journal: every journaled erasure made true again in every store.

:func:`replay` unions the three journals (``confida.erasure_journal``) and repairs every store
that lacks an entry: the key is destroyed, the subject's rows deleted (the erasure steps of
``confida.rights.erasure`` run again, so Art. 17(3) records are re-kept if their key is still
there), the request restored as completed, the feed notice restored with its id, and missing
entries written back into each journal. It also completes erasures that were interrupted
(subjects left ``erasing``). It is idempotent; ``confida serve`` runs it before serving and
``confida restore`` after restoring.

It lives apart from the journal itself because it drives the erasure, and the erasure writes
the journal: one module each way would import the other.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, text, update

from confida import request as requests
from confida.authz import authorise
from confida.config import Config
from confida.erasure_journal import (
    BEGIN,
    DONE,
    Entry,
    JournalFile,
    begin_line,
    chunks,
    complete_in,
    completion,
    done_line,
    ensure_request,
    entries_from_lines,
    existing,
    insert_store_row,
    key_store_insert,
    store_entry,
)
from confida.operation import Actor, Operation, system_actor
from confida.rights import erasure
from confida.store.engine import transaction
from confida.store.keyschema import data_key
from confida.store.keyschema import erasure_journal as key_journal
from confida.store.schema import erasure_journal as store_journal
from confida.store.schema import erasure_notice, subject_request
from confida.store.schema import subject as subject_t
from confida.vault import Vault


@dataclass
class ReplayReport:
    """What a replay did; counts only (never a subject's id)."""

    journaled: int = 0  # distinct erasures known to the three journals together
    erasures_completed: int = 0  # subjects whose rows were back or half-erased, now erased
    subjects_restored: int = 0  # erased subjects missing from the record store, put back
    requests_restored: int = 0  # erasure requests missing or open, now present and completed
    notices_restored: int = 0  # erasure-feed notices put back
    keys_destroyed: int = 0
    written: dict[str, int] = field(
        default_factory=lambda: {"record_store": 0, "key_store": 0, "file": 0}
    )
    damaged_lines: int = 0  # journal-file lines that failed their checksum (e.g. torn by a crash)

    @property
    def repaired(self) -> int:
        return (self.erasures_completed + self.subjects_restored + self.requests_restored
                + self.notices_restored + self.keys_destroyed)



def read_all(vault: Vault) -> tuple[dict[str, Entry], set[str], set[str], int]:
    """The union of the three journals, with which subjects the file already has (begin, done)."""
    lines, damaged = JournalFile.of(vault.config).read()
    merged = entries_from_lines(lines)
    file_begin = {o["subject"] for o in lines if o["event"] == BEGIN}
    file_done = {o["subject"] for o in lines if o["event"] == DONE}
    with vault.engine.connect() as conn:
        for row in conn.execute(select(store_journal)):
            e = store_entry(row)
            merged[e.subject] = merged[e.subject].merge(e) if e.subject in merged else e
    with vault.key_engine.connect() as conn:
        for row in conn.execute(select(key_journal)):
            e = Entry(row.subject_id, row.request_id, row.at)
            merged[e.subject] = merged[e.subject].merge(e) if e.subject in merged else e
    return merged, file_begin, file_done, damaged


def _interrupted(vault: Vault, known: set[str]) -> list[Entry]:
    """Subjects left ``erasing`` that no journal names (erasures begun before the journal)."""
    out = []
    with vault.engine.connect() as conn:
        rows = conn.execute(
            select(subject_t.c.id, subject_t.c.pseudonym, subject_t.c.status_changed_at,
                   subject_request.c.id.label("request_id"))
            .join(subject_request, subject_request.c.subject_id == subject_t.c.id)
            .where(subject_t.c.status == "erasing")
            .where(subject_request.c.type == "erasure")
            .where(subject_request.c.status.in_(("received", "in_progress", "extended")))
        ).all()
    for r in rows:
        if r.id not in known:
            out.append(Entry(r.id, r.request_id, r.status_changed_at or vault.clock(),
                             pseudonym=r.pseudonym))
    return out


_SUBJECT_OF_LINE = re.compile(
    rb'"event":"(erasure|erased)".*"subject":"([0-9a-f-]{36})"')


def _settled(vault: Vault) -> int | None:
    """The number of journaled erasures when every store already has every one, else None.

    What every start of ``confida serve`` pays, so it reads ids only: both tables' subject ids
    (equal sets, every record-store entry completed), no subject left ``erasing``, no journaled
    subject's key present, and the file naming the same subjects (found by a pattern, without
    checking each line: any doubt, e.g. a damaged line, sends the caller to the full replay,
    which checks everything).
    """
    with vault.engine.connect() as conn:
        store = set(conn.execute(select(store_journal.c.subject_id)).scalars())
        if conn.execute(select(store_journal.c.subject_id)
                        .where(store_journal.c.completed_at.is_(None)).limit(1)).first():
            return None
        if conn.execute(select(subject_t.c.id)
                        .where(subject_t.c.status == "erasing").limit(1)).first():
            return None
    with vault.key_engine.connect() as conn:
        keys = set(conn.execute(select(key_journal.c.subject_id)).scalars())
        if keys != store:
            return None
        if conn.execute(select(data_key.c.key_id)
                        .join(key_journal, key_journal.c.subject_id == data_key.c.key_id)
                        .limit(1)).first():
            return None
    begun: set[str] = set()
    done: set[str] = set()
    for raw in JournalFile.of(vault.config).raw().split(b"\n"):
        if not raw:
            continue
        m = _SUBJECT_OF_LINE.search(raw)
        if m is None:
            return None
        (begun if m.group(1) == b"erasure" else done).add(m.group(2).decode())
    if begun != store or done != store:  # (a resumed erasure may have written a line twice)
        return None
    return len(store)


def replay(vault: Vault, *, actor: Actor) -> ReplayReport:
    """Bring the record store, the key store and the journal file up to every journaled erasure.

    Idempotent, and cheap when nothing is missing (a few bulk reads). Run it before serving and
    after any restore.

    The decision comes first, in an operation of its own, so the log shows every replay (one
    entry per start or restore) and a refused one; each repair is decided again in its own
    operation.
    """
    with vault.operation(Operation("rights.erase.replay", actor)) as (_conn, op):
        authorise(actor, "rights", register=vault.register, op=op)
    report = ReplayReport()
    settled = _settled(vault)
    if settled is not None:
        report.journaled = settled
        return report
    merged, file_begin, file_done, report.damaged_lines = read_all(vault)
    for e in _interrupted(vault, set(merged)):
        merged[e.subject] = e
    report.journaled = len(merged)
    if not merged:
        return report
    ids = list(merged)
    with vault.engine.connect() as conn:
        status: dict[str, str] = {}
        for chunk in chunks(ids):
            status.update((r.id, r.status) for r in conn.execute(
                select(subject_t.c.id, subject_t.c.status).where(subject_t.c.id.in_(chunk))
            ))
        reqs: dict[str, str] = {}
        for chunk in chunks([e.request for e in merged.values()]):
            reqs.update((r.id, r.status) for r in conn.execute(
                select(subject_request.c.id, subject_request.c.status)
                .where(subject_request.c.id.in_(chunk))
            ))
        noticed = existing(conn, erasure_notice.c.request_id, [e.request for e in merged.values()])
        in_store = existing(conn, store_journal.c.subject_id, ids)
    with vault.key_engine.connect() as conn:
        keyed = existing(conn, data_key.c.key_id, ids)

    for e in sorted(merged.values(), key=lambda x: (x.at, x.subject)):
        st = status.get(e.subject)
        if st is not None and st != "erased":
            # the subject's rows are back (or it was interrupted): the erasure steps run again
            if e.notice_id is not None and e.request not in noticed:
                with transaction(vault.engine) as conn:
                    report.notices_restored += _restore_notice(conn, e)
            in_file = frozenset(ev for ev, seen in ((BEGIN, file_begin), (DONE, file_done))
                                if e.subject in seen)
            erasure.resume_journaled(vault, e, actor=actor, in_file=in_file)
            file_begin.add(e.subject)
            file_done.add(e.subject)
            report.erasures_completed += 1
            if reqs.get(e.request) != "completed":
                report.requests_restored += 1
            if e.subject in keyed:
                report.keys_destroyed += 1
                keyed.discard(e.subject)
            with transaction(vault.engine) as conn:
                if e.completed_at is not None:  # it was answered then, not now
                    _set_closed_at(conn, e.request, e.completed_at)
                merged[e.subject] = completion(conn, e)
        elif (st is None or e.request not in noticed or reqs.get(e.request) != "completed"
              or e.subject not in in_store):
            with vault.operation(Operation("rights.erase.replay", actor)) as (conn, op):
                authorise(actor, "rights", register=vault.register, op=op)
                if st is None:
                    _restore_subject(conn, e)
                    report.subjects_restored += 1
                if reqs.get(e.request) != "completed":
                    _restore_request(vault, conn, e)
                    report.requests_restored += 1
                if e.request not in noticed:
                    e = completion(conn, e)
                    report.notices_restored += _restore_notice(conn, e, default_at=vault.clock())
                e = completion(conn, e)
                if e.subject not in in_store:
                    insert_store_row(conn, e)
                    report.written["record_store"] += 1
                    in_store.add(e.subject)
                else:
                    complete_in(conn, e)
                merged[e.subject] = e
                pseudonym = conn.execute(
                    select(subject_t.c.pseudonym).where(subject_t.c.id == e.subject)
                ).scalar()
                op.subject_pseudonyms.append(str(pseudonym))
                op.object_ids.append(f"request:{e.request}")
        if e.subject in keyed:
            if vault.keys.destroy(e.subject):
                report.keys_destroyed += 1
            keyed.discard(e.subject)

    # write back what each journal lacks
    with transaction(vault.engine) as conn:
        in_store = existing(conn, store_journal.c.subject_id, ids)  # the erasure steps add rows
        missing = [e for e in merged.values() if e.subject not in in_store]
        for e in missing:
            insert_store_row(conn, e)
        report.written["record_store"] += len(missing)
        incomplete = set(conn.execute(
            select(store_journal.c.subject_id).where(store_journal.c.completed_at.is_(None))
        ).scalars())
        for e in merged.values():
            if e.subject in incomplete and e.completed:
                conn.execute(
                    update(store_journal)
                    .where(store_journal.c.subject_id == e.subject)
                    .where(store_journal.c.completed_at.is_(None))
                    .values(completed_at=e.completed_at, notice_id=e.notice_id, refs=e.refs)
                )
    report.written["key_store"] = key_store_insert(vault, list(merged.values()))
    lines = [begin_line(e) for e in merged.values() if e.subject not in file_begin]
    lines += [done_line(e) for e in merged.values() if e.completed and e.subject not in file_done]
    report.written["file"] = JournalFile.of(vault.config).append(lines)
    if report.repaired or any(report.written.values()):
        with vault.operation(Operation("erasure.journal.replay", actor,
                                       details=_details(report))) as (_conn, op):
            authorise(actor, "rights", register=vault.register, op=op)
    return report


def _details(report: ReplayReport) -> dict[str, Any]:
    return asdict(report)


def _set_closed_at(conn: Connection, request_id: str, at: datetime) -> None:
    conn.execute(update(subject_request).where(subject_request.c.id == request_id)
                 .values(closed_at=at))


def _restore_subject(conn: Connection, e: Entry) -> None:
    """An erased subject unknown to this store: its tombstone (id, pseudonym, ``erased``)."""
    conn.execute(insert(subject_t).values(
        id=e.subject, ref=None, pseudonym=e.pseudonym or secrets.token_hex(16), status="erased",
        created_at=e.received_at or e.at, status_changed_at=e.completed_at or e.at,
    ))


def _restore_request(vault: Vault, conn: Connection, e: Entry) -> None:
    ensure_request(vault, conn, e, completed=True)
    req = requests.load(vault, conn, e.request)
    if req.is_open:
        requests.set_status(vault, conn, req, requests.COMPLETED,
                            details={"notice": e.notice_id})
        if e.completed_at is not None:
            _set_closed_at(conn, e.request, e.completed_at)


def _restore_notice(conn: Connection, e: Entry, default_at: datetime | None = None) -> int:
    """The feed notice of ``e``'s request, with its journaled id when that id is free."""
    if conn.execute(select(erasure_notice.c.id)
                    .where(erasure_notice.c.request_id == e.request)).first() is not None:
        return 0
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE erasure_notice IN EXCLUSIVE MODE"))
    values: dict[str, Any] = {"request_id": e.request, "refs": e.refs or [],
                              "at": e.completed_at or default_at or e.at}
    if e.notice_id is not None and conn.execute(
        select(erasure_notice.c.id).where(erasure_notice.c.id == e.notice_id)
    ).first() is None:
        values["id"] = e.notice_id
    conn.execute(insert(erasure_notice).values(**values))
    if "id" in values and conn.dialect.name == "postgresql":
        # an explicit id does not move the sequence; the next notice must come after it
        conn.execute(text(
            "SELECT setval(pg_get_serial_sequence('erasure_notice', 'id'), "
            "(SELECT max(id) FROM erasure_notice))"
        ))
    return 1


def replay_config(config: Config) -> ReplayReport:
    """Replay with a vault of its own (``confida serve`` calls it before serving)."""
    with Vault.open(config) as v:
        return replay(v, actor=system_actor("erasure-resume"))
