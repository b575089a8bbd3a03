"""Data subject requests and their legal deadlines (GDPR Art. 12(3)).

A request is answered within one calendar month of receipt; that deadline may be extended once,
by up to two further months, with reasons (Art. 12(3)). Every right in ``confida.rights`` runs as
one tracked request, so the list of requests *is* the evidence a supervisory authority asks for:
what was asked, how the person's identity was verified, when, and when it was answered.

Idempotency: a host application retries. A request carries an idempotency key, either the host's
own request id (kept for good: the same id always means the same request), or, when none is given,
a keyed hash of type, subject and payload that holds only while that request is open. Submitting
the same request twice returns the first one.

Nothing personal is stored in a request: the subject is referenced by its internal id, the
payload only by a keyed hash, and ``details`` holds ids, counts and codes. The free-text fields
(how the identity was verified, the reasons for an extension or a rejection) are scanned with
the installation's PII detector and refused when it finds personal data in them.

Every public function decides first (role action ``requests``; a data subject may act on their
own requests only), inside the operation whose audit entry records the decision.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from confida import subject as subjects
from confida.authz import Resource, authorise
from confida.crypto.keystore import INDEX_KEY
from confida.errors import BadInput, NotFound, RequestConflict
from confida.operation import Actor, Operation
from confida.register.duration import Duration
from confida.store.schema import subject as subject_t
from confida.store.schema import subject_request
from confida.vault import Vault

ACCESS = "access"
PORTABILITY = "portability"
RECTIFICATION = "rectification"
RESTRICTION = "restriction"
RESTRICTION_LIFT = "restriction_lift"
OBJECTION = "objection"
ERASURE = "erasure"
TYPES = (ACCESS, PORTABILITY, RECTIFICATION, RESTRICTION, RESTRICTION_LIFT, OBJECTION, ERASURE)

# The article each request type exercises, for listings and the access export.
ARTICLES = {
    ACCESS: "Art. 15 GDPR",
    PORTABILITY: "Art. 20 GDPR",
    RECTIFICATION: "Art. 16 GDPR",
    RESTRICTION: "Art. 18 GDPR",
    RESTRICTION_LIFT: "Art. 18(3) GDPR",
    OBJECTION: "Art. 21 GDPR",
    ERASURE: "Art. 17 GDPR",
}

RECEIVED, IN_PROGRESS, EXTENDED = "received", "in_progress", "extended"
COMPLETED, REJECTED = "completed", "rejected"
OPEN = (RECEIVED, IN_PROGRESS, EXTENDED)
STATUSES = (*OPEN, COMPLETED, REJECTED)

ANSWER_WITHIN = Duration(months=1)
MAX_EXTENSION_MONTHS = 2
MAX_REASON = 500
MAX_VERIFIED_BY = 200
_HOST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


@dataclass(frozen=True)
class Request:
    id: str
    type: str
    subject: str  # the subject's pseudonym (the name the audit log uses), never the host's id
    status: str
    verified_by: str
    received_at: datetime
    due_at: datetime
    extended_months: int
    extension_reason: str | None
    closed_at: datetime | None
    rejection_reason: str | None
    overdue: bool
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


def check_verified_by(text: str) -> str:
    """How the host verified the requester's identity (e.g. ``session:password+totp``).

    Required: Art. 12(6) lets a controller act only on requests from the person concerned, so
    every request states how that was established. It must describe the method, not hold
    personal data; it is bounded and single-line so it cannot smuggle a payload into listings.
    """
    if not isinstance(text, str) or not text.strip():
        raise BadInput("--verified-by is required: say how the requester's identity was verified")
    text = text.strip()
    if len(text) > MAX_VERIFIED_BY:
        raise BadInput(f"verified-by is at most {MAX_VERIFIED_BY} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise BadInput("verified-by must be one line of text")
    return text


def refuse_personal_data(vault: Vault, text: str, what: str) -> str:
    """Refuse ``text`` when the PII detector finds personal data in it.

    Short free-text fields outside records are stored and listed in clear, so they must hold
    none; the error names the labels found, never the values.
    """
    found = {label: n for label, n in vault.scan(text).items() if n}
    if found:
        labels = ", ".join(sorted(found))
        raise BadInput(f"{what} must not hold personal data (found: {labels})")
    return text


def _check_reason(vault: Vault, text: str, what: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise BadInput(f"a {what} needs a reason (Art. 12(3)-(4) GDPR)")
    text = text.strip()
    if len(text) > MAX_REASON:
        raise BadInput(f"a {what} reason is at most {MAX_REASON} characters")
    return refuse_personal_data(vault, text, f"a {what} reason")


def _idempotency_key(
    vault: Vault, type_: str, subject_id: str, request_id: str | None, payload: Any
) -> str:
    if request_id is not None:
        if not isinstance(request_id, str) or not _HOST_ID.match(request_id):
            raise BadInput(
                "a request id is 1-128 characters of letters, digits and . _ : - "
                "(starting with a letter or digit)"
            )
        return "host:" + request_id
    # Keyed with the subject-index key: the payload may hold personal values (a rectification),
    # and a plain hash of a short value could be reversed by guessing.
    canonical = json.dumps(
        [type_, subject_id, payload], sort_keys=True, separators=(",", ":"), default=str
    ).encode()
    digest = hmac.new(vault.keys.get_key(INDEX_KEY), canonical, hashlib.sha256).hexdigest()
    return "auto:" + digest


def _from_row(row: Any, now: datetime) -> Request:
    m = row._mapping
    return Request(
        id=m["id"], type=m["type"], subject=m["pseudonym"], status=m["status"],
        verified_by=m["verified_by"], received_at=m["received_at"], due_at=m["due_at"],
        extended_months=m["extended_months"], extension_reason=m["extension_reason"],
        closed_at=m["closed_at"], rejection_reason=m["rejection_reason"],
        overdue=m["status"] in OPEN and m["due_at"] < now,
        details=dict(m["details"] or {}),
    )


def _select() -> Any:
    return select(subject_request, subject_t.c.pseudonym).join(
        subject_t, subject_t.c.id == subject_request.c.subject_id
    )


def find_subject(
    vault: Vault, conn: Connection, external_id: str, subject_id: str | None = None
) -> subjects.Subject | None:
    """The subject named by the host's id, or by Confida's own id (``subject_id``, from a
    subject token) when that is given; None when there is none."""
    if subject_id is None:
        return subjects.find(vault, conn, external_id)
    try:
        return subjects.by_id(conn, subject_id)
    except NotFound:
        return None


def decide_for_subject(
    vault: Vault, conn: Connection, op: Operation, action: str, external_id: str,
    subject_id: str | None = None,
) -> subjects.Subject:
    """The subject named (see :func:`find_subject`), decided on for ``op.actor``.

    The caller has already authorised ``action`` for the actor (for a data subject: on their own
    subject). The decision is taken again naming the subject found, so a data subject naming
    anyone else is refused; and it comes before "no such subject", so a refused caller learns
    nothing of who exists.
    """
    s = find_subject(vault, conn, external_id, subject_id)
    authorise(op.actor, action, Resource(subject_id=None if s is None else s.id),
              register=vault.register, op=op)
    if s is None:
        raise NotFound("no such subject")
    op.subject_pseudonyms.append(s.pseudonym)
    return s


def _decide_for_request(
    vault: Vault, conn: Connection, op: Operation, request_id: str, *,
    subject_may: bool = False,
) -> Request:
    """Load ``request_id`` for ``op.actor``, whom the caller has authorised for ``requests``.

    With ``subject_may`` the person the request is about may act too (reading it): the caller
    decided on the actor's own subject, and the decision is taken again naming the request's
    subject, so a data subject is refused another person's request (or one that does not
    exist) rather than told whether it exists. Without it the caller's decision named no
    subject, so only a role got here (answering, extending or refusing a request is the
    controller's part, even for the person's own request).
    """
    if subject_may:
        subject_id = None
        try:
            uuid.UUID(request_id)
            subject_id = conn.execute(
                select(subject_request.c.subject_id).where(subject_request.c.id == request_id)
            ).scalar()
        except (ValueError, TypeError, AttributeError):
            pass
        authorise(op.actor, "requests", Resource(subject_id=subject_id),
                  register=vault.register, op=op)
    req = load(vault, conn, request_id)
    op.subject_pseudonyms.append(req.subject)
    return req


def load(vault: Vault, conn: Connection, request_id: str) -> Request:
    try:
        uuid.UUID(request_id)
    except (ValueError, TypeError, AttributeError):
        raise NotFound("no such request") from None
    row = conn.execute(_select().where(subject_request.c.id == request_id)).first()
    if row is None:
        raise NotFound("no such request")
    return _from_row(row, vault.clock())


def by_host_id(vault: Vault, conn: Connection, request_id: str | None) -> Request | None:
    """The request a host id names, if any (so a retry after completion finds its answer)."""
    if request_id is None or not isinstance(request_id, str) or not _HOST_ID.match(request_id):
        return None
    row = conn.execute(
        _select().where(subject_request.c.idempotency_key == "host:" + request_id)
    ).first()
    return None if row is None else _from_row(row, vault.clock())


def open_in(
    vault: Vault,
    conn: Connection,
    type_: str,
    subject: subjects.Subject,
    verified_by: str,
    *,
    request_id: str | None = None,
    payload: Any = None,
) -> tuple[Request, bool]:
    """Find or create the request inside the caller's transaction; True when it is new."""
    if type_ not in TYPES:
        raise BadInput(f"request type must be one of {', '.join(TYPES)}")
    verified_by = refuse_personal_data(vault, check_verified_by(verified_by), "verified-by")
    key = _idempotency_key(vault, type_, subject.id, request_id, payload)
    existing = conn.execute(_select().where(subject_request.c.idempotency_key == key)).first()
    if existing is None:
        now = vault.clock()
        rid = str(uuid.uuid4())
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(subject_request).values(
                        id=rid, type=type_, subject_id=subject.id, verified_by=verified_by,
                        status=RECEIVED, idempotency_key=key, received_at=now,
                        due_at=ANSWER_WITHIN.after(now), extended_months=0, details={},
                    )
                )
            return load(vault, conn, rid), True
        except IntegrityError:  # the same request submitted concurrently: theirs won
            existing = conn.execute(
                _select().where(subject_request.c.idempotency_key == key)
            ).first()
            if existing is None:
                raise
    req = _from_row(existing, vault.clock())
    if req.type != type_ or existing.subject_id != subject.id:
        raise RequestConflict(
            f"request id {request_id!r} was already used for a different request"
        )
    return req, False


