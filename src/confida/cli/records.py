"""``confida collect`` and ``confida records``: store and read records under the rules."""

from __future__ import annotations

from typing import Annotated

import typer

from confida import record as records_core
from confida.cli.output import (
    console,
    emit,
    guard,
    new_table,
    print_table,
    read_json_arg,
    state,
)

app = typer.Typer(help="Read and update records under the same access rules as the API.",
                  no_args_is_help=True)


def register(root: typer.Typer) -> None:
    @root.command()
    def collect(
        ctx: typer.Context,
        subject: Annotated[str, typer.Argument(help="The host application's subject id.")],
        kind: Annotated[str, typer.Argument(help="Record kind declared in the register.")],
        purpose: Annotated[str, typer.Option("--purpose", "-p", help="Purpose of collection.")],
        data: Annotated[str, typer.Option("--data", "-d", help="JSON, @FILE or @- (stdin).")],
    ) -> None:
        """Store one record through the full flow (minimise, check basis, scan, encrypt)."""
        st = state(ctx)
        with guard(st), st.vault() as v:
            res = records_core.collect(v, subject, kind, read_json_arg(data), purpose,
                                       actor=st.actor())
        emit(st, res, lambda: console.print(
            f"collected {res.record_id} ({res.kind} for {res.purpose}; "
            f"kept until {res.retain_until:%Y-%m-%d}; dropped fields: {res.dropped_fields}; "
            f"PII: {res.pii_summary or 'none'})"
        ))

    root.add_typer(app, name="records")


@app.command("list")
def list_(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="The host application's subject id.")],
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    purpose: Annotated[str | None, typer.Option(help="Only records collected for this.")] = None,
) -> None:
    """List a subject's records: metadata only, nothing is decrypted."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        rows = records_core.list_records(v, subject, kind=kind, purpose=purpose, actor=st.actor())

    def human() -> None:
        t = new_table("record", "kind", "purpose", "created", "kept until", "PII",
                      ids=["record"])
        for r in rows:
            t.add_row(r.id, r.kind, r.purpose, f"{r.created_at:%Y-%m-%d %H:%M}",
                      f"{r.retain_until:%Y-%m-%d}",
                      ", ".join(f"{k}:{n}" for k, n in sorted(r.pii_summary.items())) or "-")
        print_table(t)

    emit(st, rows, human)


@app.command()
def get(
    ctx: typer.Context,
    record_id: Annotated[str, typer.Argument(metavar="RECORD")],
    purpose: Annotated[str, typer.Option("--purpose", "-p", help="Why you read it.")],
) -> None:
    """Read one record for a stated purpose (checked against basis, consent, restriction)."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        rec = records_core.read(v, record_id, purpose, actor=st.actor())
    emit(st, rec, lambda: console.print_json(data=rec.data))


@app.command()
def update(
    ctx: typer.Context,
    record_id: Annotated[str, typer.Argument(metavar="RECORD")],
    purpose: Annotated[str, typer.Option("--purpose", "-p", help="Why you change it.")],
    data: Annotated[str, typer.Option("--data", "-d", help="Changed fields: JSON, @FILE, @-.")],
) -> None:
    """Change fields of a record; the old values are not kept."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        rec = records_core.update(v, record_id, read_json_arg(data), purpose, actor=st.actor())
    emit(st, rec, lambda: console.print(f"updated {rec.id}"))


@app.command("legal-hold")
def legal_hold(
    ctx: typer.Context,
    record_id: Annotated[str, typer.Argument(metavar="RECORD")],
    reason: Annotated[str, typer.Option(
        "--reason", help="The legal ground (no personal data; 1-500 characters).")],
    release: Annotated[bool, typer.Option(
        "--release", help="Lift the hold instead of placing it.")] = False,
) -> None:
    """Place a record under legal hold (Art. 17(3)(e)), or lift it: a held record survives
    erasure and retention until released."""
    from confida.rights.erasure import set_legal_hold

    st = state(ctx)
    with guard(st), st.vault() as v:
        held = set_legal_hold(v, record_id, not release, reason, actor=st.actor())
    emit(st, {"record": record_id, "legal_hold": held}, lambda: console.print(
        f"{record_id}: {'under legal hold' if held else 'legal hold released'}"))
