"""The rights of access (Art. 15 GDPR) and to data portability (Art. 20 GDPR).

One zip answers both: the subject's records decrypted, per kind as JSON (structured, the
portable form) and as CSV (opens in a spreadsheet), plus ``manifest.json`` with everything
Art. 15(1) and (2) list: purposes and their legal bases, categories, recipients, retention,
source, the existence of each right, the right to complain, automated decision-making, transfers
and their safeguards; and the subject's consent history, objections and requests.

The format is stable and versioned: ``schemas/access-export.schema.json`` (JSON Schema 2020-12)
describes the manifest, and tests validate every export against it. Layout::

    manifest.json
    records/<kind>.json   [{"id", "purpose", "created_at", "updated_at", "retain_until",
                            "legal_hold", "data": {...}}]
    records/<kind>.csv    id,purpose,created_at,updated_at,retain_until,legal_hold,<fields...>
                          (a field named like one of the first six: data.<field>)

A restricted subject may still get their export (Art. 18 restricts processing *by the
controller*; seeing one's own data is the person's right). An erased subject has nothing left.

CSV cells that a spreadsheet would run as a formula (starting with ``= + - @`` or a tab or
carriage return) are prefixed with an apostrophe; the JSON files keep every value exactly.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select

from confida import request as requests
from confida import safe_files
from confida import subject as subjects
from confida.authz import Resource, authorise
from confida.consent import GRANT
from confida.crypto import aead
from confida.operation import Actor, Operation
from confida.record import row_aad
from confida.rights.objection import OBJECTABLE, objections_of
from confida.store.schema import consent_event
from confida.store.schema import record as record_t
from confida.vault import Vault

FORMAT = "confida.access-export"
FORMAT_VERSION = "1.0"
SCHEMA_PATH = "schemas/access-export.schema.json"
_META_COLUMNS = ("id", "purpose", "created_at", "updated_at", "retain_until", "legal_hold")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_SET = frozenset(_FORMULA_START)

RIGHTS = [
    ("access", "Art. 15 GDPR", "Obtain confirmation and a copy of your personal data (this file)."),
    ("rectification", "Art. 16 GDPR", "Have inaccurate personal data corrected."),
    ("erasure", "Art. 17 GDPR", "Have your personal data erased."),
    ("restriction", "Art. 18 GDPR", "Have processing restricted: data only stored."),
    ("portability", "Art. 20 GDPR",
     "Receive your data in a structured, machine-readable format (the JSON files here)."),
    ("objection", "Art. 21 GDPR",
     "Object to processing based on legitimate interests or a public task."),
    ("withdraw_consent", "Art. 7(3) GDPR",
     "Withdraw consent at any time, without affecting earlier lawful processing."),
    ("complaint", "Art. 77 GDPR", "Lodge a complaint with a supervisory authority."),
]


@dataclass(frozen=True)
class AccessExport:
    request: requests.Request
    records: int
    files: list[str]
    sha256: str  # of the zip, so the answer sent can be matched to the request


def _csv_cell(value: Any) -> str:
    if value.__class__ is str:  # the common case, first
        return "'" + value if value[:1] in _FORMULA_SET else value
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _rows_by_kind(vault: Vault, rows: Iterable[Any], key: bytes) -> dict[str, list[dict]]:
    out: dict[str, list[dict[str, Any]]] = {}
    cipher = aead.Opener(key)  # one AES-GCM context for all of the subject's records
    for r in rows:
        data = json.loads(
            cipher.open(r.ciphertext, row_aad(r), what="record")
        )
        out.setdefault(r.kind, []).append(
            {
                "id": r.id,
                "purpose": r.purpose,
                "created_at": r.created_at.isoformat(),
                "updated_at": r.updated_at.isoformat(),
                "retain_until": r.retain_until.isoformat(),
                "legal_hold": bool(r.legal_hold),
                "data": data,
            }
        )
    return out


def _json_lines(items: list[dict[str, Any]]) -> bytes:
    """A JSON array with one record per line: valid JSON, diffable, and fast to write."""
    enc = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    return ("[\n" + ",\n".join(enc(it) for it in items) + "\n]\n").encode()


def csv_header(fields: Iterable[str]) -> list[str]:
    """The CSV header: the metadata columns, then one per field, every name unique.

    A field named like a metadata column (``created_at`` of a message, as the sender's app
    stamped it, beside the record's own ``created_at``) is headed ``data.<field>``, the path of
    its value in the JSON file; ``data.`` is repeated until the name is free.
    """
    taken = set(_META_COLUMNS)
    header = list(_META_COLUMNS)
    for f in fields:
        name = f
        while name in taken:
            name = "data." + name
        taken.add(name)
        header.append(name)
    return header


def _csv(vault: Vault, kind: str, items: list[dict[str, Any]]) -> str:
    spec = vault.register.kinds.get(kind)  # a kind dropped from the register still exports
    fields = list(spec.fields) if spec else []
    columns = (*fields, *sorted({k for it in items for k in it["data"]} - set(fields)))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(csv_header(columns))
    cell = _csv_cell
    # metadata cells are uuids, register names, ISO timestamps and booleans: never a formula
    w.writerows(
        [it["id"], it["purpose"], it["created_at"], it["updated_at"], it["retain_until"],
         "true" if it["legal_hold"] else "false", *[cell(it["data"].get(f)) for f in columns]]
        for it in items
    )
    return buf.getvalue()


def _manifest(
    vault: Vault,
    s: subjects.Subject,
    req: requests.Request,
    by_kind: dict[str, list[dict[str, Any]]],
    consents: list[Any],
    objections: list[dict[str, Any]],
    history: list[requests.Request],
    files: list[dict[str, Any]],
) -> dict[str, Any]:
    reg = vault.register
    used_purposes = {it["purpose"] for items in by_kind.values() for it in items}
    used_purposes |= {c.purpose for c in consents}
    used_purposes |= {o["purpose"] for o in objections}
    categories: set[str] = set()
    for kind, items in by_kind.items():
        k = reg.kinds.get(kind)
        spec = k.fields if k else {}
        for it in items:
            categories.update(spec[f].category for f in it["data"] if f in spec)
    consent_now: dict[str, bool] = {}
    for c in consents:
        consent_now[c.purpose] = c.action == GRANT
    objected = {o["purpose"] for o in objections}
    purposes = []
    for name in sorted(used_purposes):
        p = reg.purpose(name)
        purposes.append({
            "name": name,
            "description": p.description,
            "legal_basis": p.legal_basis.value,
            "article": p.legal_basis.article,
            "legitimate_interest": p.legitimate_interest,
            "categories": sorted(set(p.categories) & categories),
            "retention": str(p.retention),
            "recipients": list(p.recipients),
            "transfers": [t.model_dump() for t in p.transfers],
            "automated_decision_making": p.automated_decision_making,
            "consent": consent_now.get(name) if p.consent_required else None,
            "objected": name in objected if p.legal_basis in OBJECTABLE else None,
            "records": sum(1 for items in by_kind.values() for it in items
                           if it["purpose"] == name),
        })
    ctrl = reg.controller
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "schema": SCHEMA_PATH,
        "generated_at": vault.clock().isoformat(),
        "request": {
            "id": req.id,
            "type": req.type,
            "received_at": req.received_at.isoformat(),
            "due_at": req.due_at.isoformat(),
            "verified_by": req.verified_by,
        },
        "controller": {
            "name": ctrl.name,
            "address": ctrl.address,
            "email": ctrl.email,
            "dpo": ctrl.dpo.model_dump() if ctrl.dpo else None,
        },
        "subject": {"pseudonym": s.pseudonym, "status": s.status},
        "processing": bool(by_kind),
        "purposes": purposes,
        "categories": [
            {"name": c, "description": reg.categories[c].description,
             "special": reg.categories[c].special}
            for c in sorted(categories)
        ],
        "recipients": sorted({r for p in purposes for r in p["recipients"]}),
        "retention": {p["name"]: p["retention"] for p in purposes},
        "source": (
            f"Collected from you through the services of {ctrl.name}, or generated by your use "
            "of them; no personal data in this export was obtained from third parties."
        ),
        "automated_decision_making": [
            {"purpose": p["name"], "description": p["description"]}
            for p in purposes if p["automated_decision_making"]
        ],
        "transfers": [
            {"purpose": p["name"], **t} for p in purposes for t in p["transfers"]
        ],
        "consent_history": [
            {"purpose": c.purpose, "action": c.action, "at": c.at.isoformat(),
             "source": c.source, "notice_version": c.notice_version}
            for c in consents
        ],
        "objections": [
            {"purpose": o["purpose"], "at": o["at"].isoformat()} for o in objections
        ],
        "requests": [
            {"id": r.id, "type": r.type, "status": r.status,
             "received_at": r.received_at.isoformat(), "due_at": r.due_at.isoformat(),
             "closed_at": r.closed_at.isoformat() if r.closed_at else None}
            for r in history
        ],
        "rights": [{"right": n, "article": a, "description": d} for n, a, d in RIGHTS],
        "supervisory_authority": (
            ctrl.supervisory_authority.model_dump() if ctrl.supervisory_authority else None
        ),
        "files": files,
    }


def _write(out: Path | IO[bytes], entries: list[tuple[str, bytes]], force: bool = False) -> str:
    """Write the zip (0600 when it is a file: it holds personal data); return its sha256."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, data in entries:
            z.writestr(name, data)  # member mode 0600; the archive's compression level (1)
    blob = buf.getvalue()
    if isinstance(out, str | Path):
        safe_files.write_bytes(out, blob, force=force, private=True)
    else:
        out.write(blob)
    return hashlib.sha256(blob).hexdigest()


def access_export(
    vault: Vault,
    external_id: str,
    out: str | Path | IO[bytes],
    *,
    verified_by: str,
    request_id: str | None = None,
    portability: bool = False,
    actor: Actor,
    subject_id: str | None = None,
    force: bool = False,
) -> AccessExport:
    """Write the subject's access/portability export to ``out``; completes the request.

    A file ``out`` is written atomically with mode 0600, and replaces an existing file only
    with ``force`` (``confida.safe_files``). ``subject_id`` (Confida's own id, from a subject
    token) replaces ``external_id`` when given.
    """
    type_ = requests.PORTABILITY if portability else requests.ACCESS
    with vault.operation(Operation(f"rights.{type_}", actor)) as (conn, op):
        authorise(actor, "rights", Resource(subject_id=actor.subject_id),
                  register=vault.register, op=op)
        s = requests.decide_for_subject(vault, conn, op, "rights", external_id, subject_id)
        if isinstance(out, str | Path):
            safe_files.check_target(out, force=force)
        if s.status in (subjects.ERASED, subjects.ERASING):
            subjects.ensure_processable(s)
        req, _new = requests.open_in(
            vault, conn, type_, s, verified_by, request_id=request_id
        )
        op.object_ids.append(f"request:{req.id}")
        c = record_t.c
        rows = conn.execute(
            select(c.id, c.subject_id, c.kind, c.purpose, c.ciphertext, c.legal_hold,
                   c.created_at, c.updated_at, c.retain_until, c.version)
            .where(record_t.c.subject_id == s.id)
            .order_by(record_t.c.kind, record_t.c.created_at, record_t.c.id)
        ).all()
        by_kind = _rows_by_kind(vault, rows, vault.keys.get_key(s.id)) if rows else {}
        consents = conn.execute(
            select(consent_event)
            .where(consent_event.c.subject_id == s.id)
            .order_by(consent_event.c.id)
        ).all()
        objections = objections_of(conn, s.id)
        entries: list[tuple[str, bytes]] = []
        files = []
        for kind in sorted(by_kind):
            items = by_kind[kind]
            for fmt, blob in (
                # no indent: the C encoder is ~10x faster, and one record per line is kept
                ("json", _json_lines(items)),
                ("csv", _csv(vault, kind, items).encode("utf-8")),
            ):
                name = f"records/{kind}.{fmt}"
                entries.append((name, blob))
                files.append({"path": name, "kind": kind, "format": fmt,
                              "records": len(items),
                              "sha256": hashlib.sha256(blob).hexdigest()})
        if req.is_open:
            req = requests.set_status(
                vault, conn, req, requests.COMPLETED,
                details={"records": len(rows), "files": len(files)},
            )
        history = requests.of_subject(vault, conn, s.id)
        manifest = _manifest(vault, s, req, by_kind, consents, objections, history, files)
        entries.insert(0, ("manifest.json",
                           json.dumps(manifest, ensure_ascii=False, indent=2).encode()))
        digest = _write(out, entries, force)
        op.details.update({"records": len(rows), "files": len(files)})
    return AccessExport(req, len(rows), ["manifest.json", *(f["path"] for f in files)], digest)


def read_export(blob: bytes | Path) -> dict[str, Any]:
    """Open an export: the manifest and the JSON record files (for tests and for importers)."""
    src: Any = io.BytesIO(blob) if isinstance(blob, bytes) else blob
    with zipfile.ZipFile(src) as z:
        manifest = json.loads(z.read("manifest.json"))
        records = {
            f["kind"]: json.loads(z.read(f["path"]))
            for f in manifest["files"] if f["format"] == "json"
        }
        csvs = {
            f["kind"]: z.read(f["path"]).decode("utf-8")
            for f in manifest["files"] if f["format"] == "csv"
        }
    return {"manifest": manifest, "records": records, "csv": csvs}
