"""Engines for SQLite (embedded) and PostgreSQL, with the settings each needs to be safe."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from confida.errors import BadInput, StoreUnavailable

#: Connections kept per engine, and opened beyond that under bursts (closed when returned).
#: Sized for the server's threads (``[api] threads``, 16 by default); see the README's "Sizing
#: the server" for PostgreSQL's connection limit.
POOL_SIZE = 16
POOL_OVERFLOW = 16

READ_ONLY = "confida_read_only"  # execution option: this connection only reads (see make_engine)


def _sqlite_pragmas(secure_delete: bool) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=5000")
        if secure_delete:
            # Deleted key material is overwritten with zeros, not left in free pages.
            cur.execute("PRAGMA secure_delete=ON")
        cur.close()

    return on_connect


def make_engine(url: str, *, secure_delete: bool = False, create_dir: bool = False) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise BadInput("database URL is not valid") from None
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            parent = Path(db).parent
            if create_dir:
                parent.mkdir(parents=True, exist_ok=True)
            elif not parent.exists():
                raise StoreUnavailable(f"database directory {parent} does not exist")
        # A pool as large as the server's thread pool: an overflow connection is closed when
        # returned, and opening one (with its pragmas) cost more than the query it served.
        engine = create_engine(parsed, connect_args={"timeout": 5}, pool_size=POOL_SIZE,
                               max_overflow=POOL_OVERFLOW)
        event.listen(engine, "connect", _sqlite_pragmas(secure_delete))
        # Let SQLAlchemy's own BEGIN drive transactions (pysqlite's implicit ones are unreliable).
        # Writers take the write lock up front; a connection marked READ_ONLY (a long audit read)
        # takes a plain snapshot instead, so that writers are not held up behind it.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(
            "BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE"))

        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn: Any, _r: Any) -> None:
            dbapi_conn.isolation_level = None

        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(
            parsed, pool_pre_ping=True, connect_args={"connect_timeout": 5},
            pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW,
        )
    raise BadInput(f"unsupported database {parsed.get_backend_name()!r}; use sqlite or postgresql")


def describe_db_error(exc: DBAPIError) -> str:
    """A one-line reason without SQL or parameters (they may hold personal data)."""
    orig = getattr(exc, "orig", None)
    text = str(orig or exc).strip().splitlines()[0] if str(orig or exc).strip() else "error"
    return text[:200]


#: One lock per SQLite database file, shared by every engine of this process on that file.
_WRITE_LOCKS: dict[str, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()
#: How long a writer waits for the other writers of this process before the store counts as
#: unavailable (under load the bound on requests in flight keeps the queue far shorter).
WRITE_LOCK_SECONDS = 30.0


def _write_lock(engine: Engine) -> threading.RLock | None:
    """The process's lock for writers of ``engine``'s SQLite file (None on PostgreSQL).

    SQLite lets one writer in at a time and makes the others poll with growing sleeps (its busy
    handler: 1, 2, 5 ... 100 ms): with 32 threads writing, most of the time went to sleeping
    while the lock was free, and p99 reached seconds. Queueing a process's writers on a Python
    lock hands the database over at once, in turn. Other processes still meet SQLite's own
    lock. Reentrant: a thread that already writes behaves as before (SQLite's busy timeout).
    """
    if engine.dialect.name != "sqlite":
        return None
    key = str(engine.url.database or "")
    if key in ("", ":memory:"):
        return None
    with _WRITE_LOCKS_GUARD:
        lock = _WRITE_LOCKS.get(key)
        if lock is None:
            lock = _WRITE_LOCKS[key] = threading.RLock()
        return lock


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction; database failures surface as StoreUnavailable with a short reason."""
    lock = _write_lock(engine)
    if lock is not None and not lock.acquire(timeout=WRITE_LOCK_SECONDS):
        raise StoreUnavailable("database unavailable: too many writers waiting")
    try:
        with engine.begin() as conn:
            yield conn
    except OperationalError as exc:
        raise StoreUnavailable(f"database unavailable: {describe_db_error(exc)}") from None
    finally:
        if lock is not None:
            lock.release()


@contextmanager
def connection(engine: Engine) -> Iterator[Connection]:
    try:
        with engine.connect() as conn:
            yield conn
    except OperationalError as exc:
        raise StoreUnavailable(f"database unavailable: {describe_db_error(exc)}") from None


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only, on a hot path (authentication, key look-ups): on SQLite it
    takes no write lock (a plain ``BEGIN``), so it does not queue behind writers. Never write
    through it (a deferred transaction can fail to upgrade): use :func:`transaction`."""
    with connection(engine) as conn:
        conn.execution_options(**{READ_ONLY: True})
        yield conn


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """One consistent, read-only view of the store for a long read (an audit verification, the
    compliance check) that must neither see writes land half-way nor hold writers up.

    SQLite: a plain ``BEGIN`` (a WAL snapshot, no write lock; see ``READ_ONLY``). PostgreSQL:
    ``REPEATABLE READ``, so every statement sees the snapshot taken at the first one (the
    default, READ COMMITTED, lets a verification count entries that a later statement no
    longer matches). Read anything that must be visible in the snapshot, such as the witness
    file, before the first statement.
    """
    with reading(engine) as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        yield conn


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that can only read: a write in it raises (SQLite ``query_only``,
    PostgreSQL ``READ ONLY``), and on SQLite it takes a WAL snapshot instead of the write lock
    every other transaction takes, so reads no longer queue behind each other and writers.

    For operations whose only write is their audit entry (``Vault.read_operation``): the entry
    is appended afterwards by the group commit, not here.
    """
    sqlite = engine.dialect.name == "sqlite"
    with reading(engine) as conn:
        if not sqlite:
            conn.execution_options(postgresql_readonly=True)  # BEGIN READ ONLY, no extra trip
        raw = conn.connection.dbapi_connection if sqlite else None
        if raw is not None:
            raw.execute("PRAGMA query_only=ON")  # outside SQLAlchemy: no autobegin
        try:
            with conn.begin():
                yield conn
        finally:
            if raw is not None:
                raw.execute("PRAGMA query_only=OFF")  # the pooled connection writes again


#: How long one checkpoint attempt waits for readers and writers, and how often it is tried.
#: A pending TRUNCATE checkpoint blocks every new writer of the database, so each attempt is
#: short (writers, whose busy timeout is 5 s, get in between attempts) and attempts are many.
CHECKPOINT_WAIT_MS = 200
CHECKPOINT_ATTEMPTS = 10


def sqlite_checkpoint(engine: Engine) -> None:
    """Fold the WAL into the database file and truncate it, as far as that is possible without
    holding anyone up (no-op on other backends). Best effort: see ``require_checkpoint`` for a
    deletion that must leave no copy behind.

    Run outside any transaction, so that deleted or rewritten pages do not linger in the WAL.
    A pending TRUNCATE checkpoint blocks every new writer while it waits for readers; with the
    connection's usual 5 s busy timeout it held writers until theirs ran out ("database is
    locked" under load), so it waits ``CHECKPOINT_WAIT_MS`` at most and otherwise leaves the
    rest to SQLite's automatic checkpoints.
    """
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(CHECKPOINT_WAIT_MS)}")
        try:
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError:
            pass  # busy: the next checkpoint (automatic or ours) folds it in
        finally:
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()
    finally:
        raw.close()




