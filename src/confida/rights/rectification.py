"""The right to rectification (Art. 16 GDPR).

Fields of one of the subject's records are corrected in place: the payload is re-sealed under the
subject's key with a fresh nonce and the old ciphertext is overwritten, so the old value is not
kept (SQLite runs with ``secure_delete`` and the WAL is checkpointed afterwards; on PostgreSQL the
old row version is unreadable garbage until VACUUM reclaims it, and dies with the subject key on
erasure). The changes go through the same schema checks as a collect for the record's purpose.

Rectification is allowed while processing is restricted: Art. 18(1)(a) restriction exists exactly
while accuracy is contested, and correcting the data at the person's request ends that contest.

A person may also *ask* for a correction in their own words (:func:`request_correction`, the
privacy center's correction form): what is wrong and what it should be. That text is personal
data, so it is never put in the request row, a log line or an audit entry: it is sealed
(AES-256-GCM, as records and token maps are) under the subject's data key, bound to the request
and the subject, in ``request_note``. Staff whose role may carry out rights read it with
:func:`correction_notes`; erasing the person destroys the key, and the text with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, select

from confida import request as requests
from confida import subject as subjects
from confida.authz import Resource, authorise
from confida.crypto import aead
from confida.errors import BadInput, InvalidRecord, KeyUnavailable, NotFound
from confida.operation import Actor, Operation
from confida.record import rewrite
from confida.rights.restriction import lock_subject
from confida.store.engine import sqlite_checkpoint
from confida.store.schema import record as record_t
from confida.store.schema import request_note
from confida.store.schema import subject as subject_t
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


# --- a correction asked for in the person's own words ----------------------------------------

#: Longest correction text accepted (characters).
MAX_NOTE = 2000
#: Most requests whose notes one call opens.
MAX_NOTES_PER_CALL = 1000


def _note_aad(request_id: str, subject_id: str) -> bytes:
    return aead.associated_data("request-note", request_id, subject_id)


def _check_note(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise BadInput("say what is wrong and what it should be")
    text = text.strip().replace("\r\n", "\n")
    if len(text) > MAX_NOTE:
        raise BadInput(f"a correction request is at most {MAX_NOTE} characters")
    if any((ord(c) < 32 and c not in "\n\t") or ord(c) == 127 for c in text):
        raise BadInput("a correction request is plain text")
    return text


def request_correction(
    vault: Vault,
    external_id: str,
    text: str,
    *,
    verified_by: str,
    request_id: str | None = None,
    subject_id: str | None = None,
    actor: Actor,
) -> requests.Request:
    """Record a correction request (Art. 16) with the person's own words; returns it (open,
    with its one-month deadline, for staff to carry out).

    The text is sealed under the subject's data key (``request_note``); the request row, the
    log and the audit entry never hold it. Idempotent like every request: the same
    ``request_id`` returns the first request and keeps its first text.
    ``subject_id`` (Confida's own id, from a subject token) replaces ``external_id``.
    """
    with vault.operation(Operation("rights.request_correction", actor)) as (conn, op):
        authorise(actor, "rights", Resource(subject_id=actor.subject_id),
                  register=vault.register, op=op)
        s = requests.decide_for_subject(vault, conn, op, "rights", external_id, subject_id)
        text = _check_note(text)
        s = lock_subject(conn, s.id)
        if s.status in (subjects.ERASED, subjects.ERASING):
            subjects.ensure_processable(s)
        req, new = requests.open_in(
            vault, conn, requests.RECTIFICATION, s, verified_by, request_id=request_id,
            payload={"note": text},
        )
        op.object_ids.append(f"request:{req.id}")
        op.details.update({"type": requests.RECTIFICATION, "new": new})
        if new:
            sealed = aead.seal(vault.keys.get_key(s.id), text.encode("utf-8"),
                               _note_aad(req.id, s.id))
            conn.execute(insert(request_note).values(
                request_id=req.id, subject_id=s.id, ciphertext=sealed, created_at=vault.clock()))
            requests.save_details(vault, conn, req, {"note": True})
            req = requests.load(vault, conn, req.id)
    return req


def correction_notes(vault: Vault, request_ids: list[str], *, actor: Actor) -> dict[str, str]:
    """request id -> what the person wrote, for those of ``request_ids`` that carry a note.

    Reading it needs the ``rights`` action (whoever may carry out a correction may read what
    to correct); a data subject reads their own only. A note whose subject was erased is gone
    (its key was destroyed) and is left out. The audit entry names whose notes were opened and
    how many, never the text.
    """
    with vault.operation(Operation("rights.correction_notes", actor)) as (conn, op):
        authorise(actor, "rights", Resource(subject_id=actor.subject_id),
                  register=vault.register, op=op)
        ids = []
        for rid in dict.fromkeys(request_ids):
            try:
                ids.append(str(uuid.UUID(rid)))
            except (ValueError, TypeError, AttributeError):
                continue
        if len(ids) > MAX_NOTES_PER_CALL:
            raise BadInput(f"at most {MAX_NOTES_PER_CALL} requests at a time")
        q = (select(request_note.c.request_id, request_note.c.subject_id,
                    request_note.c.ciphertext, subject_t.c.pseudonym, subject_t.c.status)
             .join(subject_t, subject_t.c.id == request_note.c.subject_id)
             .where(request_note.c.request_id.in_(ids)))
        if actor.subject_id is not None:
            q = q.where(request_note.c.subject_id == actor.subject_id)
        out: dict[str, str] = {}
        for r in conn.execute(q).all() if ids else []:
            if r.status in (subjects.ERASED, subjects.ERASING):
                continue
            try:
                raw = aead.open_sealed(vault.keys.get_key(r.subject_id), r.ciphertext,
                                       _note_aad(r.request_id, r.subject_id), "request note")
            except (NotFound, KeyUnavailable):
                continue  # erased: the key, and with it the text, is gone
            out[r.request_id] = raw.decode("utf-8")
            if r.pseudonym not in op.subject_pseudonyms:
                op.subject_pseudonyms.append(r.pseudonym)
        op.details["notes"] = len(out)
    return out