def set_status(
    vault: Vault,
    conn: Connection,
    req: Request,
    status: str,
    *,
    details: dict[str, Any] | None = None,
    rejection_reason: str | None = None,
) -> Request:
    """Move a request on; closing it frees an automatic idempotency key for a new request."""
    if not req.is_open:
        raise RequestConflict(f"request {req.id} is already {req.status}")
    values: dict[str, Any] = {"status": status}
    if details is not None:
        values["details"] = {**req.details, **details}
    if status in (COMPLETED, REJECTED):
        now = vault.clock()
        values["closed_at"] = now
        values["rejection_reason"] = rejection_reason
        conn.execute(
            update(subject_request)
            .where(subject_request.c.id == req.id)
            .where(subject_request.c.idempotency_key.like("auto:%"))
            .values(idempotency_key=None)
        )
    elif status == IN_PROGRESS and req.status == EXTENDED:
        values.pop("status")  # an extended request keeps showing its extension
    conn.execute(update(subject_request).where(subject_request.c.id == req.id).values(**values))
    return load(vault, conn, req.id)


def save_details(vault: Vault, conn: Connection, req: Request, details: dict[str, Any]) -> None:
    conn.execute(
        update(subject_request)
        .where(subject_request.c.id == req.id)
        .values(details={**req.details, **details})
    )


