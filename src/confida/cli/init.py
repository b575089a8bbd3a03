"""``confida init``: a working, safe installation in one command."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from confida.cli.output import State, console, emit, guard, state
from confida.config import CONFIG_FILE, Config
from confida.errors import BadInput
from confida.permissions import require_safe
from confida.register import load_register
from confida.tls import create_self_signed
from confida.vault import initialise_stores


def sample_register_text() -> str:
    return resources.files("confida").joinpath("data/sample-register.yaml").read_text("utf-8")


def _write_private_text(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def register(app: typer.Typer) -> None:
    @app.command()
    def init(
        ctx: typer.Context,
        register_file: Annotated[
            Path | None,
            typer.Option("--register", help="Processing register to install (default: sample)."),
        ] = None,
        database_url: Annotated[
            str | None,
            typer.Option("--database-url", help="PostgreSQL URL instead of the embedded SQLite."),
        ] = None,
        kek_provider: Annotated[
            str, typer.Option("--kek-provider", help="'file' (default) or 'pkcs11'.")
        ] = "file",
    ) -> None:
        """Create the data dir: SQLite store, key files (0600), TLS certificate, register.

        Running it again on an initialised data dir only migrates the schemas; it never
        overwrites a key, the register or the configuration.
        """
        st = state(ctx)
        with guard(st):
            cfg, created = initialise(st, register_file=register_file,
                                      database_url=database_url, kek_provider=kek_provider)
        result = {"data_dir": str(cfg.data_dir), "created": created}
        emit(st, result, lambda: console.print(
            f"{'Initialised' if created else 'Already initialised; schemas up to date:'} "
            f"{cfg.data_dir}"
        ))

    _ = init


def initialise(st: State, *, register_file: Path | None = None, database_url: str | None = None,
               kek_provider: str = "file") -> tuple[Config, bool]:
    """``confida init`` on ``st``'s data dir: the config and whether it was created now.

    Running it again on an initialised data dir only migrates the schemas; it never
    overwrites a key, the register or the configuration.
    """
    cfg = st.config()
    created = not cfg.is_initialised
    require_safe(cfg)  # an existing dir open to others is not made into a vault
    if created:
        if register_file is not None:
            load_register(register_file)  # validate before writing anything
            text = register_file.read_text("utf-8")
        else:
            text = sample_register_text()
        if kek_provider not in ("file", "pkcs11"):
            raise BadInput("--kek-provider is 'file' or 'pkcs11'")
        cfg.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        cfg.keys_dir.mkdir(exist_ok=True, mode=0o700)
        if not cfg.register_path.exists():
            cfg.register_path.write_text(text, "utf-8")
        lines = ["# Confida settings; see README.md", f'kek_provider = "{kek_provider}"']
        if database_url:
            lines.append(f'database_url = "{database_url}"')
        cfg = st.config(kek_provider=kek_provider, database_url=database_url)
    elif register_file is not None:
        raise BadInput(
            f"{cfg.data_dir} is already initialised; edit {cfg.register_path} instead"
        )
    initialise_stores(cfg)
    if not cfg.tls_cert.exists():
        create_self_signed(cfg.tls_cert, cfg.tls_key)
    if created:
        # Written last: its presence marks a complete installation.
        # 0600: it may hold a database password.
        _write_private_text(cfg.data_dir / CONFIG_FILE, "\n".join(lines) + "\n")
    require_safe(cfg)
    return cfg, created


__all__ = ["initialise", "register", "sample_register_text"]
