"""Is processing this subject's data for this purpose lawful *now*?

:func:`confida.authz.authorise` decides from the register who may act for which purpose; what
it cannot know is stored state that changes under it: an objection (Art. 21), a restriction
(Art. 18), a consent withdrawn (Art. 7(3)). These checks run in the same transaction as the
processing they guard, after the access decision, and their refusals are audited the same way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from confida.errors import ObjectionRecorded
from confida.register.models import LegalBasis, Register
from confida.store.schema import objection

OBJECTABLE = frozenset({LegalBasis.legitimate_interests, LegalBasis.public_task})


def check_objection(register: Register, conn: Connection, subject: Any, purpose: str) -> None:
    """Refuse processing for ``purpose`` if the subject objected to it (one indexed query)."""
    p = register.purposes.get(purpose)
    if p is None or p.legal_basis not in OBJECTABLE:
        return
    row = conn.execute(
        select(objection.c.id).where(
            objection.c.subject_id == subject.id, objection.c.purpose == purpose
        )
    ).first()
    if row is not None:
        raise ObjectionRecorded(
            f"the subject objected to processing for purpose {purpose!r} (Art. 21 GDPR); "
            "it has stopped"
        )
