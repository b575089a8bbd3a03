"""Periodic retention while the server runs (and the destruction of KEK versions past their
retirement window, which bounds how long a backup can open anything).

Integration (one line, for whoever owns the server start-up): wrap the server's run in
``with retention_task(config):`` (``confida.server.run.run_server`` does). The task runs in a
daemon thread with its own vault, so it never shares a connection with request handlers, and
stops at the next tick when the server stops. A failed run is reported on stderr without
personal data (its type, constraint and place in the code) and retried at the next tick; it
never stops the server. ``health()`` tells ``/ready`` whether the thread is alive and whether
its last run succeeded, so a crashed or failing job shows instead of going quiet.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from confida.config import Config
from confida.error_detail import describe
from confida.errors import ConfidaError
from confida.kek_lifecycle import retire_due
from confida.operation import system_actor
from confida.retention import run_retention
from confida.vault import Vault

DEFAULT_EVERY_SECONDS = 3600
ACTOR = system_actor("retention")
KEYS_ACTOR = system_actor("keys")


class RetentionTask:
    name = "retention"  # its key in /ready's checks

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
        self.last_error: str | None = None  # exception type of the last run, if it failed
        self.crashed: str | None = None  # exception type that ended the thread, if any

    def start(self) -> RetentionTask:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        """Ask the thread to end and wait up to ``timeout`` s. A run still going after that
        is abandoned with the process (a daemon thread): its transaction rolls back."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(max(0.0, timeout))
            if self._thread.is_alive():
                sys.stderr.write("retention run still in progress at shutdown; it is "
                                 "abandoned and its transaction rolls back\n")

    def health(self) -> tuple[bool, str]:
        """(healthy, status) for ``/ready``: names and exception types, never values."""
        if self.crashed is not None or (self._thread.ident is not None
                                        and not self._thread.is_alive()
                                        and not self._stop.is_set()):
            return False, f"stopped ({self.crashed or 'thread ended'})"
        if self._thread.ident is None:
            return False, "not started"
        if self.last_error is not None:
            return False, f"failing ({self.last_error})"
        return True, "ok"

    def run_once(self) -> None:

        try:
            with self._open(self.config) as vault:
                run_retention(vault, actor=ACTOR)
                _retire_due_kek_versions(vault)
            self.runs += 1
            self.last_error = None
        except ConfidaError as exc:
            self.errors += 1
            self.last_error = type(exc).__name__
            sys.stderr.write(f"retention run failed: {exc.code}\n")
        except Exception as exc:  # noqa: BLE001 - a bug must not end the job silently
            self.errors += 1
            self.last_error = type(exc).__name__
            sys.stderr.write(f"retention run failed: {describe(exc)}\n")

    def _loop(self) -> None:
        # Once at start (a server that was down catches up at once), then every ``every`` s.
        try:
            while True:
                self.run_once()
                if self._stop.wait(self.every):
                    return
        except BaseException as exc:  # noqa: BLE001 - recorded for /ready, never a traceback
            self.crashed = type(exc).__name__
            sys.stderr.write(f"retention thread stopped: {describe(exc)}\n")


def _retire_due_kek_versions(vault: Vault) -> None:
    """Destroy KEK versions past ``kek_retire_after``, so the bound that the privacy notice
    states for backups holds without an operator's cron job (``confida.kek_lifecycle``).

    A refusal (a rotation left unfinished) is reported, not counted as a failed retention run:
    it needs an operator, and taking the server out of service for it would help nobody.
    """
    try:
        retire_due(vault, actor=KEYS_ACTOR)
    except ConfidaError as exc:
        sys.stderr.write(f"keys retire refused: {exc.code}; run `confida keys rotate`, "
                         "then `confida keys retire`\n")


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
