"""Data subjects: found by an HMAC of the host's id, named in logs by a random pseudonym.

The host application's identifier (often an e-mail address or a user id) is never stored. A
subject whose data was erased loses its ``ref``: if the person comes back, they are a new subject
with a new key, and nothing links the two.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from confida.errors import (
    ConfidaError,
    NotFound,
    StoreUnavailable,
    SubjectErased,
    SubjectRestricted,
)
from confida.store.conflict import insert_for
from confida.store.schema import subject as subject_t
from confida.vault import Vault

ACTIVE, RESTRICTED, ERASED = "active", "restricted", "erased"
# An erasure in progress (confida.rights.erasure): nothing new may be stored or processed, and a
# re-run of the erasure finishes it.
ERASING = "erasing"


@dataclass(frozen=True)
class Subject:
    id: str
    pseudonym: str
    status: str
    created_at: datetime


def _from_row(row: object) -> Subject:
    m = row._mapping  # type: ignore[attr-defined]
    return Subject(m["id"], m["pseudonym"], m["status"], m["created_at"])


def find(vault: Vault, conn: Connection, external_id: str) -> Subject | None:
    ref = vault.subject_ref(external_id)
    row = conn.execute(select(subject_t).where(subject_t.c.ref == ref)).first()
    return _from_row(row) if row else None


def require(vault: Vault, conn: Connection, external_id: str) -> Subject:
    s = find(vault, conn, external_id)
    if s is None:
        raise NotFound("no such subject")
    return s


def get_or_create(vault: Vault, conn: Connection, external_id: str) -> Subject:
    return get_or_create_many(vault, conn, [external_id])[external_id]


def get_or_create_many(
    vault: Vault, conn: Connection, external_ids: Iterable[str]
) -> dict[str, Subject]:
    """Resolve many subjects with one query; new ones get a data key first.

    The key is created (and committed in the key store) before the subject row: a crash in
    between leaves an unused key, never a subject whose data could not be encrypted.

    Race-free: new rows go in with ``INSERT ... ON CONFLICT (ref) DO NOTHING``, so when two
    transactions create the same person at once, one row wins and the other transaction uses
    it (the row's ``id`` names the data key, so everyone encrypts under the winner's key). The
    loser's freshly made keys name ids no row will ever hold; they are destroyed at once.
    """
    ids = list(dict.fromkeys(external_ids))
    refs = {vault.subject_ref(x): x for x in ids}
    out: dict[str, Subject] = {}
    ref_list = sorted(refs)
    for i in range(0, len(ref_list), _CHUNK):
        for s_ref, s in _locked(conn, ref_list[i : i + _CHUNK]).items():
            out[refs[s_ref]] = s
    missing = sorted(r for r, x in refs.items() if x not in out)
    for _attempt in range(_ATTEMPTS):
        if not missing:
            return out
        now = vault.clock()
        new = {
            r: Subject(str(uuid.uuid4()), secrets.token_hex(16), ACTIVE, now) for r in missing
        }
        vault.keys.create_keys(s.id for s in new.values())
        won: set[str] = set()
        for i in range(0, len(missing), _CHUNK):
            won |= _insert_new(conn, {r: new[r] for r in missing[i : i + _CHUNK]})
        for r in won:
            out[refs[r]] = new[r]
        lost = [r for r in missing if r not in won]
        if lost:
            _discard_keys(vault, [new[r].id for r in lost])
            # Created by a concurrent transaction that has committed by now: use its row,
            # locked like the others. One that is already gone again (erased in between)
            # is created afresh on the next attempt.
            for i in range(0, len(lost), _CHUNK):
                for s_ref, s in _locked(conn, lost[i : i + _CHUNK]).items():
                    out[refs[s_ref]] = s
        missing = [r for r in lost if refs[r] not in out]
    if missing:
        raise StoreUnavailable("a new subject kept being created and erased concurrently; "
                               "retry the request")
    return out


_CHUNK = 500
_ATTEMPTS = 3


def _locked(conn: Connection, refs: list[str]) -> dict[str, Subject]:
    """The subjects with these refs, row-locked until the transaction ends.

    FOR UPDATE (PostgreSQL; SQLite's write lock already serialises): a concurrent erasure
    waits for this transaction, or this one sees its status and is refused. Rows are locked
    in ref order, so two batches never wait on each other in a cycle.
    """
    q = (
        select(subject_t)
        .where(subject_t.c.ref.in_(refs))
        .order_by(subject_t.c.ref)
        .with_for_update()
    )
    return {row.ref: _from_row(row) for row in conn.execute(q)}


def _insert_new(conn: Connection, new: dict[str, Subject]) -> set[str]:
    """Insert the rows no other transaction inserted first; the refs this one won.

    One statement, in ref order: on PostgreSQL a conflicting row another transaction has not
    committed yet makes this one wait for it, then skip it; nothing raises IntegrityError.
    """
    stmt = (
        insert_for(conn, subject_t)
        .values(
            [
                {"id": s.id, "ref": r, "pseudonym": s.pseudonym, "status": s.status,
                 "created_at": s.created_at}
                for r, s in sorted(new.items())
            ]
        )
        .on_conflict_do_nothing(index_elements=[subject_t.c.ref])
        .returning(subject_t.c.ref)
    )
    return set(conn.execute(stmt).scalars())


def _discard_keys(vault: Vault, key_ids: list[str]) -> None:
    """Destroy data keys made for subject rows that lost the race.

    Harmless if this fails: nothing was ever sealed under them and no row names their ids,
    so they open nothing; removing them only keeps the key store tidy.
    """
    for key_id in key_ids:
        try:
            vault.keys.destroy(key_id)
        except ConfidaError:
            return


def by_id(conn: Connection, subject_id: str) -> Subject:
    row = conn.execute(select(subject_t).where(subject_t.c.id == subject_id)).first()
    if row is None:
        raise NotFound("no such subject")
    return _from_row(row)


def ensure_processable(s: Subject) -> None:
    """Restricted or erased subjects' data is only stored, never processed (Art. 18, 17)."""
    if s.status == RESTRICTED:
        raise SubjectRestricted(
            "processing of this subject's data is restricted (Art. 18 GDPR); "
            "it may only be stored until the restriction is lifted"
        )
    if s.status == ERASED:
        raise SubjectErased("this subject's data has been erased")
    if s.status == ERASING:
        raise SubjectErased("this subject's data is being erased")
