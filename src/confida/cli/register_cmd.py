"""``confida register``: check and show the processing register."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from confida.cli.output import console, emit, guard, state
from confida.register import load_register

app = typer.Typer(help="The processing register: validate, show, notice, record of processing.",
                  no_args_is_help=True)


@app.command()
def validate(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(help="Register file (default: the data dir's).")]
    = None,
) -> None:
    """Check a register; errors name the file, the path in the document and the problem."""
    st = state(ctx)
    with guard(st):
        path = file or st.config().register_path
        reg = load_register(path)
    summary = {
        "file": str(path), "valid": True, "version": reg.content_hash(),
        "categories": len(reg.categories), "kinds": len(reg.kinds),
        "purposes": len(reg.purposes), "roles": len(reg.roles),
    }
    emit(st, summary, lambda: console.print(
        f"[green]valid[/]: {path} ({summary['categories']} categories, {summary['kinds']} kinds, "
        f"{summary['purposes']} purposes, {summary['roles']} roles)"
    ))


@app.command()
def show(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(help="Register file (default: the data dir's).")]
    = None,
) -> None:
    """Show purposes with their legal basis, retention and kinds."""
    st = state(ctx)
    with guard(st):
        reg = load_register(file or st.config().register_path)

    def human() -> None:
        t = Table(title=f"Purposes of {reg.controller.name}")
        for col in ("purpose", "legal basis", "consent", "retention", "kinds"):
            t.add_column(col)
        for name, p in reg.purposes.items():
            t.add_row(name, p.legal_basis.value, "yes" if p.consent_required else "no",
                      str(p.retention), ", ".join(p.kinds))
        console.print(t)
        k = Table(title="Record kinds")
        for col in ("kind", "fields (category)", "scanned"):
            k.add_column(col)
        for name, kind in reg.kinds.items():
            k.add_row(name, ", ".join(f"{f} ({s.category})" for f, s in kind.fields.items()),
                      ", ".join(f for f, s in kind.fields.items() if s.scan) or "-")
        console.print(k)

    emit(st, {"version": reg.content_hash(), **reg.model_dump(mode="json")}, human)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="register")
