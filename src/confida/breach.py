"""Personal-data breaches (Art. 33 and 34 GDPR).

An incident is registered with what is known: when it was discovered, which record kinds, which
time window (records collected or changed within it) and which keys it touched. Confida computes
the subjects, records and categories affected from the store (the given filters intersect; none
given means the whole store), starts the 72-hour clock of Art. 33(1) and drafts the notification
with the content Art. 33(3) asks for.

Art. 34(3)(a): individuals need not be told when the data was unintelligible to the attacker.
Every record is AES-256-GCM ciphertext under its subject's data key, and data keys exist only
wrapped by the key-encryption key in a separate key store. So the data stayed unintelligible
unless plaintext itself leaked, or both a KEK version and the key store were compromised.

The free-text fields (description, consequences, measures) describe an incident and can name the
people in it, so they are stored sealed (AES-256-GCM under the installation key
``breach-notes``, bound to the breach id and the field) and opened only by an audited read. The
title is listed everywhere and stays short: one that holds personal data is refused.

Every public function decides first (role action ``breach``), inside its audited operation.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, insert, or_, select, update

from confida.authz import authorise
from confida.crypto import aead
from confida.errors import BadInput, NotFound
from confida.operation import Actor, Operation
from confida.request import refuse_personal_data
from confida.store.keyschema import data_key, kek_version
from confida.store.schema import breach as breach_t
from confida.store.schema import breach_subject, record
from confida.vault import Vault

DEADLINE = timedelta(hours=72)
MAX_TEXT = 4000
NOTES_KEY = "breach-notes"
SEALED = "sealed:v1:"  # prefix of a sealed free-text column
SEALED_FIELDS = ("description", "consequences", "measures")


@dataclass(frozen=True)
class Breach:
    id: str
    title: str
    description: str
    discovered_at: datetime
    occurred_from: datetime | None
    occurred_to: datetime | None
    kinds: list[str]
    kek_versions: list[str]
    key_store_exposed: bool
    plaintext_exposed: bool
    affected_subjects: int
    affected_records: int
    categories: list[str]
    consequences: str | None
    measures: str | None
    created_at: datetime
    authority_notified_at: datetime | None
    subjects_notified_at: datetime | None
    deadline: datetime = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "deadline", self.discovered_at + DEADLINE)

    @property
    def keys_compromised(self) -> bool:
        return bool(self.kek_versions) and self.key_store_exposed

    @property
    def individual_notice_required(self) -> bool:
        """False when Art. 34(3)(a) applies: encrypted, and the keys were not compromised."""
        return self.plaintext_exposed or self.keys_compromised

    def overdue(self, now: datetime) -> bool:
        return self.authority_notified_at is None and now > self.deadline

    def hours_left(self, now: datetime) -> float:
        return round((self.deadline - now).total_seconds() / 3600, 1)


def _notes_aad(breach_id: str, name: str) -> bytes:
    return aead.associated_data("breach", breach_id, name)


def _seal(key: bytes, breach_id: str, name: str, text: str | None) -> str | None:
    if text is None:
        return None
    sealed = aead.seal(key, text.encode("utf-8"), _notes_aad(breach_id, name))
    return SEALED + base64.b64encode(sealed).decode("ascii")


def _open(key: bytes, breach_id: str, name: str, stored: str | None) -> str | None:
    if stored is None or not stored.startswith(SEALED):
        return stored  # written before the fields were sealed
    raw = base64.b64decode(stored.removeprefix(SEALED))
    return aead.open_sealed(key, raw, _notes_aad(breach_id, name), what="breach notes").decode()


def _row_to_breach(vault: Vault, r: object) -> Breach:
    m = dict(r._mapping)  # type: ignore[attr-defined]
    key = vault.system_key(NOTES_KEY)
    for name in SEALED_FIELDS:
        m[name] = _open(key, m["id"], name, m[name])
    return Breach(**m)


def _text(value: str | None, what: str, required: bool = False) -> str | None:
    if value is None or not value.strip():
        if required:
            raise BadInput(f"{what} is required")
        return None
    if len(value) > MAX_TEXT:
        raise BadInput(f"{what} is at most {MAX_TEXT} characters")
    return value.strip()


def _key_subjects(vault: Vault, versions: Sequence[str]) -> set[str]:
    """Subjects whose data key was wrapped under one of ``versions`` at some point.

    Keys re-wrapped by a later rotation were wrapped under the old version before: every key
    created before that version was superseded counts.
    """
    with vault.key_engine.connect() as kconn:
        all_versions = kconn.execute(
            select(kek_version.c.version, kek_version.c.created_at)
            .order_by(kek_version.c.created_at)
        ).all()
        known = [v for v, _ in all_versions]
        unknown = [v for v in versions if v not in known]
        if unknown:
            raise BadInput(f"unknown KEK version(s) {', '.join(unknown)}; known: "
                           f"{', '.join(known)}")
        conds = [data_key.c.kek_version.in_(list(versions))]
        for i, (v, _created) in enumerate(all_versions):
            if v in versions and i + 1 < len(all_versions):
                conds.append(data_key.c.created_at <= all_versions[i + 1][1])
        rows = kconn.execute(select(data_key.c.key_id).where(or_(*conds))).all()
    return {r[0] for r in rows if not r[0].startswith("system:")}


def compute_affected(
    vault: Vault,
    conn: Connection,
    *,
    kinds: Sequence[str] = (),
    occurred_from: datetime | None = None,
    occurred_to: datetime | None = None,
    kek_versions: Sequence[str] = (),
) -> tuple[set[str], int, list[str]]:
    """(subject ids, record count, personal categories) the incident touched."""
    for k in kinds:
        vault.register.kind(k)
    q = select(record.c.subject_id, record.c.kind, record.c.purpose)
    if kinds:
        q = q.where(record.c.kind.in_(list(kinds)))
    if occurred_from or occurred_to:
        lo = occurred_from or datetime.min.replace(tzinfo=occurred_to.tzinfo)  # type: ignore[union-attr]
        hi = occurred_to or vault.clock()
        q = q.where(or_(and_(record.c.created_at >= lo, record.c.created_at <= hi),
                        and_(record.c.updated_at >= lo, record.c.updated_at <= hi)))
    keyed = _key_subjects(vault, kek_versions) if kek_versions else None
    subjects: set[str] = set()
    pairs: set[tuple[str, str]] = set()
    n = 0
    for sid, kind, purpose in conn.execute(q):
        if keyed is not None and sid not in keyed:
            continue
        n += 1
        subjects.add(sid)
        pairs.add((kind, purpose))
    # The categories a record can hold: its kind's fields that its purpose may use (minimisation
    # dropped the rest on collection). Values are not decrypted to find out more.
    reg = vault.register
    cats = sorted({
        spec.category
        for k, p in pairs if k in reg.kinds and p in reg.purposes
        for spec in reg.kinds[k].fields.values()
        if reg.categories[spec.category].personal
        and spec.category in reg.purposes[p].categories
    })
    return subjects, n, cats


def register_breach(
    vault: Vault,
    *,
    title: str,
    description: str,
    discovered_at: datetime | None = None,
    occurred_from: datetime | None = None,
    occurred_to: datetime | None = None,
    kinds: Iterable[str] = (),
    kek_versions: Iterable[str] = (),
    key_store_exposed: bool = False,
    plaintext_exposed: bool = False,
    consequences: str | None = None,
    measures: str | None = None,
    actor: Actor,
) -> Breach:
    with vault.operation(Operation("breach.register", actor)) as (conn, op):
        authorise(actor, "breach", register=vault.register, op=op)
        now = vault.clock()
        discovered = discovered_at or now
        for name, ts in (("discovered_at", discovered), ("occurred_from", occurred_from),
                         ("occurred_to", occurred_to)):
            if ts is not None and ts.tzinfo is None:
                raise BadInput(f"{name} needs a time zone (e.g. 2026-01-31T10:00:00Z)")
        if discovered > now + timedelta(minutes=5):
            raise BadInput("discovered_at is in the future")
        if occurred_from and occurred_to and occurred_from > occurred_to:
            raise BadInput("occurred_from is after occurred_to")
        kinds_l, versions_l = sorted(set(kinds)), sorted(set(kek_versions))
        title_t = _text(title, "title", required=True)
        if title_t and len(title_t) > 200:
            raise BadInput("title is at most 200 characters")
        desc = _text(description, "description", required=True)
        notes = {"description": desc, "consequences": _text(consequences, "consequences"),
                 "measures": _text(measures, "measures")}
        bid = str(uuid.uuid4())
        op.object_ids.append(f"breach:{bid}")
        refuse_personal_data(vault, title_t or "", "a breach title")
        key = vault.system_key(NOTES_KEY)
        subjects, n, cats = compute_affected(
            vault, conn, kinds=kinds_l, occurred_from=occurred_from, occurred_to=occurred_to,
            kek_versions=versions_l,
        )
        row = {
            "id": bid, "title": title_t, "discovered_at": discovered,
            "occurred_from": occurred_from, "occurred_to": occurred_to, "kinds": kinds_l,
            "kek_versions": versions_l, "key_store_exposed": key_store_exposed,
            "plaintext_exposed": plaintext_exposed, "affected_subjects": len(subjects),
            "affected_records": n, "categories": cats,
            "created_at": now, "authority_notified_at": None, "subjects_notified_at": None,
        }
        conn.execute(insert(breach_t).values(
            **row, **{name: _seal(key, bid, name, text) for name, text in notes.items()}
        ))
        ids = sorted(subjects)
        for i in range(0, len(ids), 1000):
            conn.execute(insert(breach_subject),
                         [{"breach_id": bid, "subject_id": s} for s in ids[i : i + 1000]])
        op.details.update({"subjects": len(subjects), "records": n, "categories": cats})
    return Breach(**row, **notes)


def _load(vault: Vault, conn: Connection, breach_id: str) -> Breach:
    r = conn.execute(select(breach_t).where(breach_t.c.id == breach_id)).first()
    if r is None:
        raise NotFound("no such breach")
    return _row_to_breach(vault, r)


def get_breach(vault: Vault, breach_id: str, *, actor: Actor) -> Breach:
    """One breach, its sealed notes opened (an audited read)."""
    with vault.operation(Operation("breach.read", actor, object_ids=[f"breach:{breach_id}"])) as (
        conn, op,
    ):
        authorise(actor, "breach", register=vault.register, op=op)
        return _load(vault, conn, breach_id)


def list_breaches(vault: Vault, *, actor: Actor) -> list[Breach]:
    """The breach register, oldest discovery first (an audited read)."""
    with vault.operation(Operation("breach.list", actor)) as (conn, op):
        authorise(actor, "breach", register=vault.register, op=op)
        rows = conn.execute(select(breach_t).order_by(breach_t.c.discovered_at)).all()
        op.details["count"] = len(rows)
        return [_row_to_breach(vault, r) for r in rows]


def affected_subject_ids(vault: Vault, breach_id: str, *, actor: Actor) -> list[str]:
    """The internal ids of the subjects a breach touched (for the Art. 34 notices)."""
    with vault.operation(Operation("breach.subjects", actor,
                                   object_ids=[f"breach:{breach_id}"])) as (conn, op):
        authorise(actor, "breach", register=vault.register, op=op)
        ids = [s for (s,) in conn.execute(
            select(breach_subject.c.subject_id).where(breach_subject.c.breach_id == breach_id)
            .order_by(breach_subject.c.subject_id))]
        op.details["count"] = len(ids)
        return ids


def mark_notified(
    vault: Vault, breach_id: str, *, authority: bool = False, subjects: bool = False,
    at: datetime | None = None, actor: Actor,
) -> Breach:
    with vault.operation(Operation("breach.notify", actor, object_ids=[f"breach:{breach_id}"],
                                   details={"authority": authority, "subjects": subjects})) as (
        conn, op,
    ):
        authorise(actor, "breach", register=vault.register, op=op)
        if not (authority or subjects):
            raise BadInput("say who was notified: the authority, the subjects, or both")
        when = at or vault.clock()
        values = {}
        if authority:
            values["authority_notified_at"] = when
        if subjects:
            values["subjects_notified_at"] = when
        n = conn.execute(update(breach_t).where(breach_t.c.id == breach_id).values(**values))
        if n.rowcount == 0:
            raise NotFound("no such breach")
        return _load(vault, conn, breach_id)


def draft_notification(vault: Vault, b: Breach, now: datetime | None = None) -> str:
    """The Art. 33(3) notification to the supervisory authority, as Markdown."""
    now = now or vault.clock()
    reg = vault.register
    c = reg.controller
    dpo = c.dpo
    cats = [
        f"{reg.categories[x].description}" + (" (special category, Art. 9)"
                                              if reg.categories[x].special else "")
        for x in b.categories if x in reg.categories
    ]
    window = (f"{b.occurred_from:%Y-%m-%d %H:%M} to {b.occurred_to:%Y-%m-%d %H:%M} UTC"
              if b.occurred_from and b.occurred_to else
              f"from {b.occurred_from:%Y-%m-%d %H:%M} UTC" if b.occurred_from else
              f"until {b.occurred_to:%Y-%m-%d %H:%M} UTC" if b.occurred_to else "unknown")
    if b.individual_notice_required:
        likely = ("The data may be readable by the unauthorised party. Likely consequences "
                  "depend on the categories above and include loss of confidentiality of "
                  "conversations and contact details, and the risk of phishing or fraud.")
    else:
        likely = ("The data concerned was encrypted (AES-256-GCM, one key per data subject) and "
                  "the keys were not compromised, so it is unintelligible to the unauthorised "
                  "party; a high risk to individuals is not likely (Art. 34(3)(a)).")
    measures = [
        "Records are encrypted at rest under a key per data subject; data keys are kept "
        "wrapped by a key-encryption key in a separate key store.",
    ]
    if b.kek_versions:
        measures.append(
            "Rotate the key-encryption key (`confida keys rotate`): every data key is re-wrapped "
            "under a new KEK version, so the live key store, and key-store backups made after "
            "the rotation, cannot be opened with the compromised version. Copies of the key "
            "store made before the rotation still can, with any copy of that version: they are "
            "to be destroyed; Confida destroys its own copy of the retired version with "
            f"`confida keys retire` once the retire window ({vault.config.kek_retire_after}) "
            "has passed."
        )
        if b.key_store_exposed:
            measures.append(
                "The key store was exposed together with the KEK version: rotation does not "
                "change the data keys it held, so the data is treated as readable by the "
                "unauthorised party."
            )
    if b.measures:
        measures.append(b.measures)
    late = b.authority_notified_at is None and now > b.deadline
    lines = [
        f"# Notification of a personal data breach (Art. 33 GDPR): {b.title}",
        "",
        f"- Controller: {c.name}" + (f", {c.address}" if c.address else ""),
        f"- Breach reference: {b.id}",
        f"- Discovered: {b.discovered_at:%Y-%m-%d %H:%M} UTC; notification due by "
        f"{b.deadline:%Y-%m-%d %H:%M} UTC (72 hours)",
    ]
    if c.supervisory_authority:
        lines.append(f"- To: {c.supervisory_authority.name}")
    lines += [
        "",
        "## (a) Nature of the breach",
        "",
        b.description,
        "",
        f"- Period concerned: {window}",
        f"- Record kinds concerned: {', '.join(b.kinds) or 'all'}",
        f"- Categories of personal data: {'; '.join(cats) or 'none identified'}",
        f"- Approximate number of data subjects concerned: {b.affected_subjects}",
        f"- Approximate number of personal data records concerned: {b.affected_records}",
        "",
        "## (b) Contact point",
        "",
        (f"{dpo.name}" + (f", {dpo.email}" if dpo.email else "") +
         (f", {dpo.phone}" if dpo.phone else "")) if dpo else
        f"{c.name}" + (f", {c.email}" if c.email else ""),
        "",
        "## (c) Likely consequences",
        "",
        b.consequences or likely,
        "",
        "## (d) Measures taken or proposed",
        "",
        *[f"- {m}" for m in measures],
        "",
        "## Communication to data subjects (Art. 34)",
        "",
        ("Required: the data subjects concerned will be informed without undue delay."
         if b.individual_notice_required else
         "Not required under Art. 34(3)(a): the data was encrypted and the keys were not "
         "compromised."),
    ]
    if late:
        lines += ["", "## Reasons for the delay (Art. 33(1))", "",
                  "_This notification is made after 72 hours; state the reasons here._"]
    return "\n".join(lines) + "\n"
