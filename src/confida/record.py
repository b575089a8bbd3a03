"""Records: collect, read, list and update, through the flow in DESIGN.md.

collect: schema applied (minimisation) -> legal basis checked -> free text scanned -> payload
encrypted under the subject's data key -> retention deadline set -> written with its audit entry
in one transaction. Reading runs the mirror image.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, or_, select
from sqlalchemy import update as sql_update

from confida import consent, masking
from confida import subject as subjects
from confida.authz import Grant, Resource, authorise, compatible
from confida.crypto import aead
from confida.errors import (
    BadInput,
    ConfidaError,
    ConsentRequired,
    InvalidRecord,
    NotFound,
    PurposeNotAllowed,
    RequestConflict,
)
from confida.lawfulness import check_objection
from confida.minimisation import minimise
from confida.operation import Actor, Operation
from confida.store.schema import record as record_t
from confida.store.schema import subject as subject_t
from confida.vault import Vault

MAX_BATCH = 10_000


@dataclass(frozen=True)
class CollectItem:
    subject: str
    kind: str
    data: Mapping[str, Any]
    purpose: str


@dataclass(frozen=True)
class Collected:
    record_id: str
    kind: str
    purpose: str
    retain_until: datetime
    dropped_fields: int
    pii_summary: dict[str, int]


@dataclass(frozen=True)
class RecordMeta:
    id: str
    kind: str
    purpose: str
    created_at: datetime
    updated_at: datetime
    retain_until: datetime
    pii_summary: dict[str, int]
    legal_hold: bool


@dataclass(frozen=True)
class Record(RecordMeta):
    data: dict[str, Any] = field(default_factory=dict)
    withheld_fields: int = 0


def aad_of(
    record_id: str,
    subject_id: str,
    kind: str,
    purpose: str,
    version: int,
    retain_until: datetime,
    legal_hold: bool,
) -> bytes:
    """The associated data a record's ciphertext is sealed under (see ``aead.record_aad``)."""
    return aead.record_aad(
        record_id=record_id, subject_id=subject_id, kind=kind, version=version,
        purposes=(purpose,), retain_until=retain_until, legal_hold=bool(legal_hold),
    )


def row_aad(row: Any) -> bytes:
    """The associated data of a stored row: an edited metadata column fails authentication."""
    return aad_of(row.id, row.subject_id, row.kind, row.purpose, row.version, row.retain_until,
                  row.legal_hold)


def reseal_values(
    row: Any,
    key: bytes,
    plaintext: bytes,
    *,
    retain_until: datetime | None = None,
    legal_hold: bool | None = None,
) -> dict[str, Any]:
    """Column values that re-seal ``row`` at the next version under a fresh nonce.

    Every change of what the ciphertext is bound to (payload, deadline, hold) goes through here,
    in the same statement, so the row's metadata and its authenticated copy never diverge.
    """
    until = row.retain_until if retain_until is None else retain_until
    hold = bool(row.legal_hold) if legal_hold is None else legal_hold
    version = int(row.version) + 1
    aad = aad_of(row.id, row.subject_id, row.kind, row.purpose, version, until, hold)
    return {"ciphertext": aead.seal(key, plaintext, aad), "version": version,
            "retain_until": until, "legal_hold": hold}


