"""Interim data-subject rights for the privacy center, until ``confida.rights`` lands.

This is a seam, not the rights feature: the ``rights`` branch owns requests with deadlines
(``confida.request``), the access export, rectification, restriction, objection and erasure.
The web layer calls :mod:`confida.web.ports`, which prefers that branch's functions when they are
importable and falls back to these. Each function here still runs through the core's rules
(``vault.operation`` audit seam, ``access.decide`` for staff, ``subject.ensure_processable``,
per-subject keys): the web layer enforces nothing itself.

Deadlines follow Art. 12(3) GDPR: one month from receipt, extendable once by up to two months.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from confida import access, consent
from confida import subject as subjects
from confida.crypto import aead
from confida.errors import BadInput, NotFound, SubjectErased
from confida.record import decrypt_row
from confida.register.duration import Duration
from confida.store.schema import consent_event, interim_request, record
from confida.store.schema import subject as subject_t
from confida.vault import SYSTEM, Actor, Operation, Vault

TYPES = ("rectification", "restriction", "objection", "erasure")
RECEIVED, EXTENDED, COMPLETED = "received", "extended", "completed"
OPEN = (RECEIVED, EXTENDED)
ANSWER_WITHIN = Duration.parse("1 month")
MAX_TEXT = 2000
MAX_REASON = 500


@dataclass(frozen=True)
class Request:
    id: str
    type: str
    subject: str  # pseudonym, never the host's id
    status: str
    purpose: str | None
    received_at: datetime
    due_at: datetime
    extended_months: int
    closed_at: datetime | None
    overdue: bool

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


def _aad(request_id: str, subject_id: str) -> bytes:
    return aead.associated_data("interim-request", request_id, subject_id)


def _from_row(row: Any, pseudonym: str, now: datetime) -> Request:
    return Request(
        row.id, row.type, pseudonym, row.status, row.purpose, row.received_at, row.due_at,
        row.extended_months, row.closed_at, row.status in OPEN and row.due_at < now,
    )


def submit(
    vault: Vault,
    external_id: str,
    type_: str,
    *,
    purpose: str | None = None,
    text: str | None = None,
    received_at: datetime | None = None,
    actor: Actor = SYSTEM,
) -> Request:
    """Record a request the person made; its deadline starts at receipt."""
    if type_ not in TYPES:
        raise BadInput(f"a request type is one of {', '.join(TYPES)}")
    if type_ == "objection":
        if not purpose:
            raise BadInput("an objection names the purpose objected to")
        p = vault.register.purpose(purpose)
        if p.legal_basis.value not in ("legitimate_interests", "public_task"):
            raise BadInput(
                f"purpose {purpose!r} is based on {p.legal_basis.value}; an objection (Art. 21) "
                "applies to legitimate interests or public task"
            )
    if text is not None and len(text) > MAX_TEXT:
        raise BadInput(f"a request text is at most {MAX_TEXT} characters")
    with vault.operation(Operation(f"request.submit.{type_}", actor, purpose)) as (conn, op):
        s = subjects.require(vault, conn, external_id)
        if s.status == subjects.ERASED:
            raise SubjectErased("this subject's data has been erased")
        op.subject_pseudonyms.append(s.pseudonym)
        now = received_at or vault.clock()
        rid = str(uuid.uuid4())
        sealed = (
            aead.seal(vault.keys.get_key(s.id), text.encode("utf-8"), _aad(rid, s.id))
            if text else None
        )
        row = {
            "id": rid, "subject_id": s.id, "type": type_, "status": RECEIVED, "purpose": purpose,
            "sealed_text": sealed, "received_at": now, "due_at": ANSWER_WITHIN.after(now),
            "extended_months": 0, "closed_at": None,
        }
        conn.execute(insert(interim_request).values(**row))
        op.object_ids.append(f"request:{rid}")
        op.details["type"] = type_
    return Request(rid, type_, s.pseudonym, RECEIVED, purpose, now, row["due_at"], 0, None,
                   False)


def of_subject(vault: Vault, external_id: str, *, actor: Actor = SYSTEM) -> list[Request]:
    """The person's own requests, newest first."""
    with vault.engine.connect() as conn:
        s = subjects.find(vault, conn, external_id)
        if s is None:
            return []
        rows = conn.execute(
            select(interim_request).where(interim_request.c.subject_id == s.id)
            .order_by(interim_request.c.received_at.desc())
        ).all()
    now = vault.clock()
    return [_from_row(r, s.pseudonym, now) for r in rows]


