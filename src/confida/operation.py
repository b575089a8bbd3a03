"""Who acts, and the audited unit of work they act in.

These types sit below every domain module: the vault runs an :class:`Operation` in one
transaction with its audit entry, and :func:`confida.authz.authorise` records its decision in
that same operation. Keeping them out of ``vault.py`` is what lets ``authz``, ``record`` and
``audit`` import them without importing each other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Connection

from confida.errors import BadInput

__all__ = [
    "SYSTEM_JOBS",
    "Actor",
    "AuditSink",
    "NullAuditSink",
    "Operation",
    "OperationObserver",
    "notify_observers",
    "observers",
    "request_id",
    "subject_actor",
    "system_actor",
]

#: The internal jobs that act without a role. Anything else that has no role is refused by
#: :func:`confida.authz.authorise`, so an adapter that forgets to name its caller gets nothing.
SYSTEM_JOBS: frozenset[str] = frozenset(
    {
        "retention",  # the retention sweep and the purge of retained copies
        "erasure-resume",  # completing erasures journaled before a crash
        "restore-replay",  # replaying the erasure journal after a restore
        "keys",  # KEK rotation and retirement
        "backup",  # the rotation a backup runs so old key-store copies age out
        "migration",  # schema migrations
        "compliance",  # the compliance audit reading the live system
        "webhooks",  # the server's push of erasure notices and deadlines (confida.webhooks)
    }
)


@dataclass(frozen=True)
class Actor:
    """Who is acting: recorded in the audit log (an id, never a personal value).

    ``role`` names a register role; ``subject_id`` is set only for a data subject acting on
    their own data (a subject token or a privacy-center session), and then ``role`` is None.
    """

    id: str
    role: str | None = None
    source: str = "api"  # api | cli | web | system
    subject_id: str | None = None

    @property
    def is_system(self) -> bool:
        return self.role is None and self.subject_id is None and self.source == "system"

    @property
    def is_subject(self) -> bool:
        return self.role is None and self.subject_id is not None


def system_actor(job: str) -> Actor:
    """The actor for one named internal job; audited as ``system:<job>``."""
    if job not in SYSTEM_JOBS:
        raise BadInput(f"{job!r} is not a named internal job")
    return Actor(id=f"system:{job}", role=None, source="system")


def subject_actor(subject_id: str, session: str, source: str = "web") -> Actor:
    """A data subject acting on their own data; ``session`` names the token or session."""
    return Actor(id=f"subject:{session}", role=None, source=source, subject_id=subject_id)


class AuditSink(Protocol):
    """Where audit entries go; the tamper-evident log implements it (``confida.audit``).

    ``append`` may return a checkpoint note it signed in the caller's transaction; the vault
    hands it to ``committed`` only after that transaction committed, so a checkpoint of a
    rolled-back tree is never witnessed outside the database.
    """

    def append(self, conn: Connection, entry: Mapping[str, Any]) -> str | None: ...

    def committed(self, note: str) -> None: ...


class NullAuditSink:
    """For tests of code below the audit log; never used by an opened installation."""

    def append(self, conn: Connection, entry: Mapping[str, Any]) -> None:
        return None

    def committed(self, note: str) -> None:
        return None


@dataclass
class Operation:
    """One audited core operation; details are filled in as the operation learns them.

    ``decision`` is written by :func:`confida.authz.authorise` and goes into the entry, so the
    log says not only that an operation ran but which rule let it (or refused it).
    """

    action: str
    actor: Actor
    purpose: str | None = None
    subject_pseudonyms: list[str] = field(default_factory=list)
    object_ids: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    decision: dict[str, Any] | None = None
    # --- observability: captured when the operation is created, in the caller's context (a
    # read's entry may be written by another thread, the group commit's leader)
    request_id: str | None = field(default_factory=lambda: request_id.get(), compare=False)
    started: float = field(default_factory=time.monotonic, repr=False, compare=False)


# --- observability ------------------------------------------------------------------------------
# Hooks for an adapter's monitoring (the server's /metrics); the core itself records nothing
# here and imports no monitoring library.

#: The id of the request an adapter is serving (the server's ``X-Request-Id``), set by the
#: adapter for the duration of the request. Each :class:`Operation` copies it when created, and
#: its audit entry carries it as ``details.request_id``, so a log line, a trace and an audit
#: entry can be matched. It is an opaque id, never a personal value.
request_id: ContextVar[str | None] = ContextVar("confida_request_id", default=None)

#: Called once per operation, after its audit entry was written: ``(operation, outcome,
#: seconds)``, where outcome is the entry's (``allowed``, ``denied``, ``failed``) and seconds
#: the time since the operation was created. An observer must be quick and must not raise
#: (what it raises is ignored); it must not read the operation's details into anything that
#: leaves the process unless they are names (action, outcome), never values.
OperationObserver = Callable[[Operation, str, float], None]
observers: list[OperationObserver] = []


def notify_observers(op: Operation, outcome: str) -> None:
    """Tell every registered observer that ``op`` ended with ``outcome`` (its entry written)."""
    if not observers:
        return
    seconds = time.monotonic() - op.started
    for observe in tuple(observers):
        try:
            observe(op, outcome, seconds)
        except Exception:  # noqa: BLE001, S110 - monitoring never fails an operation
            pass
