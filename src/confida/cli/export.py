"""``confida export``: training datasets, and the pseudonyms later withdrawn from them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from confida.cli.output import console, emit, guard, new_table, print_table, state
from confida.errors import BadInput

app = typer.Typer(help="Anonymised, consent-aware training datasets.", no_args_is_help=True)


def _when(value: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"{what}: expected an ISO 8601 date or time, e.g. 2026-01-31") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@app.command()
def training(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="New (or empty) directory for the dataset.")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl, parquet or both.")] = "both",
    shard_size: Annotated[int, typer.Option("--shard-size", help="Records per shard.")] = 50_000,
    purpose: Annotated[str, typer.Option("--purpose", help="The training purpose.")] = (
        "model_training"
    ),
    kind: Annotated[
        list[str] | None, typer.Option("--kind", help="Only these kinds (repeatable).")
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="Records created from.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Records created before.")] = None,
    engine: Annotated[
        str, typer.Option("--engine", help="local, or ray to anonymise on a Ray cluster.")
    ] = "local",
    workers: Annotated[int, typer.Option("--workers", help="Ray: parallel tasks.")] = 2,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a non-empty --out directory.")
    ] = False,
) -> None:
    """Export a training dataset: selected by consent and register, anonymised, with manifest."""
    from confida.export.training import Selection, export_training
    from confida.safe_files import check_target

    st = state(ctx)
    with guard(st):
        check_target(out, force=force, directory=True)
        formats = ["jsonl", "parquet"] if fmt == "both" else [fmt]
        sel = Selection(purpose=purpose, kinds=tuple(kind) if kind else None,
                        since=_when(since, "--since"), until=_when(until, "--until"))
        if engine not in ("local", "ray"):
            raise BadInput("--engine: choose local or ray")
        anonymiser = None
        if engine == "ray":
            from confida.export.ray_redact import ray_anonymiser

            anonymiser = ray_anonymiser(workers=workers)
        with st.vault() as v:
            res = export_training(v, out, selection=sel, formats=formats, shard_size=shard_size,
                                  actor=st.actor(), anonymiser=anonymiser, force=force)
    emit(st, res, lambda: console.print(
        f"dataset {res.dataset_id}: {res.record_count} record(s) of {res.subject_count} "
        f"subject(s) in {len(res.shards)} shard(s) under {res.directory}; excluded: "
        + (", ".join(f"{k} {n}" for k, n in sorted(res.excluded.items())) or "none")
    ))


@app.command()
def revocations(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option("--dataset", help="The dataset id (manifest).")],
    since: Annotated[
        str | None, typer.Option("--since", help="Only changes after this time.")
    ] = None,
) -> None:
    """Pseudonyms whose rows must be dropped: erased, restricted, withdrawn or objected."""
    from confida.export.training import revocations as core_revocations

    st = state(ctx)
    with guard(st), st.vault() as v:
        out = core_revocations(v, dataset, since=_when(since, "--since"), actor=st.actor())

    def human() -> None:
        if not out:
            console.print("nothing to drop")
            return
        t = new_table("pseudonym", "reason", "at", ids=["pseudonym"])
        for r in out:
            t.add_row(r.pseudonym, r.reason, r.at or "")
        print_table(t)

    emit(st, {"dataset": dataset, "drop": out}, human)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Training datasets exported so far."""
    from confida.export.training import list_datasets

    st = state(ctx)
    with guard(st), st.vault() as v:
        rows = list_datasets(v, actor=st.actor())

    def human() -> None:
        t = new_table("id", "created", "purpose", "records", "subjects", ids=["id"])
        for r in rows:
            t.add_row(r["id"], r["created_at"], r["purpose"], str(r["records"]),
                      str(r["subjects"]))
        print_table(t)

    emit(st, rows, human)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="export")
