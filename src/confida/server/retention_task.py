"""Periodic retention while the server runs.

Integration (one line, for whoever owns the server start-up): wrap the server's run in
``with retention_task(config):`` (``confida.server.run.run_server`` does). The task runs in a
daemon thread with its own vault, so it never shares a connection with request handlers, and
stops at the next tick when the server stops. A failed run is reported on stderr without
personal data and retried at the next tick; it never stops the server.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from confida.config import Config
from confida.errors import ConfidaError
from confida.vault import Actor, Vault

DEFAULT_EVERY_SECONDS = 3600
ACTOR = Actor(id="system:retention", role=None, source="system")


class RetentionTask:
    def __init__(self, config: Config, every_seconds: float = DEFAULT_EVERY_SECONDS,
                 open_vault: Callable[[Config], Vault] | None = None) -> None:
        if every_seconds <= 0:
            raise ValueError("every_seconds must be positive")
        self.config = config
        self.every = every_seconds
        self._open = open_vault or _open_vault
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="confida-retention",
                                        daemon=True)
        self.runs = 0
        self.errors = 0

    def start(self) -> RetentionTask:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def run_once(self) -> None:
        from confida.retention import run_retention

        try:
            with self._open(self.config) as vault:
                run_retention(vault, actor=ACTOR)
            self.runs += 1
        except ConfidaError as exc:
            self.errors += 1
            sys.stderr.write(f"retention run failed: {exc.code}\n")

    def _loop(self) -> None:
        # Once at start (a server that was down catches up at once), then every ``every`` s.
        while True:
            self.run_once()
            if self._stop.wait(self.every):
                return


def _open_vault(config: Config) -> Vault:
    return Vault.open(config)  # with the store's audit log, like every other adapter


def start_retention_task(config: Config, every_seconds: float = DEFAULT_EVERY_SECONDS
                         ) -> RetentionTask:
    return RetentionTask(config, every_seconds).start()


@contextmanager
def retention_task(config: Config, every_seconds: float = DEFAULT_EVERY_SECONDS
                   ) -> Iterator[RetentionTask]:
    task = start_retention_task(config, every_seconds)
    try:
        yield task
    finally:
        task.stop()
