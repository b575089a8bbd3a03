"""No raw access to the live store: the console's compliance check, run inside `confida serve`
while the API and the CLI write, loses no acknowledged write and leaves the file intact.

Real processes throughout: the server is `confida serve` in a subprocess (HTTPS, the
certificate `init` makes), the CLI writers are `confida collect` subprocesses, and a staff user
logs into the console and presses "Run the compliance check". Before the fix the check's
plaintext scan opened and closed ``confida.db`` with ``open()``, which dropped the server's lock
on the file; the next CLI process to exit then checkpointed and deleted the WAL the server was
still appending to, and the server's next acknowledged writes were gone after a restart.

The second half covers :mod:`confida.store.pages` itself: its copy holds the real page bytes
(deleted data included), its WAL image the superseded frames, and reading them leaves this
process's lock in place.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from confida import record
from confida.config import Config
from confida.store.engine import make_engine
from confida.store.pages import (
    copy_database,
    database_image,
    file_bytes,
    restore_database,
    stored_images,
    wal_image,
)
from tests.actors import ADMIN
from tests.apihelp import auth, setup

ROUNDS = 1  # one run suffices: the old code dropped the server's lock for good
EXTRA_CLI = 1  # CLI writers after the run; the old code lost writes from the first exit on


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(cfg: Config) -> dict[str, str]:
    src = str(Path(__file__).resolve().parent.parent / "src")
    return {**os.environ, "CONFIDA_DATA_DIR": str(cfg.data_dir),
            "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}


@contextmanager
def _serve(cfg: Config, log: Path) -> Iterator[str]:
    """`confida serve` on a free port; yields its base URL, stops it with SIGTERM."""
    port = _free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from confida.cli import main; main()", "serve",
             "--port", str(port)], env=_env(cfg), stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("server did not start:\n" + log.read_text()) from None
                time.sleep(0.1)
        yield f"https://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:  # shutdown is another part's test; never hang here
            proc.kill()
            proc.wait(10)


def _client(cfg: Config, base: str) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=str(cfg.tls_cert))
    return httpx.Client(base_url=base, verify=ctx, timeout=30)


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "every console page carries a CSRF token"
    return m.group(1)


def _console_compliance(cfg: Config, base: str, staff_key: str, runs: int,
                        done: list[int]) -> None:
    """A staff user logs in and runs the compliance check ``runs`` times."""
    with _client(cfg, base) as c:
        page = c.get("/console/login")
        r = c.post("/console/login", data={"api_key": staff_key, "csrf": _csrf(page.text)})
        assert r.status_code in (200, 303), r.status_code
        token = _csrf(c.get("/console/").text)
        for _ in range(runs):
            r = c.post("/console/compliance", data={"csrf": token})
            assert r.status_code == 200, r.status_code
            assert "no-plaintext" in r.text or "plaintext" in r.text.lower()
            done.append(1)
            time.sleep(0.3)  # let CLI processes exit between the runs


def _api_writer(cfg: Config, base: str, key: str, stop: threading.Event,
                acked: list[str], errors: list[str]) -> None:
    i = 0
    with _client(cfg, base) as c:
        while not stop.is_set():
            i += 1
            try:
                r = c.post("/v1/records", headers=auth(key), json={
                    "subject": f"api-{i % 7}", "kind": "account", "purpose": "service",
                    "data": {"email": f"api{i}@example.org", "display_name": f"API writer {i}"}})
            except httpx.HTTPError as exc:  # not acknowledged: allowed to be absent
                errors.append(type(exc).__name__)
                continue
            if r.status_code == 201:
                acked.append(r.json()["record_id"])
            else:
                errors.append(str(r.status_code))
            time.sleep(0.1)


def _cli_collect(cfg: Config, n: int) -> str:
    """`confida collect` in its own process; the record id it printed ("" if it failed)."""
    done = subprocess.run(
        [sys.executable, "-c", "from confida.cli import main; main()", "--json", "collect",
         f"cli-{n % 5}", "account", "--purpose", "service",
         "--data", json.dumps({"email": f"cli{n}@example.org", "display_name": f"CLI {n}"})],
        env=_env(cfg), capture_output=True, timeout=60, check=False)
    if done.returncode != 0:
        return ""
    return str(json.loads(done.stdout)["record_id"])


def test_console_compliance_under_concurrent_writers_loses_nothing(
    tmp_path: Path, database_url: str, backend: str
) -> None:
    cfg, keys = setup(tmp_path, database_url)
    from confida.tls import create_self_signed

    create_self_signed(cfg.tls_cert, cfg.tls_key)
    log = tmp_path / "server.log"
    acked: list[str] = []  # API writes answered 201
    cli_acked: list[str] = []  # CLI writes that exited 0
    errors: list[str] = []
    with _serve(cfg, log) as base:
        stop = threading.Event()
        api = threading.Thread(target=_api_writer,
                               args=(cfg, base, keys["service"], stop, acked, errors))
        api.start()
        runs: list[int] = []
        console = threading.Thread(target=_console_compliance,
                                   args=(cfg, base, keys["dpo"], ROUNDS, runs))
        console.start()
        try:
            n = 0
            # CLI writers while the check runs, then more: each CLI exit after a run is the
            # moment the old code let that process delete the server's WAL.
            while console.is_alive() or n < ROUNDS:
                n += 1
                cli_acked.append(_cli_collect(cfg, n))
            console.join(60)
            for _ in range(EXTRA_CLI):
                time.sleep(0.3)  # the server acknowledges writes after the last CLI exit
                n += 1
                cli_acked.append(_cli_collect(cfg, n))
            time.sleep(0.5)
        finally:
            stop.set()
            api.join(30)
            console.join(30)
        assert len(runs) == ROUNDS, "every console compliance run answered"
    assert not errors, f"API writers were refused: {errors[:5]}"
    assert all(cli_acked), "every CLI collect succeeded"
    assert len(acked) >= 10, len(acked)
    acked += cli_acked

    with _serve(cfg, log) as base, _client(cfg, base) as c:  # restarted
        assert c.get("/health").status_code == 200
        for rid in acked[-5:]:  # the newest writes, read back through the API
            r = c.get(f"/v1/records/{rid}", headers=auth(keys["service"], "service"))
            assert r.status_code == 200, (rid, r.status_code)
    # Then all of them, in the store the restarted server used (now stopped again).
    engine = make_engine(cfg.database_url)
    try:
        with engine.connect() as conn:
            ids = {r[0] for r in conn.exec_driver_sql("SELECT id FROM record")}
            if backend == "sqlite":
                check = conn.exec_driver_sql("PRAGMA integrity_check").all()
                assert [tuple(r) for r in check] == [("ok",)], check[:3]
    finally:
        engine.dispose()
    missing = [rid for rid in acked if rid not in ids]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged records lost after restart"


# --- the helper itself -----------------------------------------------------------------------


def _lock_is_held_elsewhere(db: Path) -> bool:
    """True when another process cannot take SQLite's exclusive lock on ``db``, i.e. this
    process still holds its shared lock on it (the one a raw ``open()``/``close()`` drops)."""
    probe = ("import fcntl, os, sys, struct\n"
             "fd = os.open(sys.argv[1], os.O_RDWR)\n"
             # SQLite's SHARED range: PENDING_BYTE+2 (0x40000002), 510 bytes long
             "lk = struct.pack('hhqqi', fcntl.F_WRLCK, 0, 0x40000002, 510, 0)\n"
             "try:\n    fcntl.fcntl(fd, fcntl.F_SETLK, lk); print('free')\n"
             "except OSError:\n    print('held')\n")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", probe, str(db)],
                         capture_output=True, text=True, check=True).stdout.strip()
    return out == "held"


def test_images_hold_real_pages_and_keep_the_lock(tmp_path: Path, backend: str) -> None:
    """Deleted bytes are in the copy or in the WAL image, and reading them keeps this process's
    lock on the live file (which a raw open()/close() drops: shown at the end)."""
    if backend != "sqlite":
        from confida.store.pages import stored_images as images

        eng = make_engine(os.environ["CONFIDA_TEST_DATABASE_URL"])
        try:
            assert images(eng) == []  # nothing to read from files on a server database
        finally:
            eng.dispose()
        return
    db = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{db}")  # WAL mode, like every store
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (v TEXT)")
            conn.exec_driver_sql("INSERT INTO t VALUES ('MARKER-IN-A-LIVE-ROW')")
            conn.exec_driver_sql("INSERT INTO t VALUES ('MARKER-SOON-DELETED')")
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA secure_delete=OFF")  # (many builds default to ON)
            conn.exec_driver_sql("DELETE FROM t WHERE v = 'MARKER-SOON-DELETED'")
        assert _lock_is_held_elsewhere(db)
        wal = wal_image(db)
        assert wal is not None and b"MARKER-SOON-DELETED" in wal.data  # the old frame
        image = database_image(engine)
        assert image is not None and image.name == "store.db" and image.page_size == 4096
        assert image.data.startswith(b"SQLite format 3\x00")
        assert b"MARKER-IN-A-LIVE-ROW" in image.data
        assert b"MARKER-SOON-DELETED" in image.data  # deleted cell space is copied verbatim
        assert [i.name for i in stored_images(engine)] == ["store.db", "store.db-wal"]
        assert _lock_is_held_elsewhere(db), "reading the pages dropped the lock"
        assert not list(tmp_path.glob(".confida-pages-*")), "the private copy is removed"
        assert b"MARKER-IN-A-LIVE-ROW" in file_bytes(db, [engine])
        assert b"MARKER-SOON-DELETED" in file_bytes(db.with_name("store.db-wal"))
        copy_database(engine, tmp_path / "copy.db")  # online copy out, and back in
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM t")
        restore_database(tmp_path / "copy.db", engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT v FROM t").scalars().all() == [
                "MARKER-IN-A-LIVE-ROW"]
        assert _lock_is_held_elsewhere(db), "copying in or out dropped the lock"
        # What the old scan did: a raw open()/close() of the live file drops the lock.
        with open(db, "rb") as fh:  # noqa: SIM115 - the hazard itself, on a scratch store
            fh.read(100)
        assert not _lock_is_held_elsewhere(db)
    finally:
        engine.dispose()


def test_compliance_check_reads_without_holding_the_write_lock(
    config: Config, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite the audit reads one snapshot without the write lock: a writer with no patience
    at all gets through while the checks run (on a 10,000-record store they take seconds,
    longer than a writer's busy timeout)."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL readers never hold writers up")
    import sqlite3

    from confida.compliance import run as run_mod
    from confida.compliance.checks import PASS, CheckResult
    from confida.compliance.run import run_checks
    from confida.vault import Vault

    wrote: list[bool] = []

    def probe(ctx: Any) -> CheckResult:
        assert ctx.conn.in_transaction()  # the snapshot the other checks read
        db = Path(str(ctx.vault.engine.url.database))
        other = sqlite3.connect(db, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # raises 'database is locked' if the check holds it
            other.execute("ROLLBACK")
            wrote.append(True)
        finally:
            other.close()
        return CheckResult("probe", "probe", "-", PASS)

    monkeypatch.setattr(run_mod, "CHECKS", [*run_mod.CHECKS, ("probe", probe)])
    with Vault.open(config) as v:
        record.collect(v, "u", "account", {"email": "u@example.org"}, "service", actor=ADMIN)
        results = run_checks(v, actor=ADMIN)
    assert wrote and results[-1].id == "probe"
