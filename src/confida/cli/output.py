"""Output and error handling shared by every command."""

from __future__ import annotations

import getpass
import io
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, is_dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import DBAPIError

from confida.config import Config
from confida.errors import BadInput, ConfidaError
from confida.minimisation import MAX_DEPTH, too_deep
from confida.operation import Actor
from confida.store.engine import describe_db_error
from confida.vault import Vault

err_console = Console(stderr=True, highlight=False)
console = Console(highlight=False)


@dataclass
class State:
    """The global options, set by the root app and by the same options after a command
    (``confida.cli.group``): ``data_dir_explicit`` when ``--data-dir`` was on the command line
    (not only in ``CONFIDA_DATA_DIR``)."""

    data_dir: str | None = None
    json: bool = False
    data_dir_explicit: bool = False

    def config(self, **overrides: Any) -> Config:
        return Config.load(self.data_dir, **overrides)

    def vault(self) -> Vault:
        return Vault.open(self.config())

    def actor(self) -> Actor:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return Actor(id=f"cli:{user}", role="admin", source="cli")


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    if not isinstance(obj, State):
        obj = State()
        ctx.find_root().obj = obj
    return obj


def to_jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


def emit(st: State, data: Any, human: Callable[[], None] | None = None) -> None:
    if st.json or human is None:
        sys.stdout.write(json.dumps(to_jsonable(data), ensure_ascii=False, indent=None) + "\n")
    else:
        human()


@contextmanager
def guard(st: State | None = None) -> Iterator[None]:
    """Turn core errors into one line on stderr and the documented exit code."""
    try:
        yield
    except ConfidaError as exc:
        if st is not None and st.json:
            sys.stderr.write(json.dumps({"error": exc.code, "message": exc.message}) + "\n")
        else:
            for line in exc.message.splitlines() or [exc.code]:
                err_console.print(f"[bold red]error:[/] {line}", markup=True, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except DBAPIError as exc:  # a safety net: the core maps the expected ones itself
        err_console.print(f"[bold red]error:[/] database error: {describe_db_error(exc)}")
        raise typer.Exit(1) from None


def read_json_arg(value: str, what: str = "--data") -> Any:
    """``JSON`` inline, ``@FILE`` or ``@-`` for stdin; invalid UTF-8 and JSON are bad input."""
    if value.startswith("@"):
        src = value[1:]
        try:
            raw = sys.stdin.buffer.read() if src == "-" else Path(src).read_bytes()
        except OSError as exc:
            raise BadInput(f"{what}: cannot read {src}: {exc.strerror}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInput(f"{what}: {src} is not valid UTF-8 (byte {exc.start})") from None
    else:
        text = value
    deep = BadInput(f"{what}: nested deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{what}: invalid JSON at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:  # the parser's own stack: far deeper than we accept anyway
        raise deep from None
    if too_deep(value):
        raise deep
    return value


# --- tables ----------------------------------------------------------------------------------


def new_table(*columns: str, ids: Iterable[str] = (), title: str | None = None) -> Table:
    """A table whose ``ids`` columns are never wrapped or cut (see :func:`print_table`)."""
    id_columns = set(ids)
    t = Table(title=title)
    for name in columns:
        if name in id_columns:
            t.add_column(name, no_wrap=True, overflow="fold")
        else:
            t.add_column(name)
    return t


def _plain(cell: Any) -> str:
    if isinstance(cell, Text):
        return cell.plain
    return Text.from_markup(cell).plain if isinstance(cell, str) else str(cell)


_BOX = re.compile("[\u2500-\u257f]")  # the box-drawing characters of table borders


def _cuts_a_cell(t: Table, width: int) -> bool:
    """Whether ``t`` at ``width`` columns would cut a word of a header or cell: shorten it
    with an ellipsis, or fold it (a no-wrap id column) across lines. Wrapping between words
    is fine."""
    scratch = Console(file=io.StringIO(), width=width, color_system=None, highlight=False)
    scratch.print(t)
    shown = set(_BOX.sub(" ", scratch.file.getvalue()).split())  # type: ignore[attr-defined]
    return any(word not in shown
               for col in t.columns for cell in (col.header, *col.cells)
               for word in _plain(cell).split())


def print_table(t: Table, out: Console | None = None) -> None:
    """Print ``t``; ids are never cut. When the terminal is too narrow for the table to show
    every cell of its id columns whole, each row is printed as ``column: value`` lines
    instead (one block per row), so ids stay whole and can be copied."""
    out = out or console
    if not _cuts_a_cell(t, out.width):
        out.print(t)
        return
    if t.title:
        out.print(t.title, style="bold")
    columns = [(_plain(col.header), list(col.cells)) for col in t.columns]
    for i in range(t.row_count):
        if i:
            out.print()
        for header, cells in columns:
            cell = cells[i] if i < len(cells) else ""
            line = Text(f"{header}: ")
            line.append(cell if isinstance(cell, Text) else Text.from_markup(str(cell)))
            out.print(line, soft_wrap=True)
