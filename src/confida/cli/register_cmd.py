"""``confida register``: check, show, compare and install the processing register."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from confida import register_change
from confida.cli.output import console, emit, err_console, guard, state
from confida.register import load_register
from confida.register.diff import LESS, MORE, NOW_CONSENT, STAFF, RegisterDiff, diff_registers
from confida.register.loader import Problem, check_register_file, read_register_text
from confida.transparency.notice import notice_version

app = typer.Typer(help="The processing register: validate, show, diff, apply, notice, record "
                       "of processing.", no_args_is_help=True)

FileArg = Annotated[Path | None, typer.Argument(help="Register file (default: the data dir's).")]
INVALID = 2


def _warn(problems: list[Problem]) -> None:
    for w in problems:
        err_console.print(f"[yellow]warning:[/] {escape(str(w))}", soft_wrap=True)


@app.command()
def validate(ctx: typer.Context, file: FileArg = None) -> None:
    """Check a register: every problem at once, each with file, line and path (exit 2);
    warnings (e.g. a role the CLI or the console needs is missing) do not fail."""
    st = state(ctx)
    with guard(st):
        path = file or st.config().register_path
        check = check_register_file(path)
    if check.register is None or check.problems:
        if st.json:
            sys.stderr.write(json.dumps({
                "error": "invalid-register",
                "message": f"{path}: {len(check.problems)} problem(s)",
                "problems": [p.as_dict() for p in check.problems],
            }, ensure_ascii=False) + "\n")
        else:
            for p in check.problems:
                err_console.print(f"[bold red]error:[/] {escape(str(p))}", soft_wrap=True)
            err_console.print(f"{len(check.problems)} problem(s) in {escape(str(path))}")
        raise typer.Exit(INVALID)
    reg = check.register
    summary = {
        "file": str(path), "valid": True, "version": reg.content_hash(),
        "categories": len(reg.categories), "kinds": len(reg.kinds),
        "purposes": len(reg.purposes), "roles": len(reg.roles),
        "warnings": [w.as_dict() for w in check.warnings],
    }

    def human() -> None:
        _warn(check.warnings)
        console.print(
            f"[green]valid[/]: {escape(str(path))} ({summary['categories']} categories, "
            f"{summary['kinds']} kinds, {summary['purposes']} purposes, {summary['roles']} "
            f"roles)" + (f", {len(check.warnings)} warning(s)" if check.warnings else ""))

    emit(st, summary, human)


@app.command()
def show(ctx: typer.Context, file: FileArg = None) -> None:
    """Show purposes with their legal basis, retention and kinds."""
    st = state(ctx)
    with guard(st):
        reg = load_register(file or st.config().register_path)

    def human() -> None:
        t = Table(title=f"Purposes of {escape(reg.controller.name)}")
        for col in ("purpose", "legal basis", "consent", "Art. 9(2)", "retention", "kinds"):
            t.add_column(col)
        for name, p in reg.purposes.items():
            cond = p.special_category_condition
            t.add_row(name, p.legal_basis.value, "yes" if p.consent_required else "no",
                      cond.value if cond else "-", str(p.retention), ", ".join(p.kinds))
        console.print(t)
        k = Table(title="Record kinds")
        for col in ("kind", "fields (category)", "scanned"):
            k.add_column(col)
        for name, kind in reg.kinds.items():
            k.add_row(name, ", ".join(f"{f} ({s.category})" for f, s in kind.fields.items()),
                      ", ".join(f for f, s in kind.fields.items() if s.scan) or "-")
        console.print(k)

    emit(st, {"version": reg.content_hash(), **reg.model_dump(mode="json")}, human)


_MARK = {MORE: "+", LESS: "-"}


def _print_diff(d: RegisterDiff, old: str, new: str, notices: tuple[str, str]) -> None:
    if d.unchanged:
        console.print(f"no change: {escape(old)} and {escape(new)} declare the same register")
        return
    people = d.for_people
    staff = [c for c in d.changes if c.effect == STAFF]
    notice = (f"privacy notice {notices[0]} → {notices[1]}" if notices[0] != notices[1]
              else "privacy notice unchanged")
    console.print(f"{escape(old)} → {escape(new)}: {len(people)} change(s) for people, "
                  f"{len(staff)} for staff; {notice}")
    if people:
        console.print("\n[bold]For people[/] (+ more processing, - less, ~ changed):")
        for c in people:
            console.print(f"  {_MARK.get(c.effect, '~')} {escape(c.text)} "
                          f"[dim]({escape(c.path)})[/]", soft_wrap=True)
    if d.reconsent:
        console.print("\n[bold]Asked again[/] (shown in the privacy center until they answer):")
        for purpose, reason in d.reconsent.items():
            who = ("people with data collected for it are asked for their consent"
                   if reason == NOW_CONSENT else
                   "people who consented are asked again: it does more than they agreed to")
            console.print(f"  {purpose} ({reason}): {who}", soft_wrap=True)
    if staff:
        console.print("\n[bold]Staff only[/]:")
        for c in staff:
            console.print(f"  ~ {escape(c.text)}", soft_wrap=True)


@app.command()
def diff(
    ctx: typer.Context,
    old: Annotated[Path, typer.Argument(help="The register in force (or any older one).")],
    new: Annotated[Path, typer.Argument(help="The proposed register.")],
) -> None:
    """What changes for people from OLD to NEW: new purposes, consent, retention, recipients,
    transfers, categories and fields, and whose consent must be asked again."""
    st = state(ctx)
    with guard(st):
        a, b = load_register(old), load_register(new)
    d = diff_registers(a, b)
    notices = (notice_version(a), notice_version(b))
    doc = {**d.as_dict(), "notice_version": {"from": notices[0], "to": notices[1]}}
    emit(st, doc, lambda: _print_diff(d, str(old), str(new), notices))


@app.command()
def apply(
    ctx: typer.Context,
    new: Annotated[Path, typer.Argument(help="The register to install.")],
) -> None:
    """Validate NEW and install it as the register: a new notice version, the change recorded
    in the register history, and people whose consent it touches asked again (audited)."""
    st = state(ctx)
    with guard(st):
        text = read_register_text(new)
        with st.vault() as v:
            res = register_change.apply_register(v, text, source=str(new), actor=st.actor())
    doc = {
        "installed": res.installed, "history": res.seq,
        "version": res.diff.new_version, "previous_version": res.diff.old_version,
        "notice_version": res.notice_version,
        "previous_notice_version": res.previous_notice_version,
        "changes": [c.as_dict() for c in res.diff.changes],
        "asked": res.asked, "warnings": [w.as_dict() for w in res.warnings],
    }

    def human() -> None:
        _warn(res.warnings)
        if not res.installed:
            console.print(f"no change: {escape(str(new))} declares the register in force "
                          f"(notice {res.notice_version})")
            return
        console.print(f"[green]installed[/] {escape(str(new))} as the register (history entry "
                      f"{res.seq}); privacy notice {res.previous_notice_version} → "
                      f"{res.notice_version}; {len(res.diff.for_people)} change(s) for people")
        for purpose, n in res.asked.items():
            console.print(f"  asked again about {purpose} ({res.diff.reconsent[purpose]}): "
                          f"{n} subject(s), in the privacy center until they answer")
        err_console.print("a running `confida serve` enforces the new register once restarted")

    emit(st, doc, human)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="register")
