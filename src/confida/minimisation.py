"""Data minimisation (Art. 5(1)(c)): keep only the fields a kind declares and a purpose needs.

A pure function over the register, so the same rule serves collect, update and import. Fields
that are dropped are counted, never logged by value.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from confida.errors import InvalidRecord, PayloadTooLarge
from confida.register import Kind, Purpose

_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "text": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


MAX_DEPTH = 64  # nesting levels of a record's JSON (the object itself is level 1)


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests objects/arrays more than ``limit`` levels.

    Iterative, so a document built to exhaust the stack (100000 nested lists) is measured
    without recursion; every later step (size, encryption, scanning) may then recurse safely.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        children = v.values() if isinstance(v, dict) else v
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list | tuple))
    return False


def require_depth(value: Any, what: str = "record") -> None:
    if isinstance(value, dict | list | tuple) and too_deep(value):
        raise InvalidRecord(f"{what} is nested deeper than {MAX_DEPTH} levels")


@dataclass(frozen=True)
class Minimised:
    data: dict[str, Any]
    dropped_undeclared: int
    dropped_for_purpose: int

    @property
    def dropped(self) -> int:
        return self.dropped_undeclared + self.dropped_for_purpose


def _check_type(name: str, ftype: str, value: Any) -> None:
    if value is None:
        return
    if ftype == "datetime":
        if not isinstance(value, str):
            raise InvalidRecord(f"field {name!r} must be an ISO 8601 date-time string")
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise InvalidRecord(f"field {name!r} is not an ISO 8601 date-time") from None
        return
    allowed = _PY_TYPES[ftype]
    if isinstance(value, bool) and bool not in allowed:
        raise InvalidRecord(f"field {name!r} must be of type {ftype}, not boolean")
    if not isinstance(value, allowed):
        raise InvalidRecord(f"field {name!r} must be of type {ftype}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRecord(f"field {name!r} must be a finite number")


def _check_text(name: str, value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRecord(f"field {name!r} is not valid Unicode (lone surrogate)") from None


def _upper_bound_size(data: dict[str, Any]) -> int:
    """A cheap bound on the JSON size (a character is at most 6 bytes escaped), so the exact
    size is computed only for records that might be near the limit."""
    total = 2
    for k, v in data.items():
        total += 6 * len(k) + 4
        if isinstance(v, str):
            total += 6 * len(v) + 2
        elif isinstance(v, bool | int | float) or v is None:
            total += 32
        else:
            return 1 << 62  # nested values: measure exactly
    return total


def minimise(
    kind_name: str,
    kind: Kind,
    purpose: Purpose,
    data: Any,
    *,
    max_bytes: int,
    partial: bool = False,
) -> Minimised:
    """Validate ``data`` against ``kind`` and keep what ``purpose`` may use.

    ``partial`` is for updates: required fields need not all be present.
    """
    if not isinstance(data, dict):
        raise InvalidRecord(f"a {kind_name} record must be a JSON object")
    require_depth(data)
    if _upper_bound_size(data) > max_bytes:
        try:
            size = len(json.dumps(data, ensure_ascii=False, default=str).encode("utf-8"))
        except (UnicodeEncodeError, ValueError):
            raise InvalidRecord("record is not valid Unicode or JSON") from None
        if size > max_bytes:
            raise PayloadTooLarge(f"record is {size} bytes; the limit is {max_bytes} bytes")
    allowed = set(purpose.categories)
    kept: dict[str, Any] = {}
    undeclared = for_purpose = 0
    for name, value in data.items():
        spec = kind.fields.get(name)
        if spec is None:
            undeclared += 1
            continue
        _check_type(name, spec.type, value)
        if isinstance(value, str):
            _check_text(name, value)
            if spec.max_length is not None and len(value) > spec.max_length:
                raise InvalidRecord(f"field {name!r} is longer than {spec.max_length} characters")
        if spec.category not in allowed:
            for_purpose += 1
            continue
        kept[name] = value
    if not partial:
        for name, spec in kind.fields.items():
            if spec.required and kept.get(name) is None:
                if name in data and spec.category not in allowed:
                    raise InvalidRecord(
                        f"required field {name!r} is of a category this purpose may not use"
                    )
                raise InvalidRecord(f"required field {name!r} is missing")
    return Minimised(kept, undeclared, for_purpose)
