"""Helpers for the serving and concurrency tests: a real ``confida serve`` subprocess over TLS,
HTTPS clients pinned to its certificate, and a worker process that collects for given subjects.

The worker (``python -m tests.serving_support collect ...``) opens its own vault the way the CLI
does, says it is ready and waits for a shared "go" file so that several processes really
collide, and prints one JSON line: the record ids it stored and the errors it met (type names).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confida import record
from tests.actors import ADMIN

ROOT = Path(__file__).resolve().parent.parent
MSG = {"conversation_id": "c-1", "text": "hello there", "role": "user"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "CONFIDA_DATA_DIR": str(data_dir), **extra}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    port: int
    cert: Path
    log: Path
    lines: list[str] = field(default_factory=list)

    def ctx(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.cert)
        return ctx

    def connection(self, timeout: float = 30) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx(),
                                           timeout=timeout)

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        conn = self.connection()
        try:
            return call(conn, method, path, body, headers)
        finally:
            conn.close()

    def log_text(self) -> str:
        return self.log.read_text("utf-8", errors="replace")


def call(conn: http.client.HTTPSConnection, method: str, path: str, body: Any = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    h = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=h)
    r = conn.getresponse()
    raw = r.read()
    try:
        return r.status, json.loads(raw) if raw else None
    except ValueError:
        return r.status, raw


@contextmanager
def serve(data_dir: Path, *args: str, cert: Path, ready_timeout: float = 30,
          env: dict[str, str] | None = None,
          entry: str = "from confida.cli import main; main()") -> Iterator[Served]:
    """``confida serve`` on a free port, HTTPS with ``cert``; killed if still running after.
    ``entry`` is the Python that runs the CLI (a test may wrap it)."""
    port = free_port()
    log_path = data_dir.parent / f"server-{port}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", entry, "serve", "--port", str(port), *args],
        env=env or env_for(data_dir), stdout=log, stderr=subprocess.STDOUT,
    )
    served = Served(proc, port, cert, log_path)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            try:
                if served.request("GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("server exited:\n" + served.log_text())
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start:\n" + served.log_text())
            time.sleep(0.2)
        yield served
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()


def run_threads(n: int, target: Any) -> list[BaseException]:
    """Run ``target(i)`` in ``n`` threads started together; the exceptions they raised."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def body(i: int) -> None:
        barrier.wait()
        try:
            target(i)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted by the caller
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return errors


# --- the worker process ----------------------------------------------------------------------

def _worker_collect(data_dir: str, go_file: str, threads: int, subjects: list[str]) -> None:
    from confida.config import Config
    from confida.vault import Vault

    cfg = Config.load(data_dir)
    vault = Vault.open(cfg)
    vault.subject_ref("warm-up")  # index key loaded: the race is about subjects, not start-up
    Path(go_file + f".{os.getpid()}.ready").touch()
    while not Path(go_file).exists():  # every worker starts at the same moment
        time.sleep(0.005)
    ids: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        order = subjects[i:] + subjects[:i]  # every thread meets every subject, at other times
        for s in order:
            try:
                rid = record.collect(vault, s, "conversation_message", MSG, "service", actor=ADMIN).record_id
                with lock:
                    ids.append(rid)
            except Exception as exc:  # noqa: BLE001 - reported to the test by type
                with lock:
                    errors.append(type(exc).__name__)

    run_threads(threads, work)
    vault.close()
    print(json.dumps({"ids": ids, "errors": errors}))




def serve_with_duplicate_subjects() -> None:
    """``confida serve`` whose subject lookup never finds an existing row and inserts without
    ``ON CONFLICT``: the second collect for a person raises a real ``IntegrityError`` on
    ``uq_subject_ref`` (its SQL parameters hold the subject's ref and id). For the log test."""
    from sqlalchemy import insert

    import confida.subject as subject_mod
    from confida.cli import main

    def plain_insert(conn: Any, new: dict[str, Any]) -> set[str]:
        conn.execute(insert(subject_mod.subject_t), [
            {"id": s.id, "ref": r, "pseudonym": s.pseudonym, "status": s.status,
             "created_at": s.created_at} for r, s in new.items()])
        return set(new)

    subject_mod._locked = lambda conn, refs: {}  # type: ignore[assignment]
    subject_mod._insert_new = plain_insert  # type: ignore[assignment]
    main()


if __name__ == "__main__":
    if sys.argv[1] == "collect":
        _worker_collect(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:])
