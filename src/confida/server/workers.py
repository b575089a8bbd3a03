"""Several server processes on one port (``confida serve --workers N``).

Python runs one thread of Python code at a time per process, so one process uses about one
CPU however many threads it has; a second process doubles what the server can do where the
store can take it (PostgreSQL). The parent binds the socket once and hands it to ``N`` worker
processes (started with ``spawn``: nothing of the parent's state is inherited); the kernel
spreads connections over them.

The parent stays small and does three things:

- it runs the background jobs (retention, KEK retirement, webhooks) once for the whole server,
  not once per worker, and publishes their health to every worker through shared memory, so
  ``/ready`` on any worker reports them;
- it restarts a worker that dies (a crash is logged; a worker that dies again within seconds
  of its start, three times in a row, stops the server: a broken configuration must not loop);
- on SIGTERM or SIGINT it asks every worker to shut down (each finishes its requests within
  the shutdown timeout) and waits for them.

Each worker also holds the data dir's shared lock, and ends if its parent disappears: a
``confida restore`` can therefore never run under an orphaned worker.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from confida.config import Config

logger = logging.getLogger("confida.server")
_spawn = multiprocessing.get_context("spawn")

#: A worker that dies this soon after its start counts as a failed start.
QUICK_DEATH_SECONDS = 5.0
#: Failed starts in a row that stop the server.
MAX_QUICK_DEATHS = 3
#: How often the parent copies job health into shared memory, and checks its workers.
TICK_SECONDS = 0.5


class SharedJobHealth:
    """A background job's health, written by the parent, read by the workers' ``/ready``.

    It satisfies :class:`confida.readiness.BackgroundJob` in the worker. The buffer holds a
    word and at most an exception type name (what ``health()`` returns), never data.
    """

    SIZE = 160

    def __init__(self, name: str) -> None:
        self.name = name
        self._buf: Any = _spawn.Array("c", self.SIZE)

    def publish(self, healthy: bool, status: str) -> None:
        self._buf.value = (("1" if healthy else "0") + status).encode("utf-8")[: self.SIZE - 1]

    def health(self) -> tuple[bool, str]:
        raw = self._buf.value.decode("utf-8", "replace")
        if not raw:
            return False, "not started"
        return raw[0] == "1", raw[1:]


def _watch_parent(parent: int) -> None:
    """End this worker (gracefully, through uvicorn's own signal handler) if the parent dies."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)
            return


def _worker(config: Config, kw: dict[str, Any], sock: socket.socket,
            jobs: list[SharedJobHealth], parent: int, metrics: Path | None = None) -> None:
    """One worker process: the same app as a single-process server, on the shared socket."""
    # --- observability: shared metrics (confida.server.metrics_dir), before any other import
    if metrics is not None:
        from confida.server import metrics_dir

        metrics_dir.enter(metrics)
    # ---
    from confida.backup import data_dir_lock
    from confida.server import logging as redaction
    from confida.server.run import BoundedServer, server_config

    cfg = server_config(config, **kw)
    redaction.install(log_format=config.api.log_format)
    cfg.app.state.ctx.jobs.extend(jobs)
    threading.Thread(target=_watch_parent, args=(parent,), name="confida-parent-watch",
                     daemon=True).start()
    with data_dir_lock(config, exclusive=False):
        BoundedServer(cfg).run(sockets=[sock])


def run_workers(config: Config, workers: int, **kw: Any) -> None:
    """Serve with ``workers`` processes until SIGTERM or SIGINT; see the module docstring."""
    from confida.server.retention_task import retention_task
    from confida.server.run import check_api_limits, check_workers, server_config
    from confida.server.webhook_task import webhook_task  # --- webhooks
    from confida.transparency.serving import record_serve_mode

    check_api_limits(config)
    check_workers(workers)
    from confida.server import logging as redaction

    ucfg = server_config(config, **kw)  # checks the TLS files and settings before any fork
    # the parent logs too (the address it binds, workers ending)
    redaction.install(log_format=config.api.log_format)
    # --- observability: the directory where the workers share their metrics
    from confida.server import metrics_dir

    metrics = metrics_dir.prepare(config)
    # ---
    record_serve_mode(config, insecure_http=kw.get("insecure_http", False),
                      cert=kw.get("cert"), key=kw.get("key"))
    # Re-created from its descriptor so that it reports IPPROTO_TCP: asyncio sets TCP_NODELAY
    # on accepted connections only then, and without it each response whose headers and body
    # are written apart waits ~40 ms for the client's delayed ACK (measured by bench/api.py).
    sock = socket.socket(fileno=ucfg.bind_socket().detach())
    sock.set_inheritable(True)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGTERM, signal.SIGINT)}
    procs: list[tuple[Any, float]] = []
    try:
        with retention_task(config) as task, webhook_task(config) as hooks:
            health = SharedJobHealth(task.name)
            health.publish(*task.health())
            hooks_health = SharedJobHealth(hooks.name)  # --- webhooks
            hooks_health.publish(*hooks.health())

            def start() -> tuple[Any, float]:
                p = _spawn.Process(target=_worker, name="confida-worker",
                                   args=(config, kw, sock, [health, hooks_health],
                                         os.getpid(), metrics))
                p.start()
                return p, time.monotonic()

            procs = [start() for _ in range(workers)]
            sys.stderr.write(f"confida: serving with {workers} worker processes "
                             f"({', '.join(str(p.pid) for p, _ in procs)})\n")
            quick_deaths = 0
            while not stop.wait(TICK_SECONDS):
                health.publish(*task.health())
                hooks_health.publish(*hooks.health())  # --- webhooks
                for i, (p, started) in enumerate(procs):
                    if p.is_alive():
                        continue
                    quick = time.monotonic() - started < QUICK_DEATH_SECONDS
                    quick_deaths = quick_deaths + 1 if quick else 0
                    sys.stderr.write(f"confida: worker {p.pid} ended (exit code "
                                     f"{p.exitcode})\n")
                    if p.pid is not None:  # --- observability
                        metrics_dir.worker_ended(p.pid, metrics)
                    if quick_deaths >= MAX_QUICK_DEATHS:
                        sys.stderr.write("confida: workers keep failing at start; stopping\n")
                        stop.set()
                        break
                    procs[i] = start()
    finally:
        _stop_all([p for p, _ in procs], ucfg.timeout_graceful_shutdown)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        metrics_dir.remove(metrics)  # --- observability


def _stop_all(procs: list[Any], timeout: float | None) -> None:
    """SIGTERM each worker, wait for the graceful shutdown, then kill what is left."""
    for p in procs:
        if p.is_alive() and p.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + (timeout or 10.0) + 5.0
    for p in procs:
        p.join(max(0.1, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(5)


def default_workers(config: Config) -> int:
    """Workers when neither ``--workers`` nor ``[api] workers`` says: one per CPU on
    PostgreSQL, one on SQLite (its single writer lock makes extra processes queue, and
    ``bench/api.py`` measured no gain; see the README's "Sizing the server")."""
    if config.api.workers:
        return config.api.workers
    if config.database_url.startswith("sqlite"):
        return 1
    return max(1, os.cpu_count() or 1)
