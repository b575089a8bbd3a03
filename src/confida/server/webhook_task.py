"""The server's webhook runner: enqueue new events and push what is due, every few seconds.

Integration (next to retention, in ``confida.server.run.run_server`` and, for ``--workers``, in
the parent process of ``confida.server.workers.run_workers``, so one runner serves the whole
server): ``with webhook_task(config) as hooks:``, add ``hooks`` to the app's jobs, and stop it
with the others (:func:`stop_jobs`). A daemon thread with its own vault and HTTP client, acting
as the named internal job ``webhooks``.

Each tick first asks :func:`confida.webhooks.delivery.has_work` (a read of ids and times, no
audit entry), and runs :func:`confida.webhooks.deliver_due` (authorised and audited) only when
there is something to enqueue or send: an installation without endpoints writes nothing.
A failed run is reported on stderr by its error code or exception type only, and retried at the
next tick. A receiver that fails is not a failing job: its deliveries back off and end in the
dead-letter list, and ``/ready`` stays green. ``health()`` reports whether the thread is alive
and whether its last run succeeded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, Protocol

import httpx

from confida.config import Config
from confida.operation import system_actor
from confida.server.periodic import PeriodicJob
from confida.vault import Vault
from confida.webhooks import delivery

DEFAULT_EVERY_SECONDS = 5.0
ACTOR = system_actor("webhooks")


class WebhookTask(PeriodicJob):
    name = "webhooks"  # its key in /ready's checks

    def __init__(self, config: Config, every_seconds: float = DEFAULT_EVERY_SECONDS,
                 open_vault: Callable[[Config], Vault] | None = None,
                 max_attempts: int = delivery.DEFAULT_MAX_ATTEMPTS,
                 timeout: float = delivery.DEFAULT_TIMEOUT_SECONDS,
                 client: httpx.Client | None = None) -> None:
        super().__init__(every_seconds)
        self.config = config
        self.max_attempts = max_attempts
        self.timeout = timeout
        self._open = open_vault or Vault.open
        self._vault: Vault | None = None
        self._client = client
        self._own_client = client is None

    def stop(self, timeout: float = 10) -> None:
        """End the thread within ``timeout`` s. A send still in flight is abandoned with the
        process: its delivery's claim expires and it is sent again (at least once)."""
        super().stop(timeout)

    def _client_now(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(follow_redirects=False)
        return self._client

    def run(self) -> bool:
        """Counted in ``runs`` only when there was something to enqueue or send."""
        if self._vault is None:
            self._vault = self._open(self.config)
        if not delivery.has_work(self._vault):
            return False
        delivery.deliver_due(self._vault, actor=ACTOR, client=self._client_now(),
                             max_attempts=self.max_attempts, timeout=self.timeout)
        return True

    def failed(self) -> None:
        self._close_vault()  # opened afresh at the next tick (the store may have moved)

    def ended(self) -> None:
        self._close_vault()
        if self._own_client and self._client is not None:
            with suppress(Exception):
                self._client.close()

    def _close_vault(self) -> None:
        if self._vault is not None:
            with suppress(Exception):
                self._vault.close()
            self._vault = None


@contextmanager
def webhook_task(config: Config, every_seconds: float = DEFAULT_EVERY_SECONDS
                 ) -> Iterator[WebhookTask]:
    task = WebhookTask(config, every_seconds).start()
    try:
        yield task
    finally:
        task.stop()


class _Stoppable(Protocol):
    def stop(self, timeout: float = ...) -> Any: ...


def stop_jobs(seconds: float, *jobs: _Stoppable) -> None:
    """Stop ``jobs`` in turn within ``seconds`` in all: each but the last gets at most half of
    what is left, so the last (retention, whose run rolls back if cut short) keeps time."""
    deadline = time.monotonic() + seconds
    for i, job in enumerate(jobs):
        left = max(0.0, deadline - time.monotonic())
        job.stop(left if i == len(jobs) - 1 else left / 2)
