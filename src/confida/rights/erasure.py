"""The right to erasure (Art. 17 GDPR), by crypto-shredding.

Order of work (``STEPS``), each step committed before the next, so that a crash anywhere leaves
a state the next run finishes (the subject's status ``erasing`` and the presence of its data key
are the progress markers; every step is idempotent):

1. **begin** — the subject row is locked and set to ``erasing``: from that commit on no collect,
   read, update or consent grant for them succeeds (a collect already holding the row finishes
   first and its records are erased with the rest). In the same transaction, the records that
   Art. 17(3) lets or makes the controller keep (a ``legal_hold``, or a purpose whose legal
   basis is a legal obligation, e.g. invoices kept for tax law) are re-sealed under a separate
   per-subject key ``retained:<subject id>`` and listed in ``retained_record``.
2. **shred** — the subject's data key is destroyed in the key store. From this instant every
   copy of every record, in the live store, in backups, in exports and token maps sealed under
   that key, is unreadable. This is the step that makes the erasure true; it is one row delete,
   independent of how many records the person had.
3. **notify** — one notice is appended to the erasure feed with the references downstream
   systems were given; those references, the consent ledger entries and objections are deleted.
4. **delete** — the subject's remaining rows are deleted in bulk, in chunks (one statement per
   chunk, each its own transaction). Correctness never depends on this step: the rows are
   already ciphertext without a key.
5. **finish** — the subject row keeps only id, pseudonym and status ``erased``; its ``ref`` is
   cleared, so a person who comes back is a new subject with a new key. The request records
   which records were kept, on which ground (kind, purpose, basis; never values).

The retained key is destroyed when the last kept record leaves (``purge_retained``).

Every erasure is journaled (``confida.erasure_journal``): in the record store within the begin
step's transaction, then in the key store and an append-only file before the shred step, and
marked done in the finish step. A store restored from before the erasure, or an erasure cut off
by a crash, is completed by the journal's replay (``resume_journaled`` runs these same steps).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, exists, insert, select, update

from confida import downstream, erasure_journal, web_sessions
from confida import request as requests
from confida import subject as subjects
from confida.authz import Resource, authorise
from confida.crypto import aead
from confida.errors import BadInput, NotFound, RequestConflict, SubjectErased
from confida.operation import Actor, Operation
from confida.record import _load, reseal_values, row_aad
from confida.register.models import LegalBasis
from confida.rights import feed
from confida.rights.restriction import lock_subject
from confida.store.engine import sqlite_checkpoint
from confida.store.schema import (
    consent_event,
    downstream_ref,
    objection,
    retained_record,
    token_map,
)
from confida.store.schema import record as record_t
from confida.store.schema import subject as subject_t
from confida.vault import Vault

RETAINED_PREFIX = "retained:"
CHUNK = 10_000
STEPS = ("begin", "shred", "notify", "delete", "finish")
GROUNDS = {
    "legal_obligation": "Art. 17(3)(b) GDPR: compliance with a legal obligation",
    "legal_hold": "Art. 17(3)(e) GDPR: establishment, exercise or defence of legal claims",
}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Erasure:
    request: requests.Request
    records: int  # records the subject had: deleted plus kept
    kept: list[dict[str, Any]]
    notice_id: int | None
    resumed: bool


def retained_key_id(subject_id: str) -> str:
    return RETAINED_PREFIX + subject_id


def _legal_obligation_purposes(vault: Vault) -> list[str]:
    return [n for n, p in vault.register.purposes.items()
            if p.legal_basis is LegalBasis.legal_obligation]


def _ground(row: Any) -> str:
    return "legal_hold" if row.legal_hold else "legal_obligation"


def _kept_summary(conn: Connection, subject_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(record_t.c.id, record_t.c.kind, record_t.c.purpose, record_t.c.retain_until,
               retained_record.c.ground)
        .join(retained_record, retained_record.c.record_id == record_t.c.id)
        .where(retained_record.c.subject_id == subject_id)
        .order_by(record_t.c.id)
    ).all()
    return [
        {"record": r.id, "kind": r.kind, "purpose": r.purpose, "ground": r.ground,
         "article": GROUNDS[r.ground], "retain_until": r.retain_until.isoformat()}
        for r in rows
    ]


def erase(
    vault: Vault,
    external_id: str,
    *,
    verified_by: str,
    request_id: str | None = None,
    actor: Actor,
    progress: Progress | None = None,
    subject_id: str | None = None,
) -> Erasure:
    """Erase a subject; resumable (run it again after any failure and it completes).

    ``subject_id`` (Confida's own id, from a subject token) replaces ``external_id`` when given.
    """
    step = progress or (lambda _name: None)

    # begin
    with vault.operation(Operation("rights.erase.begin", actor)) as (conn, op):
        authorise(actor, "rights", Resource(subject_id=actor.subject_id),
                  register=vault.register, op=op)
        # decided again on the subject named: a data subject may erase themselves only
        found = requests.find_subject(vault, conn, external_id, subject_id)
        authorise(actor, "rights", Resource(subject_id=None if found is None else found.id),
                  register=vault.register, op=op)
        done = _completed(vault, conn, request_id)
        if done is not None:
            return done
        s = requests.find_subject(vault, conn, external_id, subject_id)
        if s is None:
            # a concurrent run of this request may have finished since the look-up above
            # (its finish step clears the subject's ref)
            done = _completed(vault, conn, request_id)
            if done is not None:
                return done
            raise NotFound("no such subject")
        op.subject_pseudonyms.append(s.pseudonym)
        s = lock_subject(conn, s.id)
        if s.status == subjects.ERASED:
            # the row lock waited for a concurrent run's finish: a retry gets its result
            done = _completed(vault, conn, request_id)
            if done is not None:
                return done
            raise SubjectErased("this subject's data has been erased")
        req, _new = requests.open_in(
            vault, conn, requests.ERASURE, s, verified_by, request_id=request_id
        )
        op.object_ids.append(f"request:{req.id}")
        resumed = s.status == subjects.ERASING
        if not resumed:
            # (no count of the records here: this step must not grow with their number)
            conn.execute(
                update(subject_t)
                .where(subject_t.c.id == s.id)
                .values(status=subjects.ERASING, status_changed_at=vault.clock())
            )
            req = requests.set_status(vault, conn, req, requests.IN_PROGRESS,
                                      details={"deleted": 0})
        elif req.status == requests.RECEIVED:
            req = requests.set_status(vault, conn, req, requests.IN_PROGRESS)
        if resumed and not req.details.get("resumed"):
            # kept with the request, so that every caller of it (a retry, a concurrent run)
            # is told the same, whichever run finishes it
            requests.save_details(vault, conn, req, {"resumed": True})
            req = requests.load(vault, conn, req.id)
        op.details["resumed"] = resumed
        # retain what Art. 17(3) keeps, under its own key, while the main key still exists;
        # in the same transaction, so "erasing" and "kept records are safe" commit together
        if vault.keys.has_key(s.id):
            op.details["retained"] = _retain(vault, conn, s, op)
        # journaled with the "erasing" status, so a restore or a crash cannot lose it
        entry = erasure_journal.begin_in(vault, conn, s.id, s.pseudonym, req.id)
    # the key store's and the file's copies, before the key is destroyed
    erasure_journal.record_elsewhere(vault, entry)
    step("begin")
    return _shred_and_finish(vault, s, req, entry, actor=actor, step=step, resumed=resumed)


def _completed(vault: Vault, conn: Connection, request_id: str | None) -> Erasure | None:
    """The result of a completed erasure ``request_id`` names, so a retry gets it back."""
    done = requests.by_host_id(vault, conn, request_id)
    if done is not None and done.type == requests.ERASURE and not done.is_open:
        return _result(done, resumed=False)
    return None


def resume_journaled(
    vault: Vault, entry: erasure_journal.Entry, *, actor: Actor,
    progress: Progress | None = None, in_file: frozenset[str] = frozenset(),
) -> Erasure:
    """Run a journaled erasure again on a store that lacks it (restored from a backup, or left
    ``erasing`` by a crash): the same steps as :func:`erase`, starting from the internal id.
    ``in_file`` names the journal-file events already there (they are not written twice)."""
    step = progress or (lambda _name: None)
    with vault.operation(Operation("rights.erase.begin", actor,
                                   details={"replay": True})) as (conn, op):
        authorise(actor, "rights", Resource(subject_id=entry.subject), register=vault.register,
                  op=op)
        s = lock_subject(conn, entry.subject)
        op.subject_pseudonyms.append(s.pseudonym)
        erasure_journal.ensure_request(vault, conn, entry, completed=False)
        req = requests.load(vault, conn, entry.request)
        op.object_ids.append(f"request:{req.id}")
        if s.status != subjects.ERASING:
            conn.execute(
                update(subject_t)
                .where(subject_t.c.id == s.id)
                .values(status=subjects.ERASING, status_changed_at=vault.clock())
            )
        if req.status == requests.RECEIVED:
            req = requests.set_status(vault, conn, req, requests.IN_PROGRESS)
        if vault.keys.has_key(s.id):
            op.details["retained"] = _retain(vault, conn, s, op)
        stored = erasure_journal.begin_in(vault, conn, s.id, s.pseudonym, req.id)
        entry = entry.merge(stored)
    erasure_journal.record_elsewhere(vault, entry, to_file=erasure_journal.BEGIN not in in_file)
    step("begin")
    return _shred_and_finish(vault, s, req, entry, actor=actor, step=step, resumed=True,
                             done_to_file=erasure_journal.DONE not in in_file)


def _shred_and_finish(
    vault: Vault,
    s: subjects.Subject,
    req: requests.Request,
    entry: erasure_journal.Entry,
    *,
    actor: Actor,
    step: Progress,
    resumed: bool,
    done_to_file: bool = True,
) -> Erasure:
    # shred: from here on nothing of the subject is readable
    with vault.operation(Operation("rights.erase.shred", actor,
                                   subject_pseudonyms=[s.pseudonym])) as (_conn, op):
        _decide_step(vault, actor, s, op)
        op.details["destroyed"] = vault.keys.destroy(s.id)
    step("shred")

    # notify downstream systems; drop references, consent ledger and objections
    # Each step below re-locks the subject row first: two runs of the same erasure at once
    # (a client retrying while the first run works) then take turns step by step, and each
    # statement sees what the other run committed.
    with vault.operation(Operation("rights.erase.notify", actor,
                                   subject_pseudonyms=[s.pseudonym])) as (conn, op):
        _decide_step(vault, actor, s, op)
        lock_subject(conn, s.id)
        refs = downstream.refs_of(conn, s.id)
        notice_id = feed.append(vault, conn, req.id, refs)
        conn.execute(delete(downstream_ref).where(downstream_ref.c.subject_id == s.id))
        conn.execute(delete(objection).where(objection.c.subject_id == s.id))
        conn.execute(delete(consent_event).where(consent_event.c.subject_id == s.id))
        conn.execute(delete(token_map).where(token_map.c.subject_id == s.id))
        op.object_ids.append(f"erasure-notice:{notice_id}")
        op.details["references"] = len(refs)
    step("notify")

    # delete the rows (already unreadable) in bulk, chunk by chunk
    while True:
        with vault.operation(Operation("rights.erase.delete", actor,
                                       subject_pseudonyms=[s.pseudonym])) as (conn, op):
            _decide_step(vault, actor, s, op)
            lock_subject(conn, s.id)
            n = delete_records_chunk(conn, s.id, CHUNK)
            if n:  # progress kept with the deletion itself, so re-runs count exactly
                cur = requests.load(vault, conn, req.id)
                requests.save_details(vault, conn, cur,
                                      {"deleted": int(cur.details.get("deleted", 0)) + n})
            op.details["count"] = n
        if n < CHUNK:
            break
    step("delete")

    # finish: the subject row forgets the host's id; the request says what was kept and why
    with vault.operation(Operation("rights.erase", actor,
                                   subject_pseudonyms=[s.pseudonym])) as (conn, op):
        _decide_step(vault, actor, s, op)
        lock_subject(conn, s.id)
        current = requests.load(vault, conn, req.id)
        if not current.is_open:  # a concurrent run of this request finished it first
            op.object_ids.append(f"request:{req.id}")
            op.details["already"] = current.status
            return _result(current, resumed=False)
        kept = _kept_summary(conn, s.id)
        conn.execute(
            update(subject_t)
            .where(subject_t.c.id == s.id)
            .values(ref=None, status=subjects.ERASED, status_changed_at=vault.clock())
        )
        req = requests.set_status(vault, conn, current, requests.COMPLETED,
                                  details={"kept": kept, "notice": notice_id})
        op.object_ids.append(f"request:{req.id}")
        op.details.update({"kept": len(kept), "notice": notice_id})
        entry = erasure_journal.completion(conn, entry)
        erasure_journal.complete_in(conn, entry)
        web_sessions.end_for_subject(conn, s.id, vault.clock())  # the person's sessions end too
    if done_to_file:
        erasure_journal.record_done(vault, entry)
    if not kept:
        vault.keys.destroy(retained_key_id(s.id))  # created, then rolled back: nothing kept
    sqlite_checkpoint(vault.engine)
    step("finish")
    return _result(req, resumed=resumed)


def _decide_step(vault: Vault, actor: Actor, s: subjects.Subject, op: Operation) -> None:
    """Each step is its own audited operation, so each records the decision that let it run."""
    authorise(actor, "rights", Resource(subject_id=s.id), register=vault.register, op=op)


def _result(req: requests.Request, *, resumed: bool) -> Erasure:
    kept = list(req.details.get("kept", []))
    return Erasure(req, int(req.details.get("deleted", 0)) + len(kept), kept,
                   req.details.get("notice"), resumed or bool(req.details.get("resumed")))


def delete_records_chunk(conn: Connection, subject_id: str, chunk: int) -> int:
    """Delete up to ``chunk`` of the subject's records that are not retained, in one statement."""
    ids = (
        select(record_t.c.id)
        .where(record_t.c.subject_id == subject_id)
        .where(~exists().where(retained_record.c.record_id == record_t.c.id))
        .limit(chunk)
    )
    return conn.execute(delete(record_t).where(record_t.c.id.in_(ids))).rowcount


def _retain(vault: Vault, conn: Connection, s: subjects.Subject, op: Operation) -> int:
    """Re-seal the records Art. 17(3) keeps under the subject's retained key; returns how many.

    Runs inside the begin step's transaction. Two probes of ``ix_record_subject_hold_purpose``,
    each O(kept): records under legal hold, and records of legal-obligation purposes.
    """
    legal = _legal_obligation_purposes(vault)
    not_yet = ~exists().where(retained_record.c.record_id == record_t.c.id)
    mine = select(record_t).where(record_t.c.subject_id == s.id)
    found = {r.id: r for r in conn.execute(
        mine.where(record_t.c.legal_hold.is_(True)).where(not_yet)
    )}
    if legal:
        found.update((r.id, r) for r in conn.execute(
            mine.where(record_t.c.legal_hold.in_([False, True]))
            .where(record_t.c.purpose.in_(legal)).where(not_yet)
        ))
    rows = list(found.values())
    if not rows:
        return 0
    kid = retained_key_id(s.id)
    # (the retained key commits in the key store first: a rollback here leaves an unused key,
    # which the finish step destroys if nothing was kept)
    rkey = vault.keys.get_key(kid) if vault.keys.has_key(kid) else vault.keys.create_key(kid)
    main = aead.Opener(vault.keys.get_key(s.id))
    now = vault.clock()
    for r in rows:
        plain = main.open(r.ciphertext, row_aad(r), what="record")
        conn.execute(
            update(record_t)
            .where(record_t.c.id == r.id)
            .values(**reseal_values(r, rkey, plain))
        )
    conn.execute(
        insert(retained_record),
        [{"record_id": r.id, "subject_id": s.id, "key_id": kid,
          "ground": _ground(r), "retained_at": now} for r in rows],
    )
    op.object_ids.extend(r.id for r in rows)
    return len(rows)


MAX_HOLD_REASON = 500


def set_legal_hold(
    vault: Vault, record_id: str, hold: bool, reason: str, *, actor: Actor
) -> bool:
    """Put a record under legal hold (or release it): an erasure then keeps it (Art. 17(3)(e))
    and the retention run skips it. Returns the hold now in force.

    The reason is required, so the decision can be justified later, but it is not personal data
    and must not become a way to store some: a reason in which the scanner finds personal data
    is refused, and the audit entry records only its length. The change re-seals the record
    (the hold is part of its associated data) in the same transaction.
    """
    with vault.operation(Operation("record.legal_hold", actor, object_ids=[record_id])) as (
        conn, op,
    ):
        authorise(actor, "legal_hold", register=vault.register, op=op)
        text = reason.strip() if isinstance(reason, str) else ""
        if not 1 <= len(text) <= MAX_HOLD_REASON:
            raise BadInput(
                f"give the reason for the legal hold (1 to {MAX_HOLD_REASON} characters)"
            )
        if vault.scan(text):
            raise BadInput("the reason appears to contain personal data; describe the legal "
                           "ground without naming anyone")
        row = _load(conn, record_id)
        op.subject_pseudonyms.append(subjects.by_id(conn, row.subject_id).pseudonym)
        op.details.update({"hold": bool(hold), "reason_chars": len(text)})
        if bool(row.legal_hold) == bool(hold):
            op.details["changed"] = False
            return bool(hold)
        kept = conn.execute(
            select(retained_record.c.key_id).where(retained_record.c.record_id == row.id)
        ).scalar_one_or_none()
        key = vault.keys.get_key(kept if kept is not None else row.subject_id)
        plain = aead.open_sealed(key, row.ciphertext, row_aad(row), what="record")
        res = conn.execute(
            update(record_t)
            .where(record_t.c.id == row.id, record_t.c.version == row.version)
            .values(**reseal_values(row, key, plain, legal_hold=bool(hold)))
        )
        if res.rowcount != 1:
            raise RequestConflict("the record changed meanwhile; try again")
        op.details["changed"] = True
    return bool(hold)


def read_retained(vault: Vault, record_id: str, *, actor: Actor) -> dict[str, Any]:
    """Open a record kept through an erasure, for the legal ground it was kept for (audited)."""
    with vault.operation(Operation("rights.retained.read", actor, object_ids=[record_id])) as (
        conn, op,
    ):
        authorise(actor, "rights", register=vault.register, op=op)
        row = _load(conn, record_id)
        kept = conn.execute(
            select(retained_record).where(retained_record.c.record_id == row.id)
        ).first()
        if kept is None:
            raise NotFound("no such retained record")
        op.subject_pseudonyms.append(subjects.by_id(conn, row.subject_id).pseudonym)
        op.details["ground"] = kept.ground
        raw = aead.open_sealed(
            vault.keys.get_key(kept.key_id), row.ciphertext, row_aad(row), what="record",
        )
    return json.loads(raw)


def purge_retained(vault: Vault, *, actor: Actor) -> dict[str, int]:
    """Delete kept records past their retention; destroy a retained key once nothing uses it.

    Called by the retention run. Also clears bookkeeping rows whose record another process
    already deleted.
    """
    with vault.operation(Operation("rights.retained.purge", actor)) as (conn, op):
        authorise(actor, "retention", register=vault.register, op=op)
        now = vault.clock()
        before = set(conn.execute(select(retained_record.c.subject_id).distinct()).scalars())
        expired = conn.execute(
            select(record_t.c.id)
            .join(retained_record, retained_record.c.record_id == record_t.c.id)
            .where(record_t.c.retain_until <= now)
        ).scalars().all()
        for i in range(0, len(expired), 500):
            chunk = expired[i:i + 500]
            conn.execute(delete(record_t).where(record_t.c.id.in_(chunk)))
        conn.execute(
            delete(retained_record).where(
                ~exists().where(record_t.c.id == retained_record.c.record_id)
            )
        )
        after = set(conn.execute(select(retained_record.c.subject_id).distinct()).scalars())
        op.object_ids.extend(expired)
        op.details["deleted"] = len(expired)
    destroyed = sum(vault.keys.destroy(retained_key_id(sid)) for sid in before - after)
    return {"deleted": len(expired), "keys_destroyed": destroyed}
