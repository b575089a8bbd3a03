"""``confida rights``: the data subject rights, one command each (a thin adapter over
``confida.rights``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress

from confida import rights as core
from confida.cli.output import (
    console,
    emit,
    guard,
    new_table,
    print_table,
    read_json_arg,
    state,
    to_jsonable,
)
from confida.request import Request
from confida.safe_files import check_target

app = typer.Typer(help="Data subject rights: access, rectify, restrict, object, erase, feed.",
                  no_args_is_help=True)

Subject = Annotated[str, typer.Argument(help="The host application's subject id.")]
VerifiedBy = Annotated[
    str,
    typer.Option("--verified-by",
                 help="How the requester's identity was verified (e.g. 'session:mfa').",
                 show_default=False),
]
RequestId = Annotated[
    str | None,
    typer.Option("--request-id", help="Your own id for the request: a retry is idempotent."),
]


def _request_line(req: Request) -> str:
    return f"request {req.id} ({req.type}) {req.status}"


@app.command()
def access(
    ctx: typer.Context,
    subject: Subject,
    out: Annotated[Path, typer.Option("--out", "-o", help="The zip file to write (0600).")],
    verified_by: VerifiedBy,
    request_id: RequestId = None,
    portability: Annotated[
        bool, typer.Option("--portability", help="Record it as an Art. 20 portability request.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Access and portability export (Art. 15, 20): records as JSON and CSV plus a manifest."""
    st = state(ctx)
    with guard(st):
        check_target(out, force=force)  # before the request is opened
    with guard(st), st.vault() as v:
        res = core.access_export(v, subject, out, verified_by=verified_by,
                                 request_id=request_id, portability=portability,
                                 actor=st.actor(), force=force)
    emit(st, {"request": res.request, "out": str(out), "records": res.records,
              "files": res.files, "sha256": res.sha256},
         lambda: console.print(f"wrote {out}: {res.records} records in {len(res.files)} files; "
                               f"{_request_line(res.request)}"))


@app.command()
def erase(
    ctx: typer.Context,
    subject: Subject,
    verified_by: VerifiedBy,
    request_id: RequestId = None,
) -> None:
    """Erase a subject (Art. 17): data key destroyed first, then rows; resumable."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        if st.json:
            res = core.erase(v, subject, verified_by=verified_by, request_id=request_id,
                             actor=st.actor())
        else:
            with Progress(console=console, transient=True) as bar:
                task = bar.add_task("erasing", total=6)

                def step(name: str) -> None:
                    bar.update(task, advance=1, description=f"erasing: {name} done")

                res = core.erase(v, subject, verified_by=verified_by, request_id=request_id,
                                 actor=st.actor(), progress=step)

    counts = erase_counts(res.records, res.kept)

    def human() -> None:
        console.print(f"erased: data key destroyed; {summary_line(counts)}; "
                      f"feed notice {res.notice_id}; {_request_line(res.request)}",
                      soft_wrap=True)
        for k in res.kept:
            console.print(f"  kept {k['record']} ({k['kind']}, {k['purpose']}): {k['article']}",
                          soft_wrap=True)

    emit(st, {**to_jsonable(res), **counts}, human)


def erase_counts(records: int, kept: list[dict[str, Any]]) -> dict[str, int]:
    """What an erasure did, in numbers: ``deleted``, and ``kept_<ground>`` for each ground
    records were kept on (``legal_hold``, ``legal_obligation``; the list ``kept`` names them)."""
    out = {"deleted": records - len(kept), "kept_legal_hold": 0, "kept_legal_obligation": 0}
    for k in kept:
        key = f"kept_{k.get('ground') or 'other'}"
        out[key] = out.get(key, 0) + 1
    return out


def summary_line(counts: dict[str, int]) -> str:
    """``deleted 2 records, kept 1 (legal hold)``: every count named, none lumped together."""
    kept = [f"kept {n} ({key.removeprefix('kept_').replace('_', ' ')})"
            for key, n in counts.items() if key.startswith("kept_") and n]
    return ", ".join([f"deleted {_n(counts['deleted'], 'record')}", *(kept or ["kept 0"])])


def _n(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


@app.command()
def rectify(
    ctx: typer.Context,
    subject: Subject,
    record: Annotated[str, typer.Option("--record", help="The record to correct.")],
    data: Annotated[str, typer.Option("--data", "-d", help="Corrected fields: JSON, @FILE, @-.")],
    verified_by: VerifiedBy,
    request_id: RequestId = None,
) -> None:
    """Correct fields of a record (Art. 16); the old values are not kept."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        req = core.rectify(v, subject, record, read_json_arg(data), verified_by=verified_by,
                           request_id=request_id, actor=st.actor())
    emit(st, req, lambda: console.print(
        f"rectified {record} (fields: {', '.join(req.details.get('fields', []))}); "
        f"{_request_line(req)}"))


@app.command()
def restrict(
    ctx: typer.Context,
    subject: Subject,
    verified_by: VerifiedBy,
    lift: Annotated[bool, typer.Option("--lift", help="Lift the restriction instead.")] = False,
    request_id: RequestId = None,
) -> None:
    """Restrict processing (Art. 18): data only stored; --lift resumes processing."""
    st = state(ctx)
    fn = core.lift_restriction if lift else core.restrict
    with guard(st), st.vault() as v:
        req = fn(v, subject, verified_by=verified_by, request_id=request_id, actor=st.actor())
    emit(st, req, lambda: console.print(
        f"{'lifted restriction' if lift else 'restricted'}; {_request_line(req)}"))


@app.command("object")
def object_(
    ctx: typer.Context,
    subject: Subject,
    purpose: Annotated[str, typer.Option("--purpose", "-p", help="The purpose objected to.")],
    verified_by: VerifiedBy,
    request_id: RequestId = None,
) -> None:
    """Object to a purpose (Art. 21); for a consent-based purpose this withdraws consent."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        req = core.object_to(v, subject, purpose, verified_by=verified_by,
                             request_id=request_id, actor=st.actor())
    emit(st, req, lambda: console.print(
        f"{purpose}: {req.details.get('effect', 'recorded').replace('_', ' ')}; "
        f"{_request_line(req)}"))


@app.command()
def feed(
    ctx: typer.Context,
    since: Annotated[int, typer.Option("--since", help="Last notice id already processed.")] = 0,
    limit: Annotated[int, typer.Option("--limit", help="At most this many notices.")] = 1000,
) -> None:
    """The erasure feed: what downstream systems must drop (no personal data)."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        notices = core.erasure_feed(v, since=since, limit=limit, actor=st.actor())

    def human() -> None:
        t = new_table("id", "at", "references", ids=["id"])
        for n in notices:
            t.add_row(str(n.id), n.at.isoformat(),
                      ", ".join(f"{r['system']}:{r['reference']}" for r in n.references) or "-")
        print_table(t)

    emit(st, notices, human)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="rights")