def require_checkpoint(engine: Engine) -> None:
    """A TRUNCATE checkpoint that must complete, for deletions that must leave no copy behind.

    ``PRAGMA wal_checkpoint(TRUNCATE)`` answers ``(busy, log, checkpointed)`` and gives up
    silently (``busy`` = 1, or frames left uncopied) while another connection reads an older
    snapshot or writes; the log then still holds the page as it was before the deletion.
    Tried a bounded number of times, each waiting for the others; if it still cannot complete
    it raises, so the caller (an erasure) reports it and a re-run finishes the job.
    """
    if engine.dialect.name != "sqlite":
        return
    result: tuple[int, int, int] | None = None
    for attempt in range(CHECKPOINT_ATTEMPTS):
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute(f"PRAGMA busy_timeout={int(CHECKPOINT_WAIT_MS)}")
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            result = tuple(cur.fetchone())  # type: ignore[assignment]
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()
        except OperationalError as exc:
            raise StoreUnavailable(f"checkpoint failed: {describe_db_error(exc)}") from None
        except DBAPIError as exc:
            raise StoreUnavailable(f"checkpoint failed: {describe_db_error(exc)}") from None
        finally:
            raw.close()
        busy, log, done = result  # type: ignore[misc]
        if busy == 0 and log in (0, -1) and done in (0, -1):
            return  # the log was copied back and truncated to zero bytes
        time.sleep(min(0.05 * (attempt + 1), 0.3))  # the lock is free while we sleep
    raise StoreUnavailable(
        "the key store's write-ahead log could not be truncated (another connection held it "
        f"for {CHECKPOINT_ATTEMPTS} attempts, checkpoint answered {result}); the deletion is "
        "committed but an old copy of the page may remain on disk: run the operation again"
    )
