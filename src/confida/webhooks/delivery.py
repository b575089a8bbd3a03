"""Pushing webhooks: enqueue new events, send what is due, retry with backoff, dead-letter.

**Events.** ``erasure``: one per erasure notice (``confida.rights.feed``), with the same data the
feed gives: notice id, time and the references downstream systems must drop; it names no
subject. ``request.overdue``: one per open data-subject request past its deadline, naming the
request, its type, its deadline and the subject's pseudonym (never the host's subject id); a
request whose deadline is extended and passes again is pushed again. :func:`enqueue` finds new
events per endpoint: erasure notices after the endpoint's cursor, overdue requests not yet
enqueued for it (the unique ``event_key`` makes each event enqueue once, also when two runs
race).

**Delivery** is at least once, and in order per endpoint: an endpoint's deliveries are sent
one at a time, oldest first, and a delivery waits while an earlier one of the same endpoint is
pending (head of line), so a receiver never sees a later event before an earlier one unless
the earlier one died. A 2xx answer delivers; anything else (another status, a timeout, a
refused connection) is retried after an exponential backoff with jitter (5 s, 30 s, 2 min,
10 min, 30 min, 1 h, 2 h, 4 h at most), and after ``max_attempts`` attempts (8 by default) the
delivery is dead: it stays in the dead-letter list until retried
(:func:`confida.webhooks.endpoints.retry`), and the endpoint's next delivery goes ahead.

A delivery is claimed before it is sent (its attempt counted and its next attempt put past
the send's timeout), in its own short transaction, so two runners (the server's thread and a
``confida webhooks deliver`` from cron) do not send it twice at once, and no database lock is
held while a receiver answers. A runner that dies mid-send leaves the claim to expire, and the
delivery is sent again (at least once: receivers drop repeats by ``webhook-id``).

Nothing here logs a payload, a secret or a response body: log lines name the delivery, its
endpoint and a short reason ("HTTP 500", "timeout").
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, func, select, update

from confida.authz import authorise
from confida.errors import BadInput
from confida.operation import Actor, Operation
from confida.request import OPEN
from confida.store.conflict import insert_for
from confida.store.engine import reading
from confida.store.schema import (
    erasure_notice,
    subject,
    subject_request,
    webhook_delivery,
    webhook_endpoint,
)
from confida.vault import Vault
from confida.version import __version__
from confida.webhooks import signing
from confida.webhooks.endpoints import (
    DEAD,
    DELIVERED,
    ERASURE,
    PENDING,
    REQUEST_OVERDUE,
    open_secret,
)

logger = logging.getLogger("confida.webhooks")

DEFAULT_MAX_ATTEMPTS = 8
MAX_MAX_ATTEMPTS = 100
DEFAULT_TIMEOUT_SECONDS = 10.0
#: The wait before attempt n+1 after n failed attempts (the last value repeats: the cap).
BACKOFF_SECONDS = (5, 30, 120, 600, 1800, 3600, 7200, 14400)
#: Up to this fraction is added at random to each wait, so that receivers that failed together
#: are not all retried in the same second.
JITTER = 0.2
#: A claim outlasts the send's timeout by this much before another runner may take it over.
LEASE_MARGIN_SECONDS = 60
#: Deliveries sent to one endpoint in one run (the rest wait for the next run).
PER_ENDPOINT_PER_RUN = 100
#: Events looked at per endpoint and kind in one enqueue.
SCAN_LIMIT = 1000
#: Endpoints sent to at the same time (each endpoint's own deliveries stay in order).
MAX_PARALLEL_ENDPOINTS = 8

Progress = Callable[["Attempt"], None]


@dataclass(frozen=True)
class Attempt:
    """One send: ``status`` is what the delivery became (delivered, pending: to be retried,
    dead), or ``stale`` when another runner had taken the delivery over in the meantime."""

    delivery_id: int
    endpoint_id: str
    event_type: str
    attempt: int
    status: str
    error: str | None


@dataclass(frozen=True)
class DeliveryRun:
    enqueued: int
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        return sum(a.status == DELIVERED for a in self.attempts)

    @property
    def failed(self) -> int:
        return sum(a.status == PENDING for a in self.attempts)

    @property
    def dead(self) -> int:
        return sum(a.status == DEAD for a in self.attempts)


@dataclass(frozen=True)
class _Claim:
    delivery_id: int
    message_id: str
    endpoint_id: str
    event_type: str
    attempt: int  # this attempt's number, 1 for the first
    url: str = field(repr=False)
    secret: bytes = field(repr=False)
    body: bytes = field(repr=False)


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    error: str | None = None


# --- pure helpers ----------------------------------------------------------------------------


def stamp(at: datetime) -> str:
    """A time as the payloads write it: UTC, ISO 8601 with microseconds and ``Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def body_of(event_type: str, event_at: datetime, data: dict[str, Any]) -> bytes:
    """The request body: the same bytes on every attempt (only the signature headers change)."""
    return json.dumps(
        {"type": event_type, "timestamp": stamp(event_at), "data": data},
        sort_keys=True, separators=(",", ":"), ensure_ascii=True,
    ).encode("ascii")


