"""Changing the register: install a new one, record the new notice version, ask people again.

``apply_register`` is one audited core operation (role action ``register``). It validates the new
register, works out what changes for people (:mod:`confida.register.diff`), records the change in
the register history (``register-history/NNNNNN.json`` in the data dir: the new register's text,
its hash, the notice version it brings, the changes, the purposes whose subjects must be asked
again, and the consent ledger's high-water mark at that moment), then installs the file.

Who is asked again is derived, not stored per person (a per-person flag would be one more thing
an erasure must find): a subject is asked about a purpose named in an installed history entry

- when the purpose turned consent-based (``now-consent``) and the subject has records collected
  for it before the change, or
- when a consent-based purpose was widened (``widened``) and the subject's consent to it was in
  force at the change,

until the subject answers: any grant or withdrawal for that purpose recorded after the change
(the privacy center shows the question on its overview page). A consent given before a widening
stays recorded as given; what it covered is the notice version it names.

Crash safety: the history entry is written first, then the register, each to a temporary file
that is fsynced and renamed into place (:mod:`confida.safe_files`). An entry whose register never
got installed (the register in force is still the one it replaced) is ignored, and the next
``apply`` reuses its number; running ``apply`` again with the same file after a crash completes
it. The audit entry commits after both files are in place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, func, select

from confida import subject as subjects
from confida.authz import Resource, authorise
from confida.config import Config
from confida.consent import GRANT
from confida.operation import Actor, Operation
from confida.register.diff import NOW_CONSENT, WIDENED, RegisterDiff, diff_registers
from confida.register.loader import Problem, check_register_text
from confida.register.models import Register
from confida.safe_files import write_text
from confida.store.schema import consent_event, record, subject
from confida.subject import ERASED, ERASING
from confida.transparency.notice import backup_days, notice_version
from confida.vault import Vault

HISTORY_DIR = "register-history"

__all__ = ["ApplyResult", "ReconsentAsk", "apply_register", "history", "pending_reconsent"]


@dataclass(frozen=True)
class ApplyResult:
    diff: RegisterDiff
    installed: bool  # False when the register in force already had this content
    seq: int | None  # the history entry, when one was recorded
    notice_version: str
    previous_notice_version: str
    asked: dict[str, int] = field(default_factory=dict)  # purpose -> subjects asked again
    warnings: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class ReconsentAsk:
    """One purpose a subject is asked about again, and why."""

    purpose: str
    reason: str  # NOW_CONSENT | WIDENED
    prompt: str
    description: str
    since: datetime
    notice_version: str
    changes: list[str]


# --- the history ----------------------------------------------------------------------------


def history_dir(config: Config) -> Path:
    return config.data_dir / HISTORY_DIR


def history(config: Config) -> list[dict[str, Any]]:
    """Every recorded register change, oldest first (unreadable files are skipped)."""
    d = history_dir(config)
    out = []
    for p in sorted(d.glob("[0-9]*.json")) if d.is_dir() else []:
        try:
            entry = json.loads(p.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(entry, dict) and isinstance(entry.get("seq"), int):
            out.append(entry)
    return sorted(out, key=lambda e: e["seq"])


def _never_installed(entry: dict[str, Any], current: str) -> bool:
    """The register in force is still the one this entry replaced: its install did not happen
    (a crash between writing the entry and renaming the register into place)."""
    return entry.get("register_hash") != current and entry.get("previous_hash") == current


def installed_history(config: Config, register: Register) -> list[dict[str, Any]]:
    """The recorded changes that are in force for ``register`` (the one being enforced)."""
    entries = history(config)
    if entries and _never_installed(entries[-1], register.content_hash()):
        entries = entries[:-1]
    return entries


# --- apply ----------------------------------------------------------------------------------


def _consent_high_water(conn: Connection) -> int:
    return int(conn.execute(select(func.max(consent_event.c.id))).scalar() or 0)


def _live(q: Any) -> Any:
    return q.join(subject, subject.c.id == record.c.subject_id).where(
        subject.c.status.not_in([ERASED, ERASING]))


def _granted_at(conn: Connection, purpose: str, high: int) -> Any:
    """Subjects whose last consent event for ``purpose`` up to ``high`` is a grant (a query)."""
    last = (select(consent_event.c.subject_id, func.max(consent_event.c.id).label("last"))
            .where(consent_event.c.purpose == purpose, consent_event.c.id <= high)
            .group_by(consent_event.c.subject_id).subquery())
    return (select(consent_event.c.subject_id)
            .join(last, consent_event.c.id == last.c.last)
            .where(consent_event.c.action == GRANT))


def _count_asked(conn: Connection, reconsent: dict[str, str], high: int,
                 now: datetime) -> dict[str, int]:
    out = {}
    for purpose, reason in reconsent.items():
        if reason == NOW_CONSENT:
            q = _live(select(func.count(func.distinct(record.c.subject_id))).select_from(record)
                      ).where(record.c.purpose == purpose, record.c.created_at <= now)
            out[purpose] = int(conn.execute(q).scalar() or 0)
        else:
            granted = _granted_at(conn, purpose, high).subquery()
            q = (select(func.count()).select_from(granted)
                 .join(subject, subject.c.id == granted.c.subject_id)
                 .where(subject.c.status.not_in([ERASED, ERASING])))
            out[purpose] = int(conn.execute(q).scalar() or 0)
    return out


def apply_register(vault: Vault, text: str, *, source: str = "<register>",
                   actor: Actor) -> ApplyResult:
    """Validate and install ``text`` as the register (role action ``register``): record the
    change and its notice version in the register history, and ask again the subjects whose
    consent it touches. The vault enforces the new register from then on (other processes, a
    running ``confida serve`` among them, once restarted)."""
    with vault.operation(Operation("register.apply", actor)) as (conn, op):
        authorise(actor, "register", register=vault.register, op=op)
        check = check_register_text(text, source)
        new = check.raise_if_invalid()
        old = vault.register
        days = backup_days(vault.config)
        old_hash, new_hash = old.content_hash(), new.content_hash()
        old_notice, new_notice = notice_version(old, days), notice_version(new, days)
        d = diff_registers(old, new)
        entries = history(vault.config)
        pending = entries[-1] if entries and _never_installed(entries[-1], old_hash) else None
        op.details.update({"from": old_hash[:16], "to": new_hash[:16],
                           "notice_version": new_notice,
                           "previous_notice_version": old_notice})
        if old_hash == new_hash and pending is None:
            op.details["unchanged"] = True
            _install(vault.config, text)  # comments or layout only: nothing people see
            return ApplyResult(d, False, None, new_notice, old_notice, {}, check.warnings)
        now = vault.clock()
        high = _consent_high_water(conn)
        asked = _count_asked(conn, d.reconsent, high, now)
        seq = pending["seq"] if pending else (entries[-1]["seq"] + 1 if entries else 1)
        entry: dict[str, Any] = {
            "seq": seq, "applied_at": now.isoformat(), "actor": actor.id,
            "previous_hash": old_hash, "register_hash": new_hash,
            "previous_notice_version": old_notice, "notice_version": new_notice,
            "consent_high_water": high,
            "reconsent": d.reconsent,
            "reasons": {p: d.reasons(p) for p in d.reconsent},
            "changes": [c.as_dict() for c in d.changes],
            "register": text,
        }
        if not entries:
            entry["previous_register"] = _current_text(vault.config)
        _write_entry(vault.config, entry, replace=pending is not None)
        _install(vault.config, text)
        op.details.update({"changes": len(d.changes), "reconsent": asked, "history": seq})
    vault.register = new
    return ApplyResult(d, True, seq, new_notice, old_notice, asked, check.warnings)


def _current_text(config: Config) -> str | None:
    try:
        return config.register_path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _write_entry(config: Config, entry: dict[str, Any], *, replace: bool) -> None:
    d = history_dir(config)
    d.mkdir(mode=0o700, exist_ok=True)
    path = d / f"{entry['seq']:06d}.json"
    write_text(path, json.dumps(entry, ensure_ascii=False, indent=1) + "\n", force=replace)


def _install(config: Config, text: str) -> None:
    path = config.register_path
    try:
        if path.read_text("utf-8") == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    write_text(path, text, force=True)  # 0600, fsynced, renamed into place


# --- asking again ---------------------------------------------------------------------------


def _affected(conn: Connection, subject_id: str, purpose: str, entry: dict[str, Any]) -> bool:
    high = int(entry.get("consent_high_water") or 0)
    if entry["reconsent"][purpose] == NOW_CONSENT:
        at = datetime.fromisoformat(entry["applied_at"])
        q = select(record.c.id).where(record.c.subject_id == subject_id,
                                      record.c.purpose == purpose,
                                      record.c.created_at <= at).limit(1)
        return conn.execute(q).first() is not None
    q = _granted_at(conn, purpose, high).where(consent_event.c.subject_id == subject_id)
    return conn.execute(q).first() is not None


def _answered(conn: Connection, subject_id: str, purpose: str, entry: dict[str, Any]) -> bool:
    high = int(entry.get("consent_high_water") or 0)
    q = select(consent_event.c.id).where(and_(
        consent_event.c.subject_id == subject_id, consent_event.c.purpose == purpose,
        consent_event.c.id > high)).limit(1)
    return conn.execute(q).first() is not None


def pending_reconsent(vault: Vault, external_id: str = "", *, subject_id: str | None = None,
                      actor: Actor) -> list[ReconsentAsk]:
    """The purposes a subject is to be asked about again after a register change, until they
    answer (a grant or a withdrawal); an audited read (action ``consent``). ``subject_id``
    (Confida's own id, the privacy center's) replaces ``external_id`` when given."""
    with vault.read_operation(Operation("register.reconsent", actor)) as (conn, op):
        authorise(actor, "consent", Resource(subject_id=subject_id), register=vault.register,
                  op=op)
        s = (subjects.by_id(conn, subject_id) if subject_id is not None
             else subjects.find(vault, conn, external_id))
        if s is None or s.status in (ERASED, ERASING):
            return []
        op.subject_pseudonyms.append(s.pseudonym)
        reg = vault.register
        decided: set[str] = set()
        asks: list[ReconsentAsk] = []
        for entry in reversed(installed_history(vault.config, reg)):
            for purpose, reason in (entry.get("reconsent") or {}).items():
                p = reg.purposes.get(purpose)
                if purpose in decided or p is None or not p.consent_required \
                        or reason not in (NOW_CONSENT, WIDENED):
                    continue
                if not _affected(conn, s.id, purpose, entry):
                    continue
                decided.add(purpose)  # the newest change that touched them decides
                if not _answered(conn, s.id, purpose, entry):
                    asks.append(ReconsentAsk(
                        purpose, reason, p.consent_prompt or p.description, p.description,
                        datetime.fromisoformat(entry["applied_at"]),
                        str(entry.get("notice_version")),
                        list((entry.get("reasons") or {}).get(purpose) or [])))
        op.details["asked"] = sorted(a.purpose for a in asks)
    return asks

