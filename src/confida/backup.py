"""Backup and restore: an online, consistent snapshot, and a restore that forgets no erasure.

``backup`` writes, into a new directory (complete or absent: it is built beside the target and
renamed into place), in this order:

1. the record store: SQLite through its online backup API (never by copying the live file, whose
   WAL and locks belong to the running processes); for PostgreSQL a note to use ``pg_dump``;
2. the key store, after the record store, so that every subject in the copied record store has its
   key in the copied key store (a subject created in between only leaves an unused key);
3. the erasure journal file, last, so it names every erasure either store copy may lack;
4. the audit log's public key, ``confida.toml`` and the register;
5. ``manifest.json``: SHA-256 and size of each file.

The key-encryption key and the audit signing key are *not* in a backup, on purpose: a backup
opens nothing without the KEK, and once a retired KEK version is destroyed
(``confida keys retire``) no backup wrapped under it opens anything.

``restore`` puts the SQLite stores back (refusing while a server holds the data dir), keeps the
live journal file and adds to it what only the backup's copy has (the live file, on its own
volume, knows the erasures made after the backup), then replays the journal
(``confida.erasure_replay.replay``) before anything can serve the restored data. After a
PostgreSQL restore (``pg_restore``), ``restore --replay-only`` is the required last step.

Both also acknowledge the restore in the audit trail (``acknowledge_restore``): a restored log is
shorter than what the witness file vouches for, so a signed restore record goes to the witness
file, a ``backup.restore`` entry to the log, and a fresh checkpoint is signed and witnessed.
``audit verify`` then passes and names the witnessed entries the restore lost.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from confida import erasure_journal, erasure_replay, kek_lifecycle
from confida.audit.checkpoint import NoteError, open_note, parse_checkpoint
from confida.audit.log import LogCorrupted
from confida.audit.restore_record import RestoreRecord, now_text, sign_restore
from confida.audit.witness import WitnessFile
from confida.authz import authorise
from confida.clock import utcnow
from confida.config import CONFIG_FILE, Config
from confida.errors import BadInput, ConfidaError
from confida.operation import Operation, system_actor
from confida.permissions import require_ready
from confida.store import migrate
from confida.store.engine import make_engine
from confida.vault import Vault
from confida.version import __version__

FORMAT = 1
MANIFEST = "manifest.json"
RECORD_STORE = "confida.db"
KEY_STORE = "keystore.db"
JOURNAL = "erasures.jsonl"
AUDIT_KEY = "audit.vkey"
REGISTER = "register.yaml"
# ``confida register apply`` keeps each change (the register's text and its notice version) in
# ``register-history/``; the backup carries the folder as one file (the manifest is flat)
REGISTER_HISTORY = "register-history.json"
HISTORY_DIR = "register-history"
PG_NOTE = "RECORD-STORE-POSTGRESQL.txt"
KEY_PG_NOTE = "KEY-STORE-POSTGRESQL.txt"
LOCK_FILE = ".serve.lock"

_PG_TEXT = """The {what} of this installation is on PostgreSQL, so it is not in this directory.
Back it up with PostgreSQL's own tools, at the same time as this backup, e.g.

    pg_dump --format=custom --file=confida-{name}.dump "$DATABASE_URL"

To restore: pg_restore it, then run (required, before serving)

    confida restore --replay-only

