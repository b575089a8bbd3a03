"""The root Typer app: global options and the sub-commands of each domain module."""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from confida import __version__
from confida.cli.output import State

app = typer.Typer(
    name="confida",
    help="Confida: GDPR and confidentiality by construction for the personal data of AI services.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"confida {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    data_dir: Annotated[
        str | None,
        typer.Option(
            "--data-dir", envvar="CONFIDA_DATA_DIR",
            help="Data directory (default ./confida-data).",
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Machine-readable JSON output.")
    ] = False,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    """Global options apply to every command."""
    ctx.obj = State(data_dir=data_dir, json=json_out)


# Each module adds its commands; optional ones (later features) are skipped if absent.
for _name in (
    "confida.cli.init", "confida.cli.register_cmd", "confida.cli.records",
    "confida.cli.consent", "confida.cli.keys", "confida.cli.serve", "confida.cli.scan",
    "confida.cli.audit", "confida.cli.rights", "confida.cli.requests", "confida.cli.transparency",
    "confida.cli.export", "confida.cli.analytics", "confida.cli.apikey", "confida.cli.demo",
    "confida.cli.backup",
):
    try:
        _mod = importlib.import_module(_name)
    except ModuleNotFoundError as _exc:
        if _exc.name != _name:
            raise
        continue
    if hasattr(_mod, "register"):
        _mod.register(app)
    elif hasattr(_mod, "app"):
        app.add_typer(_mod.app, name=_name.rsplit(".", 1)[1].removesuffix("_cmd"))


def main() -> None:
    app()
