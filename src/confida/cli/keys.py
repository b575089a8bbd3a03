"""``confida keys``: key-encryption key rotation and status."""

from __future__ import annotations

import typer
from rich.progress import Progress

from confida.cli.output import console, emit, guard, state

app = typer.Typer(help="Key-encryption key: rotate, status.", no_args_is_help=True)


@app.command()
def rotate(ctx: typer.Context) -> None:
    """Create a new KEK version and re-wrap every data key (records are not touched).

    Resumable: if interrupted, run it again and it finishes the same rotation.
    """
    st = state(ctx)
    with guard(st), st.vault() as v:
        if st.json:
            res = v.keys.rotate()
        else:
            with Progress(console=console, transient=True) as bar:
                task = bar.add_task("re-wrapping data keys", total=None)

                def progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                res = v.keys.rotate(progress=progress)
        _audit_rotation(v, st, res)
    emit(st, res, lambda: console.print(
        f"{'resumed and finished' if res['resumed'] else 'rotated to'} KEK {res['version']}: "
        f"{res['rewrapped']} data keys re-wrapped"
    ))


def _audit_rotation(v: object, st: object, res: dict[str, object]) -> None:
    from confida.vault import Operation

    op = Operation("keys.rotate", st.actor(), details=dict(res))  # type: ignore[attr-defined]
    with v.operation(op):  # type: ignore[attr-defined]
        pass


@app.command()
def status(ctx: typer.Context) -> None:
    """KEK versions and their state."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        versions = v.keys.versions()
    def human() -> None:
        for r in versions:
            console.print(f"{r['version']}  {r['state']:<9} {r['provider']}  {r['created_at']}")

    emit(st, versions, human)