which replays the erasure journal, so that no subject erased after the dump comes back.
"""


class BackupInvalid(ConfidaError):
    """A backup directory whose manifest or files do not check out (exit 1)."""

    code = "backup-invalid"
    exit_code = 1


class RestoreNotAcknowledged(ConfidaError):
    """The stores are back and the journal replayed, but the audit trail does not say so."""

    code = "restore-not-acknowledged"
    exit_code = 1


class DataDirBusy(ConfidaError):
    """A server holds the data dir (or a restore does)."""

    code = "data-dir-busy"
    exit_code = 1
    http_status = 503


# --- the data-dir lock: servers share it, a restore takes it alone -------------------------------


@contextmanager
def data_dir_lock(config: Config, *, exclusive: bool) -> Iterator[None]:
    """``confida serve`` holds it shared for its lifetime; ``confida restore`` exclusively.

    A restore therefore refuses while any server runs on the data dir, and a server refuses to
    start during a restore. (CLI commands do not take it: stop writers before restoring.)
    """
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = config.data_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataDirBusy(
                "a server is running on this data dir; stop it before restoring"
                if exclusive else "a restore is in progress on this data dir; try again after it"
            ) from None
        yield
    finally:
        os.close(fd)


# --- helpers ---------------------------------------------------------------------------------


def _sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def _new_file(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    os.close(fd)


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def sqlite_snapshot(live: Path, dest: Path) -> None:
    """A consistent copy of a live SQLite database through the backup API (WAL included)."""
    _new_file(dest)
    src = sqlite3.connect(live, timeout=30)
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            dst.commit()
        finally:
            dst.close()
    finally:
        src.close()
    _fsync(dest)


def sqlite_restore(copy: Path, live: Path) -> None:
    """Write a backup copy over the live database through the backup API.

    The destination connection replaces every page under SQLite's own locking and journal, so
    the live WAL and shared-memory files stay consistent (replacing the file would not).
    """
    if not live.exists():
        live.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _new_file(live)
    src = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(live, timeout=30)
        try:
            dst.execute("PRAGMA busy_timeout=30000")
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=WAL")
            dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            dst.close()
    finally:
        src.close()
    os.chmod(live, 0o600)


# --- backup ----------------------------------------------------------------------------------


def _check_out(out: Path, force: bool) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise BadInput(f"--out {out} exists and is not a directory")
    if out.exists() and any(out.iterdir()) and not force:
        raise BadInput(f"--out {out} is not empty; pass --force to replace it")
    if not out.parent.is_dir():
        raise BadInput(f"--out: directory {out.parent} does not exist")




def backup(config: Config, out: Path, *, force: bool = False,
           rotate_kek: bool = True) -> dict[str, Any]:
    """Write an online, consistent backup of the installation into ``out``.

    With ``rotate_kek`` (the default) the KEK is rotated once the key store's snapshot is
    safely written: the version inside the backup is then retired from that moment and
    destroyed ``kek_retire_after`` later (``confida.kek_lifecycle``), after which the backup's
    key store opens nothing — so no backup can bring an erased person's key back for longer
    than that window. A failed rotation leaves a valid backup and is reported.
    """
    require_ready(config)
    out = Path(out)
    _check_out(out, force)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        manifest = _write_backup(config, tmp)
        for f in tmp.iterdir():
            _fsync(f)
        _fsync(tmp)
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.rename(out, old)
        os.rename(tmp, out)
        if old is not None:
            shutil.rmtree(old)
        _fsync(out.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    res: dict[str, Any] = {"out": str(out), **{k: manifest[k] for k in (
        "record_store", "key_store", "journal_entries", "created_at")},
        "files": sorted(manifest["files"])}
    res["kek_rotated"] = None
    if rotate_kek and manifest["key_store"] == "sqlite":
        res.update(_rotate_after_backup(config))
    return res


def _rotate_after_backup(config: Config) -> dict[str, Any]:
    try:
        with Vault.open(config) as v:
            r = kek_lifecycle.rotate(v, actor=system_actor("backup"))
            window = v.config.kek_retire_window
    except ConfidaError as exc:
        return {"kek_rotated": None, "kek_rotation_error": exc.code}
    return {"kek_rotated": r["version"], "backup_key_store_opens_for": str(window)}


def _write_backup(config: Config, tmp: Path) -> dict[str, Any]:

    created = utcnow().isoformat()
    stores: dict[str, str] = {}
    for what, url, name, note, label in (
        ("record_store", config.database_url, RECORD_STORE, PG_NOTE, "record store"),
        ("key_store", config.keystore_url, KEY_STORE, KEY_PG_NOTE, "key store"),
    ):
        live = _sqlite_path(url)
        if live is not None:
            if not live.exists():
                raise BadInput(f"the {label} {live} does not exist; run `confida init`")
            sqlite_snapshot(live, tmp / name)
            stores[what] = "sqlite"
        else:
            _write(tmp / note, _PG_TEXT.format(what=label, name=what.replace("_", "-"))
                   .encode("utf-8"))
            stores[what] = "postgresql"
    journal = erasure_journal.JournalFile.of(config).raw()
    _write(tmp / JOURNAL, journal)
    vkey = config.audit_key_path.with_suffix(".vkey")
    if vkey.exists():
        _write(tmp / AUDIT_KEY, vkey.read_bytes())
    for src, name in ((config.data_dir / CONFIG_FILE, CONFIG_FILE),
                      (config.register_path, REGISTER)):
        if src.exists():
            _write(tmp / name, src.read_bytes())
    history = config.data_dir / HISTORY_DIR
    if history.is_dir():
        entries = {p.name: p.read_text("utf-8") for p in sorted(history.glob("[0-9]*.json"))}
        _write(tmp / REGISTER_HISTORY, (json.dumps(entries, indent=1, sort_keys=True) + "\n")
               .encode("utf-8"))
    lines, damaged = erasure_journal.parse(journal)
    manifest = {
        "format": FORMAT,
        "confida": __version__,
        "created_at": created,
        **stores,
        "journal_entries": len({o["subject"] for o in lines}),
        "journal_damaged_lines": damaged,
        "not_included": ["key-encryption key (keys/kek or the HSM)", "audit signing key"],
        "files": {
            f.name: {"sha256": _sha256(f), "bytes": f.stat().st_size}
            for f in sorted(tmp.iterdir())
        },
    }
    _write(tmp / MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return manifest


# --- restore ---------------------------------------------------------------------------------


def read_manifest(src: Path) -> dict[str, Any]:
    """The backup's manifest, every listed file checked against its hash."""
    src = Path(src)
    if not src.is_dir():
        raise BadInput(f"{src} is not a backup directory")
    try:
        manifest = json.loads((src / MANIFEST).read_text("utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{src} has no {MANIFEST}; it is not a Confida backup") from None
    except (ValueError, UnicodeDecodeError):
        raise BackupInvalid(f"{src / MANIFEST} is damaged") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupInvalid(f"{src / MANIFEST}: unknown backup format")
    for name, meta in manifest.get("files", {}).items():
        f = src / name
        if "/" in name or not f.is_file():
            raise BackupInvalid(f"backup file {name} is missing")
        if _sha256(f) != meta.get("sha256"):
            raise BackupInvalid(f"backup file {name} does not match its hash in the manifest")
    return manifest


def _restore_config(config: Config, src: Path, manifest: dict[str, Any]) -> list[str]:
    """confida.toml and the register come back only where the data dir has none."""
    restored = []
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name, dest in ((REGISTER, config.register_path),
                       (CONFIG_FILE, config.data_dir / CONFIG_FILE)):
        if name in manifest["files"] and not dest.exists():
            _write(dest, (src / name).read_bytes())
            restored.append(name)
    if REGISTER_HISTORY in manifest["files"]:
        # like the journal: what the live folder lacks comes back, nothing is replaced
        entries = json.loads((src / REGISTER_HISTORY).read_text("utf-8"))
        history = config.data_dir / HISTORY_DIR
        added = 0
        for name, text in sorted(entries.items()):
            if "/" in name or not name.endswith(".json") or (history / name).exists():
                continue
            history.mkdir(exist_ok=True, mode=0o700)
            _write(history / name, text.encode("utf-8"))
            added += 1
        if added:
            restored.append(f"{REGISTER_HISTORY} ({added})")
    return restored


def _union_journal(config: Config, src: Path) -> int:
    """Add to the live journal file the lines only the backup's copy has; never replace it."""
    theirs, _ = erasure_journal.parse((src / JOURNAL).read_bytes())
    live = erasure_journal.JournalFile.of(config)
    mine, _ = live.read()
    have = {(o["event"], o["subject"]) for o in mine}
    return live.append(o for o in theirs if (o["event"], o["subject"]) not in have)


def restore(
    config: Config, src: Path | None = None, *, force: bool = False, replay_only: bool = False
) -> dict[str, Any]:
    """Restore the SQLite stores from ``src`` (unless ``replay_only``), then replay the journal."""

    result: dict[str, Any] = {"restored": [], "not_restored": [], "config_restored": [],
                              "journal_lines_added": 0}
    if replay_only:
        require_ready(config)
        with data_dir_lock(config, exclusive=True), Vault.open(config) as v:
            report = _acknowledge_then_replay(v, None, result)
        return {**result, "replay": _report(report)}
    if src is None:
        raise BadInput("give the backup directory, or --replay-only")
    src = Path(src)
    manifest = read_manifest(src)
    with data_dir_lock(config, exclusive=True):
        result["config_restored"] = _restore_config(config, src, manifest)
        cfg = Config.load(config.data_dir)
        plan = []
        for what, url, name, label in (
            ("record_store", cfg.database_url, RECORD_STORE, "record store"),
            ("key_store", cfg.keystore_url, KEY_STORE, "key store"),
        ):
            live = _sqlite_path(url)
            if manifest.get(what) != "sqlite":
                result["not_restored"].append(
                    f"{label}: on PostgreSQL; restore it with pg_restore (before or after this)")
                continue
            if live is None:
                raise BadInput(f"the backup's {label} is SQLite, but this data dir's is not")
            if live.exists() and live.stat().st_size and not force:
                raise BadInput(
                    f"this data dir already has a {label}; pass --force to replace it "
                    "with the backup's"
                )
            plan.append((live, src / name, what))
        for live, copy, what in plan:
            sqlite_restore(copy, live)
            result["restored"].append(what)
        result["journal_lines_added"] = _union_journal(cfg, src)
        require_ready(cfg)
        # a backup from an older release: its schemas are brought to the current version
        for url, which in ((cfg.database_url, "store"), (cfg.keystore_url, "keystore")):
            engine = make_engine(url, secure_delete=True)
            try:
                migrate.upgrade(engine, which)
            finally:
                engine.dispose()
        with Vault.open(cfg) as v:
            report = _acknowledge_then_replay(v, "sha256:" + _sha256(src / MANIFEST), result)
    result["replay"] = _report(report)
    result["backup_created_at"] = manifest.get("created_at")
    return result


def _report(r: erasure_replay.ReplayReport) -> dict[str, Any]:
    return {
        "journaled": r.journaled, "erasures_completed": r.erasures_completed,
        "subjects_restored": r.subjects_restored, "requests_restored": r.requests_restored,
        "notices_restored": r.notices_restored, "keys_destroyed": r.keys_destroyed,
        "written": dict(r.written), "damaged_lines": r.damaged_lines,
    }


def _acknowledge_then_replay(
    v: Vault, backup: str | None, result: dict[str, Any]
) -> erasure_replay.ReplayReport:
    """Acknowledge the restore in the audit trail, then replay the journal. The replay runs even
    if the acknowledgement fails (no erased person may come back); that failure is raised after
    it, and ``audit verify`` keeps failing on the shortened log until a restore is acknowledged."""
    failed: Exception | None = None
    try:
        result["audit"] = acknowledge_restore(v, backup)
    except (ConfidaError, LogCorrupted, OSError, ValueError) as exc:
        failed = exc
    report = erasure_replay.replay(v, actor=system_actor("restore-replay"))
    if failed is not None:
        reason = failed.strerror if isinstance(failed, OSError) and failed.strerror else failed
        raise RestoreNotAcknowledged(
            f"stores restored and erasure journal replayed, but the restore could not be "
            f"acknowledged in the audit trail ({reason}); fix it and run `confida restore "
            "--replay-only`"
        ) from None
    return report


def acknowledge_restore(v: Vault, backup: str | None) -> dict[str, Any]:
    """Say in the audit trail that the log was put back: a signed restore record in the witness
    file, a ``backup.restore`` entry, then a fresh checkpoint, signed and witnessed.

    Runs before the journal replay, so the record names the log exactly as restored. The
    "witnessed before" size is the newest witnessed checkpoint since the previous restore record.
    """

    signer = v.audit.signer
    witness = WitnessFile(v.config.audit_witness_file)
    read = witness.read()
    since = max((r.order[1] for r in read.restores if r.order), default=0)
    before = None
    for w in read.notes:
        if w.order and w.order[1] < since:
            continue
        try:
            cp = parse_checkpoint(open_note(w.note, signer.verifier)[0])
        except NoteError:
            continue  # a foreign or damaged line: `audit verify` reports it
        if before is None or cp.size > before.size:
            before = cp
    log = v.audit.log
    with v.engine.connect() as conn:
        size = log.size(conn)
        root = log.root(conn, size)
    record = RestoreRecord(
        origin=log.origin, restored_at=now_text(), before_size=before.size if before else 0,
        before_root=before.root if before else None, restored_size=size, restored_root=root,
        backup=backup,
    )
    witness.append_restore(
        sign_restore(record, signer),
        {"restored_at": record.restored_at, "witnessed_before": record.before_size,
         "restored_size": size},
    )
    details = {k: val for k, val in record.to_dict().items() if k != "restored_at"}
    actor = system_actor("restore-replay")
    with v.operation(Operation("backup.restore", actor, details=details)) as (_conn, op):
        authorise(actor, "keys", register=v.register, op=op)
    with v.engine.begin() as conn:
        note = log.checkpoint(conn, signer)
    witness.append(note)
    return {**record.to_dict(), "message": record.describe()}
