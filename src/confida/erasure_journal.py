"""The erasure journal: every erasure remembered in three places, and replayed after a restore.

Crypto-shredding makes an erasure reach every copy of the *records*, but a restored database
brings back the subject row, consent history, PII summaries and record metadata, and a restored
key store brings back the key itself. So every erasure is journaled, before its key is destroyed:

- in the record store (table ``erasure_journal``, written in the erasure's first transaction,
  together with the subject's ``erasing`` status, and completed in its last one);
- in the key store (table ``erasure_journal``);
- in an append-only file, by default ``<data-dir>/journal/erasures.jsonl``; ``erasure_journal_path``
  in confida.toml puts it on another volume, where it survives a restore of both stores and is
  the source of truth for erasures made after the backup.

An entry holds the subject's *internal* id and pseudonym (never the host's id), the time, the
request (id, how identity was verified, its dates, the host's request id) and, once done, the
erasure-feed notice (its id and the pseudonymous references downstream systems were given). That
is what is needed to put the request and the notice back; it holds no personal value.

File format: one JSON object per line, written with ``O_APPEND``, ``fsync``, mode 0600, under an
exclusive ``flock``; each line carries the SHA-256 of its own canonical JSON, so a line torn by a
crash (or damaged later) is detected and skipped, and the next append starts on a fresh line.

:func:`replay` unions the three journals and repairs every store that lacks an entry: the key is
destroyed, the subject's rows deleted (the erasure steps run again, so Art. 17(3) records are
re-kept if their key is still there), the request restored as completed, the feed notice restored
with its id, and missing entries written back into each journal. It also completes erasures that
were interrupted (subjects left ``erasing``). It is idempotent; ``confida serve`` runs it before
serving and ``confida restore`` after restoring.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, text, update

from confida.config import Config
from confida.errors import StoreUnavailable
from confida.operation import Actor, Operation
from confida.safe_files import fsync_dir
from confida.store.engine import transaction
from confida.store.keyschema import data_key
from confida.store.keyschema import erasure_journal as key_journal
from confida.store.schema import erasure_journal as store_journal
from confida.store.schema import erasure_notice, subject_request
from confida.store.schema import subject as subject_t
from confida.vault import Vault

FORMAT = 1
BEGIN, DONE = "erasure", "erased"
_CHUNK = 500


@dataclass
class Entry:
    """What the journals know about one erasure (one per subject: an erased subject stays so)."""

    subject: str
    request: str
    at: datetime
    pseudonym: str | None = None
    verified_by: str | None = None
    received_at: datetime | None = None
    due_at: datetime | None = None
    host_request: str | None = None
    completed_at: datetime | None = None
    notice_id: int | None = None
    refs: list[dict[str, str]] | None = None

    @property
    def completed(self) -> bool:
        return self.completed_at is not None

    def merge(self, other: Entry) -> Entry:
        """Fill what this copy lacks from another copy of the same erasure."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for f in fields(other):
            if values[f.name] is None:
                values[f.name] = getattr(other, f.name)
        return Entry(**values)


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


# --- the journal file ---------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _dt(value: Any) -> datetime | None:
    return None if value in (None, "") else datetime.fromisoformat(str(value))


def _digest(obj: dict[str, Any]) -> str:
    body = {k: v for k, v in obj.items() if k != "sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _line(obj: dict[str, Any]) -> bytes:
    obj = {**obj, "sha256": _digest(obj)}
    return (json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
            + "\n").encode("ascii")


def begin_line(e: Entry) -> dict[str, Any]:
    return {"v": FORMAT, "event": BEGIN, "subject": e.subject, "request": e.request,
            "at": _iso(e.at), "pseudonym": e.pseudonym, "verified_by": e.verified_by,
            "received_at": _iso(e.received_at), "due_at": _iso(e.due_at),
            "host_request": e.host_request}


def done_line(e: Entry) -> dict[str, Any]:
    return {"v": FORMAT, "event": DONE, "subject": e.subject, "request": e.request,
            "at": _iso(e.completed_at), "notice": e.notice_id, "refs": e.refs or []}


def parse_line(raw: bytes) -> dict[str, Any] | None:
    """One journal line, or None when it is torn, damaged or not ours."""
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict) or obj.get("v") != FORMAT or obj.get("sha256") != _digest(obj):
        return None
    if obj.get("event") not in (BEGIN, DONE) or not obj.get("subject") or not obj.get("request"):
        return None
    return obj


