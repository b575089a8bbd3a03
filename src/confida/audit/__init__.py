"""Tamper-evident audit log: an RFC 9162 Merkle tree with signed C2SP checkpoints.

Import from here; the submodules are ``merkle`` (pure hashing and proofs), ``checkpoint``
(signed notes, keys), ``entry`` (the entry model), ``tables`` (SQLAlchemy tables), ``log``
(the database-backed log) and ``verify`` (the verifier).
"""

from confida.audit.checkpoint import AuditSigner, Checkpoint, NoteError, VerifierKey
from confida.audit.entry import AuditEntry
from confida.audit.log import AuditLog, CheckpointPolicy, LogCorrupted, verify_export
from confida.audit.merkle import ProofError, verify_consistency, verify_inclusion
from confida.audit.tables import AuditTables, define_tables
from confida.audit.verify import VerifyResult

__all__ = [
    "AuditEntry",
    "AuditLog",
    "AuditSigner",
    "AuditTables",
    "Checkpoint",
    "CheckpointPolicy",
    "LogCorrupted",
    "NoteError",
    "ProofError",
    "VerifierKey",
    "VerifyResult",
    "define_tables",
    "verify_consistency",
    "verify_export",
    "verify_inclusion",
]