def list_requests(vault: Vault, *, actor: Actor, limit: int = 500) -> list[Request]:
    """Every request for staff, overdue first, then open by deadline, then closed ones."""
    with vault.operation(Operation("request.list", actor)) as (conn, op):
        access.decide(vault.register, actor, "requests")
        rows = conn.execute(
            select(interim_request, subject_t.c.pseudonym)
            .join(subject_t, subject_t.c.id == interim_request.c.subject_id)
            .order_by(interim_request.c.due_at).limit(limit)
        ).all()
        op.details["count"] = len(rows)
    now = vault.clock()
    out = [_from_row(r, r.pseudonym, now) for r in rows]
    return sorted(out, key=lambda r: (not r.overdue, not r.is_open, r.due_at))


def _load_for_update(vault: Vault, conn: Any, request_id: str) -> Any:
    row = conn.execute(
        select(interim_request, subject_t.c.pseudonym)
        .join(subject_t, subject_t.c.id == interim_request.c.subject_id)
        .where(interim_request.c.id == request_id)
    ).first()
    if row is None:
        raise NotFound("no such request")
    return row


def extend(
    vault: Vault, request_id: str, months: int, reason: str, *, actor: Actor
) -> Request:
    """Extend the deadline once, by one or two months, with a reason (Art. 12(3))."""
    if months not in (1, 2):
        raise BadInput("an extension is 1 or 2 months")
    if not reason.strip() or len(reason) > MAX_REASON:
        raise BadInput(f"an extension needs a reason of at most {MAX_REASON} characters")
    with vault.operation(Operation("request.extend", actor, object_ids=[request_id])) as (
        conn, op,
    ):
        access.decide(vault.register, actor, "requests")
        row = _load_for_update(vault, conn, request_id)
        op.subject_pseudonyms.append(row.pseudonym)
        if row.status not in OPEN:
            raise BadInput("the request is closed")
        if row.extended_months:
            raise BadInput("the deadline was already extended once")
        due = Duration.parse(f"{months} months").after(row.due_at)
        conn.execute(update(interim_request).where(interim_request.c.id == request_id)
                     .values(status=EXTENDED, due_at=due, extended_months=months))
        op.details["months"] = months
        row = _load_for_update(vault, conn, request_id)
    return _from_row(row, row.pseudonym, vault.clock())


def complete(vault: Vault, request_id: str, *, actor: Actor) -> Request:
    """Mark a request answered."""
    with vault.operation(Operation("request.complete", actor, object_ids=[request_id])) as (
        conn, op,
    ):
        access.decide(vault.register, actor, "requests")
        row = _load_for_update(vault, conn, request_id)
        op.subject_pseudonyms.append(row.pseudonym)
        if row.status not in OPEN:
            raise BadInput("the request is already closed")
        conn.execute(update(interim_request).where(interim_request.c.id == request_id)
                     .values(status=COMPLETED, closed_at=vault.clock()))
        row = _load_for_update(vault, conn, request_id)
    return _from_row(row, row.pseudonym, vault.clock())