def _entry_from_line(obj: dict[str, Any]) -> Entry:
    if obj["event"] == BEGIN:
        return Entry(obj["subject"], obj["request"], _dt(obj["at"]),  # type: ignore[arg-type]
                     pseudonym=obj.get("pseudonym"), verified_by=obj.get("verified_by"),
                     received_at=_dt(obj.get("received_at")), due_at=_dt(obj.get("due_at")),
                     host_request=obj.get("host_request"))
    done = _dt(obj["at"])
    return Entry(obj["subject"], obj["request"], done,  # type: ignore[arg-type]
                 completed_at=done, notice_id=obj.get("notice"), refs=list(obj.get("refs") or []))


class JournalFile:
    """The append-only file copy of the journal."""

    def __init__(self, path: Path, *, create_dir: bool) -> None:
        self.path = path
        self.create_dir = create_dir

    @classmethod
    def of(cls, config: Config) -> JournalFile:
        return cls(config.erasure_journal, create_dir=config.erasure_journal_is_default)

    def _ensure_dir(self) -> None:
        parent = self.path.parent
        if parent.is_dir():
            return
        if not self.create_dir:
            raise StoreUnavailable(
                f"erasure journal directory {parent} does not exist (is its volume mounted?); "
                "create it or fix erasure_journal_path in confida.toml"
            )
        parent.mkdir(parents=True, exist_ok=True, mode=0o700)

    def append(self, objs: Iterable[dict[str, Any]]) -> int:
        """Append lines durably; returns how many. A torn last line is closed off first."""
        data = b"".join(_line(o) for o in objs)
        if not data:
            return 0
        self._ensure_dir()
        created = not self.path.exists()
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreUnavailable(
                f"erasure journal {self.path} cannot be written: {exc.strerror}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # a crash tore the last line: it stays alone, and is skipped
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        except OSError as exc:
            raise StoreUnavailable(
                f"erasure journal {self.path} cannot be written: {exc.strerror}"
            ) from None
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.path.parent)
        return data.count(b"\n") - (1 if data.startswith(b"\n") else 0)

    def raw(self) -> bytes:
        """The whole file, read under a shared lock (so no half-written append is copied)."""
        if not self.path.exists():
            return b""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise StoreUnavailable(
                f"erasure journal {self.path} cannot be read: {exc.strerror}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def read(self) -> tuple[list[dict[str, Any]], int]:
        """Valid lines, and how many lines were damaged (and skipped)."""
        return parse(self.raw())


def parse(data: bytes) -> tuple[list[dict[str, Any]], int]:
    good: list[dict[str, Any]] = []
    damaged = 0
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        obj = parse_line(raw)
        if obj is None:
            damaged += 1
        else:
            good.append(obj)
    return good, damaged



def entries_from_lines(lines: Iterable[dict[str, Any]]) -> dict[str, Entry]:
    out: dict[str, Entry] = {}
    for obj in lines:
        e = _entry_from_line(obj)
        out[e.subject] = out[e.subject].merge(e) if e.subject in out else e
        if obj["event"] == BEGIN:  # the begin line's time is the erasure's time
            out[e.subject].at = e.at
    return out


# --- writing during an erasure ------------------------------------------------------------------


def _store_entry(row: Any) -> Entry:
    return Entry(row.subject_id, row.request_id, row.at, pseudonym=row.pseudonym,
                 verified_by=row.verified_by, received_at=row.received_at, due_at=row.due_at,
                 host_request=row.host_request, completed_at=row.completed_at,
                 notice_id=row.notice_id,
                 refs=None if row.refs is None else list(row.refs))


def begin_in(vault: Vault, conn: Connection, subject_id: str, pseudonym: str,
             request_id: str) -> Entry:
    """Journal an erasure in the record store, in the transaction that sets ``erasing``."""
    row = conn.execute(
        select(store_journal).where(store_journal.c.subject_id == subject_id)
    ).first()
    if row is not None:
        return _store_entry(row)
    req = conn.execute(
        select(subject_request).where(subject_request.c.id == request_id)
    ).one()
    key = req.idempotency_key or ""
    e = Entry(subject_id, request_id, vault.clock(), pseudonym=pseudonym,
              verified_by=req.verified_by, received_at=req.received_at, due_at=req.due_at,
              host_request=key.removeprefix("host:") if key.startswith("host:") else None)
    _insert_store_row(conn, e)
    return e


def _insert_store_row(conn: Connection, e: Entry) -> None:
    conn.execute(insert(store_journal).values(
        subject_id=e.subject, request_id=e.request, pseudonym=e.pseudonym, at=e.at,
        verified_by=e.verified_by, received_at=e.received_at, due_at=e.due_at,
        host_request=e.host_request, completed_at=e.completed_at, notice_id=e.notice_id,
        refs=e.refs,
    ))


def record_elsewhere(vault: Vault, e: Entry, *, to_file: bool = True) -> None:
    """The key-store and file copies; called after the record-store copy committed and before
    the key is destroyed (a crash in between is repaired by the next replay)."""
    _key_store_insert(vault, [e])
    if to_file:
        JournalFile.of(vault.config).append([begin_line(e)])


def complete_in(conn: Connection, e: Entry) -> None:
    """Record the erasure's completion (in its finish transaction)."""
    conn.execute(
        update(store_journal).where(store_journal.c.subject_id == e.subject).values(
            completed_at=e.completed_at, notice_id=e.notice_id, refs=e.refs
        )
    )


def record_done(vault: Vault, e: Entry) -> None:
    JournalFile.of(vault.config).append([done_line(e)])


def completion(conn: Connection, e: Entry) -> Entry:
    """``e`` with its completion read from the request and its feed notice, if completed."""
    req = conn.execute(
        select(subject_request.c.status, subject_request.c.closed_at)
        .where(subject_request.c.id == e.request)
    ).first()
    if req is None or req.status != "completed":
        return e
    notice = conn.execute(
        select(erasure_notice.c.id, erasure_notice.c.refs)
        .where(erasure_notice.c.request_id == e.request)
    ).first()
    return replace(
        e,
        completed_at=e.completed_at or req.closed_at,
        notice_id=e.notice_id if e.notice_id is not None else (notice.id if notice else None),
        refs=e.refs if e.refs is not None else (list(notice.refs) if notice else []),
    )


def _key_store_insert(vault: Vault, entries: list[Entry]) -> int:
    if not entries:
        return 0
    with transaction(vault.key_engine) as conn:
        have = _existing(conn, key_journal.c.subject_id, [e.subject for e in entries])
        rows = [{"subject_id": e.subject, "request_id": e.request, "at": e.at}
                for e in entries if e.subject not in have]
        if rows:
            conn.execute(insert(key_journal), rows)
    return len(rows)


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


def _existing(conn: Connection, column: Any, ids: list[str]) -> set[str]:
    out: set[str] = set()
    for chunk in _chunks(sorted(set(ids))):
        out.update(conn.execute(select(column).where(column.in_(chunk))).scalars())
    return out


# --- replay ---------------------------------------------------------------------------------------


def read_all(vault: Vault) -> tuple[dict[str, Entry], set[str], set[str], int]:
    """The union of the three journals, with which subjects the file already has (begin, done)."""
    lines, damaged = JournalFile.of(vault.config).read()
    merged = entries_from_lines(lines)
    file_begin = {o["subject"] for o in lines if o["event"] == BEGIN}
    file_done = {o["subject"] for o in lines if o["event"] == DONE}
    with vault.engine.connect() as conn:
        for row in conn.execute(select(store_journal)):
            e = _store_entry(row)
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
    """
    from confida.rights import erasure

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
        for chunk in _chunks(ids):
            status.update((r.id, r.status) for r in conn.execute(
                select(subject_t.c.id, subject_t.c.status).where(subject_t.c.id.in_(chunk))
            ))
        reqs: dict[str, str] = {}
        for chunk in _chunks([e.request for e in merged.values()]):
            reqs.update((r.id, r.status) for r in conn.execute(
                select(subject_request.c.id, subject_request.c.status)
                .where(subject_request.c.id.in_(chunk))
            ))
        noticed = _existing(conn, erasure_notice.c.request_id, [e.request for e in merged.values()])
        in_store = _existing(conn, store_journal.c.subject_id, ids)
    with vault.key_engine.connect() as conn:
        keyed = _existing(conn, data_key.c.key_id, ids)

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
                    _insert_store_row(conn, e)
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
        in_store = _existing(conn, store_journal.c.subject_id, ids)  # the erasure steps add rows
        missing = [e for e in merged.values() if e.subject not in in_store]
        for e in missing:
            _insert_store_row(conn, e)
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
    report.written["key_store"] = _key_store_insert(vault, list(merged.values()))
    lines = [begin_line(e) for e in merged.values() if e.subject not in file_begin]
    lines += [done_line(e) for e in merged.values() if e.completed and e.subject not in file_done]
    report.written["file"] = JournalFile.of(vault.config).append(lines)
    if report.repaired or any(report.written.values()):
        with vault.operation(Operation("erasure.journal.replay", actor,
                                       details=_details(report))):
            pass
    return report


def _details(report: ReplayReport) -> dict[str, Any]:
    return {k: getattr(report, k) for k in (
        "journaled", "erasures_completed", "subjects_restored", "requests_restored",
        "notices_restored", "keys_destroyed", "written", "damaged_lines")}


def _set_closed_at(conn: Connection, request_id: str, at: datetime) -> None:
    conn.execute(update(subject_request).where(subject_request.c.id == request_id)
                 .values(closed_at=at))


def _restore_subject(conn: Connection, e: Entry) -> None:
    """An erased subject unknown to this store: its tombstone (id, pseudonym, ``erased``)."""
    conn.execute(insert(subject_t).values(
        id=e.subject, ref=None, pseudonym=e.pseudonym or secrets.token_hex(16), status="erased",
        created_at=e.received_at or e.at, status_changed_at=e.completed_at or e.at,
    ))


def ensure_request(vault: Vault, conn: Connection, e: Entry, *, completed: bool) -> None:
    """Put the journaled request back if this store lacks it."""
    from confida import request as requests

    if conn.execute(select(subject_request.c.id)
                    .where(subject_request.c.id == e.request)).first() is not None:
        return
    key = None
    if e.host_request:
        key = "host:" + e.host_request
        taken = conn.execute(select(subject_request.c.id)
                             .where(subject_request.c.idempotency_key == key)).first()
        if taken is not None:
            key = None
    received = e.received_at or e.at
    conn.execute(insert(subject_request).values(
        id=e.request, type=requests.ERASURE, subject_id=e.subject,
        verified_by=e.verified_by or "restored from the erasure journal",
        status=requests.COMPLETED if completed else requests.IN_PROGRESS,
        idempotency_key=key, received_at=received,
        due_at=e.due_at or requests.ANSWER_WITHIN.after(received), extended_months=0,
        closed_at=(e.completed_at or vault.clock()) if completed else None,
        details={"deleted": 0, "restored_from_journal": True},
    ))


def _restore_request(vault: Vault, conn: Connection, e: Entry) -> None:
    from confida import request as requests

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
        return replay(v)
