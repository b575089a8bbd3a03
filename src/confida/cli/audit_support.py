"""What the audit commands share: their options and the vault they act on.

The log lives in the record store; the key is ``keys/audit-ed25519.pem`` in the data directory,
beside its public ``.vkey``; checkpoints are witnessed in ``Config.audit_witness_file``. The work
itself is :mod:`confida.audit.admin`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import typer

from confida.config import Config
from confida.errors import ConfidaError
from confida.permissions import UnsafePermissions, require_safe
from confida.vault import Vault

__all__ = ["OPTIONS_KEY", "cli_options", "open_vault"]

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


def open_vault(ctx: typer.Context) -> Vault:
    """Open the vault from the data directory's configuration, refusing as every opener does."""

    opts = cli_options(ctx)
    cfg = Config.load(opts.get("data_dir"), database_url=opts.get("database_url"))
    if not cfg.is_initialised:
        _not_initialised(cfg.data_dir, bool(opts.get("json")))
    _require_safe(cfg, bool(opts.get("json")))
    try:
        return Vault.open(cfg)
    except ConfidaError as exc:
        _refuse(exc.message, exc.exit_code, bool(opts.get("json")))


def _not_initialised(data_dir: Path, as_json: bool) -> None:
    msg = f"{data_dir} is not a Confida data directory; run `confida init` or pass --data-dir"
    typer.echo(json.dumps({"ok": False, "error": msg}) if as_json else f"error: {msg}", err=True)
    raise typer.Exit(2)


def _require_safe(cfg: Any, as_json: bool) -> None:
    """The same refusal as every other opener of the vault (``confida.permissions``)."""

    try:
        require_safe(cfg)
    except UnsafePermissions as exc:
        _refuse(exc.message, exc.exit_code, as_json)


def _refuse(message: str, code: int, as_json: bool) -> NoReturn:
    typer.echo(json.dumps({"ok": False, "error": message}) if as_json
               else f"error: {message}", err=True)
    raise typer.Exit(code)
