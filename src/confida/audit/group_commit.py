"""Group commit for the audit entries of operations that only read.

A read's only write is its audit entry, and appending one entry per transaction made every
read a writer: on SQLite each took the database write lock, on PostgreSQL each held the log's
head row lock until its own commit (and paid its own WAL flush). Here concurrent readers hand
their entries to whichever of them is first (the leader), which appends them all in one
transaction; every caller returns only once the transaction holding *its* entry has committed,
and raises if it failed, so a read whose entry is not durable is never answered (fail-closed).

No thread of its own: the leader is a caller, and leadership passes to a waiting caller after
each batch, so nobody serves others for long and an idle process holds nothing. Per process;
processes sharing a store each batch their own callers, and their batches serialise on the
log's head like any append.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from confida.store.engine import transaction

#: Most entries appended in one transaction (bounds one batch's time and memory).
MAX_BATCH = 256

Appender = Callable[[Connection, Sequence[Mapping[str, Any]]], "str | None"]
Witness = Callable[[str], None]


@dataclass
class _Pending:
    entry: Mapping[str, Any]
    done: bool = False
    error: BaseException | None = None


class GroupCommit:
    """Appends entries from many threads, a batch per transaction; see the module docstring."""

    def __init__(self, engine: Engine, append: Appender, witness: Witness,
                 max_batch: int = MAX_BATCH) -> None:
        self._engine = engine
        self._append = append
        self._witness = witness
        self._max = max_batch
        self._cv = threading.Condition()
        self._queue: list[_Pending] = []
        self._leading = False
        self.batches = 0  # since start: entries / batches is the grouping achieved
        self.entries = 0

    def append(self, entry: Mapping[str, Any]) -> None:
        """Return once ``entry`` is committed in the log; raise what its batch raised."""
        mine = _Pending(entry)
        with self._cv:
            self._queue.append(mine)
            while not mine.done:
                if self._leading:
                    self._cv.wait()
                    continue
                self._leading = True
                self._cv.release()
                try:
                    self._lead()
                finally:
                    self._cv.acquire()
                    self._leading = False
                    self._cv.notify_all()  # a waiter whose entry is still queued leads next
        if mine.error is not None:
            raise mine.error

    def _lead(self) -> None:
        """Append the oldest queued entries, at most ``max_batch``, in one transaction. (A
        leader whose own entry was not among them leads again: see :meth:`append`.)"""
        with self._cv:
            batch = self._queue[: self._max]
            del self._queue[: self._max]
        note: str | None = None
        error: BaseException | None = None
        try:
            with transaction(self._engine) as conn:
                note = self._append(conn, [p.entry for p in batch])
        except BaseException as exc:  # noqa: BLE001 - handed to every caller of the batch
            error = exc
        if note is not None:
            self._witness(note)  # committed: the checkpoint goes to the witness file
        with self._cv:
            self.batches += 1
            self.entries += len(batch)
            for p in batch:
                p.error = error
                p.done = True
            self._cv.notify_all()
