"""The right to object (Art. 21 GDPR).

An objection stops processing for a purpose based on legitimate interests or a public task
(Art. 6(1)(e)/(f)), such as model training or safety review when the register bases them on a
legitimate interest. For a purpose based on consent, objecting is withdrawing consent: it is
written to the consent ledger, so there is one record of the decision, not two. Purposes based on
contract or legal obligation cannot be objected to under Art. 21; the person can ask for erasure or
restriction instead, and is told so.

Enforcement is one check, :func:`confida.lawfulness.check_objection`, which ``record`` runs on
every collect, read and update, in the same transaction as the processing it guards.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from confida import request as requests
from confida import subject as subjects
from confida.authz import Resource, authorise
from confida.consent import SOURCES, WITHDRAW
from confida.errors import BadInput
from confida.lawfulness import OBJECTABLE
from confida.operation import Actor, Operation
from confida.store.conflict import insert_for
from confida.store.schema import consent_event, objection
from confida.vault import Vault


def objections_of(conn: Connection, subject_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(objection.c.purpose, objection.c.at)
        .where(objection.c.subject_id == subject_id)
        .order_by(objection.c.id)
    ).all()
    return [{"purpose": r.purpose, "at": r.at} for r in rows]


def object_to(
    vault: Vault,
    external_id: str,
    purpose: str,
    *,
    verified_by: str,
    request_id: str | None = None,
    actor: Actor,
    subject_id: str | None = None,
) -> requests.Request:
    """Record an objection (or, for a consent-based purpose, a withdrawal); effective at once.

    ``subject_id`` (Confida's own id, from a subject token) replaces ``external_id`` when given.
    """
    with vault.operation(Operation("rights.object", actor, purpose)) as (conn, op):
        authorise(actor, "rights", Resource(subject_id=actor.subject_id),
                  register=vault.register, op=op)
        s = requests.decide_for_subject(vault, conn, op, "rights", external_id, subject_id)
        p = vault.register.purpose(purpose)
        if p.legal_basis not in OBJECTABLE and not p.consent_required:
            raise BadInput(
                f"purpose {purpose!r} is based on {p.legal_basis.value} "
                f"({p.legal_basis.article}); Art. 21 applies to legitimate interests and public "
                "tasks. Ask for restriction or erasure instead"
            )
        if s.status in (subjects.ERASED, subjects.ERASING):
            subjects.ensure_processable(s)
        req, _new = requests.open_in(
            vault, conn, requests.OBJECTION, s, verified_by, request_id=request_id,
            payload={"purpose": purpose},
        )
        op.object_ids.append(f"request:{req.id}")
        if not req.is_open:
            return req
        now = vault.clock()
        if p.consent_required:
            res = conn.execute(
                insert(consent_event).values(
                    subject_id=s.id, purpose=purpose, action=WITHDRAW, at=now,
                    source=actor.source if actor.source in SOURCES else "api",
                    notice_version=vault.notice_version(),
                )
            )
            effect = "consent_withdrawn"
            op.details["consent_event"] = int(res.inserted_primary_key[0])
        else:
            # One objection per subject and purpose; a concurrent one for the same purpose
            # (another request id) may have recorded it first, which is the same outcome.
            conn.execute(
                insert_for(conn, objection)
                .values(subject_id=s.id, purpose=purpose, at=now, request_id=req.id)
                .on_conflict_do_nothing(index_elements=[objection.c.subject_id,
                                                        objection.c.purpose])
            )
            effect = "objection_recorded"
        op.details["effect"] = effect
        return requests.set_status(
            vault, conn, req, requests.COMPLETED, details={"purpose": purpose, "effect": effect}
        )


def every_objection(conn: Connection) -> dict[tuple[str, str], datetime]:
    """When each (subject id, purpose) objection was made, in the caller's transaction (the
    compliance run checks nothing was processed for the purpose after it)."""
    return {(r.subject_id, r.purpose): r.at for r in conn.execute(
        select(objection.c.subject_id, objection.c.purpose, objection.c.at)
    )}
