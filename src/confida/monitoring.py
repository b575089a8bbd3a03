"""What monitoring may know about the installation: counts, ages and deadlines, never values.

The server's ``/metrics`` (``confida.server.metrics``) exposes these as Prometheus gauges,
computed at scrape time from the store with a few cheap queries: the audit log's size and the
age of its newest signed checkpoint, the open and overdue data subject requests by type, and the
time left on the nearest breach notification deadline (Art. 33(1): 72 hours).

Reading them is an audited act like any other read of the audit state (role action ``audit``):
a scraper authenticates with an API key of a role that may ``audit``, and each scrape leaves an
entry (``metrics.read``), written through the group commit of reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from confida import breach as breaches
from confida import request as requests
from confida.audit.sink import audit_log
from confida.authz import authorise
from confida.clock import as_utc
from confida.operation import Actor, Operation
from confida.store.schema import breach as breach_t
from confida.store.schema import subject_request, webhook_delivery
from confida.vault import Vault

__all__ = ["Gauges", "gauges"]


@dataclass(frozen=True)
class Gauges:
    """A snapshot of the store's state for monitoring; every field is a count or a duration."""

    audit_tree_size: int
    checkpoint_tree_size: int | None  # None: no checkpoint signed yet
    checkpoint_age_seconds: float | None
    checkpoint_interval_seconds: float  # the policy's "every T seconds"
    requests_open: dict[str, int] = field(default_factory=dict)  # by request type
    requests_overdue: dict[str, int] = field(default_factory=dict)
    breaches_unnotified: int = 0  # the authority not yet notified
    breach_notification_due_seconds: float | None = None  # nearest deadline; < 0: overdue
    webhook_backlog: int = 0  # deliveries not yet acknowledged by their receiver
    webhook_dead: int = 0  # dead letters waiting for `confida webhooks retry`


def gauges(vault: Vault, *, actor: Actor) -> Gauges:
    """The monitoring snapshot, for an actor whose role may ``audit``."""
    with vault.read_operation(Operation("metrics.read", actor)) as (conn, op):
        authorise(actor, "audit", register=vault.register, op=op)
        now = vault.clock()
        log = audit_log(vault.config)
        size = log.size(conn)
        latest = log.latest_checkpoint(conn)
        cp_size, cp_age = None, None
        if latest is not None:
            cp_size = latest[0]
            at = as_utc(latest[2])
            cp_age = max(0.0, (now - at).total_seconds()) if at is not None else None

        r = subject_request.c
        is_open = r.status.in_(requests.OPEN)
        open_by = {t: 0 for t in requests.TYPES}
        overdue_by = {t: 0 for t in requests.TYPES}
        for type_, n in conn.execute(select(r.type, func.count()).where(is_open)
                                     .group_by(r.type)):
            open_by[type_] = int(n)
        for type_, n in conn.execute(select(r.type, func.count())
                                     .where(is_open, r.due_at < now).group_by(r.type)):
            overdue_by[type_] = int(n)

        b = breach_t.c
        earliest, unnotified = conn.execute(
            select(func.min(b.discovered_at), func.count())
            .where(b.authority_notified_at.is_(None))).one()
        due = None
        if earliest is not None:
            discovered = as_utc(earliest)
            if discovered is not None:
                due = (discovered + breaches.DEADLINE - now).total_seconds()
        w = webhook_delivery.c
        by_status = dict(conn.execute(select(w.status, func.count())
                                      .where(w.status.in_(("pending", "dead")))
                                      .group_by(w.status)).all())
        op.details["tree_size"] = size
    return Gauges(
        audit_tree_size=size,
        checkpoint_tree_size=cp_size,
        checkpoint_age_seconds=cp_age,
        checkpoint_interval_seconds=float(vault.config.checkpoint_every_seconds),
        requests_open=open_by,
        requests_overdue=overdue_by,
        breaches_unnotified=int(unnotified or 0),
        breach_notification_due_seconds=due,
        webhook_backlog=int(by_status.get("pending", 0)),
        webhook_dead=int(by_status.get("dead", 0)),
    )
