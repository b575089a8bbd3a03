"""The record of processing activities (Art. 30(1) GDPR), one activity per purpose.

Fields follow Art. 30(1)(a)-(g). The technical and organisational measures (g) are not typed in
by hand: they are derived from what this installation actually does (its KEK provider, whether it
keeps a tamper-evident audit log, TLS), so the record cannot claim a measure that is not in place.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from dataclasses import asdict, dataclass
from typing import Any

from confida.config import Config
from confida.errors import BadInput
from confida.register.models import Contact, Register, SpecialCategoryCondition

FORMATS = ("csv", "json", "md")
DEFAULT_SUBJECTS = "Users of the service (account holders and people who use it)"


@dataclass(frozen=True)
class Activity:
    """One row of the record: the processing done for one purpose."""

    purpose: str
    controller: str  # (a) name and contact of the controller
    representative: str  # (a) ... of the representative, if any
    dpo: str  # (a) ... of the data protection officer, if any
    purpose_description: str  # (b) the purposes of the processing
    legal_basis: str  # (b) not listed in 30(1) but asked for by every authority's template
    compatible_with: list[str]  # (b) data collected for other purposes reused here (Art. 6(4))
    data_subjects: list[str]  # (c) categories of data subjects
    personal_data: list[str]  # (c) categories of personal data
    special_categories: list[str]  # (c) Art. 9 categories among them
    special_category_condition: str  # (c) the Art. 9(2) condition they are processed under
    recipients: list[str]  # (d) categories of recipients, incl. in third countries
    transfers: list[str]  # (e) transfers to third countries and their safeguards
    erasure_time_limit: str  # (f) envisaged time limits for erasure
    security_measures: list[str]  # (g) general description of the TOMs


def _contact(c: Contact | None) -> str:
    if c is None:
        return ""
    return ", ".join(x for x in (c.name, c.address, c.email, c.phone) if x)


def _condition(cond: SpecialCategoryCondition | None) -> str:
    if cond is None:
        return "none declared (Art. 9(1) prohibits the processing without one)"
    return f"{cond.article}: {cond.value.replace('_', ' ')}"


def security_measures(config: Config | None) -> list[str]:
    """Art. 32 measures in place, derived from the installation (see module docstring)."""
    tom = [
        "Encryption at rest: every record sealed with AES-256-GCM under a data key of its own "
        "data subject; associated data binds record id, subject, kind, version, purpose, retention "
        "deadline and legal hold, so altered or replayed metadata is refused",
        "Data keys stored only wrapped by a key-encryption key, in a key store separate from the "
        "record store (a database backup holds no key)",
        "Erasure by key destruction (crypto-shredding), reaching backups and copies",
        "Pseudonymisation: subjects found by an HMAC of their identifier and named in logs by a "
        "random pseudonym; the identifier itself is never stored",
        "Data minimisation enforced on collection: undeclared fields and categories a purpose "
        "may not use are dropped",
        "Access control by role and purpose (deny by default), with masking per role",
        "Consent gate: consent-based purposes refused without a current consent",
        "Retention deadlines set on collection and enforced by a scheduled deletion run",
        "Free text scanned for personal data; only types and counts are kept in clear",
        "Deleted database pages overwritten (SQLite secure_delete)",
    ]
    if config is not None:
        if config.kek_provider == "pkcs11":
            tom.append("Key-encryption key held in a hardware security module (PKCS#11)")
        else:
            tom.append("Key-encryption key in a file readable by the service owner only (0600)")
        tom.append(f"Key-encryption key rotated at least every {config.key_rotation_days} days")
    tom.append("Transport encryption: HTTPS with TLS 1.2 or later; plain HTTP only when "
               "explicitly requested behind a TLS-terminating proxy")
    # Claimed only where the log is wired into the vault (its sink), not merely when the library
    # is importable: the record must not claim a measure that is not running.
    if importlib.util.find_spec("confida.audit") and importlib.util.find_spec("confida.audit.sink"):
        tom.append("Tamper-evident audit log of every access (Merkle tree, signed checkpoints)")
    tom.append("Regular compliance audit of the live system against this register")
    return tom


def activities(register: Register, config: Config | None = None) -> list[Activity]:
    c = register.controller
    subjects_by_purpose = (register.notice or {}).get("data_subjects", {})
    tom = security_measures(config)
    out = []
    for name, p in register.purposes.items():
        personal = [
            f"{cat}: {register.categories[cat].description}"
            for cat in p.categories
            if register.categories[cat].personal
        ]
        special = [cat for cat in p.categories if register.categories[cat].special]
        limits = [f"{p.retention} after collection"]
        for k in p.kinds:
            cap = register.kinds[k].retention
            if cap is not None and cap.approx_days() < p.retention.approx_days():
                limits.append(f"{k}: {cap}")
        subjects = subjects_by_purpose.get(name) if isinstance(subjects_by_purpose, dict) else None
        out.append(
            Activity(
                purpose=name,
                controller=_contact(
                    Contact(name=c.name, address=c.address, email=c.email)
                ),
                representative=_contact(c.representative),
                dpo=_contact(c.dpo),
                purpose_description=" ".join(p.description.split()),
                legal_basis=f"{p.legal_basis.value} ({p.legal_basis.article})"
                + (f"; legitimate interest: {p.legitimate_interest}"
                   if p.legitimate_interest else ""),
                compatible_with=[
                    f"data collected for {orig}: {' '.join(reason.split())}"
                    for orig, reason in sorted(p.compatible_with.items())
                ],
                data_subjects=list(subjects) if subjects else [DEFAULT_SUBJECTS],
                personal_data=personal,
                special_categories=special,
                special_category_condition=_condition(p.special_category_condition)
                if special else "not applicable (no special category)",
                recipients=list(p.recipients)
                + [f"{t.recipient or 'recipient'} ({t.country})" for t in p.transfers],
                transfers=[
                    f"{t.country}: {t.recipient or 'recipient'}; safeguard: {t.safeguard}"
                    for t in p.transfers
                ],
                erasure_time_limit="; ".join(limits),
                security_measures=tom,
            )
        )
    return out


def render_ropa(register: Register, fmt: str = "md", config: Config | None = None) -> str:
    if fmt not in FORMATS:
        raise BadInput(f"record of processing format must be one of {', '.join(FORMATS)}")
    acts = activities(register, config)
    if fmt == "json":
        doc: dict[str, Any] = {
            "controller": register.controller.model_dump(),
            "register_version": register.content_hash(),
            "activities": [asdict(a) for a in acts],
        }
        return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        names = list(Activity.__dataclass_fields__)
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(names)
        for a in acts:
            row = asdict(a)
            w.writerow([_cell(row[n]) for n in names])
        return buf.getvalue()
    return _markdown(register, acts)


def _cell(v: Any) -> str:
    s = "; ".join(v) if isinstance(v, list) else str(v)
    # Spreadsheet formula injection: a cell must not start with a formula character.
    return "'" + s if s[:1] in ("=", "+", "-", "@") else s


def _markdown(register: Register, acts: list[Activity]) -> str:
    lines = [
        f"# Record of processing activities: {register.controller.name}",
        "",
        "Article 30(1) GDPR. Generated from the processing register "
        f"(version `{register.content_hash()[:16]}`).",
        "",
    ]
    labels = [
        ("controller", "(a) Controller"),
        ("representative", "(a) Representative"),
        ("dpo", "(a) Data protection officer"),
        ("purpose_description", "(b) Purpose"),
        ("legal_basis", "(b) Legal basis"),
        ("compatible_with", "(b) Further processing of data collected for another purpose "
                            "(Art. 6(4))"),
        ("data_subjects", "(c) Categories of data subjects"),
        ("personal_data", "(c) Categories of personal data"),
        ("special_categories", "(c) Special categories (Art. 9)"),
        ("special_category_condition", "(c) Condition for special categories (Art. 9(2))"),
        ("recipients", "(d) Categories of recipients"),
        ("transfers", "(e) Transfers to third countries and safeguards"),
        ("erasure_time_limit", "(f) Time limits for erasure"),
        ("security_measures", "(g) Technical and organisational security measures"),
    ]
    for a in acts:
        row = asdict(a)
        lines += [f"## Processing activity: {a.purpose}", ""]
        for key, label in labels:
            v = row[key]
            if isinstance(v, list):
                lines.append(f"- **{label}**:" + ("" if v else " none"))
                lines += [f"  - {x}" for x in v]
            else:
                lines.append(f"- **{label}**: {v or 'none'}")
        lines.append("")
    return "\n".join(lines)
