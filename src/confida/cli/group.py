"""The root command group: global options anywhere on the line, usage errors as JSON.

``--json`` and ``--data-dir DIR`` are options of the root app (``confida --json records list
u``) and, added here, of every group and command below it (``confida records list u --json``),
so they parse as real options wherever they stand: listed in each command's ``--help``, never
taken from the middle of another option's value. ``--json`` anywhere turns JSON on. A
``--data-dir`` given both before and after the command: the later one (the one nearer the
command's own arguments) wins. A command that declares either option itself (``scan --json``,
``audit --data-dir``) keeps its own, which reads the same state.

Usage errors (a missing argument, an unknown option or command, a bad value) are Typer's usual
message and exit code 2; under ``--json`` they are one JSON object on stderr instead, like every
other error (``confida.cli.output.guard``)::

    {"error": "usage", "message": "Missing argument 'SUBJECT'.", "usage": "Usage: ..."}
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
import typer.main

# typer 0.29 (pinned) vendors click: its usage errors are not importable from click itself
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from confida.cli.output import state

GLOBAL_PANEL = "Global options"
#: ``ctx.meta`` key: ``--json`` was on the command line (read before parsing, so that a line
#: that does not parse still gets its error as JSON).
JSON_ERRORS = "confida.json_errors"


def _json_given(ctx: typer.Context, value: bool) -> None:
    if value:
        state(ctx).json = True


def _data_dir_given(ctx: typer.Context, value: str | None) -> None:
    if value is not None:
        st = state(ctx)
        st.data_dir = value
        st.data_dir_explicit = True


def global_params() -> list[Any]:
    """Fresh ``--json`` and ``--data-dir`` options that set the root's ``State`` (not passed
    to the command function), built by Typer itself from this signature."""
    holder = typer.Typer(add_completion=False)

    @holder.command()
    def options(
        json_out: Annotated[bool, typer.Option(
            "--json", help="Machine-readable JSON output (before or after the command).",
            callback=_json_given, expose_value=False, rich_help_panel=GLOBAL_PANEL)] = False,
        data_dir: Annotated[str | None, typer.Option(
            "--data-dir", metavar="DIR",
            help="Data directory (default ./confida-data, or CONFIDA_DATA_DIR).",
            callback=_data_dir_given, expose_value=False, rich_help_panel=GLOBAL_PANEL)] = None,
    ) -> None:
        """Holder of the global options."""

    _ = options
    return [p for p in typer.main.get_command(holder).params
            if p.name in ("json_out", "data_dir")]


def add_global_options(group: TyperGroup) -> None:
    """Give every group and command under ``group`` the global options it does not have."""
    for cmd in group.commands.values():
        have = {opt for p in cmd.params for opt in p.opts}
        cmd.params.extend(p for p in global_params() if not have & set(p.opts))
        if isinstance(cmd, TyperGroup):
            add_global_options(cmd)


def _no_help_on_empty(group: TyperGroup) -> None:
    """A group called without its command fails with "Missing command." instead of printing
    its help (on stdout, where the JSON goes)."""
    for cmd in group.commands.values():
        if isinstance(cmd, TyperGroup):
            cmd.no_args_is_help = False
            _no_help_on_empty(cmd)


def json_requested(args: list[str]) -> bool:
    """``--json`` on the command line (before a ``--`` that ends the options)."""
    end = args.index("--") if "--" in args else len(args)
    return "--json" in args[:end]


def usage_error_json(exc: UsageError) -> typer.Exit:
    """Write a usage error as JSON on stderr; the ``Exit`` (code 2) to raise."""
    if isinstance(exc, NoArgsIsHelpError):
        message = "Missing command."
    else:
        message = exc.format_message()
    payload = {"error": "usage", "message": message}
    if exc.ctx is not None:
        payload["usage"] = exc.ctx.get_usage()
    sys.stderr.write(json.dumps(payload, ensure_ascii=False) + "\n")
    return typer.Exit(exc.exit_code)


class ConfidaGroup(TyperGroup):
    """The ``confida`` group: see the module's docstring."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        add_global_options(self)

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None,
                     **extra: Any) -> Any:
        as_json = json_requested(args)
        if as_json:
            _no_help_on_empty(self)
        try:
            ctx = super().make_context(info_name, args, parent=parent, **extra)
        except UsageError as exc:
            if as_json:
                raise usage_error_json(exc) from None
            raise
        ctx.meta[JSON_ERRORS] = as_json
        return ctx

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            if ctx.meta.get(JSON_ERRORS) or state(ctx).json:
                raise usage_error_json(exc) from None
            raise
