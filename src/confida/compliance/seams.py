"""Seams to the features other modules own: requests and objections (``rights``), the audit log
(``audit``), the PII detector (``pii``).

The compliance audit reads their tables by reflection and calls their public functions when they
are installed, so that it needs no change when they land, and reports a check as
``not-applicable`` (never as passed) when a feature is genuinely absent. Column names are the
ones those modules declare or, where they are still open, the first of a few candidates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Connection, MetaData, Table, inspect, select

DONE_STATES = (
    "completed", "complete", "done", "closed", "answered", "fulfilled", "rejected", "refused",
    "cancelled", "canceled", "withdrawn",
)
DEADLINE_COLUMNS = ("due_at", "deadline", "deadline_at", "due")
DONE_COLUMNS = ("closed_at", "completed_at", "answered_at", "done_at", "fulfilled_at")
TIME_COLUMNS = ("at", "created_at", "objected_at", "received_at")


REQUEST_TABLES = ("subject_request", "request")  # the rights module's name first


def request_table(conn: Connection) -> Table | None:
    """The data subject request table of the rights module, if installed."""
    for name in REQUEST_TABLES:
        t = reflect(conn, name)
        if t is not None:
            return t
    return None


def reflect(conn: Connection, name: str) -> Table | None:
    """The table ``name`` as it exists in the database, or None."""
    if not inspect(conn).has_table(name):
        return None
    return Table(name, MetaData(), autoload_with=conn)


def first_column(table: Table, names: tuple[str, ...]) -> Column[Any] | None:
    for n in names:
        if n in table.c:
            return table.c[n]
    return None


def open_request_filter(req: Table) -> Any:
    """SQL condition for 'not answered yet' on the ``request`` table (None: cannot tell)."""
    done = first_column(req, DONE_COLUMNS)
    if done is not None:
        return done.is_(None)
    if "status" in req.c:
        return req.c.status.not_in(DONE_STATES)
    return None


def aware(value: datetime | str | None) -> datetime | None:
    """Datetimes read by reflection from SQLite come back naive (or as text): they are UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- audit log -------------------------------------------------------------------------------


@dataclass
class AuditStatus:
    size: int
    verified: bool
    errors: list[str] = field(default_factory=list)
    checkpoint_size: int | None = None
    checkpoint_at: datetime | None = None
    oldest_unsigned_at: datetime | None = None  # time of the first entry no checkpoint covers


def witnessed(vault: Any) -> list[Any] | Exception:
    """The checkpoints (and restore records) witnessed outside the database; read them before
    the snapshot that is verified against them. An unreadable file is returned, not raised:
    the audit-log check reports it."""
    from confida.audit.witness import WitnessFile

    try:
        return list(WitnessFile(vault.config.audit_witness_file).read().trusted())
    except (OSError, ValueError) as exc:
        return exc


def audit_status(vault: Any, conn: Connection,
                 witness: list[Any] | Exception | None = None) -> AuditStatus | None:
    """Verify the live audit log; None when no audit log is installed.

    Preferred: the sink's own ``verify_status(conn)`` (the audit module's integration with the
    vault). Otherwise the ``confida.audit`` library over its standard tables and the signing key
    in the data directory.
    """
    hook = getattr(vault.audit, "verify_status", None)
    if callable(hook):
        return hook(conn)  # type: ignore[no-any-return]
    if not inspect(conn).has_table("audit_entry"):
        return None
    try:
        from confida.audit import AuditSigner, VerifierKey
        from confida.audit.sink import audit_log
    except ImportError:
        return None
    origin = vault.config.audit_origin
    log = audit_log(vault.config)
    size = log.size(conn)
    key_path = vault.config.audit_key_path
    vkey = key_path.with_suffix(".vkey")
    try:
        if vkey.exists():
            verifier = VerifierKey.from_vkey(vkey.read_text())
        else:
            verifier = AuditSigner.load(key_path, origin).verifier
    except (OSError, ValueError) as exc:
        why = f"audit verification key unavailable: {type(exc).__name__}"
        return AuditStatus(size, False, [why])
    # the witnessed checkpoints (and restore records) kept outside the database: without them
    # a log shortened in the database would verify (see confida.audit.witness)
    trusted = witness if witness is not None else witnessed(vault)
    if isinstance(trusted, Exception):
        return AuditStatus(size, False, [f"witness file unreadable: {type(trusted).__name__}"])
    res = log.verify_live(conn, verifier, trusted_checkpoints=trusted)
    latest = log.latest_checkpoint(conn)
    signed = latest[0] if latest else 0
    return AuditStatus(
        size=size,
        verified=bool(res.ok),
        errors=[str(e)[:200] for e in res.errors],
        checkpoint_size=latest[0] if latest else None,
        checkpoint_at=aware(latest[2]) if latest else None,
        oldest_unsigned_at=_entry_time(conn, log.tables.entry, signed) if signed < size else None,
    )


def _entry_time(conn: Connection, entry: Table, idx: int) -> datetime | None:
    import json

    raw = conn.execute(select(entry.c.entry).where(entry.c.idx == idx)).scalar()
    try:
        return aware(json.loads(raw).get("time")) if raw else None
    except (TypeError, ValueError, AttributeError):
        return None


def audit_entries(conn: Connection) -> Iterator[dict[str, Any]] | None:
    """The audit log's entries as dicts (canonical JSON in ``audit_entry.entry``), or None."""
    import json

    table = reflect(conn, "audit_entry")
    if table is None or "entry" not in table.c:
        return None
    order = table.c.idx if "idx" in table.c else list(table.c)[0]

    def it() -> Iterator[dict[str, Any]]:
        for (raw,) in conn.execute(select(table.c.entry).order_by(order)):
            try:
                doc = json.loads(raw)
            except (TypeError, ValueError):
                continue
            if isinstance(doc, dict):
                yield doc

    return it()


# --- PII detection ---------------------------------------------------------------------------

# Built in so the plaintext scan works even where the detector is not installed. Conservative
# on purpose: it runs over raw database pages, where ciphertext must not look like an address.
EMAIL = re.compile(
    rb"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63})*\.[A-Za-z]{2,24}"
)
# For binary data (ciphertext, raw database pages): lower-case only, at least three characters
# on each side of the @. Random bytes match it about once in 10^12 positions; real addresses
# as stored by applications are lower-case (mixed-case ones are found in text columns).
EMAIL_STRICT = re.compile(
    rb"[a-z0-9._%+\-]{3,64}@[a-z0-9\-]{3,63}(?:\.[a-z0-9\-]{2,63})*\.[a-z]{2,24}"
)
Detector = Callable[[str], list[tuple[str, int, int]]]


def pii_detector() -> Detector | None:
    """``confida.pii.detect`` as (label, start, end) triples, or None when not installed."""
    try:
        from confida.pii import detect
    except ImportError:
        return None

    def run(text: str) -> list[tuple[str, int, int]]:
        return [(f.label, f.start, f.end) for f in detect(text)]

    return run
