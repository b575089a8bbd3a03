"""Transparency and regular audits on the command line.

``confida register notice|ropa``, ``confida compliance check``, ``confida retention run`` and
``confida breach register|list|show|draft|notify``. Every rule lives in the core modules; this
file parses arguments and prints.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from confida.cli.output import console, emit, guard, new_table, print_table, state
from confida.cli.register_cmd import app as register_app
from confida.errors import BadInput
from confida.register import load_register
from confida.safe_files import check_target, write_text

if TYPE_CHECKING:
    from confida.retention import RetentionReport

compliance_app = typer.Typer(help="The regular audit of the live system against the register.",
                             no_args_is_help=True)
retention_app = typer.Typer(help="Storage limitation: delete what is past its retention.",
                            no_args_is_help=True)
breach_app = typer.Typer(help="Personal data breaches (Art. 33/34): register, track, notify.",
                         no_args_is_help=True)

Out = Annotated[Path | None, typer.Option("--out", "-o", help="Write to FILE instead of stdout.")]
RegisterFile = Annotated[
    Path | None, typer.Argument(help="Register file (default: the data dir's).")
]


Force = Annotated[bool, typer.Option("--force", help="Overwrite an existing --out file.")]


def _precheck(out: Path | None, force: bool) -> None:
    """Refuse a bad --out before any work (and any audited operation) is done."""
    if out is not None:
        check_target(out, force=force)


def _write(text: str, out: Path | None, force: bool = False, private: bool = False) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    write_text(out, text, force=force, private=private)


def _when(value: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"{what}: not an ISO 8601 time (e.g. 2026-01-31T10:00:00Z)") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def register(app: typer.Typer) -> None:
    app.add_typer(compliance_app, name="compliance")
    app.add_typer(retention_app, name="retention")
    app.add_typer(breach_app, name="breach")


# --- register notice / ropa ------------------------------------------------------------------


@register_app.command()
def notice(
    ctx: typer.Context,
    file: RegisterFile = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="md or html.")] = "md",
    lang: Annotated[str, typer.Option("--lang", help="en or de.")] = "en",
    out: Out = None,
    force: Force = False,
) -> None:
    """The privacy notice (Art. 13) from the register; its version is what consents record."""
    from confida.transparency.notice import backup_days, render_notice

    st = state(ctx)
    with guard(st):
        _precheck(out, force)
        cfg = st.config()
        n = render_notice(load_register(file or cfg.register_path), fmt, lang, backup_days(cfg))
        if st.json:
            emit(st, {"version": n.version, "format": fmt, "lang": lang, "text": n.text})
        else:
            _write(n.text, out, force)


@register_app.command()
def ropa(
    ctx: typer.Context,
    file: RegisterFile = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv, json or md.")] = "md",
    out: Out = None,
    force: Force = False,
) -> None:
    """The record of processing activities (Art. 30(1)(a)-(g))."""
    from confida.transparency.ropa import render_ropa

    st = state(ctx)
    with guard(st):
        _precheck(out, force)
        cfg = st.config()
        text = render_ropa(load_register(file or cfg.register_path),
                           "json" if st.json else fmt, cfg)
        _write(text, out, force)


# --- compliance ------------------------------------------------------------------------------


@compliance_app.command()
def check(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", "-f", help="md, html or json.")] = "md",
    only: Annotated[list[str] | None, typer.Option("--only", help="Run only this check.")]
    = None,
    out: Out = None,
    force: Force = False,
) -> None:
    """Audit the live system; exit 1 when any check fails (for cron and CI). Logged."""
    from confida.compliance.report import render
    from confida.compliance.run import run_compliance

    st = state(ctx)
    with guard(st):
        _precheck(out, force)
    with guard(st), st.vault() as v:
        report = run_compliance(v, actor=st.actor(), only=only)
        _write(render(report, "json" if st.json else fmt), out, force)
    if out is not None and not st.json:
        console.print(f"{'PASS' if report.passed else 'FAIL'}: report written to {out}")
    if not report.passed:
        raise typer.Exit(1)


# --- retention -------------------------------------------------------------------------------


@retention_app.command("run")
def retention_run(ctx: typer.Context) -> None:
    """Delete every record past its retention (legal hold and restriction exempt). Logged."""
    from confida.retention import run_retention

    st = state(ctx)
    with guard(st), st.vault() as v:
        rep = run_retention(v, actor=st.actor())

    def human() -> None:
        if rep.removed:
            t = Table(title=f"Retention run {rep.ran_at:%Y-%m-%d %H:%M} UTC")
            for col in ("kind", "purpose", "deleted"):
                t.add_column(col)
            for row in rep.as_rows():
                t.add_row(str(row["kind"]), str(row["purpose"]), str(row["removed"]))
            console.print(t)
        console.print(retention_summary(rep), soft_wrap=True)

    emit(st, {**rep.__dict__, "rows": rep.as_rows()}, human)


def _n(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def retention_summary(rep: RetentionReport) -> str:
    """Every count of a retention run named: what was deleted, what was kept and why, which
    keys were destroyed."""
    return (f"deleted {_n(rep.removed_total, 'record')}, "
            f"kept {rep.kept_legal_hold} (legal hold), "
            f"kept {rep.kept_restricted} (restricted subject); "
            f"destroyed {_n(rep.keys_destroyed, 'subject key')} and "
            f"{_n(rep.retained_keys_destroyed, 'retained-record key')}")


# --- breaches --------------------------------------------------------------------------------


def _breach_dict(b: object, now: datetime) -> dict[str, object]:
    from dataclasses import asdict

    d = asdict(b)  # type: ignore[call-overload]
    d["overdue"] = b.overdue(now)  # type: ignore[attr-defined]
    d["hours_left"] = b.hours_left(now)  # type: ignore[attr-defined]
    d["individual_notice_required"] = b.individual_notice_required  # type: ignore[attr-defined]
    return d


@breach_app.command("register")
def breach_register(
    ctx: typer.Context,
    title: Annotated[str, typer.Option(help="Short name of the incident.")],
    description: Annotated[str, typer.Option(help="What happened (no personal data).")],
    discovered_at: Annotated[str | None, typer.Option(help="ISO time; default now.")] = None,
    occurred_from: Annotated[str | None, typer.Option(help="Start of the window (ISO).")] = None,
    occurred_to: Annotated[str | None, typer.Option(help="End of the window (ISO).")] = None,
    kind: Annotated[list[str] | None, typer.Option(help="Affected record kind (repeat).")] = None,
    kek_version: Annotated[list[str] | None,
                           typer.Option(help="Compromised KEK version (repeat).")] = None,
    key_store_exposed: Annotated[bool, typer.Option(help="The key store leaked too.")] = False,
    plaintext_exposed: Annotated[bool, typer.Option(help="Decrypted data leaked.")] = False,
    consequences: Annotated[str | None, typer.Option(help="Likely consequences.")] = None,
    measures: Annotated[str | None, typer.Option(help="Measures taken or proposed.")] = None,
) -> None:
    """Register an incident; affected subjects, records and categories are computed."""
    from confida import breach as core

    st = state(ctx)
    with guard(st), st.vault() as v:
        b = core.register_breach(
            v, title=title, description=description,
            discovered_at=_when(discovered_at, "--discovered-at"),
            occurred_from=_when(occurred_from, "--occurred-from"),
            occurred_to=_when(occurred_to, "--occurred-to"),
            kinds=kind or [], kek_versions=kek_version or [],
            key_store_exposed=key_store_exposed, plaintext_exposed=plaintext_exposed,
            consequences=consequences, measures=measures, actor=st.actor(),
        )
        now = v.clock()
    emit(st, _breach_dict(b, now), lambda: console.print(
        f"breach {b.id}: {b.affected_subjects} subject(s), {b.affected_records} record(s); "
        f"notify the authority by {b.deadline:%Y-%m-%d %H:%M} UTC; individual notice "
        f"{'required' if b.individual_notice_required else 'not required (Art. 34(3)(a))'}"
    ))


@breach_app.command("list")
def breach_list(ctx: typer.Context) -> None:
    """Registered breaches with their 72-hour deadline."""
    from confida import breach as core

    st = state(ctx)
    with guard(st), st.vault() as v:
        items = core.list_breaches(v, actor=st.actor())
        now = v.clock()

    def human() -> None:
        t = new_table("id", "title", "discovered", "deadline", "authority", "subjects", "records",
                      ids=["id"], title="Breaches")
        for b in items:
            state_ = (f"{b.authority_notified_at:%Y-%m-%d}" if b.authority_notified_at else
                      "[red]OVERDUE[/]" if b.overdue(now) else f"{b.hours_left(now)} h left")
            t.add_row(b.id, b.title, f"{b.discovered_at:%Y-%m-%d %H:%M}",
                      f"{b.deadline:%Y-%m-%d %H:%M}", state_, str(b.affected_subjects),
                      str(b.affected_records))
        print_table(t)

    emit(st, [_breach_dict(b, now) for b in items], human)


@breach_app.command("show")
def breach_show(ctx: typer.Context, breach_id: Annotated[str, typer.Argument()]) -> None:
    """One breach in full."""
    from confida import breach as core

    st = state(ctx)
    with guard(st), st.vault() as v:
        b = core.get_breach(v, breach_id, actor=st.actor())
        now = v.clock()
    d = _breach_dict(b, now)
    emit(st, d, lambda: [console.print(f"{k}: {val}") for k, val in d.items()] and None)


@breach_app.command("draft")
def breach_draft(ctx: typer.Context, breach_id: Annotated[str, typer.Argument()],
                 out: Out = None, force: Force = False) -> None:
    """The Art. 33(3) notification draft for the supervisory authority (Markdown)."""
    from confida import breach as core

    st = state(ctx)
    with guard(st):
        _precheck(out, force)
    with guard(st), st.vault() as v:
        text = core.draft_notification(v, core.get_breach(v, breach_id, actor=st.actor()))
        if st.json:
            emit(st, {"id": breach_id, "draft": text})
        else:
            _write(text, out, force, private=True)  # incident details stay with the owner


@breach_app.command("notify")
def breach_notify(
    ctx: typer.Context,
    breach_id: Annotated[str, typer.Argument()],
    authority: Annotated[bool, typer.Option(help="The authority was notified.")] = False,
    subjects: Annotated[bool, typer.Option(help="The data subjects were notified.")] = False,
    at: Annotated[str | None, typer.Option(help="When (ISO); default now.")] = None,
) -> None:
    """Record that the authority and/or the data subjects were notified."""
    from confida import breach as core

    st = state(ctx)
    with guard(st), st.vault() as v:
        b = core.mark_notified(v, breach_id, authority=authority, subjects=subjects,
                               at=_when(at, "--at"), actor=st.actor())
        now = v.clock()
    emit(st, _breach_dict(b, now), lambda: console.print(f"breach {b.id} updated"))
