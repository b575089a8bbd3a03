"""Inserts that settle a race on a unique key in the database, not in Python.

"Select, then insert if absent" fails when two transactions do it at once: both see nothing,
both insert, one gets ``IntegrityError``. Both supported backends can instead resolve the
conflict inside the statement (``INSERT ... ON CONFLICT``), which PostgreSQL does by waiting for
the other transaction and then skipping or updating its row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table


def insert_for(conn: Connection, table: Table) -> Any:
    """An ``INSERT`` for ``table`` with ``on_conflict_do_nothing`` / ``on_conflict_do_update``
    (PostgreSQL or SQLite, the backends ``make_engine`` accepts)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)
