"""The vault's audit sink: every core operation's entry goes into the Merkle log.

``Vault.operation`` calls :meth:`LogSink.append` inside the operation's own transaction, so an
operation and its entry commit together or not at all. A checkpoint is signed in the same
transaction when the policy says one is due (every N entries or T seconds); once that
transaction has committed, ``Vault.operation`` hands the note to :meth:`LogSink.committed`,
which appends it to the witness file outside the database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from confida.audit.checkpoint import AuditSigner, KeyFileError
from confida.audit.log import AuditLog, CheckpointPolicy
from confida.audit.witness import WitnessFile
from confida.config import Config
from confida.errors import KeyUnavailable
from confida.store.schema import audit_tables


def audit_log(config: Config) -> AuditLog:
    return AuditLog(
        audit_tables,
        origin=config.audit_origin,
        policy=CheckpointPolicy(
            every_entries=config.checkpoint_every_entries,
            every_seconds=float(config.checkpoint_every_seconds),
        ),
    )


def load_signer(config: Config) -> AuditSigner:
    try:
        return AuditSigner.load(config.audit_key_path, config.audit_origin)
    except (KeyFileError, OSError) as exc:
        raise KeyUnavailable(f"audit signing key: {exc}") from None


logger = logging.getLogger("confida.audit")


def witness(config: Config, note: str) -> None:
    """Append a committed checkpoint to the witness file; ``OSError`` if it cannot be written."""
    WitnessFile(config.audit_witness_file).append(note)


class LogSink:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.log = audit_log(config)
        self._signer: AuditSigner | None = None
        self._lock = threading.Lock()
        self.witness_failures = 0  # since start; each one is also logged as an error
        self.witness_error: str | None = None  # the last failure, until a later append succeeds

    @property
    def signer(self) -> AuditSigner:
        if self._signer is None:
            self._signer = load_signer(self.config)
        return self._signer

    def append(self, conn: Connection, entry: Mapping[str, Any]) -> str | None:
        """Append ``entry``; return the checkpoint note if this transaction signed a new one."""
        return self.append_many(conn, [entry])

    def append_many(self, conn: Connection, entries: Sequence[Mapping[str, Any]]) -> str | None:
        """Append ``entries`` in order (a group commit's batch); the checkpoint as above."""
        indices = self.log.append_many(conn, entries)
        return self.log.maybe_checkpoint(conn, self.signer,
                                         size=indices[-1] + 1 if indices else None)

    def committed(self, note: str) -> None:
        """Witness ``note`` now that its transaction has committed.

        Never raises: the operation is durable and must not be reported as failed. A failure is
        logged as an error, counted, and kept in ``witness_error``; ``confida audit verify``
        also warns while the newest checkpoint is missing from the witness file. The next
        checkpoint witnessed covers this one (it is a consistent extension of it).
        """
        self.log.checkpoint_committed(note)
        try:
            with self._lock:
                witness(self.config, note)
                self.witness_error = None
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            with self._lock:
                self.witness_failures += 1
                self.witness_error = f"{self.config.audit_witness_file}: {reason}"
            logger.error(
                "audit checkpoint signed but NOT witnessed: cannot append to %s: %s",
                self.config.audit_witness_file,
                reason,
            )


def open_sink(config: Config) -> LogSink:
    return LogSink(config)


def init_signing_key(config: Config) -> None:
    """Create the Ed25519 checkpoint key (0600) and its public ``.vkey`` beside it, once."""
    signer = AuditSigner.load_or_generate(config.audit_key_path, config.audit_origin)
    vkey = config.audit_key_path.with_suffix(".vkey")
    if not vkey.exists():
        vkey.write_text(signer.verifier.to_vkey() + "\n", "utf-8")