def _encode(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def _scan(vault: Vault, kind_name: str, data: Mapping[str, Any]) -> dict[str, int]:
    """Hook: PII detection over the kind's free-text fields; types and counts only."""
    kind = vault.register.kind(kind_name)
    summary: dict[str, int] = {}
    for name, spec in kind.fields.items():
        value = data.get(name)
        if spec.scan and isinstance(value, str) and value:
            for label, n in vault.scan(value).items():
                summary[label] = summary.get(label, 0) + n
    return summary


def _check_purpose_covers(vault: Vault, kind: str, purpose: str) -> None:
    vault.register.kind(kind)
    p = vault.register.purpose(purpose)
    if kind not in p.kinds:
        raise PurposeNotAllowed(
            f"purpose {purpose!r} does not cover records of kind {kind!r}; "
            f"it covers: {', '.join(p.kinds)}"
        )


def collect(
    vault: Vault,
    subject: str,
    kind: str,
    data: Mapping[str, Any],
    purpose: str,
    *,
    actor: Actor,
) -> Collected:
    return collect_many(vault, [CollectItem(subject, kind, data, purpose)], actor=actor)[0]


def collect_many(
    vault: Vault, items: Sequence[CollectItem], *, actor: Actor
) -> list[Collected]:
    """Collect a batch atomically: all records are stored, or none (the error names the item).

    The actor is authorised to collect for each purpose of the batch (for an empty batch: to
    collect at all) before anything else, so a refused batch is refused whatever it holds."""
    reg = vault.register
    purposes = sorted({it.purpose for it in items})
    op = Operation("record.collect", actor, purposes[0] if len(purposes) == 1 else None)
    with vault.operation(op) as (conn, op):
        authorise(actor, "collect", Resource(purpose=purposes[0] if purposes else None),
                  register=reg, op=op)
        for p in purposes[1:]:
            authorise(actor, "collect", Resource(purpose=p), register=reg, op=op)
        if len(items) > MAX_BATCH:
            raise BadInput(f"a batch holds at most {MAX_BATCH} records")
        if not items:
            return []
        prepared = []
        checked: set[tuple[str, str]] = set()  # a batch holds few (kind, purpose) pairs
        for i, it in enumerate(items):
            try:
                if (it.kind, it.purpose) not in checked:
                    _check_purpose_covers(vault, it.kind, it.purpose)
                    checked.add((it.kind, it.purpose))
                m = minimise(
                    it.kind, reg.kind(it.kind), reg.purpose(it.purpose), it.data,
                    max_bytes=vault.config.max_record_bytes,
                )
            except ConfidaError as exc:
                raise type(exc)(_item_msg(len(items), i, exc.message)) from None
            prepared.append(m)
        subj = subjects.get_or_create_many(vault, conn, (it.subject for it in items))
        for i, it in enumerate(items):
            try:
                subjects.ensure_processable(subj[it.subject])
            except ConfidaError as exc:
                raise type(exc)(_item_msg(len(items), i, exc.message)) from None
        grants: dict[str, dict[str, int]] = {}
        for p in {it.purpose for it in items}:
            if reg.purpose(p).consent_required:
                ids = {subj[it.subject].id for it in items if it.purpose == p}
                grants[p] = consent.current_grants(conn, ids, p)
        _objection_hook(vault, conn, items, subj)
        keys = vault.keys.get_keys({s.id for s in subj.values()})
        now = vault.clock()
        deadlines = {pair: reg.retention_for(*pair).after(now) for pair in checked}
        rows, out = [], []
        for i, (it, m) in enumerate(zip(items, prepared, strict=True)):
            s = subj[it.subject]
            grant_id = None
            if it.purpose in grants:
                grant_id = grants[it.purpose].get(s.id)
                if grant_id is None:
                    raise ConsentRequired(
                        _item_msg(
                            len(items), i,
                            f"purpose {it.purpose!r} requires the subject's consent and none "
                            "is on record",
                        )
                    )
            summary = _scan(vault, it.kind, m.data)
            rid = str(uuid.uuid4())
            retain_until = deadlines[(it.kind, it.purpose)]
            rows.append(
                {
                    "id": rid,
                    "subject_id": s.id,
                    "kind": it.kind,
                    "purpose": it.purpose,
                    "ciphertext": aead.seal(
                        keys[s.id], _encode(m.data),
                        aad_of(rid, s.id, it.kind, it.purpose, 1, retain_until, False),
                    ),
                    "version": 1,
                    "pii_summary": summary or None,
                    "dropped_fields": m.dropped,
                    "consent_event_id": grant_id,
                    "legal_hold": False,
                    "created_at": now,
                    "updated_at": now,
                    "retain_until": retain_until,
                }
            )
            out.append(Collected(rid, it.kind, it.purpose, retain_until, m.dropped, summary))
        conn.execute(insert(record_t), rows)
        op.subject_pseudonyms.extend(sorted({subj[it.subject].pseudonym for it in items}))
        op.object_ids.extend(r["id"] for r in rows)
        op.details.update(
            {"count": len(rows), "dropped_fields": sum(c.dropped_fields for c in out)}
        )
    return out


def _item_msg(n: int, i: int, msg: str) -> str:
    return msg if n == 1 else f"item {i}: {msg}"


def _objection_hook(
    vault: Vault, conn: Connection, items: Sequence[CollectItem], subj: Mapping[str, Any]
) -> None:
    """Objections (Art. 21) stop legitimate-interest processing."""
    for s, purpose in dict.fromkeys((subj[it.subject], it.purpose) for it in items):
        check_objection(vault.register, conn, s, purpose)


def _meta(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "purpose": row.purpose,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "retain_until": row.retain_until,
        "pii_summary": row.pii_summary or {},
        "legal_hold": bool(row.legal_hold),
    }


def _require_record_id(record_id: str) -> None:
    """A record id is a UUID; anything else names no record (and reaches no query)."""
    try:
        uuid.UUID(record_id)
    except (ValueError, TypeError, AttributeError):
        raise NotFound("no such record") from None


def _load(conn: Connection, record_id: str) -> Any:
    _require_record_id(record_id)
    row = conn.execute(select(record_t).where(record_t.c.id == record_id)).first()
    if row is None:
        raise NotFound("no such record")
    return row


# A record and its subject in one round trip, built once (constructing the statement costs as
# much as running it on SQLite): the hot path of every read.
_RECORD_AND_SUBJECT = (
    select(record_t, subject_t.c.pseudonym.label("subject_pseudonym"),
           subject_t.c.status.label("subject_status"),
           subject_t.c.created_at.label("subject_created_at"))
    .join(subject_t, subject_t.c.id == record_t.c.subject_id)
    .where(record_t.c.id == bindparam("record_id"))
)


def _load_with_subject(conn: Connection, record_id: str) -> tuple[Any, subjects.Subject]:
    _require_record_id(record_id)
    row = conn.execute(_RECORD_AND_SUBJECT, {"record_id": record_id}).first()
    if row is None:
        raise NotFound("no such record")
    return row, subjects.Subject(row.subject_id, row.subject_pseudonym, row.subject_status,
                                 row.subject_created_at)


def decrypt_row(vault: Vault, row: Any, key: bytes | None = None) -> dict[str, Any]:
    k = key if key is not None else vault.keys.get_key(row.subject_id)
    return json.loads(aead.open_sealed(k, row.ciphertext, row_aad(row), what="record"))


def origins_for(vault: Vault, purpose: str) -> list[str]:
    """The collection purposes whose records may be processed for ``purpose``: itself and the
    ones the register declares it compatible with (decided by :func:`confida.authz.compatible`).
    Bulk readers filter on this, as single reads decide through :func:`bind`."""
    return [o for o in vault.register.purposes if compatible(vault.register, purpose, (o,))]


def bind(vault: Vault, action: str, row: Any, purpose: str, op: Operation) -> Grant:
    """The access decision once the record is known: the purpose it was collected for is part
    of the resource, so processing it for another purpose needs a declared compatibility.

    Runs inside the operation that already authorised ``op.actor`` for ``action`` and
    ``purpose``; this second decision adds what only the record tells."""
    return authorise(
        op.actor, action,
        Resource(purpose=purpose, collected_for=(row.purpose,), subject_id=row.subject_id),
        register=vault.register, op=op,
    )


def authorise_purpose(
    vault: Vault, conn: Connection, row: Any, purpose: str,
    subject: subjects.Subject | None = None,
) -> int | None:
    """May ``row`` be processed for ``purpose`` now? Raises when not; returns the grant id.

    Consent is checked on every read, for the purpose of this access and, when different, for
    the purpose the record was collected for: data given under a consent that has since been
    withdrawn is processed for nothing (it only awaits deletion).
    """
    _check_purpose_covers(vault, row.kind, purpose)
    s = subject if subject is not None else subjects.by_id(conn, row.subject_id)
    subjects.ensure_processable(s)
    check_objection(vault.register, conn, s, purpose)
    if row.retain_until <= vault.clock():
        raise NotFound("the record is past its retention period and awaits deletion")
    if row.purpose != purpose and vault.register.purpose(row.purpose).consent_required:
        consent.require_consent(conn, s.id, row.purpose)
    if vault.register.purpose(purpose).consent_required:
        return consent.require_consent(conn, s.id, purpose)
    return None


def purpose_view(vault: Vault, kind: str, purpose: str, data: Mapping[str, Any]) -> tuple[
    dict[str, Any], int
]:
    """Only the fields whose category the purpose may use (purpose limitation on read)."""
    allowed = set(vault.register.purpose(purpose).categories)
    fields = vault.register.kind(kind).fields
    view = {k: v for k, v in data.items() if k in fields and fields[k].category in allowed}
    return view, len(data) - len(view)


def read(
    vault: Vault, record_id: str, purpose: str, *, actor: Actor
) -> Record:
    with vault.read_operation(Operation("record.read", actor, purpose,
                                        object_ids=[record_id])) as (
        conn, op,
    ):
        authorise(actor, "read", Resource(purpose=purpose), register=vault.register, op=op)
        row, subject = _load_with_subject(conn, record_id)
        op.subject_pseudonyms.append(subject.pseudonym)
        grant = bind(vault, "read", row, purpose, op)
        authorise_purpose(vault, conn, row, purpose, subject)
        data = decrypt_row(vault, row)
    view, withheld = _view(vault, grant, row.kind, purpose, data)
    return Record(**_meta(row), data=view, withheld_fields=withheld)


def _view(
    vault: Vault, grant: Grant, kind: str, purpose: str, data: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    """Purpose limitation first (the purpose's categories), then the role's categories and
    masking: what a reader sees is the intersection of both."""
    view, withheld = purpose_view(vault, kind, purpose, data)
    if grant.role is None:
        return view, withheld
    hash_key = (
        vault.system_key("mask-hash") if "hash" in grant.role.masking.values() else None
    )
    masked, withheld_by_role = masking.role_view(vault.register, grant, kind, view, hash_key)
    return masked, withheld + withheld_by_role


def list_records(
    vault: Vault,
    external_id: str,
    *,
    kind: str | None = None,
    purpose: str | None = None,
    limit: int = 1000,
    actor: Actor,
    for_purpose: str | None = None,
    subject_id: str | None = None,
    after: tuple[datetime, str] | None = None,
) -> list[RecordMeta]:
    """Metadata only (no decryption): ids, kinds, purposes, deadlines, PII summaries.

    Ordered by (created_at, id), a stable order; ``after`` is the (created_at, id) of the last
    record of the previous page (keyset pagination: no page skips or repeats a record while
    others are collected).

    ``subject_id`` (Confida's own id, from a subject token) replaces ``external_id`` when given.

    ``purpose`` filters by the purpose records were collected for; ``for_purpose`` is why the
    caller lists them (defaults to ``purpose``). A role limited to some purposes must state one.
    """
    stated = for_purpose or purpose
    with vault.read_operation(Operation("record.list", actor, stated)) as (conn, op):
        authorise(actor, "list", Resource(purpose=stated, subject_id=subject_id),
                  register=vault.register, op=op)
        if kind:
            vault.register.kind(kind)
        if purpose:
            vault.register.purpose(purpose)
        s = (
            subjects.by_id(conn, subject_id)
            if subject_id is not None
            else subjects.find(vault, conn, external_id)
        )
        if s is None:
            return []
        op.subject_pseudonyms.append(s.pseudonym)
        q = select(record_t).where(record_t.c.subject_id == s.id)
        if kind:
            q = q.where(record_t.c.kind == kind)
        if purpose:
            q = q.where(record_t.c.purpose == purpose)
        if stated:
            # listing for a purpose shows only what may be processed for it
            q = q.where(record_t.c.purpose.in_(origins_for(vault, stated)))
        if after is not None:
            at, last_id = after
            q = q.where(or_(record_t.c.created_at > at,
                            and_(record_t.c.created_at == at, record_t.c.id > last_id)))
        rows = conn.execute(q.order_by(record_t.c.created_at, record_t.c.id).limit(limit)).all()
        op.details["count"] = len(rows)
    return [RecordMeta(**_meta(r)) for r in rows]


def update(
    vault: Vault,
    record_id: str,
    changes: Mapping[str, Any],
    purpose: str,
    *,
    actor: Actor,
    action: str = "record.update",
) -> Record:
    """Change fields of a record; the new payload replaces the old one under a fresh nonce."""
    with vault.operation(Operation(action, actor, purpose, object_ids=[record_id])) as (
        conn, op,
    ):
        authorise(actor, "update", Resource(purpose=purpose), register=vault.register, op=op)
        row = _load(conn, record_id)
        op.subject_pseudonyms.append(subjects.by_id(conn, row.subject_id).pseudonym)
        grant = bind(vault, "update", row, purpose, op)
        authorise_purpose(vault, conn, row, purpose)
        data, fields, summary, now = rewrite(vault, conn, row, changes, purpose)
        op.details["fields"] = fields
    meta = _meta(row) | {"updated_at": now, "pii_summary": summary}
    view, withheld = _view(vault, grant, row.kind, purpose, data)
    return Record(**meta, data=view, withheld_fields=withheld)


def rewrite(
    vault: Vault, conn: Connection, row: Any, changes: Mapping[str, Any], purpose: str
) -> tuple[dict[str, Any], list[str], dict[str, int], datetime]:
    """Apply ``changes`` to a stored record and re-seal it under a fresh nonce.

    Shared by updates and by rectification (Art. 16): the old ciphertext is overwritten, so the
    old value is not kept. Returns the new data, the changed fields, the PII summary and the time.
    """
    reg = vault.register
    m = minimise(
        row.kind, reg.kind(row.kind), reg.purpose(purpose), dict(changes),
        max_bytes=vault.config.max_record_bytes, partial=True,
    )
    if m.dropped:
        raise InvalidRecord(
            f"{m.dropped} field(s) are not declared for kind {row.kind!r} or not usable for "
            f"purpose {purpose!r}"
        )
    key = vault.keys.get_key(row.subject_id)
    data = decrypt_row(vault, row, key)
    data.update(m.data)
    for name, spec in reg.kind(row.kind).fields.items():
        if spec.required and data.get(name) is None:
            raise InvalidRecord(f"required field {name!r} cannot be removed")
    summary = _scan(vault, row.kind, data)
    now = vault.clock()
    res = conn.execute(
        sql_update(record_t)
        .where(record_t.c.id == row.id, record_t.c.version == row.version)
        .values(**reseal_values(row, key, _encode(data)), pii_summary=summary or None,
                updated_at=now)
    )
    if res.rowcount != 1:
        raise RequestConflict("the record changed while it was being updated; try again")
    return data, sorted(m.data), summary, now


def items_from(objs: Iterable[Mapping[str, Any]]) -> list[CollectItem]:
    """Build collect items from plain dicts (JSON input), with errors naming the item."""
    out = []
    for i, o in enumerate(objs):
        if not isinstance(o, Mapping):
            raise BadInput(f"item {i}: expected an object")
        try:
            out.append(CollectItem(str(o["subject"]), str(o["kind"]), o["data"], str(o["purpose"])))
        except KeyError as exc:
            raise BadInput(f"item {i}: missing {exc.args[0]!r}") from None
    return out
