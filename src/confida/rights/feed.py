"""The erasure feed: what downstream systems must forget, without saying who it was.

Every erasure appends one notice. A notice holds only the pseudonymous references each downstream
system (a training dataset, a processor, a cache) was given for the subject, so a consumer learns
"drop reference X from system S" and nothing else: no subject id, no pseudonym of the audit log,
no personal value. Consumers poll with a ``since`` cursor (the last notice id they processed).

Cursor order: notice ids must become visible in order, or a consumer could skip one that commits
late. On PostgreSQL the appending transaction takes an exclusive lock on the feed table, so
notices are appended one at a time (erasures are rare; the lock is held for one insert); SQLite's
single writer already guarantees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, text

from confida.authz import authorise
from confida.errors import BadInput
from confida.operation import Actor, Operation
from confida.store.schema import erasure_notice
from confida.vault import Vault

MAX_PAGE = 10_000


@dataclass(frozen=True)
class ErasureNotice:
    id: int
    at: datetime
    references: list[dict[str, str]]


def append(
    vault: Vault, conn: Connection, request_id: str, refs: list[dict[str, str]]
) -> int:
    """Append the notice for ``request_id`` once (a re-run erasure finds it already there).

    The lock comes before the look-up: two runs of the same erasure at once would otherwise
    both find no notice and the second insert would break ``uq_erasure_notice_request_id``.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE erasure_notice IN EXCLUSIVE MODE"))
    existing = conn.execute(
        select(erasure_notice.c.id).where(erasure_notice.c.request_id == request_id)
    ).first()
    if existing is not None:
        return int(existing.id)
    res = conn.execute(
        insert(erasure_notice).values(request_id=request_id, at=vault.clock(), refs=refs)
    )
    return int(res.inserted_primary_key[0])


def erasure_feed(
    vault: Vault, since: int = 0, limit: int = 1000, *, actor: Actor
) -> list[ErasureNotice]:
    """Notices after cursor ``since``, oldest first; pass the last id back as the next cursor.

    Role action ``rights``: the feed names no subject, but which systems held references is
    itself something only the staff handling rights need to see.
    """
    with vault.operation(Operation("rights.erasure_feed", actor)) as (conn, op):
        authorise(actor, "rights", register=vault.register, op=op)
        if isinstance(since, bool) or not isinstance(since, int) or since < 0:
            raise BadInput("--since is a notice id, 0 or more")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise BadInput(f"limit is 1 to {MAX_PAGE}")
        op.details.update({"since": since})
        rows = conn.execute(
            select(erasure_notice.c.id, erasure_notice.c.at, erasure_notice.c.refs)
            .where(erasure_notice.c.id > since)
            .order_by(erasure_notice.c.id)
            .limit(limit)
        ).all()
        op.details["count"] = len(rows)
    return [ErasureNotice(int(r.id), r.at, _refs(r.refs)) for r in rows]


def _refs(value: Any) -> list[dict[str, str]]:
    return [{"system": str(x["system"]), "reference": str(x["reference"])} for x in value or []]
