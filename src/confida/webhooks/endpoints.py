"""Webhook endpoints: where erasure notices and overdue deadlines are pushed, and their
deliveries (the backlog and the dead letters).

An endpoint is a URL and the events it takes. Its signing secret is created here, shown once
(``whsec_...``, at :func:`add`) and kept only sealed: AES-256-GCM under the system key
``webhook-secrets`` of the key store, with the endpoint id as associated data, so a copy of the
record store alone signs nothing, and a sealed secret moved onto another endpoint does not open.
Removing an endpoint destroys its sealed secret.

URLs are ``https``; plain ``http`` only to a loopback address (a receiver on the same host, for
local testing). A URL with credentials in it is refused: it would be shown in listings.

Every public function decides first, inside the operation whose audit entry records the
decision. Role action ``rights``: the erasure feed (which webhooks push) is for the staff
handling rights. Subscribing to ``request.overdue`` asks for ``requests`` as well: those
deliveries name requests and their deadlines.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Connection, func, insert, select, update

from confida.authz import authorise
from confida.crypto import aead
from confida.errors import BadInput, NotFound, RequestConflict
from confida.operation import Actor, Operation
from confida.store.schema import erasure_notice, webhook_delivery, webhook_endpoint
from confida.vault import Vault
from confida.webhooks import signing

ERASURE = "erasure"
REQUEST_OVERDUE = "request.overdue"
EVENTS = (ERASURE, REQUEST_OVERDUE)

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
STATUSES = (PENDING, DELIVERED, DEAD)

#: The system key (``confida.vault.Vault.system_key``) that seals endpoint secrets.
SECRET_KEY = "webhook-secrets"
MAX_URL = 2048
MAX_PAGE = 10_000


@dataclass(frozen=True)
class Endpoint:
    id: str
    url: str
    events: list[str]
    created_at: datetime
    disabled_at: datetime | None
    pending: int = 0  # deliveries not yet delivered (the backlog)
    delivered: int = 0
    dead: int = 0

    @property
    def host(self) -> str:
        """The URL's host (and port), what the console shows: a path or query can carry a
        receiver's token."""
        return urllib.parse.urlsplit(self.url).netloc


@dataclass(frozen=True)
class NewEndpoint:
    endpoint: Endpoint
    secret: str  # ``whsec_...``: shown once, never again


@dataclass(frozen=True)
class Delivery:
    """One delivery's state; its payload is not shown in listings."""

    id: int
    message_id: str
    endpoint_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class Overview:
    """What the console shows: active endpoints with their backlog, and the dead letters."""

    endpoints: list[Endpoint] = field(default_factory=list)
    dead: list[Delivery] = field(default_factory=list)


# --- checks ----------------------------------------------------------------------------------


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: Any) -> str:
    """An https URL, or http to a loopback host; BadInput otherwise (names no part of it)."""
    if not isinstance(url, str) or not url.strip():
        raise BadInput("a webhook URL is required")
    url = url.strip()
    if len(url) > MAX_URL:
        raise BadInput(f"a webhook URL is at most {MAX_URL} characters")
    if any(ord(c) <= 32 or ord(c) == 127 or c == "\\" for c in url):
        raise BadInput("a webhook URL has no spaces, control characters or backslashes")
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # a port that is not a number raises here
        host = (parts.hostname or "").lower()
        parsed = httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        raise BadInput("the webhook URL is not a valid URL") from None
    if not host or parsed.host.lower() != host:
        raise BadInput("the webhook URL names no host")
    if parts.username is not None or parts.password is not None:
        raise BadInput("a webhook URL holds no user name or password (it is shown in listings); "
                       "authenticate deliveries by their signature")
    if parts.fragment:
        raise BadInput("a webhook URL has no #fragment")
    scheme = parts.scheme.lower()
    if scheme == "https" or (scheme == "http" and _loopback(host)):
        return url
    raise BadInput("a webhook URL must be https (plain http only to a loopback address such as "
                   "127.0.0.1, for local testing)")


def check_events(events: Any) -> list[str]:
    """The events named, each once, in the documented order."""
    if isinstance(events, str):
        events = events.split(",")
    if not isinstance(events, Sequence) or not events:
        raise BadInput(f"name at least one event: {', '.join(EVENTS)}")
    names = set()
    for e in events:
        name = e.strip() if isinstance(e, str) else e
        if name not in EVENTS:
            raise BadInput(f"unknown event {str(name)[:40]!r}; events are {', '.join(EVENTS)}")
        names.add(name)
    return [e for e in EVENTS if e in names]


def _check_id(endpoint_id: Any) -> str:
    try:
        return str(uuid.UUID(str(endpoint_id)))
    except ValueError:
        raise NotFound("no such webhook endpoint") from None


