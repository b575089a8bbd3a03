"""``confida requests``: data subject requests and their legal deadlines (Art. 12(3))."""

from __future__ import annotations

from typing import Annotated

import typer

from confida import request as core
from confida.cli.output import console, emit, guard, new_table, print_table, state

app = typer.Typer(help="Data subject requests and their deadlines.", no_args_is_help=True)

RequestArg = Annotated[str, typer.Argument(metavar="ID", help="The request id.")]


@app.command("list")
def list_(
    ctx: typer.Context,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only open, past due.")] = False,
    open_only: Annotated[bool, typer.Option("--open", help="Only open requests.")] = False,
    status: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
) -> None:
    """Requests by deadline, soonest first."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        rows = core.list_requests(v, overdue=overdue, open_only=open_only, status=status,
                                  actor=st.actor())

    def human() -> None:
        t = new_table("request", "type", "subject", "status", "received", "due", "verified by",
                      ids=["request", "subject"])
        for r in rows:
            due = f"{r.due_at:%Y-%m-%d}" + (" [bold red]OVERDUE[/]" if r.overdue else "")
            if r.extended_months:
                due += f" (+{r.extended_months} mo)"
            t.add_row(r.id, r.type, r.subject, r.status, f"{r.received_at:%Y-%m-%d}", due,
                      r.verified_by)
        print_table(t)

    emit(st, rows, human)


@app.command()
def extend(
    ctx: typer.Context,
    request_id: RequestArg,
    months: Annotated[int, typer.Option("--months", help="1 or 2 further months.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (told to the person).")],
) -> None:
    """Extend a deadline once by up to two months, with reasons (Art. 12(3))."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        r = core.extend(v, request_id, months, reason, actor=st.actor())
    emit(st, r, lambda: console.print(f"request {r.id} now due {r.due_at:%Y-%m-%d}"))


@app.command()
def complete(ctx: typer.Context, request_id: RequestArg) -> None:
    """Mark a request answered."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        r = core.complete(v, request_id, actor=st.actor())
    emit(st, r, lambda: console.print(f"request {r.id} completed"))


@app.command()
def reject(
    ctx: typer.Context,
    request_id: RequestArg,
    reason: Annotated[str, typer.Option("--reason", help="Why (told to the person).")],
) -> None:
    """Refuse a request, with the reason the person is told (Art. 12(4))."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        r = core.reject(v, request_id, reason, actor=st.actor())
    emit(st, r, lambda: console.print(f"request {r.id} rejected"))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="requests")
