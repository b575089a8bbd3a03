"""What an operator needs from an unexpected error, without the values it may carry.

An exception's text can quote anything: SQL parameters, a subject id, a payload. The server log
keeps none of it. What it keeps is enough to find the fault: the exception type, for a database
error the constraint it broke (a schema name such as ``uq_subject_ref``), and where in Confida it
was raised (``confida/subject.py:123 _insert_new``), e.g.::

    IntegrityError constraint=uq_subject_ref at confida/subject.py:123 _insert_new
"""

from __future__ import annotations

import re
from pathlib import Path
from types import TracebackType

_PACKAGE_DIR = Path(__file__).resolve().parent  # .../confida
_IDENT = re.compile(r"[^A-Za-z0-9_.]")
# SQLite names the columns, not the constraint: "UNIQUE constraint failed: subject.ref"
_SQLITE = re.compile(r"^(UNIQUE|NOT NULL|CHECK|FOREIGN KEY|PRIMARY KEY) constraint failed"
                     r"(?::\s*(.+))?$")


def describe(exc: BaseException) -> str:
    """``Type [constraint=NAME] at FILE:LINE FUNCTION``: names and places, never values."""
    parts = [type(exc).__name__]
    constraint = constraint_name(exc)
    if constraint:
        parts.append(f"constraint={constraint}")
    where = location(exc.__traceback__)
    if where:
        parts.append(f"at {where}")
    return " ".join(parts)


def constraint_name(exc: BaseException) -> str | None:
    """The schema name of the constraint a database error broke, if it says."""
    orig = getattr(exc, "orig", None)
    if orig is None:
        return None
    diag = getattr(orig, "diag", None)  # psycopg: the server reports the constraint by name
    name = getattr(diag, "constraint_name", None) if diag is not None else None
    if isinstance(name, str) and name:
        return _IDENT.sub("", name)[:128]
    args = getattr(orig, "args", ())
    m = _SQLITE.match(str(args[0]).strip()) if args and isinstance(args[0], str) else None
    if m is None:
        return None
    kind, cols = m.group(1), m.group(2)
    columns = [_IDENT.sub("", c.strip()) for c in (cols or "").split(",") if c.strip()]
    found = _named_constraint(columns) if kind in ("UNIQUE", "PRIMARY KEY") else None
    if found:
        return found
    label = kind.lower().replace(" ", "_")
    return f"{label}({','.join(columns)})"[:128] if columns else label


def _named_constraint(columns: list[str]) -> str | None:
    """Map SQLite's ``table.column`` list to the constraint's name in our schema."""
    if not columns or any("." not in c for c in columns):
        return None
    tables = {c.split(".", 1)[0] for c in columns}
    if len(tables) != 1:
        return None
    from confida.store.keyschema import key_metadata
    from confida.store.schema import metadata

    wanted = {c.split(".", 1)[1] for c in columns}
    table_name = tables.pop()
    for md in (metadata, key_metadata):
        table = md.tables.get(table_name)
        if table is None:
            continue
        candidates = [*table.constraints, *(i for i in table.indexes if i.unique)]
        for c in candidates:
            cols = {col.name for col in getattr(c, "columns", ())}
            if cols == wanted and getattr(c, "name", None):
                return str(c.name)
    return None


def location(tb: TracebackType | None) -> str | None:
    """The innermost frame in Confida's code (else the innermost frame): ``file:line func``."""
    inner = None
    ours = None
    while tb is not None:
        inner = tb
        try:
            if Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(_PACKAGE_DIR):
                ours = tb
        except (OSError, ValueError):
            pass
        tb = tb.tb_next
    pick = ours or inner
    if pick is None:
        return None
    path = Path(pick.tb_frame.f_code.co_filename)
    try:
        shown = path.resolve().relative_to(_PACKAGE_DIR.parent).as_posix()
    except (OSError, ValueError):
        shown = "/".join(path.parts[-2:])
    return f"{shown}:{pick.tb_lineno} {pick.tb_frame.f_code.co_name}"
