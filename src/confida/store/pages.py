"""The bytes of a live SQLite store, read without ever opening its files in this process.

Why this module exists: on POSIX, closing *any* descriptor of a file drops every lock the
process holds on it. SQLite keeps a shared lock on the database file for as long as a
connection is open in WAL mode; a plain ``open()``/``close()`` of ``confida.db`` (or a copy
with ``shutil``) inside a process that has the store open silently removes that lock. The next
process to close its last connection then believes it is alone, checkpoints and deletes the WAL
that this process is still appending to: acknowledged writes vanish and the file can end up
malformed. SQLite's own VFS guards against this for its connections, but not for code that
opens the files behind its back.

So everything that wants the raw bytes of a store (the compliance plaintext scan, tests that
prove nothing is left in the file, benchmarks) goes through here:

- :func:`database_image`: every page of the database as SQLite sees it now (the file plus the
  committed WAL frames), free pages and unused cell space included, copied page for page by the
  SQLite backup API into a private temporary file (``0700`` directory next to the store);
- :func:`wal_image`: the raw WAL file, superseded frames included, read by a child process that
  holds no lock, so that its descriptor closing drops nothing of ours. (A backup copy has only
  the newest version of each page; old versions of a page can linger in the WAL until it is
  checkpointed, and those are bytes on disk too.)
- :func:`file_bytes`: any file of a data directory, each kind read the safe way;
- :func:`copy_database` / :func:`restore_database`: online copies in and out through the backup
  API, where a ``shutil.copy`` of the live file would drop the lock (and, writing, corrupt it).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

WAL_SUFFIXES = ("-wal", "-shm", "-journal")  # the files SQLite keeps beside a database

# Run in a child process: read one file and write it to stdout. The child opens no SQLite
# connection, so it holds no lock whose loss could matter when its descriptor closes.
_READ = "import sys; sys.stdout.buffer.write(open(sys.argv[1], 'rb').read())"


@dataclass(frozen=True)
class Image:
    """Raw bytes of one file of the store, for scanning. ``name`` is the file's base name."""

    name: str
    page_size: int
    data: bytes


def sqlite_path(engine: Engine) -> Path | None:
    """The database file behind ``engine``, or None (another backend, or in memory)."""
    if engine.dialect.name != "sqlite":
        return None
    db = engine.url.database
    if not db or db == ":memory:" or db.startswith("file::memory:"):
        return None
    return Path(db)


@contextmanager
def _driver_connection(engine: Engine) -> Iterator[sqlite3.Connection]:
    """A pysqlite connection of the engine's pool (the pool keeps it open afterwards, so this
    process's lock on the file stays where SQLite put it)."""
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert isinstance(conn, sqlite3.Connection)
        yield conn
    finally:
        raw.close()


def database_image(engine: Engine) -> Image | None:
    """Every page of ``engine``'s SQLite database, through the backup API; None elsewhere.

    The backup API copies page images verbatim (free pages and the unused space of pages
    included), so deleted data that SQLite left behind is in the copy just as it is on disk.
    """
    path = sqlite_path(engine)
    if path is None:
        return None
    with _driver_connection(engine) as src:
        page_size = int(src.execute("PRAGMA page_size").fetchone()[0])
        with tempfile.TemporaryDirectory(prefix=".confida-pages-", dir=path.parent) as tmp:
            copy = Path(tmp) / "copy.db"
            with closing(sqlite3.connect(copy)) as dst:
                src.backup(dst)
            # The copy is private to this call and no connection to it is open any more.
            data = copy.read_bytes()
    return Image(path.name, page_size, data)


def wal_image(db_path: Path, page_size: int = 4096) -> Image | None:
    """The raw WAL file of the database at ``db_path``, or None when it is absent or empty.

    Read by a child process: see the module docstring for why never by this one.
    """
    return raw_image(db_path.with_name(db_path.name + "-wal"), page_size)


def raw_image(path: Path, page_size: int = 4096) -> Image | None:
    """A file SQLite may hold open (``-wal``, ``-shm``), read by a lock-free child process."""
    try:
        if path.stat().st_size == 0:  # stat opens nothing
            return None
    except FileNotFoundError:
        return None
    done = subprocess.run([sys.executable, "-I", "-S", "-c", _READ, str(path)],
                          capture_output=True, check=False, timeout=120)
    if done.returncode != 0:
        if not path.exists():  # checkpointed and removed meanwhile
            return None
        raise OSError(f"could not read {path.name} (exit {done.returncode})")
    return Image(path.name, page_size, done.stdout) if done.stdout else None


def stored_images(engine: Engine) -> list[Image]:
    """What the SQLite store behind ``engine`` holds on disk: the WAL's raw frames (read first,
    before anything could checkpoint them away) and every database page. Empty elsewhere."""
    path = sqlite_path(engine)
    if path is None:
        return []
    wal = wal_image(path)
    db = database_image(engine)
    assert db is not None
    return [db] + ([Image(wal.name, db.page_size, wal.data)] if wal else [])


def _is_database(path: Path) -> bool:
    return path.suffix in (".db", ".sqlite", ".sqlite3")


def file_bytes(path: Path, engines: Iterable[Engine] = ()) -> bytes:
    """The bytes on disk of ``path``, any file of a data directory, read without touching a
    live store's locks: a SQLite database through the backup API (of the engine in ``engines``
    that serves it, else a private read-only connection), its ``-wal``/``-shm``/``-journal``
    by a lock-free child process, any other file directly.

    For a scan: the database's bytes are its page images, so what SQLite deleted but left in a
    page is there; read the ``-wal`` first if superseded frames matter (see
    :func:`stored_images`).
    """
    path = Path(path)
    if path.name.endswith(WAL_SUFFIXES):
        img = raw_image(path)
        return img.data if img else b""
    if not _is_database(path):
        return path.read_bytes()
    for engine in engines:
        own = sqlite_path(engine)
        if own is not None and own.resolve() == path.resolve():
            img = database_image(engine)
            assert img is not None
            return img.data
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as src, \
            tempfile.TemporaryDirectory(prefix=".confida-pages-", dir=path.parent) as tmp:
        copy = Path(tmp) / "copy.db"
        with closing(sqlite3.connect(copy)) as dst:
            src.backup(dst)
        return copy.read_bytes()


def copy_database(engine: Engine, dest: Path) -> None:
    """An online, consistent copy of ``engine``'s SQLite database at ``dest`` (backup API)."""
    if sqlite_path(engine) is None:
        raise ValueError("copy_database needs a SQLite file database")
    with _driver_connection(engine) as src, closing(sqlite3.connect(dest)) as dst:
        src.backup(dst)


def restore_database(src: Path, engine: Engine) -> None:
    """Replace the content of ``engine``'s SQLite database with the database file ``src``.

    Through the backup API into the live store, so that SQLite takes its own locks and writes
    through its WAL: connections that are open elsewhere see the restored content, and no file
    is overwritten behind their back.
    """
    if sqlite_path(engine) is None:
        raise ValueError("restore_database needs a SQLite file database")
    with closing(sqlite3.connect(f"file:{src}?mode=ro", uri=True)) as source, \
            _driver_connection(engine) as live:
        source.backup(live)