def access_export(vault: Vault, external_id: str, *, actor: Actor = SYSTEM) -> bytes:
    """Art. 15/20: a zip of everything held about the person, machine-readable JSON.

    Restricted subjects may still see their data (restriction limits processing, not access).
    """
    with vault.operation(Operation("rights.access", actor)) as (conn, op):
        s = subjects.require(vault, conn, external_id)
        if s.status == subjects.ERASED:
            raise SubjectErased("this subject's data has been erased")
        op.subject_pseudonyms.append(s.pseudonym)
        key = vault.keys.get_key(s.id)
        rows = conn.execute(
            select(record).where(record.c.subject_id == s.id).order_by(record.c.created_at)
        ).all()
        records = [
            {
                "id": r.id, "kind": r.kind, "purpose": r.purpose,
                "created_at": r.created_at.isoformat(), "retain_until": r.retain_until.isoformat(),
                "data": decrypt_row(vault, r, key),
            }
            for r in rows
        ]
        op.details["records"] = len(records)
    consents = [
        {"purpose": e.purpose, "action": e.action, "at": e.at.isoformat(),
         "notice_version": e.notice_version}
        for e in consent.history(vault, external_id)
    ]
    reqs = [
        {"id": r.id, "type": r.type, "status": r.status, "received_at": r.received_at.isoformat(),
         "due_at": r.due_at.isoformat()}
        for r in of_subject(vault, external_id)
    ]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("records.json", json.dumps(records, ensure_ascii=False, indent=2))
        z.writestr("consents.json", json.dumps(consents, ensure_ascii=False, indent=2))
        z.writestr("requests.json", json.dumps(reqs, ensure_ascii=False, indent=2))
        z.writestr("README.txt", "Your data held by Confida: records.json (every record, by "
                   "kind and purpose), consents.json (your consent history), requests.json "
                   "(your requests and their deadlines).\n")
    return buf.getvalue()


def erase(vault: Vault, external_id: str, *, actor: Actor = SYSTEM) -> Request:
    """Art. 17: erase the person's account by crypto-shredding their data key.

    The subject row loses its ``ref`` (a return is a new subject), its consent history and
    request texts go, and the data key is destroyed, so every remaining ciphertext is noise.
    """
    with vault.operation(Operation("rights.erase", actor)) as (conn, op):
        s = subjects.require(vault, conn, external_id)
        op.subject_pseudonyms.append(s.pseudonym)
        if s.status == subjects.ERASED:
            raise SubjectErased("this subject's data has been erased")
        now = vault.clock()
        n = conn.execute(select(record.c.id).where(record.c.subject_id == s.id)).all()
        conn.execute(delete(consent_event).where(consent_event.c.subject_id == s.id))
        conn.execute(update(interim_request).where(interim_request.c.subject_id == s.id)
                     .values(sealed_text=None))
        rid = str(uuid.uuid4())
        conn.execute(insert(interim_request).values(
            id=rid, subject_id=s.id, type="erasure", status=COMPLETED, purpose=None,
            sealed_text=None, received_at=now, due_at=ANSWER_WITHIN.after(now),
            extended_months=0, closed_at=now,
        ))
        conn.execute(update(subject_t).where(subject_t.c.id == s.id)
                     .values(ref=None, status=subjects.ERASED, status_changed_at=now))
        # Shred last: if the store transaction failed before this, nothing is half-erased.
        vault.keys.destroy(s.id)
        op.object_ids.append(f"request:{rid}")
        op.details["records_shredded"] = len(n)
    return Request(rid, "erasure", s.pseudonym, COMPLETED, None, now, ANSWER_WITHIN.after(now),
                   0, now, False)


def training_candidates(vault: Vault, *, purpose: str = "model_training") -> list[str]:
    """Record ids a training export may take now: the core's purpose rule decides each one.

    Used only until ``confida.export.training`` lands; it calls the same
    ``record.authorise_purpose`` (processable subject, consent in force, retention) per record.
    """
    from confida.errors import ConfidaError
    from confida.record import authorise_purpose

    p = vault.register.purpose(purpose)
    out: list[str] = []
    with vault.engine.connect() as conn:
        rows = conn.execute(
            select(record).where(record.c.kind.in_(p.kinds)).order_by(record.c.created_at)
        ).all()
        for r in rows:
            try:
                authorise_purpose(vault, conn, r, purpose)
            except ConfidaError:
                continue
            out.append(r.id)
    return out
