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

:mod:`confida.erasure_replay` replays the journal after a restore or a crash.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, update

from confida import request as requests
from confida.config import Config
from confida.errors import StoreUnavailable
from confida.safe_files import fsync_dir
from confida.store.engine import transaction
from confida.store.keyschema import erasure_journal as key_journal
from confida.store.schema import erasure_journal as store_journal
from confida.store.schema import erasure_notice, subject_request
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


def store_entry(row: Any) -> Entry:
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
        return store_entry(row)
    req = conn.execute(
        select(subject_request).where(subject_request.c.id == request_id)
    ).one()
    key = req.idempotency_key or ""
    e = Entry(subject_id, request_id, vault.clock(), pseudonym=pseudonym,
              verified_by=req.verified_by, received_at=req.received_at, due_at=req.due_at,
              host_request=key.removeprefix("host:") if key.startswith("host:") else None)
    insert_store_row(conn, e)
    return e


def insert_store_row(conn: Connection, e: Entry) -> None:
    conn.execute(insert(store_journal).values(
        subject_id=e.subject, request_id=e.request, pseudonym=e.pseudonym, at=e.at,
        verified_by=e.verified_by, received_at=e.received_at, due_at=e.due_at,
        host_request=e.host_request, completed_at=e.completed_at, notice_id=e.notice_id,
        refs=e.refs,
    ))


def record_elsewhere(vault: Vault, e: Entry, *, to_file: bool = True) -> None:
    """The key-store and file copies; called after the record-store copy committed and before
    the key is destroyed (a crash in between is repaired by the next replay)."""
    key_store_insert(vault, [e])
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


def key_store_insert(vault: Vault, entries: list[Entry]) -> int:
    if not entries:
        return 0
    with transaction(vault.key_engine) as conn:
        have = existing(conn, key_journal.c.subject_id, [e.subject for e in entries])
        rows = [{"subject_id": e.subject, "request_id": e.request, "at": e.at}
                for e in entries if e.subject not in have]
        if rows:
            conn.execute(insert(key_journal), rows)
    return len(rows)


def chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


def existing(conn: Connection, column: Any, ids: list[str]) -> set[str]:
    out: set[str] = set()
    for chunk in chunks(sorted(set(ids))):
        out.update(conn.execute(select(column).where(column.in_(chunk))).scalars())
    return out


def ensure_request(vault: Vault, conn: Connection, e: Entry, *, completed: bool) -> None:
    """Put the journaled request back if this store lacks it."""
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