def check_delivery_id(delivery_id: Any) -> int:
    if isinstance(delivery_id, bool):
        raise NotFound("no such delivery")
    try:
        n = int(delivery_id)
    except (TypeError, ValueError):
        raise NotFound("no such delivery") from None
    if n < 1:
        raise NotFound("no such delivery")
    return n


def _check_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise BadInput(f"limit is 1 to {MAX_PAGE}")
    return limit


# --- the sealed secret -----------------------------------------------------------------------


def _aad(endpoint_id: str) -> bytes:
    return aead.associated_data("webhook-secret", endpoint_id)


def seal_secret(vault: Vault, endpoint_id: str, secret: bytes) -> bytes:
    return aead.seal(vault.system_key(SECRET_KEY), secret, _aad(endpoint_id))


def open_secret(vault: Vault, endpoint_id: str, sealed: bytes) -> bytes:
    return aead.open_sealed(vault.system_key(SECRET_KEY), bytes(sealed), _aad(endpoint_id),
                            what="webhook secret")


# --- rows ------------------------------------------------------------------------------------


def _endpoint(row: Any, counts: dict[str, int] | None = None) -> Endpoint:
    m = row._mapping
    c = counts or {}
    return Endpoint(
        id=m["id"], url=m["url"], events=list(m["events"] or []), created_at=m["created_at"],
        disabled_at=m["disabled_at"], pending=c.get(PENDING, 0), delivered=c.get(DELIVERED, 0),
        dead=c.get(DEAD, 0),
    )


def delivery_from_row(row: Any) -> Delivery:
    m = row._mapping
    return Delivery(
        id=int(m["id"]), message_id=m["message_id"], endpoint_id=m["endpoint_id"],
        event_type=m["event_type"], status=m["status"], attempts=int(m["attempts"]),
        next_attempt_at=m["next_attempt_at"], last_error=m["last_error"],
        created_at=m["created_at"], delivered_at=m["delivered_at"],
    )


_DELIVERY_COLUMNS = (
    webhook_delivery.c.id, webhook_delivery.c.message_id, webhook_delivery.c.endpoint_id,
    webhook_delivery.c.event_type, webhook_delivery.c.status, webhook_delivery.c.attempts,
    webhook_delivery.c.next_attempt_at, webhook_delivery.c.last_error,
    webhook_delivery.c.created_at, webhook_delivery.c.delivered_at,
)


def _counts(conn: Connection) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in conn.execute(
        select(webhook_delivery.c.endpoint_id, webhook_delivery.c.status, func.count())
        .group_by(webhook_delivery.c.endpoint_id, webhook_delivery.c.status)
    ):
        out.setdefault(r[0], {})[r[1]] = int(r[2])
    return out


def _endpoints(conn: Connection, include_removed: bool) -> list[Endpoint]:
    q = select(webhook_endpoint.c.id, webhook_endpoint.c.url, webhook_endpoint.c.events,
               webhook_endpoint.c.created_at, webhook_endpoint.c.disabled_at)
    if not include_removed:
        q = q.where(webhook_endpoint.c.disabled_at.is_(None))
    rows = conn.execute(q.order_by(webhook_endpoint.c.created_at, webhook_endpoint.c.id)).all()
    counts = _counts(conn)
    return [_endpoint(r, counts.get(r.id)) for r in rows]


def _deliveries(conn: Connection, status: str | None, endpoint_id: str | None,
                limit: int) -> list[Delivery]:
    q = select(*_DELIVERY_COLUMNS).join(
        webhook_endpoint, webhook_endpoint.c.id == webhook_delivery.c.endpoint_id
    ).where(webhook_endpoint.c.disabled_at.is_(None))
    if status is not None:
        q = q.where(webhook_delivery.c.status == status)
    if endpoint_id is not None:
        q = q.where(webhook_delivery.c.endpoint_id == endpoint_id)
    rows = conn.execute(q.order_by(webhook_delivery.c.id).limit(limit)).all()
    return [delivery_from_row(r) for r in rows]


# --- the public functions --------------------------------------------------------------------


def add(
    vault: Vault, url: str, events: Sequence[str] | str, *, actor: Actor,
    since: int | None = None,
) -> NewEndpoint:
    """Register an endpoint; the returned secret is shown once and never again.

    Erasure notices are pushed from the next one appended (``since``: from after that notice
    id instead, 0 for every notice so far). Requests already overdue are pushed at the next
    run.
    """
    with vault.operation(Operation("webhooks.add", actor)) as (conn, op):
        authorise(actor, "rights", register=vault.register, op=op)
        url = check_url(url)
        names = check_events(events)
        if REQUEST_OVERDUE in names:  # its deliveries name requests and their deadlines
            authorise(actor, "requests", register=vault.register, op=op)
        if since is not None and (isinstance(since, bool) or not isinstance(since, int)
                                  or since < 0):
            raise BadInput("--since is an erasure notice id, 0 or more")
        if since is None:
            since = int(conn.execute(
                select(func.coalesce(func.max(erasure_notice.c.id), 0))
            ).scalar_one())
        endpoint_id = str(uuid.uuid4())
        secret = signing.new_secret()
        now = vault.clock()
        conn.execute(insert(webhook_endpoint).values(
            id=endpoint_id, url=url, events=names,
            secret_sealed=seal_secret(vault, endpoint_id, secret), erasure_cursor=since,
            created_at=now, disabled_at=None,
        ))
        op.object_ids.append(f"webhook:{endpoint_id}")
        op.details.update({"events": names, "since": since})
        ep = Endpoint(endpoint_id, url, names, now, None)
    return NewEndpoint(ep, signing.encode_secret(secret))


