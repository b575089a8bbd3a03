"""Storage limitation (Art. 5(1)(e)): delete what is past its purpose's retention.

Each record carries ``retain_until``, set on collection from the shorter of its purpose's and its
kind's retention. A run deletes every record past that deadline, except:

- records under ``legal_hold`` (kept for legal claims), and
- records of a *restricted* subject: Art. 18(1)(c) restriction exists precisely so that data the
  controller no longer needs is kept for the subject's legal claims; restriction suspends deletion.

A record collected for a consent-based purpose whose consent has been withdrawn is deleted by
the same run, whatever its deadline: it may no longer be processed for anything.

A subject with no record left, no consent in force and no open request needs no key any more (one
emptied by this run, or one an earlier run kept for a consent or request that has since ended): the
run destroys the subject's data key (crypto-shredding), clears its ``ref`` (so a returning person
is a new subject with a new key) and sets its status to ``expired``. That is deliberately *not*
``erased``: nobody asked for erasure (Art. 17), the data simply reached its end. The consent
ledger rows stay, pseudonymous, as the record that consent was obtained (Art. 7(1)).

The key store is a separate database, so keys are destroyed after the record store commits; a
crash in between leaves an ``expired`` subject with a key, which the next run destroys.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, func, select, update

from confida import request as requests
from confida.authz import authorise
from confida.consent import GRANT, current_grants
from confida.operation import Actor, Operation
from confida.store.schema import consent_event, record, subject
from confida.vault import Vault

EXPIRED = "expired"
BATCH = 500


@dataclass
class RetentionReport:
    ran_at: datetime
    removed: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> purpose -> n
    removed_total: int = 0
    kept_legal_hold: int = 0
    kept_restricted: int = 0
    keys_destroyed: int = 0
    retained_keys_destroyed: int = 0  # erased subjects' retained-record keys (rights module)

    def as_rows(self) -> list[dict[str, object]]:
        return [
            {"kind": k, "purpose": p, "removed": n}
            for k, by_p in sorted(self.removed.items())
            for p, n in sorted(by_p.items())
        ]


def _with_current_consent(conn: Connection, ids: list[str]) -> set[str]:
    out: set[str] = set()
    for i in range(0, len(ids), BATCH):
        chunk = ids[i : i + BATCH]
        latest = (
            select(func.max(consent_event.c.id).label("last"))
            .where(consent_event.c.subject_id.in_(chunk))
            .group_by(consent_event.c.subject_id, consent_event.c.purpose)
            .subquery()
        )
        rows = conn.execute(
            select(consent_event.c.subject_id)
            .join(latest, consent_event.c.id == latest.c.last)
            .where(consent_event.c.action == GRANT)
        )
        out |= {r[0] for r in rows}
    return out


def _consent_ended(vault: Vault, conn: Connection, now: datetime, restricted: Any) -> list[Any]:
    """Records collected under a consent that is no longer in force (Art. 7(3), 17(1)(b)).

    Such data may be processed for nothing, so it is deleted at once rather than at its
    deadline; legal hold and restriction keep it as they keep any record.
    """
    out: list[Any] = []
    for name, p in sorted(vault.register.purposes.items()):
        if not p.consent_required:
            continue
        rows = conn.execute(
            select(record.c.id, record.c.subject_id, record.c.kind, record.c.purpose).where(
                record.c.purpose == name, record.c.retain_until > now,
                record.c.legal_hold.is_(False), record.c.subject_id.not_in(restricted),
            )
        ).all()
        if rows:
            granted = current_grants(conn, {r.subject_id for r in rows}, name)
            out += [r for r in rows if r.subject_id not in granted]
    return out


def run_retention(
    vault: Vault, now: datetime | None = None, *, actor: Actor
) -> RetentionReport:
    """Delete everything past its retention; see the module docstring for what is kept."""
    with vault.operation(Operation("retention.run", actor)) as (conn, op):
        authorise(actor, "retention", register=vault.register, op=op)
        now = now or vault.clock()
        report = RetentionReport(ran_at=now)
        counts: Counter[tuple[str, str]] = Counter()
        due = and_(record.c.retain_until <= now)
        report.kept_legal_hold = int(
            conn.execute(
                select(func.count()).select_from(record).where(due, record.c.legal_hold.is_(True))
            ).scalar_one()
        )
        restricted = select(subject.c.id).where(subject.c.status == "restricted")
        report.kept_restricted = int(
            conn.execute(
                select(func.count()).select_from(record).where(
                    due, record.c.legal_hold.is_(False), record.c.subject_id.in_(restricted)
                )
            ).scalar_one()
        )
        rows = conn.execute(
            select(record.c.id, record.c.subject_id, record.c.kind, record.c.purpose).where(
                due, record.c.legal_hold.is_(False), record.c.subject_id.not_in(restricted)
            )
        ).all()
        rows += _consent_ended(vault, conn, now, restricted)
        ids = [r.id for r in rows]
        for i in range(0, len(ids), BATCH):
            conn.execute(delete(record).where(record.c.id.in_(ids[i : i + BATCH])))
        for r in rows:
            counts[(r.kind, r.purpose)] += 1
        # Every active subject with nothing left: emptied by this run, or kept by an earlier run
        # for a consent or a request that has since ended.
        # On PostgreSQL the rows are locked first (a collect in flight holds a key-share lock on
        # its subject until it commits), then emptiness is checked again on committed data.
        no_record = ~exists().where(record.c.subject_id == subject.c.id)
        locked = list(conn.execute(
            select(subject.c.id).where(subject.c.status == "active", no_record).with_for_update()
        ).scalars())
        empty = []
        for i in range(0, len(locked), BATCH):
            empty += list(conn.execute(
                select(subject.c.id).where(subject.c.id.in_(locked[i : i + BATCH]), no_record)
            ).scalars())
        keep = _with_current_consent(conn, empty) | requests.subjects_with_open_requests(
            conn, empty)
        expire = [s for s in empty if s not in keep]
        pseudonyms: list[str] = []
        for i in range(0, len(expire), BATCH):
            chunk = expire[i : i + BATCH]
            pseudonyms += [
                p for (p,) in conn.execute(
                    select(subject.c.pseudonym).where(
                        subject.c.id.in_(chunk), subject.c.status == "active"
                    )
                )
            ]
            conn.execute(
                update(subject)
                .where(subject.c.id.in_(chunk), subject.c.status == "active")
                .values(status=EXPIRED, ref=None, status_changed_at=now)
            )
        leftover = [
            s for (s,) in conn.execute(select(subject.c.id).where(subject.c.status == EXPIRED))
        ]
        op.subject_pseudonyms.extend(sorted(pseudonyms))
        op.details.update(
            {
                "removed": sum(counts.values()),
                "by_kind_purpose": {f"{k}/{p}": n for (k, p), n in sorted(counts.items())},
                "kept_legal_hold": report.kept_legal_hold,
                "kept_restricted": report.kept_restricted,
                "subjects_expired": len(pseudonyms),
            }
        )
    for kind, purpose in counts:
        report.removed.setdefault(kind, {})[purpose] = counts[(kind, purpose)]
    report.removed_total = sum(counts.values())
    for sid in _with_keys(vault, leftover):
        if vault.keys.destroy(sid):
            report.keys_destroyed += 1
    purge = _rights_purge()
    if purge is not None:
        # Records an erasure kept (Art. 17(3)) were deleted above when due; the rights module
        # clears their bookkeeping and destroys a retained key nothing uses any more.
        report.retained_keys_destroyed = int(purge(vault, actor=actor)["keys_destroyed"])
    return report


def _rights_purge() -> Any:
    """``confida.rights.erasure.purge_retained`` when the rights module is installed."""
    try:
        from confida.rights.erasure import purge_retained
    except ImportError:
        return None
    return purge_retained


def _with_keys(vault: Vault, ids: list[str]) -> list[str]:
    from confida.store.keyschema import data_key

    out: list[str] = []
    with vault.key_engine.connect() as kconn:
        for i in range(0, len(ids), BATCH):
            chunk = ids[i : i + BATCH]
            out += [
                k for (k,) in kconn.execute(
                    select(data_key.c.key_id).where(data_key.c.key_id.in_(chunk))
                )
            ]
    return out
