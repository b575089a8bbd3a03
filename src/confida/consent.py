"""The consent ledger: append-only grants and withdrawals.

The current state is a query over the ledger (the latest event per subject and purpose), so the
history a DPO or a court asks for is the same data the engine decides on. Rows are never updated;
only erasure deletes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, insert, select

from confida import subject as subjects
from confida.authz import Resource, authorise
from confida.errors import BadInput, ConsentRequired
from confida.operation import Actor, Operation
from confida.store.schema import consent_event, notice_prompt
from confida.vault import Vault

GRANT, WITHDRAW = "grant", "withdraw"
SOURCES = ("api", "cli", "web", "import")


@dataclass(frozen=True)
class ConsentEvent:
    id: int
    purpose: str
    action: str
    at: datetime
    source: str
    notice_version: str | None


def _check_purpose(vault: Vault, purpose: str) -> None:
    p = vault.register.purpose(purpose)
    if not p.consent_required:
        raise BadInput(
            f"purpose {purpose!r} is based on {p.legal_basis.value}, not consent; "
            "there is no consent to grant or withdraw (use an objection for legitimate interests)"
        )


def record_event(
    vault: Vault,
    external_id: str,
    purpose: str,
    action: str,
    *,
    source: str = "api",
    notice_version: str | None = None,
    actor: Actor,
    subject_id: str | None = None,
) -> ConsentEvent:
    """Append a grant or withdrawal. ``subject_id`` (Confida's own id, used by the privacy
    center's subject tokens) replaces ``external_id`` when given."""
    # the log names only a known action, never what the caller typed
    name = action if action in (GRANT, WITHDRAW) else "event"
    with vault.operation(Operation(f"consent.{name}", actor, purpose)) as (conn, op):
        # Consent for a purpose is a decision about that purpose: a role records it only for
        # the purposes it may use; a subject only for themself.
        authorise(
            actor, "consent", Resource(purpose=purpose, subject_id=subject_id),
            register=vault.register, op=op,
        )
        if action not in (GRANT, WITHDRAW):
            raise BadInput("consent action is 'grant' or 'withdraw'")
        if source not in SOURCES:
            raise BadInput(f"consent source must be one of {', '.join(SOURCES)}")
        _check_purpose(vault, purpose)
        version = notice_version or vault.notice_version()
        s = (
            subjects.by_id(conn, subject_id)
            if subject_id is not None
            else subjects.get_or_create(vault, conn, external_id)
        )
        if action == GRANT:
            subjects.ensure_processable(s)
        op.subject_pseudonyms.append(s.pseudonym)
        now = vault.clock()
        res = conn.execute(
            insert(consent_event).values(
                subject_id=s.id, purpose=purpose, action=action, at=now, source=source,
                notice_version=version,
            )
        )
        event_id = int(res.inserted_primary_key[0])
        op.object_ids.append(f"consent:{event_id}")
        op.details["notice_version"] = version
    return ConsentEvent(event_id, purpose, action, now, source, version)


def grant(
    vault: Vault, external_id: str, purpose: str, *, actor: Actor, source: str = "api",
    notice_version: str | None = None, subject_id: str | None = None,
) -> ConsentEvent:
    return record_event(vault, external_id, purpose, GRANT, actor=actor, source=source,
                        notice_version=notice_version, subject_id=subject_id)


def withdraw(
    vault: Vault, external_id: str, purpose: str, *, actor: Actor, source: str = "api",
    notice_version: str | None = None, subject_id: str | None = None,
) -> ConsentEvent:
    return record_event(vault, external_id, purpose, WITHDRAW, actor=actor, source=source,
                        notice_version=notice_version, subject_id=subject_id)


def current_grants(
    conn: Connection, subject_ids: Iterable[str], purpose: str
) -> dict[str, int]:
    """subject id -> id of the grant in force for ``purpose`` (absent: no current consent)."""
    ids = list(subject_ids)
    out: dict[str, int] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        latest = (
            select(consent_event.c.subject_id, func.max(consent_event.c.id).label("last"))
            .where(consent_event.c.subject_id.in_(chunk), consent_event.c.purpose == purpose)
            .group_by(consent_event.c.subject_id)
            .subquery()
        )
        rows = conn.execute(
            select(consent_event.c.subject_id, consent_event.c.id, consent_event.c.action).join(
                latest, consent_event.c.id == latest.c.last
            )
        )
        for r in rows:
            if r.action == GRANT:
                out[r.subject_id] = r.id
    return out


def require_consent(conn: Connection, subject_id: str, purpose: str) -> int:
    grant_id = current_grants(conn, [subject_id], purpose).get(subject_id)
    if grant_id is None:
        raise ConsentRequired(
            f"purpose {purpose!r} requires the subject's consent and none is on record"
        )
    return grant_id


def _history(conn: Connection, subject_id: str) -> list[ConsentEvent]:
    rows = conn.execute(
        select(consent_event)
        .where(consent_event.c.subject_id == subject_id)
        .order_by(consent_event.c.id)
    ).all()
    return [
        ConsentEvent(r.id, r.purpose, r.action, r.at, r.source, r.notice_version) for r in rows
    ]


def show(
    vault: Vault,
    external_id: str | None = None,
    *,
    subject_id: str | None = None,
    actor: Actor,
    for_purpose: str | None = None,
) -> tuple[dict[str, dict[str, object]], list[ConsentEvent]]:
    """Current state and history, as an audited read (the ledger is personal data too)."""
    with vault.operation(Operation("consent.show", actor, for_purpose)) as (conn, op):
        authorise(
            actor, "consent", Resource(purpose=for_purpose, subject_id=subject_id),
            register=vault.register, op=op,
        )
        if subject_id is not None:
            s = subjects.by_id(conn, subject_id)
        else:
            s = subjects.find(vault, conn, external_id or "")
        events = _history(conn, s.id) if s is not None else []
        if s is not None:
            op.subject_pseudonyms.append(s.pseudonym)
        op.details["count"] = len(events)
    return state_from(vault, events), events


def state_from(vault: Vault, events: list[ConsentEvent]) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {
        name: {"granted": False, "since": None, "notice_version": None}
        for name, p in vault.register.purposes.items()
        if p.consent_required
    }
    for e in events:
        out[e.purpose] = {
            "granted": e.action == GRANT,
            "since": e.at.isoformat(),
            "notice_version": e.notice_version,
        }
    return out


def record_prompt(vault: Vault, external_id: str, purpose: str, *, actor: Actor) -> str:
    """Record that a subject was shown the current notice and asked again about ``purpose``.

    A consent given against an older notice stays in force (it was valid when given), but the
    compliance check wants the subject to have been asked again since the notice changed.
    Returns the notice version the subject was asked against.
    """
    with vault.operation(Operation("consent.prompt", actor, purpose)) as (conn, op):
        authorise(actor, "consent", Resource(purpose=purpose), register=vault.register, op=op)
        _check_purpose(vault, purpose)
        version = vault.notice_version()
        s = subjects.require(vault, conn, external_id)
        op.subject_pseudonyms.append(s.pseudonym)
        conn.execute(notice_prompt.insert().values(
            subject_id=s.id, purpose=purpose, notice_version=version, asked_at=vault.clock()))
        op.details["notice_version"] = version
    return str(version)