def list_endpoints(
    vault: Vault, *, actor: Actor, include_removed: bool = False
) -> list[Endpoint]:
    """Endpoints, oldest first, with their delivery counts."""
    with vault.read_operation(Operation("webhooks.list", actor)) as (conn, op):
        authorise(actor, "rights", register=vault.register, op=op)
        out = _endpoints(conn, include_removed)
        op.details["count"] = len(out)
    return out


def remove(vault: Vault, endpoint_id: str, *, actor: Actor) -> Endpoint:
    """Stop pushing to an endpoint and destroy its sealed secret; its history stays."""
    with vault.operation(Operation("webhooks.remove", actor)) as (conn, op):
        authorise(actor, "rights", register=vault.register, op=op)
        eid = _check_id(endpoint_id)
        op.object_ids.append(f"webhook:{eid}")
        row = conn.execute(
            select(webhook_endpoint).where(webhook_endpoint.c.id == eid)
            .where(webhook_endpoint.c.disabled_at.is_(None))
        ).first()
        if row is None:
            raise NotFound("no such webhook endpoint")
        now = vault.clock()
        conn.execute(update(webhook_endpoint).where(webhook_endpoint.c.id == eid)
                     .values(disabled_at=now, secret_sealed=None))
        ep = _endpoint(row)
    return Endpoint(ep.id, ep.url, ep.events, ep.created_at, now)


def deliveries(
    vault: Vault, *, actor: Actor, status: str | None = None, endpoint_id: str | None = None,
    limit: int = 1000,
) -> list[Delivery]:
    """Deliveries of active endpoints in queue order; ``status="dead"`` is the dead-letter
    list."""
    with vault.read_operation(Operation("webhooks.deliveries", actor)) as (conn, op):
        authorise(actor, "rights", register=vault.register, op=op)
        if status is not None and status not in STATUSES:
            raise BadInput(f"status is one of {', '.join(STATUSES)}")
        eid = None if endpoint_id is None else _check_id(endpoint_id)
        out = _deliveries(conn, status, eid, _check_limit(limit))
        op.details.update({"status": status, "count": len(out)})
    return out


def retry(vault: Vault, delivery_id: int | str, *, actor: Actor) -> Delivery:
    """Put a dead letter back in its endpoint's queue, with a full set of attempts.

    It keeps its place (its id): the endpoint's later deliveries wait until it is delivered or
    dead again.
    """
    with vault.operation(Operation("webhooks.retry", actor)) as (conn, op):
        authorise(actor, "rights", register=vault.register, op=op)
        did = check_delivery_id(delivery_id)
        op.object_ids.append(f"webhook-delivery:{did}")
        row = conn.execute(
            select(webhook_delivery.c.status, webhook_endpoint.c.disabled_at)
            .join(webhook_endpoint, webhook_endpoint.c.id == webhook_delivery.c.endpoint_id)
            .where(webhook_delivery.c.id == did)
        ).first()
        if row is None or row.disabled_at is not None:
            raise NotFound("no such delivery (or its endpoint was removed)")
        if row.status != DEAD:
            raise RequestConflict(f"delivery {did} is {row.status}; only a dead letter is "
                                  "retried")
        conn.execute(update(webhook_delivery).where(webhook_delivery.c.id == did)
                     .values(status=PENDING, attempts=0, next_attempt_at=vault.clock()))
        return delivery_from_row(conn.execute(
            select(*_DELIVERY_COLUMNS).where(webhook_delivery.c.id == did)).one())


def overview(vault: Vault, *, actor: Actor, limit: int = 200) -> Overview:
    """Active endpoints with their backlog, and the dead letters (the console's page)."""
    with vault.read_operation(Operation("webhooks.overview", actor)) as (conn, op):
        authorise(actor, "rights", register=vault.register, op=op)
        out = Overview(_endpoints(conn, False), _deliveries(conn, DEAD, None,
                                                            _check_limit(limit)))
        op.details.update({"endpoints": len(out.endpoints), "dead": len(out.dead)})
    return out
