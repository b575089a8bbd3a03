"""Reading the audit log: checkpoints, proofs and verification, each an audited act.

What an auditor outside the installation needs to check, with nothing but the public key, that
an entry is in the log and that the log only ever grew: the latest signed checkpoint, RFC 9162
inclusion and consistency proofs. Reading them is itself audited (role action ``audit``), in the
same operation as the read, so the log shows who looked at it. Entries themselves are not
served: they name subjects by pseudonym, which the DPO reads through ``confida audit`` on the
host.

:func:`log_status` and :func:`entries` read inside an operation that has already decided (the
compliance run): they take its connection, never open one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from confida.audit.checkpoint import AuditSigner, VerifierKey
from confida.audit.merkle import ProofError
from confida.audit.sink import audit_log
from confida.audit.witness import WitnessFile
from confida.authz import authorise
from confida.clock import as_utc
from confida.config import Config
from confida.errors import BadInput, NotFound
from confida.operation import Actor, Operation
from confida.store.engine import snapshot
from confida.store.schema import audit_tables
from confida.vault import Vault

__all__ = [
    "AuditStatus",
    "ConsistencyProof",
    "InclusionProof",
    "consistency_proof",
    "entries",
    "inclusion_proof",
    "latest_checkpoint",
    "log_status",
    "pin",
    "status",
    "witnessed",
]


@dataclass(frozen=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: bytes
    root: bytes
    proof: list[bytes]


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    first_root: bytes
    second_root: bytes
    proof: list[bytes]


@dataclass
class AuditStatus:
    """The live log verified against its witnessed checkpoints (for the compliance check)."""

    size: int
    verified: bool
    errors: list[str] = field(default_factory=list)
    checkpoint_size: int | None = None
    checkpoint_at: datetime | None = None
    oldest_unsigned_at: datetime | None = None  # time of the first entry no checkpoint covers



def latest_checkpoint(vault: Vault, *, actor: Actor) -> tuple[int, str, datetime]:
    """The newest signed checkpoint: (tree size, the C2SP signed note, when it was signed)."""
    with vault.operation(Operation("audit.checkpoint", actor)) as (conn, op):
        authorise(actor, "audit", register=vault.register, op=op)
        log = audit_log(vault.config)
        cp = log.latest_checkpoint(conn)
        if cp is None:
            raise NotFound("no checkpoint has been signed yet")
        op.details["tree_size"] = cp[0]
    size, note, created = cp
    return size, note, as_utc(created) or created


def inclusion_proof(vault: Vault, index: int, tree_size: int, *, actor: Actor) -> InclusionProof:
    """RFC 9162 inclusion proof of entry ``index`` in the tree of ``tree_size`` entries."""
    with vault.operation(Operation("audit.proof", actor)) as (conn, op):
        authorise(actor, "audit", register=vault.register, op=op)
        log = audit_log(vault.config)
        op.details.update({"index": index, "tree_size": tree_size})
        try:
            if not 0 <= index < tree_size:
                raise ProofError("index must be below tree_size")
            return InclusionProof(index, tree_size, log.leaf_hash(conn, index),
                                  log.root(conn, tree_size),
                                  list(log.inclusion_proof(conn, index, tree_size)))
        except (ProofError, KeyError) as exc:
            raise BadInput(f"no such proof: {exc}") from None


def consistency_proof(vault: Vault, first: int, second: int, *, actor: Actor) -> ConsistencyProof:
    """RFC 9162 consistency proof that the tree at ``second`` extends the tree at ``first``."""
    with vault.operation(Operation("audit.proof", actor)) as (conn, op):
        authorise(actor, "audit", register=vault.register, op=op)
        log = audit_log(vault.config)
        op.details.update({"first": first, "second": second})
        try:
            if not 0 < first <= second:
                raise ProofError("need 0 < first <= second")
            return ConsistencyProof(first, second, log.root(conn, first),
                                    log.root(conn, second),
                                    list(log.consistency_proof(conn, first, second)))
        except (ProofError, KeyError) as exc:
            raise BadInput(f"no such proof: {exc}") from None


def _verifier(config: Config) -> VerifierKey:
    vkey = config.audit_key_path.with_suffix(".vkey")
    if vkey.exists():
        return VerifierKey.from_vkey(vkey.read_text())
    return AuditSigner.load(config.audit_key_path, config.audit_origin).verifier


def status(vault: Vault, *, actor: Actor, verify: bool = False) -> dict[str, Any]:
    """Size of the log, its latest signed checkpoint, and (on request) a full verification:
    every entry rehashed, every checkpoint's signature and consistency checked, and the log
    checked to extend every checkpoint witnessed outside the database."""
    # decided and logged first; the reads below take a snapshot of their own (on SQLite no
    # write lock), so a long verification does not hold up the writers
    with vault.operation(Operation("audit.status", actor, details={"verify": verify})) as (
        _conn, op,
    ):
        authorise(actor, "audit", register=vault.register, op=op)
    log = audit_log(vault.config)
    out: dict[str, Any] = {"origin": vault.config.audit_origin}
    # witnessed checkpoints before the snapshot: every one of them is then visible in it
    trusted = WitnessFile(vault.config.audit_witness_file).read().trusted() if verify else []
    with snapshot(vault.engine) as conn:
        out["size"] = log.size(conn)
        latest = log.latest_checkpoint(conn)
        out["checkpoint"] = (
            None if latest is None else
            {"size": latest[0], "at": latest[2], "root": latest[1].split("\n")[2]}
        )
        if verify:
            # a log shortened below its witness fails here as in `confida audit verify`
            r = log.verify_live(conn, _verifier(vault.config), trusted_checkpoints=trusted)
            out["verify"] = {"ok": r.ok, "size": r.size, "checkpoints": r.checkpoints,
                             "verified_size": r.verified_size,
                             "first_bad_index": r.first_bad_index,
                             "errors": r.errors[:10], "warnings": r.warnings[:10]}
    if verify:
        with vault.operation(Operation("audit.verify", actor)) as (_conn, op):
            authorise(actor, "audit", register=vault.register, op=op)
            op.details.update({"ok": out["verify"]["ok"], "size": out["verify"]["size"]})
    return out


def witnessed(config: Config) -> list[Any] | Exception:
    """The checkpoints (and restore records) witnessed outside the database; read them before
    the snapshot that is verified against them. An unreadable file is returned, not raised:
    the compliance check reports it."""
    try:
        return list(WitnessFile(config.audit_witness_file).read().trusted())
    except (OSError, ValueError) as exc:
        return exc


def log_status(config: Config, conn: Connection,
               witness: list[Any] | Exception | None = None) -> AuditStatus:
    """Verify the live log in the caller's snapshot, against the witnessed checkpoints (read
    before that snapshot): without them a log shortened in the database would verify."""
    log = audit_log(config)
    size = log.size(conn)
    try:
        verifier = _verifier(config)
    except (OSError, ValueError) as exc:
        return AuditStatus(size, False,
                           [f"audit verification key unavailable: {type(exc).__name__}"])
    trusted = witness if witness is not None else witnessed(config)
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
        checkpoint_at=as_utc(latest[2]) if latest else None,
        oldest_unsigned_at=_entry_time(conn, signed) if signed < size else None,
    )


def _entry_time(conn: Connection, idx: int) -> datetime | None:
    t = audit_tables.entry
    raw = conn.execute(select(t.c.entry).where(t.c.idx == idx)).scalar()
    try:
        return as_utc(json.loads(raw).get("time")) if raw else None
    except (TypeError, ValueError, AttributeError):
        return None


def pin(conn: Connection) -> None:
    """Start the caller's snapshot now (SQLite and PostgreSQL both take it at the first read),
    so that what is committed afterwards stays out of it."""
    conn.execute(select(audit_tables.head).limit(1)).first()


def entries(conn: Connection) -> Iterator[dict[str, Any]]:
    """The log's entries as dicts, oldest first, in the caller's snapshot."""
    t = audit_tables.entry
    for (raw,) in conn.execute(select(t.c.entry).order_by(t.c.idx)):
        try:
            doc = json.loads(raw)
        except (TypeError, ValueError):
            continue
        if isinstance(doc, dict):
            yield doc
