"""The root Typer app: global options and the sub-commands of each domain module."""

from __future__ import annotations

from typing import Annotated

import typer

from confida.cli import (
    analytics,
    apikey,
    audit,
    backup,
    consent,
    demo,
    export,
    init,
    keys,
    pii_cmd,
    records,
    register_cmd,
    requests,
    rights,
    scan,
    serve,
    transparency,
)
from confida.cli import gateway as gateway_cmd  # --- privacy gateway
from confida.cli import webhooks as webhooks_cmd  # --- webhooks
from confida.cli.group import ConfidaGroup
from confida.cli.output import State
from confida.version import __version__

app = typer.Typer(
    name="confida",
    help="Confida: GDPR and confidentiality by construction for the personal data of AI services.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=ConfidaGroup,  # --json and --data-dir after the command too; usage errors as JSON
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
            "--data-dir", envvar="CONFIDA_DATA_DIR", metavar="DIR",
            help="Data directory (default ./confida-data); also accepted after the command, "
            "where it wins.",
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Machine-readable JSON output, errors included "
                           "(also accepted after the command).")
    ] = False,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    """Global options apply to every command, before or after it."""
    source = ctx.get_parameter_source("data_dir")
    ctx.obj = State(data_dir=data_dir, json=json_out,
                    data_dir_explicit=source is not None and source.name == "COMMANDLINE")


# Each domain's commands, in the order `confida --help` lists them.
for _register in (
    init.register, register_cmd.register, records.register, consent.register, keys.register,
    serve.register, scan.register, pii_cmd.register, audit.register, rights.register,
    requests.register, transparency.register, export.register, analytics.register,
    apikey.register, demo.register,
    backup.register,
    webhooks_cmd.register,  # --- webhooks
    gateway_cmd.register,  # --- privacy gateway
):
    _register(app)


def main() -> None:
    app()
