"""The right to rectification (Art. 16 GDPR).

Fields of one of the subject's records are corrected in place: the payload is re-sealed under the
subject's key with a fresh nonce and the old ciphertext is overwritten, so the old value is not
kept (SQLite runs with ``secure_delete`` and the WAL is checkpointed afterwards; on PostgreSQL the
old row version is unreadable garbage until VACUUM reclaims it, and dies with the subject key on
erasure). The changes go through the same schema checks as a collect for the record's purpose.

Rectification is allowed while processing is restricted: Art. 18(1)(a) restriction exists exactly
while accuracy is contested, and correcting the data at the person's request ends that contest.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from confida import request as requests
from confida import subject as subjects
from confida.authz import Resource, authorise
from confida.errors import InvalidRecord, NotFound
from confida.operation import Actor, Operation
from confida.record import rewrite
from confida.rights.restriction import lock_subject
from confida.store.engine import sqlite_checkpoint
from confida.store.schema import record as record_t
from confida.vault import Vault


def rectify(
    vault: Vault,
    external_id: str,
    record_id: str,
    changes: Mapping[str, Any],
    *,
    verified_by: str,
    request_id: str | None = None,
    actor: Actor,
) -> requests.Request:
    """Correct fields of one record of the subject; returns the completed request."""
    with vault.operation(Operation("rights.rectify", actor, object_ids=[record_id])) as (
        conn, op,
    ):
        authorise(actor, "rights", Resource(subject_id=actor.subject_id),
                  register=vault.register, op=op)
        s = requests.decide_for_subject(vault, conn, op, "rights", external_id)
        if not isinstance(changes, Mapping) or not changes:
            raise InvalidRecord("a rectification gives the corrected fields as a JSON object")
        try:
            uuid.UUID(record_id)
        except (ValueError, TypeError, AttributeError):
            raise NotFound("no such record") from None
        s = lock_subject(conn, s.id)
        if s.status in (subjects.ERASED, subjects.ERASING):
            subjects.ensure_processable(s)
        row = conn.execute(select(record_t).where(record_t.c.id == record_id)).first()
        if row is None or row.subject_id != s.id:
            # Another subject's record reads as missing: a request cannot probe other people.
            raise NotFound("no such record for this subject")
        req, _new = requests.open_in(
            vault, conn, requests.RECTIFICATION, s, verified_by, request_id=request_id,
            payload={"record": record_id, "changes": dict(changes)},
        )
        op.object_ids.append(f"request:{req.id}")
        if not req.is_open:
            return req
        _data, fields, _summary, _now = rewrite(vault, conn, row, changes, row.purpose)
        op.details["fields"] = fields
        req = requests.set_status(
            vault, conn, req, requests.COMPLETED, details={"record": row.id, "fields": fields}
        )
    sqlite_checkpoint(vault.engine)  # the overwritten page leaves the WAL too
    return req
