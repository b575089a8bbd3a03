"""Pseudonymous references handed to downstream systems (datasets, processors, caches).

Recording them lets an erasure or a withdrawal say to each system which of *its* references to
drop, without telling it who the person was.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, insert, select

from confida.store.schema import downstream_ref
from confida.vault import Vault


def record_refs(
    vault: Vault, conn: Connection, system: str, refs: Iterable[tuple[str, str]]
) -> None:
    """Store (subject id, reference) pairs given to ``system``."""
    now = vault.clock()
    rows = [
        {"subject_id": sid, "system": system, "reference": ref, "created_at": now}
        for sid, ref in refs
    ]
    if rows:
        conn.execute(insert(downstream_ref), rows)


def refs_of(conn: Connection, subject_id: str) -> list[dict[str, str]]:
    rows = conn.execute(
        select(downstream_ref.c.system, downstream_ref.c.reference)
        .where(downstream_ref.c.subject_id == subject_id)
        .order_by(downstream_ref.c.id)
    ).all()
    return [{"system": r.system, "reference": r.reference} for r in rows]
