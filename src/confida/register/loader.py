"""Loading the register from YAML with errors a person can act on.

Errors name the file, the path inside the document (``purposes.model_training.retention``) and
what is wrong, because a DPO editing YAML should not have to read a pydantic traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from confida.errors import InvalidRegister
from confida.register.models import Register

MAX_REGISTER_BYTES = 2 * 1024 * 1024


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if p not in ("function-after",)) or "(document)"


def parse_register(text: str, source: str = "<register>") -> Register:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "malformed YAML"
        raise InvalidRegister(f"{source}:{where}: {problem}") from None
    if not isinstance(doc, dict):
        raise InvalidRegister(f"{source}: (document): expected a mapping at the top level")
    try:
        return Register.model_validate(doc)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False, include_input=False):
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{source}: {_loc(err['loc'])}: {msg}")
        raise InvalidRegister("\n".join(lines)) from None


def load_register(path: str | Path) -> Register:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InvalidRegister(f"{p}: no such register file") from None
    except OSError as exc:
        raise InvalidRegister(f"{p}: cannot read ({exc.strerror})") from None
    if len(raw) > MAX_REGISTER_BYTES:
        raise InvalidRegister(f"{p}: larger than {MAX_REGISTER_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRegister(f"{p}: not valid UTF-8 at byte {exc.start}") from None
    return parse_register(text, str(p))
