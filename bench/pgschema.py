"""A throwaway schema on the PostgreSQL server for one benchmark run (shared by bench/*.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@contextmanager
def pg_schema(base: str) -> Iterator[str | None]:
    """Yield a URL whose search_path is a fresh schema, dropped afterwards; None if no server."""
    try:
        eng = create_engine(base, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with eng.connect() as c:
            c.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # no server: the caller reports SQLite figures only
        print(f"PostgreSQL not reachable ({type(exc).__name__}); skipped")
        yield None
        return
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with eng.connect() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        eng.dispose()
