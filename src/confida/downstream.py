"""Pseudonymous references handed to downstream systems (datasets, processors, caches).

Recording them lets an erasure or a withdrawal say to each system which of *its* references to
drop, without telling it who the person was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from confida import subject as subjects
from confida.authz import authorise
from confida.errors import BadInput, NotFound, SubjectErased
from confida.operation import Actor, Operation
from confida.store.schema import downstream_ref
from confida.vault import Vault

#: A system is named by the host (``chat-cache``, ``crm:eu``); ``dataset:`` is the training
#: export's own prefix and not for hosts.
SYSTEM = re.compile(r"^[a-z][a-z0-9_.-]{0,62}(:[A-Za-z0-9_.-]{1,63})?$")
#: A reference is the system's own opaque key for the person: never an e-mail, a name or the
#: host's subject id (the feed is read by systems that must not learn who was erased).
REFERENCE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


@dataclass(frozen=True)
class Reference:
    system: str
    reference: str
    created: bool  # False: it was on record already (the call is idempotent)


def register_reference(
    vault: Vault, external_id: str, system: str, reference: str, *, actor: Actor
) -> Reference:
    """Record that ``system`` holds data about the subject under its own ``reference``, so that
    the subject's erasure notice in the feed tells that system which of *its* references to
    drop, without naming the person (role action ``rights``, like reading the feed).

    The subject must exist (nothing is created for a reference). A reference in which the
    scanner finds personal data, or that is the host's subject id itself, is refused: it would
    tell every reader of the feed who was erased.
    """
    with vault.operation(Operation("downstream.register_reference", actor)) as (conn, op):
        authorise(actor, "rights", register=vault.register, op=op)
        if not isinstance(system, str) or not SYSTEM.match(system) or system.startswith(
                "dataset:"):
            raise BadInput("system is a short lower-case name such as `chat-cache` (letters, "
                           "digits, `_.-`, an optional `:qualifier`; `dataset:` is reserved)")
        if not isinstance(reference, str) or not REFERENCE.match(reference):
            raise BadInput("reference is the system's own opaque key for the person: 1 to 128 "
                           "letters, digits or `_.:-`")
        if (reference == external_id or vault.scan(reference)
                or "PERSON" in vault.scan(reference.replace("_", " "))):  # Jane_Doe
            raise BadInput("the reference appears to contain personal data or the subject id; "
                           "use the system's own opaque key (e.g. a random id)")
        s = subjects.find(vault, conn, external_id)
        if s is None:
            raise NotFound("no such subject")
        if s.status in (subjects.ERASED, subjects.ERASING):
            raise SubjectErased("the subject was erased")
        op.subject_pseudonyms.append(s.pseudonym)
        op.details["system"] = system
        known = conn.execute(
            select(downstream_ref.c.id).where(downstream_ref.c.subject_id == s.id,
                                              downstream_ref.c.system == system,
                                              downstream_ref.c.reference == reference)
        ).first()
        if known is None:
            record_refs(vault, conn, system, [(s.id, reference)])
        op.details["created"] = known is None
    return Reference(system, reference, known is None)


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
