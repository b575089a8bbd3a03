"""Schema migrations (Alembic) for the record store and the key store.

Both databases are brought to ``head`` by ``confida init`` and checked on open, so a store at
an older schema is upgraded explicitly and never used half-migrated.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from confida.errors import StoreUnavailable
from confida.store.engine import describe_db_error

_ROOT = Path(__file__).resolve().parent.parent / "migrations"


def _alembic(which: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_ROOT / which))
    return cfg


def upgrade(engine: Engine, which: str = "store") -> None:
    cfg = _alembic(which)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise StoreUnavailable(f"database unavailable: {describe_db_error(exc)}") from None


def is_current(engine: Engine, which: str = "store") -> bool:
    head = ScriptDirectory.from_config(_alembic(which)).get_current_head()
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise StoreUnavailable(f"database unavailable: {describe_db_error(exc)}") from None
    return current == head


def require_current(engine: Engine, which: str = "store") -> None:
    if not is_current(engine, which):
        raise StoreUnavailable(
            f"the {which} schema is not at the current version; run `confida init` "
            "(which migrates an existing data dir) or `confida migrate`"
        )
