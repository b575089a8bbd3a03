"""``confida webhooks``: signed push of erasure notices and overdue request deadlines."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from confida import webhooks as core
from confida.cli.output import console, emit, err_console, guard, state
from confida.webhooks import delivery

app = typer.Typer(help="Webhooks: signed push of erasure notices and request deadlines.",
                  no_args_is_help=True)

EndpointArg = Annotated[str, typer.Argument(metavar="ID", help="The endpoint id.")]


def _when(value: object) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"


def _short(value: object) -> str:
    return "-" if value is None else f"{value:%m-%d %H:%M}"


@app.command()
def add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="https URL (http only to a loopback address).")],
    events: Annotated[str, typer.Option(
        "--events", "-e", help=f"Comma-separated: {', '.join(core.EVENTS)}.")],
    since: Annotated[int | None, typer.Option(
        "--since", help="Push erasure notices after this id (0: all so far; default: only "
                        "new ones).")] = None,
) -> None:
    """Add an endpoint; prints its signing secret once."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        new = core.add(v, url, events, since=since, actor=st.actor())
    ep = new.endpoint

    def human() -> None:
        console.print(f"webhook {ep.id} added: {', '.join(ep.events)} -> {ep.url}")
        console.print("signing secret (shown once; store it with the receiver now):")
        console.print(new.secret, markup=False, highlight=False, soft_wrap=True)

    emit(st, {"id": ep.id, "url": ep.url, "events": ep.events, "created_at": ep.created_at,
              "secret": new.secret}, human)


@app.command("list")
def list_(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Removed endpoints too.")] = False,
) -> None:
    """Endpoints and their delivery counts (the secret is never shown again)."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        rows = core.list_endpoints(v, include_removed=all_, actor=st.actor())

    def human() -> None:
        t = Table()
        for col in ("endpoint", "url", "events", "pending", "dead", "delivered", "created",
                    "removed"):
            t.add_column(col)
        for e in rows:
            t.add_row(e.id, e.url, ", ".join(e.events), str(e.pending),
                      f"[bold red]{e.dead}[/]" if e.dead else "0", str(e.delivered),
                      _when(e.created_at), _when(e.disabled_at))
        console.print(t)

    emit(st, rows, human)


@app.command()
def remove(ctx: typer.Context, endpoint_id: EndpointArg) -> None:
    """Stop pushing to an endpoint and destroy its secret."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        ep = core.remove(v, endpoint_id, actor=st.actor())
    emit(st, ep, lambda: console.print(f"webhook {ep.id} removed"))


@app.command("deliveries")
def deliveries_(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(
        "--status", help="pending, delivered or dead (dead: the dead-letter list).")] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="One endpoint.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 1000,
) -> None:
    """Deliveries in queue order (their payloads are not shown)."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        rows = core.deliveries(v, status=status, endpoint_id=endpoint, limit=limit,
                               actor=st.actor())

    def human() -> None:
        t = Table()
        for col in ("id", "endpoint", "event", "status", "tries", "last error", "next try",
                    "created"):
            t.add_column(col, no_wrap=col in ("id", "last error", "status"))
        for d in rows:
            t.add_row(str(d.id), d.endpoint_id[:8], d.event_type, d.status, str(d.attempts),
                      d.last_error or "-",
                      _short(d.next_attempt_at) if d.status == core.PENDING else "-",
                      _short(d.created_at))
        console.print(t)

    emit(st, rows, human)


@app.command()
def retry(
    ctx: typer.Context,
    delivery_id: Annotated[str, typer.Argument(metavar="DELIVERY_ID",
                                               help="A dead letter's id.")],
) -> None:
    """Queue a dead letter again, with a full set of attempts."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        d = core.retry(v, delivery_id, actor=st.actor())
    emit(st, d, lambda: console.print(f"delivery {d.id} queued again"))


@app.command()
def deliver(
    ctx: typer.Context,
    max_attempts: Annotated[int, typer.Option(
        "--max-attempts", help="Attempts before a delivery is dead.")] =
        delivery.DEFAULT_MAX_ATTEMPTS,
    timeout: Annotated[float, typer.Option(
        "--timeout", help="Seconds to wait for each receiver.")] =
        delivery.DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Enqueue new events and send what is due, once (for cron; the server does it itself)."""
    st = state(ctx)
    with guard(st), st.vault() as v:
        if st.json:
            run = core.deliver_due(v, max_attempts=max_attempts, timeout=timeout,
                                   actor=st.actor())
        else:
            with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                          TextColumn("{task.completed} sent"), console=err_console,
                          transient=True) as bar:
                task = bar.add_task("delivering", total=None)

                def step(a: core.Attempt) -> None:
                    bar.update(task, advance=1,
                               description=f"delivery {a.delivery_id}: {a.status}")

                run = core.deliver_due(v, max_attempts=max_attempts, timeout=timeout,
                                       actor=st.actor(), progress=step)

    def human() -> None:
        console.print(f"enqueued {run.enqueued}; delivered {run.delivered}, failed "
                      f"{run.failed} (retried later), dead {run.dead}")
        for a in run.attempts:
            if a.status != core.DELIVERED:
                console.print(f"  delivery {a.delivery_id} ({a.event_type}) attempt "
                              f"{a.attempt}: {a.error} -> {a.status}")

    emit(st, {"enqueued": run.enqueued, "delivered": run.delivered, "failed": run.failed,
              "dead": run.dead, "attempts": run.attempts}, human)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="webhooks")
