"""Output and error handling shared by every command."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, is_dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
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
    data_dir: str | None = None
    json: bool = False

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
