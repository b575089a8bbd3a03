"""The operator's work on the audit log: verify it, sign a checkpoint, prove an entry, export.

What ``confida audit`` does on the host, each an audited act (role action ``audit``) whose
entry shows who looked. These must keep working on a log that is damaged: that is when they are
needed. So the decision is made and logged first, in an operation of its own (an append needs
only the head and the right edge of the tree, not a healthy log), and the long reads then run in
a snapshot that holds no writer up; a verification's snapshot is taken before its own entry
commits. A damaged log is reported by the verification, never hidden
by a refusal to look.

Checking an exported directory reads files, not the store: that is
:func:`confida.audit.log.verify_export`, a pure function the console calls directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confida.audit.checkpoint import AuditSigner, VerifierKey
from confida.audit.log import encode_proof
from confida.audit.merkle import ProofError
from confida.audit.reads import pin
from confida.audit.sink import audit_log, witness
from confida.audit.verify import VerifyResult
from confida.authz import authorise
from confida.config import Config
from confida.errors import BadInput
from confida.operation import Actor, Operation
from confida.store.engine import snapshot
from confida.vault import Vault

__all__ = ["EntryProof", "SignedCheckpoint", "export_log", "prove_entry", "sign_checkpoint",
           "verifier", "verify_log"]


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint signed and committed; ``witness_error`` when the witness file refused it."""

    note: str
    witness_path: Path | None
    witness_error: str | None = None


@dataclass(frozen=True)
class EntryProof:
    """Entry ``index`` with its inclusion proof in the tree of ``tree_size`` entries (base64)."""

    index: int
    tree_size: int
    entry: str
    leaf_hash: bytes
    root: bytes
    proof: list[str]
    checkpoint: str | None


def verifier(config: Config) -> VerifierKey:
    """The installation's public key (``.vkey``), else derived from the private key.

    Raises ``KeyFileError``/``OSError``/``NoteError`` when there is none to read."""
    vkey_path = config.audit_key_path.with_suffix(".vkey")
    if vkey_path.exists():
        return VerifierKey.from_vkey(vkey_path.read_text())
    return AuditSigner.load(config.audit_key_path, config.audit_origin).verifier


def verify_log(vault: Vault, *, actor: Actor, key: VerifierKey | None = None,
               trusted: Sequence[Any] = ()) -> VerifyResult:
    """Recompute the whole tree, check every signed checkpoint and that the log extends every
    ``trusted`` (witnessed) checkpoint, read by the caller before this call."""
    with vault.operation(Operation("audit.verify", actor)) as (_conn, op):
        authorise(actor, "audit", register=vault.register, op=op)
        op.details["own_key"] = key is not None
        # the snapshot starts before this entry commits: the log is verified as it was found,
        # not lengthened by the act of looking at it (closed with ``held``, or when collected)
        held = ExitStack()
        conn = held.enter_context(snapshot(vault.engine))
        pin(conn)
    with held:
        used = key if key is not None else verifier(vault.config)
        return audit_log(vault.config).verify_live(conn, used, trusted_checkpoints=list(trusted))


def sign_checkpoint(vault: Vault, *, actor: Actor) -> SignedCheckpoint:
    """Sign a checkpoint of the log as it is now (creating the key, 0600, on first use) and,
    once committed, append it to the witness file outside the database.

    ``LogCorrupted`` when the log does not verify up to its latest checkpoint: nothing is
    signed over a damaged log."""
    config = vault.config
    with vault.operation(Operation("audit.checkpoint", actor)) as (conn, op):
        authorise(actor, "audit", register=vault.register, op=op)
        if not config.audit_key_path.exists():
            signer = AuditSigner.generate(config.audit_key_path, config.audit_origin)
        else:
            signer = AuditSigner.load(config.audit_key_path, config.audit_origin)
        note = audit_log(config).checkpoint(conn, signer)
        op.details["tree_size"] = int(note.split("\n")[1])
    path = config.audit_witness_file
    if path is None:
        return SignedCheckpoint(note, None)
    try:
        witness(config, note)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return SignedCheckpoint(note, path, f"cannot append to the witness file {path}: {reason}")
    return SignedCheckpoint(note, path)


def prove_entry(vault: Vault, index: int, size: int | None = None, *,
                actor: Actor) -> EntryProof:
    """Entry ``index`` and its inclusion proof, against the latest signed checkpoint covering
    it when ``size`` is not given (else the whole log), or against the tree of ``size``."""
    with vault.operation(Operation("audit.proof", actor)) as (conn, op):
        authorise(actor, "audit", register=vault.register, op=op)
        op.details.update({"index": index, "tree_size": size})
        log = audit_log(vault.config)
        note = None
        if size is None:
            latest = log.latest_checkpoint(conn)
            if latest is not None and index < latest[0]:
                size, note = latest[0], latest[1]
            else:
                size = log.size(conn)
        else:
            note = log.checkpoint_at(conn, size)
        try:
            path = log.inclusion_proof(conn, index, size)
        except ProofError as exc:
            raise BadInput(str(exc)) from None
        return EntryProof(index, size, log.entry(conn, index).decode(),
                          log.leaf_hash(conn, index), log.root(conn, size),
                          encode_proof(path), note)


def export_log(vault: Vault, out: Path, *, actor: Actor) -> int:
    """Write entries, checkpoints, the public key and stored hashes into ``out`` (an empty
    directory) for offline verification; return the number of entries written."""
    with vault.operation(Operation("audit.export", actor)) as (_conn, op):
        authorise(actor, "audit", register=vault.register, op=op)
    try:
        key = verifier(vault.config)
    except (OSError, ValueError) as exc:
        raise BadInput(f"no audit key to export ({exc})") from None
    log = audit_log(vault.config)
    with snapshot(vault.engine) as conn:
        log.export(conn, out, key)
        return log.size(conn)
