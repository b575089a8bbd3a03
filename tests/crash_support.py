"""Helpers for the crash-safety tests: a real child process, killed with SIGKILL at a seeded
random moment, and the checks a fresh process runs on the store it left behind.

A child prints ``READY`` (flushed) once it has imported everything, then one ``ACK ...`` line
(flushed) after each write it has committed. The parent reads lines until the kill, so the acks
it holds are exactly the writes a caller was told had succeeded.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from confida.config import Config
from confida.store.keyschema import data_key
from confida.vault import Vault
from tests.conftest import ROOT, cli

# Seeds for the default run; ``CONFIDA_CRASH_SEEDS=1,2,3,4,5,6`` runs more (bench-style).
SEEDS = [int(s) for s in os.environ.get("CONFIDA_CRASH_SEEDS", "1,2").split(",") if s.strip()]

# Runs the real CLI in a child, after saying it is ready (imports done).
CLI_CHILD = (
    "import sys\n"
    "from confida.cli import app\n"
    "print('READY', flush=True)\n"
    "app(args=sys.argv[1:], prog_name='confida')\n"
)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("CONFIDA_DATA_DIR", None)
    return env


@dataclass
class Run:
    """What the parent saw of one child."""

    acks: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    killed: bool = False  # the SIGKILL hit a running child
    rc: int | None = None
    ready_to_exit_s: float = 0.0
    stderr: str = ""

    def tail(self) -> str:
        return self.stderr[-1500:]


def run_and_kill(
    args: list[str], delay: float | None, *, tmp: Path, group: bool = False,
    timeout: float = 120.0,
) -> Run:
    """Start ``args``; ``delay`` seconds after READY send SIGKILL (None: let it finish).

    ``group`` kills the child's whole process group (a driver and the CLI it is running).
    """
    errf = tmp / f"child-{time.monotonic_ns()}.err"
    with errf.open("wb") as err:
        proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=err, text=True, env=child_env(),
            start_new_session=group,
        )
    run = Run()
    ready = threading.Event()
    ready_at: list[float] = []

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            run.lines.append(line)
            if line == "READY" and not ready.is_set():
                ready_at.append(time.monotonic())
                ready.set()
            elif line.startswith("ACK "):
                run.acks.append(line[4:])
        ready.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    if not ready.wait(timeout):
        proc.kill()
        raise AssertionError("child never became ready")
    if delay is not None:
        end = time.monotonic() + delay
        while time.monotonic() < end and proc.poll() is None:
            time.sleep(min(0.005, max(0.0, end - time.monotonic())))
        if proc.poll() is None:
            run.killed = True
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.send_signal(signal.SIGKILL)
    run.rc = proc.wait(timeout)
    if ready_at:
        run.ready_to_exit_s = time.monotonic() - ready_at[0]
    t.join(30)
    run.stderr = errf.read_text(errors="replace")
    errf.unlink()
    return run


def cli_child(data_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", CLI_CHILD, "--data-dir", str(data_dir), *args]


def open_vault(data_dir: Path) -> Vault:
    """What a restarted process does: load the config and open both stores afresh."""
    return Vault.open(Config.load(data_dir))


def sqlite_files(cfg: Config) -> list[Path]:
    return [Path(u.removeprefix("sqlite:///")) for u in (cfg.database_url, cfg.keystore_url)
            if u.startswith("sqlite:///")]


def assert_store_sound(data_dir: Path, why: str) -> None:
    """``PRAGMA integrity_check`` on every SQLite file (through SQLite, never raw file access),
    every data key unwraps, and ``confida audit verify`` passes."""
    cfg = Config.load(data_dir)
    for path in sqlite_files(cfg):
        con = sqlite3.connect(path)
        try:
            res = con.execute("PRAGMA integrity_check").fetchall()
        finally:
            con.close()
        assert res == [("ok",)], f"{why}: integrity_check of {path.name}: {res}"
    with open_vault(data_dir) as v:
        with v.key_engine.connect() as kc:
            ids = [r.key_id for r in kc.execute(select(data_key.c.key_id))]
        keys = v.keys.get_keys(ids)  # raises if any wrapped key does not open
        assert len(keys) == len(ids), f"{why}: {len(ids) - len(keys)} data keys do not unwrap"
    r = cli(data_dir, "audit", "verify")
    assert r.exit_code == 0, f"{why}: audit verify failed: {r.output}"
