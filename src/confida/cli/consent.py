"""``confida consent``: the consent ledger."""

from __future__ import annotations

from typing import Annotated

import typer

from confida import consent as consent_core
from confida.cli.output import console, emit, guard, new_table, print_table, state

app = typer.Typer(help="Grant, withdraw and show consent (an append-only ledger).",
                  no_args_is_help=True)

Subject = Annotated[str, typer.Argument(help="The host application's subject id.")]
Purpose = Annotated[str, typer.Argument(help="A consent-based purpose from the register.")]
Notice = Annotated[
    str | None,
    typer.Option("--notice-version", help="Notice version shown (default: the current one)."),
]


def _record(ctx: typer.Context, subject: str, purpose: str, action: str,
            notice: str | None) -> None:
    st = state(ctx)
    with guard(st), st.vault() as v:
        ev = consent_core.record_event(v, subject, purpose, action, source="cli",
                                       notice_version=notice, actor=st.actor())
    emit(st, ev, lambda: console.print(
        f"{'granted' if action == 'grant' else 'withdrew'} consent for {purpose} "
        f"(notice {ev.notice_version}, event {ev.id})"
    ))


@app.command()
def grant(ctx: typer.Context, subject: Subject, purpose: Purpose, notice: Notice = None) -> None:
    """Record that the subject consented to a purpose."""
    _record(ctx, subject, purpose, "grant", notice)


@app.command()
def withdraw(ctx: typer.Context, subject: Subject, purpose: Purpose, notice: Notice = None) -> None:
    """Record a withdrawal; it takes effect for every later processing at once."""
    _record(ctx, subject, purpose, "withdraw", notice)


@app.command()
def show(ctx: typer.Context, subject: Subject) -> None:
    """Current consent per purpose and the full history."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        current, hist = consent_core.show(v, subject, actor=st.actor())

    def human() -> None:
        t = new_table("purpose", "granted", "since", "notice", title="Current consent")
        for p, s in current.items():
            t.add_row(p, "yes" if s["granted"] else "no", str(s["since"] or "-"),
                      str(s["notice_version"] or "-"))
        print_table(t)
        h = new_table("event", "purpose", "action", "at", "source", "notice", ids=["event"],
                      title="History")
        for e in hist:
            h.add_row(str(e.id), e.purpose, e.action, e.at.isoformat(), e.source,
                      e.notice_version or "-")
        print_table(h)

    emit(st, {"current": current, "history": hist}, human)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="consent")
