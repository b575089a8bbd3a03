"""``confida keys``: key-encryption key rotation, retirement and status."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import Progress

from confida import kek_lifecycle
from confida.cli.output import console, emit, guard, state
from confida.errors import BadInput
from confida.register.duration import Duration

app = typer.Typer(help="Key-encryption key: rotate, retire, status.", no_args_is_help=True)


@app.command()
def rotate(ctx: typer.Context) -> None:
    """Create a new KEK version and re-wrap every data key (records are not touched).

    Resumable: if interrupted, run it again and it finishes the same rotation.
    """
    st = state(ctx)
    with guard(st), st.vault() as v:
        if st.json:
            res = kek_lifecycle.rotate(v, actor=st.actor())
        else:
            with Progress(console=console, transient=True) as bar:
                task = bar.add_task("re-wrapping data keys", total=None)

                def progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                res = kek_lifecycle.rotate(v, actor=st.actor(), progress=progress)
    emit(st, res, lambda: console.print(
        f"{'resumed and finished' if res['resumed'] else 'rotated to'} KEK {res['version']}: "
        f"{res['rewrapped']} data keys re-wrapped"
    ))


def _window(text: str | None, default: Any) -> Any:
    if text is None:
        return default
    try:
        return Duration.parse(text)
    except ValueError as exc:
        raise BadInput(f"--older-than: {exc}") from None


@app.command()
def retire(
    ctx: typer.Context,
    older_than: Annotated[
        str | None,
        typer.Option("--older-than", help="Destroy versions retired longer ago than this "
                     "(e.g. 30d, '6 months', P30D); default: kek_retire_after in confida.toml."),
    ] = None,
) -> None:
    """Destroy KEK versions retired longer ago than the window (key file or HSM object).

    After this, a key-store backup from before their rotation opens nothing. Refused while a
    retired version still wraps a data key (finish `confida keys rotate` first); the active and
    rotating versions are never destroyed.
    """
    st = state(ctx)
    with guard(st), st.vault() as v:
        window = _window(older_than, v.config.kek_retire_window)
        res = kek_lifecycle.retire_due(v, actor=st.actor(), window=window)
    emit(st, res, lambda: console.print(
        f"destroyed KEK version(s) {', '.join(res['destroyed'])}"  # type: ignore[arg-type]
        if res["destroyed"] else
        f"no KEK version has been retired for longer than {window}; nothing destroyed"
    ))


@app.command()
def status(ctx: typer.Context) -> None:
    """KEK versions, their state, and when each retired one may be destroyed."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        window = v.config.kek_retire_window
        versions = kek_lifecycle.status(v, actor=st.actor())

    def human() -> None:
        for r in versions:
            note = ""
            if r["destroyable_at"] is not None:
                note = f"  destroyable from {r['destroyable_at']:%Y-%m-%d %H:%M} UTC"
            elif r["state"] == "destroyed" and r.get("destroyed_at"):
                note = f"  destroyed {r['destroyed_at']:%Y-%m-%d %H:%M} UTC"
            console.print(f"{r['version']}  {r['state']:<9} {r['provider']}  "
                          f"{r['created_at']:%Y-%m-%d %H:%M} UTC{note}")
        console.print(f"retired versions are destroyable {window} after retirement "
                      "(kek_retire_after); run `confida keys retire`")

    emit(st, versions, human)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="keys")
