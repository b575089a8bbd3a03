"""Minimal stand-in for the Confida command line (the main branch owns the real one).

It exists so that ``confida scan`` / ``confida redact`` can be run and tested on this branch.
"""

from __future__ import annotations

from typing import Annotated

import typer

from confida.cli import scan

app = typer.Typer(help="Confida: GDPR and confidentiality by construction.", no_args_is_help=True)


@app.callback()
def _root(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Global options."""
    ctx.obj = {"json": as_json}


scan.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
