"""The right to restriction of processing (Art. 18 GDPR).

While a subject is restricted their records are only stored: ``subject.ensure_processable``
refuses every other processing (collect, read, update, consent grants, training and analytics
exports), in the same transaction as the processing. Two things stay allowed because the GDPR
wants them: the person may still see their data (access export, Art. 15) and may still have it
rectified or erased. Lifting the restriction is itself a tracked request, so the record shows when
processing resumed and on whose word (Art. 18(3): the person is told before it is lifted).
"""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from confida import request as requests
from confida import subject as subjects
from confida.authz import Resource, authorise
from confida.operation import Actor, Operation
from confida.store.schema import subject as subject_t
from confida.vault import Vault


def lock_subject(conn: Connection, subject_id: str) -> subjects.Subject:
    """Re-read the subject row under a row lock (PostgreSQL; SQLite's write lock serialises),
    so a status change and the processing it guards cannot interleave."""
    row = conn.execute(
        select(subject_t).where(subject_t.c.id == subject_id).with_for_update()
    ).first()
    return subjects.by_id(conn, subject_id) if row is None else subjects._from_row(row)


def _set(
    vault: Vault,
    external_id: str,
    *,
    restricted: bool,
    verified_by: str,
    request_id: str | None,
    actor: Actor,
    subject_id: str | None,
) -> requests.Request:
    type_ = requests.RESTRICTION if restricted else requests.RESTRICTION_LIFT
    action = "rights.restrict" if restricted else "rights.restrict.lift"
    with vault.operation(Operation(action, actor)) as (conn, op):
        authorise(actor, "rights", Resource(subject_id=actor.subject_id),
                  register=vault.register, op=op)
        s = requests.decide_for_subject(vault, conn, op, "rights", external_id, subject_id)
        s = lock_subject(conn, s.id)
        if s.status in (subjects.ERASED, subjects.ERASING):
            subjects.ensure_processable(s)
        req, _new = requests.open_in(
            vault, conn, type_, s, verified_by, request_id=request_id
        )
        op.object_ids.append(f"request:{req.id}")
        if not req.is_open:
            return req
        target = subjects.RESTRICTED if restricted else subjects.ACTIVE
        if s.status != target:
            conn.execute(
                update(subject_t)
                .where(subject_t.c.id == s.id)
                .values(status=target, status_changed_at=vault.clock())
            )
        op.details.update({"previous": s.status, "status": target})
        return requests.set_status(
            vault, conn, req, requests.COMPLETED,
            details={"previous": s.status, "status": target},
        )


def restrict(
    vault: Vault,
    external_id: str,
    *,
    verified_by: str,
    request_id: str | None = None,
    actor: Actor,
    subject_id: str | None = None,
) -> requests.Request:
    """Restrict processing: from the commit on, the subject's data is only stored.

    ``subject_id`` (Confida's own id, from a subject token) replaces ``external_id`` when given.
    """
    return _set(vault, external_id, restricted=True, verified_by=verified_by,
                request_id=request_id, actor=actor, subject_id=subject_id)


def lift_restriction(
    vault: Vault,
    external_id: str,
    *,
    verified_by: str,
    request_id: str | None = None,
    actor: Actor,
    subject_id: str | None = None,
) -> requests.Request:
    """Lift a restriction; recorded as its own request and audit entry."""
    return _set(vault, external_id, restricted=False, verified_by=verified_by,
                request_id=request_id, actor=actor, subject_id=subject_id)
