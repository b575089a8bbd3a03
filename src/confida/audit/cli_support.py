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

__all__ = ["OPTIONS_KEY", "AuditContext", "cli_options", "open_log"]

# Same default as the vault's Config.audit_origin.
ORIGIN = os.environ.get("CONFIDA_AUDIT_ORIGIN", "confida.local/audit")
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


OPTIONS_KEY = "confida.audit.options"


def cli_options(ctx: typer.Context) -> dict[str, Any]:
    """Options for the audit commands, from the sub-app's callback and the root app.

    The sub-app keeps its own options in ``ctx.meta`` (shared by the whole context chain) and
    never replaces ``ctx.obj``, which the root app owns. Values set on the root (the vault's
    ``State`` with ``data_dir`` and ``json``, or a dict) take precedence when not None.
    """
    opts: dict[str, Any] = dict(ctx.meta.get(OPTIONS_KEY, {}))
    root = ctx.find_root().obj
    for name in ("data_dir", "database_url", "json"):
        value = root.get(name) if isinstance(root, dict) else getattr(root, name, None)
        if value is None:
            continue
        opts[name] = bool(opts.get(name)) or bool(value) if name == "json" else value
    return opts


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
