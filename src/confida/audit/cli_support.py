"""INTEGRATION SEAM — to be replaced by the vault's own context when the CLI is assembled.

The audit commands need a database connection, the log's tables and the signing key. In the
vault these come from the data directory's configuration and the project's single MetaData /
Alembic migration. Until that exists, :func:`open_log` builds them from ``--database-url`` or
``<data_dir>/confida.db`` (SQLite) and ``<data_dir>/keys/audit-ed25519.pem``, and creates the
tables itself. The commands in :mod:`confida.cli.audit` only ever call :func:`open_log` and use
the returned :class:`AuditContext`, so replacing this module is the whole integration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import Engine, MetaData, create_engine

from confida.audit.checkpoint import AuditSigner, VerifierKey
from confida.audit.log import AuditLog
from confida.audit.tables import define_tables

__all__ = ["AuditContext", "cli_options", "open_log"]

ORIGIN = os.environ.get("CONFIDA_AUDIT_ORIGIN", "confida/audit")
KEY_FILE = Path("keys") / "audit-ed25519.pem"


@dataclass
class AuditContext:
    """What an audit command needs: the engine, the log and the signing key's location."""

    engine: Engine
    log: AuditLog
    key_path: Path
    key_name: str

    def signer(self, create: bool = False) -> AuditSigner:
        """The signing key; created (mode 0600) only when ``create`` and absent."""
        if create and not self.key_path.exists():
            return AuditSigner.generate(self.key_path, self.key_name)
        return AuditSigner.load(self.key_path, self.key_name)

    def verifier(self) -> VerifierKey:
        """The public key next to the private one (``.vkey``), else derived from the private key."""
        vkey_path = self.key_path.with_suffix(".vkey")
        if vkey_path.exists():
            return VerifierKey.from_vkey(vkey_path.read_text())
        return self.signer().verifier

    def close(self) -> None:
        self.engine.dispose()


def cli_options(ctx: typer.Context) -> dict[str, Any]:
    """The options collected by the audit sub-app's callback (or by the parent app)."""
    obj = ctx.find_root().obj if ctx.find_root().obj is not None else ctx.obj
    return obj if isinstance(obj, dict) else {}


def open_log(ctx: typer.Context) -> AuditContext:
    """Open the audit log named by the command line (seam: the vault replaces this)."""
    opts = cli_options(ctx)
    data_dir = Path(opts.get("data_dir") or "confida-data")
    url = opts.get("database_url") or f"sqlite:///{data_dir / 'confida.db'}"
    if url.startswith("sqlite:///"):
        data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    log = AuditLog(define_tables(MetaData()), origin=ORIGIN)
    with engine.begin() as conn:
        log.create(conn)
    return AuditContext(engine=engine, log=log, key_path=data_dir / KEY_FILE, key_name=ORIGIN)