# --- the public workflow ------------------------------------------------------------------------


def submit(
    vault: Vault,
    type_: str,
    external_id: str,
    verified_by: str,
    *,
    request_id: str | None = None,
    payload: Any = None,
    actor: Actor,
    subject_id: str | None = None,
) -> Request:
    """Record a request as received (to be answered later); idempotent.

    ``subject_id`` (Confida's own id, from a subject token) replaces ``external_id`` when given.
    """
    with vault.operation(Operation("request.submit", actor)) as (conn, op):
        authorise(actor, "requests", Resource(subject_id=actor.subject_id),
                  register=vault.register, op=op)
        s = decide_for_subject(vault, conn, op, "requests", external_id, subject_id)
        req, new = open_in(
            vault, conn, type_, s, verified_by, request_id=request_id, payload=payload
        )
        op.object_ids.append(f"request:{req.id}")
        op.details.update({"type": type_, "new": new})
    return req


def get(vault: Vault, request_id: str, *, actor: Actor) -> Request:
    """One request by its id (audited as a read)."""
    with vault.operation(Operation("request.read", actor, object_ids=[request_id])) as (
        conn, op,
    ):
        authorise(actor, "requests", Resource(subject_id=actor.subject_id),
                  register=vault.register, op=op)
        return _decide_for_request(vault, conn, op, request_id, subject_may=True)