def backoff(attempts: int, rand: Callable[[], float] = random.random) -> timedelta:
    """The wait after ``attempts`` failed attempts (1 or more), jitter included."""
    base = BACKOFF_SECONDS[min(max(attempts, 1), len(BACKOFF_SECONDS)) - 1]
    return timedelta(seconds=base * (1 + JITTER * rand()))


def _check_max_attempts(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_MAX_ATTEMPTS:
        raise BadInput(f"max attempts is a whole number from 1 to {MAX_MAX_ATTEMPTS}")
    return n


def _check_timeout(t: Any) -> float:
    if isinstance(t, bool) or not isinstance(t, int | float) or not 0 < t <= 120:
        raise BadInput("the delivery timeout is more than 0 and at most 120 seconds")
    return float(t)


# --- enqueue ---------------------------------------------------------------------------------


def _insert(conn: Connection, endpoint_id: str, event_type: str, key: str, at: datetime,
            data: dict[str, Any], now: datetime) -> int:
    stmt = insert_for(conn, webhook_delivery).values(
        message_id="msg_" + uuid.uuid4().hex, endpoint_id=endpoint_id, event_type=event_type,
        event_key=key, event_at=at, payload=data, status=PENDING, attempts=0,
        next_attempt_at=now, last_error=None, created_at=now, delivered_at=None,
    ).on_conflict_do_nothing(index_elements=["endpoint_id", "event_key"])
    return len(conn.execute(stmt.returning(webhook_delivery.c.id)).all())


def _overdue(conn: Connection, now: datetime) -> list[tuple[str, datetime, dict[str, Any]]]:
    rows = conn.execute(
        select(subject_request.c.id, subject_request.c.type, subject_request.c.due_at,
               subject.c.pseudonym)
        .join(subject, subject.c.id == subject_request.c.subject_id)
        .where(subject_request.c.status.in_(OPEN), subject_request.c.due_at < now)
        .order_by(subject_request.c.due_at, subject_request.c.id)
        .limit(SCAN_LIMIT)
    ).all()
    return [
        (f"{REQUEST_OVERDUE}:{r.id}:{int(r.due_at.timestamp())}", r.due_at,
         {"request_id": r.id, "type": r.type, "due_at": stamp(r.due_at),
          "subject": r.pseudonym})
        for r in rows
    ]


@dataclass(frozen=True)
class _Event:
    endpoint_id: str
    event_type: str
    key: str
    at: datetime
    data: dict[str, Any] = field(repr=False)


def _active_endpoints(conn: Connection, lock: bool) -> list[Any]:
    q = (select(webhook_endpoint.c.id, webhook_endpoint.c.events,
                webhook_endpoint.c.erasure_cursor)
         .where(webhook_endpoint.c.disabled_at.is_(None))
         .where(webhook_endpoint.c.secret_sealed.is_not(None))
         .order_by(webhook_endpoint.c.id))
    return list(conn.execute(q.with_for_update() if lock else q).all())


def _new_events(conn: Connection, endpoints: list[Any], now: datetime) -> list[_Event]:
    """Events not yet enqueued for each endpoint, oldest first per endpoint and kind."""
    out: list[_Event] = []
    overdue: list[tuple[str, datetime, dict[str, Any]]] | None = None
    for ep in endpoints:
        events = list(ep.events or [])
        if ERASURE in events:
            for n in conn.execute(
                select(erasure_notice.c.id, erasure_notice.c.at, erasure_notice.c.refs)
                .where(erasure_notice.c.id > ep.erasure_cursor)
                .order_by(erasure_notice.c.id)
                .limit(SCAN_LIMIT)
            ):
                refs = [{"system": str(x["system"]), "reference": str(x["reference"])}
                        for x in n.refs or []]
                out.append(_Event(ep.id, ERASURE, f"{ERASURE}:{n.id}", n.at,
                                  {"notice_id": int(n.id), "at": stamp(n.at),
                                   "references": refs}))
        if REQUEST_OVERDUE in events:
            if overdue is None:
                overdue = _overdue(conn, now)
            keys = [k for k, _, _ in overdue]
            known = set(conn.execute(
                select(webhook_delivery.c.event_key)
                .where(webhook_delivery.c.endpoint_id == ep.id)
                .where(webhook_delivery.c.event_key.in_(keys))
            ).scalars()) if keys else set()
            out.extend(_Event(ep.id, REQUEST_OVERDUE, key, at, data)
                       for key, at, data in overdue if key not in known)
    return out


def _enqueue_in(conn: Connection, now: datetime) -> int:
    """New events for every active endpoint, in the caller's transaction.

    The endpoint rows are locked first (PostgreSQL; SQLite's single writer already is one at
    a time), so two runs enqueue one after the other and an endpoint's ids stay in event
    order.
    """
    added = 0
    cursors: dict[str, int] = {}
    for ev in _new_events(conn, _active_endpoints(conn, lock=True), now):
        added += _insert(conn, ev.endpoint_id, ev.event_type, ev.key, ev.at, ev.data, now)
        if ev.event_type == ERASURE:
            cursors[ev.endpoint_id] = int(ev.data["notice_id"])
    for endpoint_id, cursor in cursors.items():
        conn.execute(update(webhook_endpoint).where(webhook_endpoint.c.id == endpoint_id)
                     .values(erasure_cursor=cursor))
    return added


def has_work(vault: Vault, now: datetime | None = None) -> bool:
    """Would :func:`deliver_due` find anything to enqueue or send now?

    A scheduling hint for the server's runner, so that an installation without endpoints, or
    with nothing new, does not write an audit entry every few seconds. It reads ids, cursors and
    times only (no payload, no secret, nothing about a person) and returns a yes or no; the work
    itself is done by :func:`deliver_due`, authorised and audited.
    """
    at = now or vault.clock()
    with reading(vault.engine) as conn, conn.begin():
        endpoints = _active_endpoints(conn, lock=False)
        if not endpoints:
            return False
        return bool(_due_heads(conn, at) or _new_events(conn, endpoints, at))


def enqueue(vault: Vault, *, actor: Actor, now: datetime | None = None) -> int:
    """Find new events for every endpoint and queue their deliveries; how many were queued."""
    with vault.operation(Operation("webhooks.enqueue", actor)) as (conn, op):
        authorise(actor, "rights", register=vault.register, op=op)
        added = _enqueue_in(conn, now or vault.clock())
        op.details["enqueued"] = added
    return added


# --- claim, send, record ---------------------------------------------------------------------


_CLAIM_COLUMNS = (
    webhook_delivery.c.id, webhook_delivery.c.message_id, webhook_delivery.c.endpoint_id,
    webhook_delivery.c.event_type, webhook_delivery.c.event_at, webhook_delivery.c.payload,
    webhook_delivery.c.attempts, webhook_endpoint.c.url, webhook_endpoint.c.secret_sealed,
)


def _due_heads(conn: Connection, now: datetime, endpoint_id: str | None = None) -> list[Any]:
    """Each active endpoint's oldest pending delivery, where it is due (head of line: a later
    one is never sent while an earlier one waits)."""
    heads = select(func.min(webhook_delivery.c.id).label("head")).where(
        webhook_delivery.c.status == PENDING
    )
    if endpoint_id is not None:
        heads = heads.where(webhook_delivery.c.endpoint_id == endpoint_id)
    sub = heads.group_by(webhook_delivery.c.endpoint_id).subquery()
    return list(conn.execute(
        select(*_CLAIM_COLUMNS)
        .join(sub, sub.c.head == webhook_delivery.c.id)
        .join(webhook_endpoint, webhook_endpoint.c.id == webhook_delivery.c.endpoint_id)
        .where(webhook_endpoint.c.disabled_at.is_(None))
        .where(webhook_endpoint.c.secret_sealed.is_not(None))
        .where(webhook_delivery.c.next_attempt_at <= now)
        .order_by(webhook_delivery.c.id)
    ).all())


def _claim(vault: Vault, conn: Connection, row: Any, now: datetime, timeout: float
           ) -> _Claim | None:
    """Take ``row`` for one attempt, unless another runner took it since it was read."""
    res = conn.execute(
        update(webhook_delivery)
        .where(webhook_delivery.c.id == row.id)
        .where(webhook_delivery.c.status == PENDING)
        .where(webhook_delivery.c.attempts == row.attempts)
        .where(webhook_delivery.c.next_attempt_at <= now)
        .values(attempts=row.attempts + 1,
                next_attempt_at=now + timedelta(seconds=timeout + LEASE_MARGIN_SECONDS))
    )
    if res.rowcount != 1:
        return None
    return _Claim(
        delivery_id=int(row.id), message_id=row.message_id, endpoint_id=row.endpoint_id,
        event_type=row.event_type, attempt=int(row.attempts) + 1, url=row.url,
        secret=open_secret(vault, row.endpoint_id, row.secret_sealed),
        body=body_of(row.event_type, row.event_at, dict(row.payload)),
    )


def _send(client: httpx.Client, claim: _Claim, now: datetime, timeout: float) -> _Outcome:
    headers = signing.sign(claim.secret, claim.message_id, int(now.timestamp()), claim.body)
    headers["content-type"] = "application/json"
    headers["user-agent"] = f"confida-webhooks/{__version__}"
    try:
        # streamed and never read: a receiver's body is neither kept nor logged
        with client.stream("POST", claim.url, content=claim.body, headers=headers,
                           timeout=timeout) as resp:
            code = resp.status_code
    except httpx.TimeoutException:
        return _Outcome(False, "timeout")
    except httpx.ConnectError:
        return _Outcome(False, "connection failed")
    except (httpx.HTTPError, OSError) as exc:
        return _Outcome(False, type(exc).__name__[:64])
    if 200 <= code < 300:
        return _Outcome(True)
    return _Outcome(False, f"HTTP {code}")


def _record(conn: Connection, claim: _Claim, outcome: _Outcome, now: datetime,
            max_attempts: int) -> str:
    if outcome.ok:
        status, values = DELIVERED, {"status": DELIVERED, "delivered_at": now,
                                     "last_error": None}
    elif claim.attempt >= max_attempts:
        status, values = DEAD, {"status": DEAD, "last_error": outcome.error}
    else:
        status, values = PENDING, {"next_attempt_at": now + backoff(claim.attempt),
                                   "last_error": outcome.error}
    res = conn.execute(
        update(webhook_delivery)
        .where(webhook_delivery.c.id == claim.delivery_id)
        .where(webhook_delivery.c.status == PENDING)
        .where(webhook_delivery.c.attempts == claim.attempt)
        .values(**values)
    )
    return status if res.rowcount == 1 else "stale"


def _log(a: Attempt) -> None:
    if a.status == DEAD:
        logger.warning("webhook delivery %s (endpoint %s) is dead after %d attempts: %s",
                       a.delivery_id, a.endpoint_id, a.attempt, a.error)
    elif a.status == PENDING:
        logger.info("webhook delivery %s (endpoint %s) attempt %d failed: %s; retried later",
                    a.delivery_id, a.endpoint_id, a.attempt, a.error)
    else:
        logger.debug("webhook delivery %s (endpoint %s): %s", a.delivery_id, a.endpoint_id,
                     a.status)


def _drain(vault: Vault, actor: Actor, client: httpx.Client, first: _Claim,
           clock: Callable[[], datetime], max_attempts: int, timeout: float,
           progress: Progress | None) -> list[Attempt]:
    """Send ``first``, then the endpoint's next deliveries while each one is delivered or
    dead: one endpoint's queue, in order, in one thread."""
    out: list[Attempt] = []
    claim: _Claim | None = first
    while claim is not None:
        outcome = _send(client, claim, clock(), timeout)
        with vault.operation(Operation("webhooks.attempt", actor,
                                       object_ids=[f"webhook-delivery:{claim.delivery_id}"])
                             ) as (conn, op):
            authorise(actor, "rights", register=vault.register, op=op)
            now = clock()
            status = _record(conn, claim, outcome, now, max_attempts)
            op.details.update({"endpoint": claim.endpoint_id, "event": claim.event_type,
                               "attempt": claim.attempt, "status": status,
                               "reason": outcome.error})
            nxt = None
            if status in (DELIVERED, DEAD) and len(out) + 1 < PER_ENDPOINT_PER_RUN:
                heads = _due_heads(conn, now, claim.endpoint_id)
                nxt = _claim(vault, conn, heads[0], now, timeout) if heads else None
        attempt = Attempt(claim.delivery_id, claim.endpoint_id, claim.event_type,
                          claim.attempt, status, outcome.error)
        out.append(attempt)
        _log(attempt)
        if progress is not None:
            progress(attempt)
        claim = nxt
    return out


def deliver_due(
    vault: Vault,
    *,
    actor: Actor,
    now: datetime | None = None,
    client: httpx.Client | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    scan: bool = True,
    progress: Progress | None = None,
) -> DeliveryRun:
    """Enqueue new events (unless ``scan`` is false) and send every delivery that is due.

    ``now`` fixes the time this run schedules and signs by (tests); ``client`` is the httpx
    client to send with (one is made, and closed, when none is given). Endpoints are served
    side by side, each one's deliveries in order.
    """
    with vault.operation(Operation("webhooks.deliver", actor)) as (conn, op):
        authorise(actor, "rights", register=vault.register, op=op)
        max_attempts = _check_max_attempts(max_attempts)
        timeout = _check_timeout(timeout)
        clock: Callable[[], datetime] = (lambda: now) if now is not None else vault.clock
        start = clock()
        enqueued = _enqueue_in(conn, start) if scan else 0
        claims = [c for row in _due_heads(conn, start)
                  if (c := _claim(vault, conn, row, start, timeout)) is not None]
        op.details.update({"enqueued": enqueued, "claimed": len(claims)})
    if not claims:
        return DeliveryRun(enqueued)
    own = client is None
    http = client or httpx.Client(follow_redirects=False)
    try:
        if len(claims) == 1:
            results = [_drain(vault, actor, http, claims[0], clock, max_attempts, timeout,
                              progress)]
        else:
            with ThreadPoolExecutor(min(len(claims), MAX_PARALLEL_ENDPOINTS),
                                    thread_name_prefix="confida-webhook") as pool:
                futures = [pool.submit(_drain, vault, actor, http, c, clock, max_attempts,
                                       timeout, progress) for c in claims]
                results = [f.result() for f in futures]
    finally:
        if own:
            http.close()
    return DeliveryRun(enqueued, [a for r in results for a in r])
