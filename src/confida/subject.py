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

from sqlalchemy import Connection, insert, select

from confida.errors import NotFound, SubjectErased, SubjectRestricted
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
    """
    ids = list(dict.fromkeys(external_ids))
    refs = {vault.subject_ref(x): x for x in ids}
    out: dict[str, Subject] = {}
    ref_list = sorted(refs)
    for i in range(0, len(ref_list), 500):
        chunk = ref_list[i : i + 500]
        # FOR UPDATE (PostgreSQL; SQLite's write lock already serialises): a concurrent
        # erasure waits for this transaction, or this one sees its status and is refused.
        # Rows are locked in ref order, so two batches never wait on each other in a cycle.
        q = (
            select(subject_t)
            .where(subject_t.c.ref.in_(chunk))
            .order_by(subject_t.c.ref)
            .with_for_update()
        )
        for row in conn.execute(q):
            out[refs[row.ref]] = _from_row(row)
    missing = [r for r, x in refs.items() if x not in out]
    if missing:
        now = vault.clock()
        new = {
            r: Subject(str(uuid.uuid4()), secrets.token_hex(16), ACTIVE, now) for r in missing
        }
        vault.keys.create_keys(s.id for s in new.values())
        conn.execute(
            insert(subject_t),
            [
                {"id": s.id, "ref": r, "pseudonym": s.pseudonym, "status": ACTIVE,
                 "created_at": now}
                for r, s in new.items()
            ],
        )
        for r, s in new.items():
            out[refs[r]] = s
    return out


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
