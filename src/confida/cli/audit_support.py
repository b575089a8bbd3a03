"""What the audit commands need from the vault: its engine, its log and the signing key.

The log lives in the record store (tables from ``confida.store.schema.audit_tables``, created by
Alembic); the key is ``keys/audit-ed25519.pem`` in the data directory, beside its public ``.vkey``;
checkpoints are witnessed in ``Config.audit_witness_file`` (``audit/witness.jsonl`` by default).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import Engine

from confida.audit.checkpoint import AuditSigner, VerifierKey
from confida.audit.log import AuditLog
from confida.audit.sink import audit_log
from confida.config import Config
from confida.permissions import UnsafePermissions, require_safe
from confida.store.engine import make_engine

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
    witness_path: Path | None = None  # the installation's witness file (Config.audit_witness_file)

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
    """Open the vault's audit log from the data directory's configuration."""

    opts = cli_options(ctx)
    cfg = Config.load(opts.get("data_dir"), database_url=opts.get("database_url"))
    if not cfg.is_initialised and not opts.get("database_url"):
        _not_initialised(cfg.data_dir, bool(opts.get("json")))
    if cfg.is_initialised:
        _require_safe(cfg, bool(opts.get("json")))
    engine = make_engine(cfg.database_url)
    return AuditContext(
        engine=engine,
        log=audit_log(cfg),
        key_path=cfg.audit_key_path,
        key_name=cfg.audit_origin,
        witness_path=cfg.audit_witness_file,
    )


def _not_initialised(data_dir: Path, as_json: bool) -> None:
    msg = f"{data_dir} is not a Confida data directory; run `confida init` or pass --data-dir"
    typer.echo(json.dumps({"ok": False, "error": msg}) if as_json else f"error: {msg}", err=True)
    raise typer.Exit(2)


def _require_safe(cfg: Any, as_json: bool) -> None:
    """The same refusal as every other opener of the vault (``confida.permissions``)."""

    try:
        require_safe(cfg)
    except UnsafePermissions as exc:
        typer.echo(json.dumps({"ok": False, "error": exc.message}) if as_json
                   else f"error: {exc.message}", err=True)
        raise typer.Exit(exc.exit_code) from None