def list_requests(
    vault: Vault,
    *,
    overdue: bool = False,
    status: str | None = None,
    open_only: bool = False,
    limit: int = 1000,
    actor: Actor,
    after: tuple[datetime, str] | None = None,
) -> list[Request]:
    """Requests by deadline, soonest first; ``overdue`` keeps open ones past their deadline.

    Ordered by (due_at, id); ``after`` is the (due_at, id) of the last request of the previous
    page (keyset pagination).

    A data subject sees their own requests only.
    """
    with vault.operation(Operation("request.list", actor)) as (conn, op):
        authorise(actor, "requests", Resource(subject_id=actor.subject_id),
                  register=vault.register, op=op)
        if status is not None and status not in STATUSES:
            raise BadInput(f"status must be one of {', '.join(STATUSES)}")
        q = _select()
        if actor.subject_id is not None:
            q = q.where(subject_request.c.subject_id == actor.subject_id)
        if overdue:
            q = q.where(subject_request.c.status.in_(OPEN),
                        subject_request.c.due_at < vault.clock())
        if open_only:
            q = q.where(subject_request.c.status.in_(OPEN))
        if status is not None:
            q = q.where(subject_request.c.status == status)
        if after is not None:
            due, last_id = after
            q = q.where(or_(subject_request.c.due_at > due,
                            and_(subject_request.c.due_at == due,
                                 subject_request.c.id > last_id)))
        rows = conn.execute(
            q.order_by(subject_request.c.due_at, subject_request.c.id).limit(limit)
        ).all()
        op.details.update({"count": len(rows), "overdue": overdue})
    now = vault.clock()
    return [_from_row(r, now) for r in rows]


def extend(
    vault: Vault, request_id: str, months: int, reason: str, *, actor: Actor
) -> Request:
    """Extend the deadline once, by one or two months, with reasons (Art. 12(3))."""
    with vault.operation(Operation("request.extend", actor, object_ids=[request_id])) as (
        conn, op,
    ):
        authorise(actor, "requests", register=vault.register, op=op)
        if not isinstance(months, int) or isinstance(months, bool) or not (
            1 <= months <= MAX_EXTENSION_MONTHS
        ):
            raise BadInput(f"an extension is 1 to {MAX_EXTENSION_MONTHS} months")
        req = _decide_for_request(vault, conn, op, request_id)
        reason = _check_reason(vault, reason, "extension")
        if not req.is_open:
            raise RequestConflict(f"request {req.id} is already {req.status}")
        if req.extended_months:
            raise RequestConflict(
                f"request {req.id} was already extended; Art. 12(3) allows one extension"
            )
        due = Duration(months=months).after(req.due_at)
        conn.execute(
            update(subject_request)
            .where(subject_request.c.id == req.id)
            .values(status=EXTENDED, due_at=due, extended_months=months,
                    extension_reason=reason)
        )
        op.details.update({"months": months})
        return load(vault, conn, req.id)


def complete(
    vault: Vault, request_id: str, *, actor: Actor
) -> Request:
    """Mark a request answered (for requests handled outside Confida's own operations)."""
    with vault.operation(Operation("request.complete", actor, object_ids=[request_id])) as (
        conn, op,
    ):
        authorise(actor, "requests", register=vault.register, op=op)
        req = _decide_for_request(vault, conn, op, request_id)
        return set_status(vault, conn, req, COMPLETED)


def reject(
    vault: Vault, request_id: str, reason: str, *, actor: Actor
) -> Request:
    """Refuse a request, with the reason the person must be told (Art. 12(4))."""
    with vault.operation(Operation("request.reject", actor, object_ids=[request_id])) as (
        conn, op,
    ):
        authorise(actor, "requests", register=vault.register, op=op)
        req = _decide_for_request(vault, conn, op, request_id)
        reason = _check_reason(vault, reason, "rejection")
        return set_status(vault, conn, req, REJECTED, rejection_reason=reason)


def of_subject(vault: Vault, conn: Connection, subject_id: str) -> list[Request]:
    rows = conn.execute(
        _select()
        .where(subject_request.c.subject_id == subject_id)
        .order_by(subject_request.c.received_at, subject_request.c.id)
    ).all()
    now = vault.clock()
    return [_from_row(r, now) for r in rows]


def sign_in(vault: Vault, *, actor: Actor) -> None:
    """Admit a staff member to the request console: their role must handle requests (audited,
    so a refused sign-in is in the log like any other denial)."""
    with vault.operation(Operation("request.console", actor)) as (_conn, op):
        authorise(actor, "requests", register=vault.register, op=op)


def every_request(vault: Vault, conn: Connection) -> list[Request]:
    """Every request, in the caller's transaction (the compliance run's deadline check)."""
    rows = conn.execute(_select().order_by(subject_request.c.due_at,
                                           subject_request.c.id)).all()
    now = vault.clock()
    return [_from_row(r, now) for r in rows]


def subjects_with_open_requests(conn: Connection, subject_ids: list[str]) -> set[str]:
    """Which of ``subject_ids`` have a request not answered yet, in the caller's transaction:
    retention must not take the key from under an access request in progress."""
    out: set[str] = set()
    for i in range(0, len(subject_ids), 500):
        chunk = subject_ids[i : i + 500]
        out |= set(conn.execute(
            select(subject_request.c.subject_id)
            .where(subject_request.c.subject_id.in_(chunk))
            .where(subject_request.c.status.in_(OPEN))
        ).scalars())
    return out
