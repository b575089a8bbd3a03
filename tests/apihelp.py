"""Shared set-up for the API tests: a data dir, one API key per register role, a client."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from confida import credential
from confida.config import Config
from confida.vault import Vault
from tests.conftest import PG_URL, make_config


@contextmanager
def database(tmp: Path) -> Iterator[str]:
    """A SQLite file, or a fresh schema on the PostgreSQL server (as conftest does)."""
    if not PG_URL:
        yield f"sqlite:///{tmp / 'data' / 'confida.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def setup(tmp: Path, url: str, **kw: Any) -> tuple[Config, dict[str, str]]:
    cfg = make_config(tmp / "data", url, **kw)
    with Vault.open(cfg) as v:
        keys = {role: credential.create(v, role, label=f"test-{role}").key
                for role in v.register.roles}
    return cfg, keys


def auth(key: str, purpose: str | None = None) -> dict[str, str]:
    h = {"Authorization": f"Bearer {key}"}
    if purpose:
        h["Confida-Purpose"] = purpose
    return h


class RecordingSink:
    """The audit seam's interface, keeping entries in memory so tests can read decisions."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def append(self, conn: Any, entry: Any) -> None:
        self.entries.append(dict(entry))
