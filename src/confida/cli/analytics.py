"""``confida analytics``: differentially private aggregates, privacy budgets, k-anonymity."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from confida.cli.export import _when
from confida.cli.output import console, emit, guard, state
from confida.errors import BadInput

app = typer.Typer(help="Differentially private aggregates within a privacy budget; k-anonymity.",
                  no_args_is_help=True)
budget_app = typer.Typer(help="Privacy budgets per analyst and dataset.", no_args_is_help=True)
app.add_typer(budget_app, name="budget")

Epsilon = Annotated[float, typer.Option("--epsilon", help="Privacy loss this query spends.")]
Analyst = Annotated[str, typer.Option("--analyst", help="Whose budget pays for the query.")]
Dataset = Annotated[str | None, typer.Option(
    "--dataset", help="Budget scope (default: the kind, or 'all').")]
Kind = Annotated[str | None, typer.Option("--kind", help="Record kind (default: all the "
                                                          "purpose covers).")]
GroupBy = Annotated[list[str] | None, typer.Option(
    "--group-by", help="kind, purpose, day, or a field of the kind (repeatable).")]
Categories = Annotated[list[str] | None, typer.Option(
    "--categories", help="DIM=a,b,c: the public values of a field dimension (repeatable).")]
Since = Annotated[str | None, typer.Option("--since", help="Records created from (ISO date).")]
Until = Annotated[str | None, typer.Option("--until", help="Records created before.")]
Cap = Annotated[int, typer.Option("--max-rows-per-subject",
                                  help="Contribution bound: rows kept per subject.")]
Alpha = Annotated[float, typer.Option("--alpha", help="1 - confidence of the intervals.")]
Field = Annotated[str, typer.Option("--field", help="Numeric field to aggregate.")]
Lower = Annotated[float, typer.Option("--lower", help="Clamp lower bound (data-independent).")]
Upper = Annotated[float, typer.Option("--upper", help="Clamp upper bound (data-independent).")]


def _cats(values: list[str] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in values or []:
        dim, sep, rest = v.partition("=")
        if not sep or not dim or not rest:
            raise BadInput("--categories: expected DIM=a,b,c")
        out[dim] = [x for x in rest.split(",") if x]
    return out


def _run(ctx: typer.Context, aggregate: str, **kw: Any) -> None:
    from confida.analytics.dp import Query, run

    st = state(ctx)
    with guard(st):
        q = Query(
            aggregate=aggregate, epsilon=kw["epsilon"], analyst=kw["analyst"],
            dataset=kw.get("dataset"), kind=kw.get("kind"),
            group_by=tuple(kw.get("group_by") or ()), field=kw.get("field"),
            bounds=(kw["lower"], kw["upper"]) if "lower" in kw else None,
            categories=_cats(kw.get("categories")), since=_when(kw.get("since"), "--since"),
            until=_when(kw.get("until"), "--until"),
            max_rows_per_subject=kw["cap"], alpha=kw["alpha"],
        )
        with st.vault() as v:
            ans = run(v, q, actor=st.actor())

    def human() -> None:
        t = Table(title=f"{aggregate} (epsilon {q.epsilon:g}, {ans.mechanism}, scale "
                        f"{ans.scale:.4g}, {int(round((1 - ans.alpha) * 100))}% intervals)")
        for d in q.group_by:
            t.add_column(d)
        t.add_column("value", justify="right")
        t.add_column("interval", justify="right")
        for c in ans.cells:
            t.add_row(*[c.group.get(d, "") for d in q.group_by], f"{c.value:.4g}",
                      f"[{c.ci[0]:.4g}, {c.ci[1]:.4g}]")
        console.print(t)
        for n in ans.notes:
            console.print(f"note: {n}")
        console.print(f"at most {ans.max_rows_per_subject} row(s) per subject; budget left: "
                      f"{ans.budget_left:g}")

    emit(st, ans, human)


@app.command()
def count(ctx: typer.Context, epsilon: Epsilon, analyst: Analyst, dataset: Dataset = None,
          kind: Kind = None, group_by: GroupBy = None, categories: Categories = None,
          since: Since = None, until: Until = None, cap: Cap = 10, alpha: Alpha = 0.05) -> None:
    """Noisy count of records (per group with --group-by)."""
    _run(ctx, "histogram" if group_by else "count", epsilon=epsilon, analyst=analyst,
         dataset=dataset, kind=kind, group_by=group_by, categories=categories, since=since,
         until=until, cap=cap, alpha=alpha)


@app.command()
def histogram(ctx: typer.Context, epsilon: Epsilon, analyst: Analyst, group_by: GroupBy,
              dataset: Dataset = None, kind: Kind = None, categories: Categories = None,
              since: Since = None, until: Until = None, cap: Cap = 10,
              alpha: Alpha = 0.05) -> None:
    """Noisy counts per group over declared dimensions."""
    _run(ctx, "histogram", epsilon=epsilon, analyst=analyst, dataset=dataset, kind=kind,
         group_by=group_by, categories=categories, since=since, until=until, cap=cap,
         alpha=alpha)


@app.command("sum")
def sum_(ctx: typer.Context, epsilon: Epsilon, analyst: Analyst, field: Field, lower: Lower,
         upper: Upper, dataset: Dataset = None, kind: Kind = None, group_by: GroupBy = None,
         categories: Categories = None, since: Since = None, until: Until = None,
         cap: Cap = 10, alpha: Alpha = 0.05) -> None:
    """Noisy bounded sum of a numeric field."""
    _run(ctx, "sum", epsilon=epsilon, analyst=analyst, dataset=dataset, kind=kind,
         group_by=group_by, categories=categories, since=since, until=until, cap=cap,
         alpha=alpha, field=field, lower=lower, upper=upper)


@app.command()
def mean(ctx: typer.Context, epsilon: Epsilon, analyst: Analyst, field: Field, lower: Lower,
         upper: Upper, dataset: Dataset = None, kind: Kind = None, group_by: GroupBy = None,
         categories: Categories = None, since: Since = None, until: Until = None,
         cap: Cap = 10, alpha: Alpha = 0.05) -> None:
    """Noisy bounded mean of a numeric field (noisy sum / noisy count)."""
    _run(ctx, "mean", epsilon=epsilon, analyst=analyst, dataset=dataset, kind=kind,
         group_by=group_by, categories=categories, since=since, until=until, cap=cap,
         alpha=alpha, field=field, lower=lower, upper=upper)


@budget_app.command("set")
def budget_set(ctx: typer.Context, analyst: Analyst,
               dataset: Annotated[str, typer.Option("--dataset", help="Budget scope.")],
               epsilon: Annotated[float, typer.Option("--epsilon", help="Total epsilon.")]
               ) -> None:
    """Set the total epsilon an analyst may spend on a dataset."""
    from confida.analytics.budget import set_budget

    st = state(ctx)
    with guard(st), st.vault() as v:
        b = set_budget(v, analyst, dataset, epsilon, actor=st.actor())
    emit(st, {**b.__dict__, "left": b.left}, lambda: console.print(
        f"{analyst} on {dataset}: {b.left:g} of {b.limit:g} left"))


@budget_app.command("show")
def budget_show(ctx: typer.Context, analyst: Annotated[
        str | None, typer.Option("--analyst", help="Only this analyst.")] = None) -> None:
    """Budgets, what was spent, and what is left."""
    from confida.analytics.budget import show

    st = state(ctx)
    with guard(st), st.vault() as v:
        rows = show(v, analyst, actor=st.actor())

    def human() -> None:
        t = Table("analyst", "dataset", "limit", "spent", "left", "queries")
        for b in rows:
            t.add_row(b.analyst, b.dataset, f"{b.limit:g}", f"{b.spent:g}", f"{b.left:g}",
                      str(b.queries))
        console.print(t)

    emit(st, [{**b.__dict__, "left": b.left} for b in rows], human)


@app.command()
def kanon(
    ctx: typer.Context,
    kind: Annotated[str, typer.Option("--kind", help="Record kind (its quasi-identifiers).")],
    k: Annotated[int, typer.Option("--k", help="Smallest class size, in people.")],
    l_div: Annotated[int | None, typer.Option("--l", help="l-diversity of --sensitive.")] = None,
    sensitive: Annotated[str | None, typer.Option("--sensitive", help="Sensitive field.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the table (.csv/.jsonl).")]
    = None,
    max_suppression: Annotated[float, typer.Option(
        "--max-suppression", help="Fraction of rows that may be suppressed.")] = 0.05,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --out file.")]
    = False,
) -> None:
    """Check and reach k-anonymity (and l-diversity) for a tabular export of a kind."""
    from confida.analytics.kanon import kanon_export
    from confida.safe_files import check_target

    st = state(ctx)
    with guard(st):
        if out is not None:
            check_target(out, force=force)
    with guard(st), st.vault() as v:
        _, rep = kanon_export(v, kind, k, l=l_div, sensitive=sensitive, out=out,
                              max_suppression=max_suppression, actor=st.actor(), force=force)

    def human() -> None:
        console.print(f"quasi-identifiers: {', '.join(rep.quasi_identifiers)}")
        console.print(f"before: {rep.before.classes} classes, smallest {rep.before.smallest}"
                      + (f", least diverse {rep.before.least_diverse}" if sensitive else ""))
        console.print(f"generalisation levels: {rep.levels}; suppressed {rep.suppressed} of "
                      f"{rep.rows_in} rows")
        console.print(f"after: {rep.after.classes} classes, smallest {rep.after.smallest}"
                      + (f", least diverse {rep.after.least_diverse}" if sensitive else ""))
        console.print(("satisfied" if rep.satisfied else "NOT satisfied") + f": k={rep.k}"
                      + (f", l={rep.l}" if rep.l else ""))
        for n in rep.notes:
            console.print(f"note: {n}")

    emit(st, rep, human)
    if not rep.satisfied:
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="analytics")
