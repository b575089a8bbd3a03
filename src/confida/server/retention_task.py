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
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from confida.config import Config
from confida.errors import ConfidaError
from confida.kek_lifecycle import retire_due
from confida.operation import system_actor
from confida.retention import run_retention
from confida.server.periodic import PeriodicJob
from confida.vault import Vault

DEFAULT_EVERY_SECONDS = 3600
ACTOR = system_actor("retention")
KEYS_ACTOR = system_actor("keys")


class RetentionTask(PeriodicJob):
    name = "retention"  # its key in /ready's checks

    def __init__(self, config: Config, every_seconds: float = DEFAULT_EVERY_SECONDS,
                 open_vault: Callable[[Config], Vault] | None = None) -> None:
        super().__init__(every_seconds)
        self.config = config
        self._open = open_vault or _open_vault

    def stop(self, timeout: float = 10) -> None:
        """As :meth:`PeriodicJob.stop`; a retention run cut short rolls its transaction back."""
        super().stop(timeout)
        if self._thread.is_alive():
            sys.stderr.write("retention run still in progress at shutdown; it is "
                             "abandoned and its transaction rolls back\n")

    def run(self) -> bool:
        with self._open(self.config) as vault:
            run_retention(vault, actor=ACTOR)
            _retire_due_kek_versions(vault)
        return True


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
