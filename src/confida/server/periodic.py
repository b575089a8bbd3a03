"""A background job the server runs every few seconds or hours, with its health for ``/ready``.

Retention and webhook delivery share this: a daemon thread that runs once at start (a server
that was down catches up at once), then every ``every`` seconds until stopped. A failed run is
reported on stderr by its error code or type only (never a value) and retried at the next tick;
it never stops the server. ``health()`` tells ``/ready`` whether the thread is alive and whether
its last run succeeded, so a crashed or failing job shows instead of going quiet.
"""

from __future__ import annotations

import sys
import threading

from confida.error_detail import describe
from confida.errors import ConfidaError


class PeriodicJob:
    """Subclasses set ``name`` (its key in ``/ready``) and implement :meth:`run`."""

    name = "job"

    def __init__(self, every_seconds: float) -> None:
        if every_seconds <= 0:
            raise ValueError("every_seconds must be positive")
        self.every = every_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"confida-{self.name}",
                                        daemon=True)
        self.runs = 0
        self.errors = 0
        self.last_error: str | None = None  # exception type of the last run, if it failed
        self.crashed: str | None = None  # exception type that ended the thread, if any

    # --- what a job does ---------------------------------------------------------------

    def run(self) -> bool:
        """One run; True when it did something worth counting in ``runs``."""
        raise NotImplementedError

    def failed(self) -> None:
        """Called after a failed run (e.g. to drop a connection the next run reopens)."""

    def ended(self) -> None:
        """Called once in the thread when it ends, however it ends."""

    # --- the shared mechanism ----------------------------------------------------------

    def start(self) -> PeriodicJob:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        """Ask the thread to end and wait up to ``timeout`` s; a run still going after that
        is abandoned with the process (a daemon thread)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(max(0.0, timeout))

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
            if self.run():
                self.runs += 1
            self.last_error = None
        except ConfidaError as exc:
            self._failed(type(exc).__name__, exc.code)
        except Exception as exc:  # noqa: BLE001 - a bug must not end the job silently
            self._failed(type(exc).__name__, describe(exc))

    def _failed(self, name: str, reason: str) -> None:
        self.errors += 1
        self.last_error = name
        sys.stderr.write(f"{self.name} run failed: {reason}\n")
        self.failed()

    def _loop(self) -> None:
        try:
            while True:
                self.run_once()
                if self._stop.wait(self.every):
                    return
        except BaseException as exc:  # noqa: BLE001 - recorded for /ready, never a traceback
            self.crashed = type(exc).__name__
            sys.stderr.write(f"{self.name} thread stopped: {describe(exc)}\n")
        finally:
            self.ended()
