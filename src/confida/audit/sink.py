"""The vault's audit sink: every core operation's entry goes into the Merkle log.

``Vault.operation`` calls :meth:`LogSink.append` inside the operation's own transaction, so an
operation and its entry commit together or not at all. A checkpoint is signed in the same
transaction when the policy says one is due (every N entries or T seconds).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from confida.audit.checkpoint import AuditSigner, KeyFileError
from confida.audit.log import AuditLog, CheckpointPolicy
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


class LogSink:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.log = audit_log(config)
        self._signer: AuditSigner | None = None

    @property
    def signer(self) -> AuditSigner:
        if self._signer is None:
            self._signer = load_signer(self.config)
        return self._signer

    def append(self, conn: Connection, entry: Mapping[str, Any]) -> None:
        self.log.append(conn, entry)
        self.log.maybe_checkpoint(conn, self.signer)


def open_sink(config: Config) -> LogSink:
    return LogSink(config)


def init_signing_key(config: Config) -> None:
    """Create the Ed25519 checkpoint key (0600) and its public ``.vkey`` beside it, once."""
    signer = AuditSigner.load_or_generate(config.audit_key_path, config.audit_origin)
    vkey = config.audit_key_path.with_suffix(".vkey")
    if not vkey.exists():
        vkey.write_text(signer.verifier.to_vkey() + "\n", "utf-8")
