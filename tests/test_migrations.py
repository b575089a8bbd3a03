"""The Alembic migrations produce exactly the tables the code declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from confida.store.keyschema import key_metadata
from confida.store.schema import metadata
from confida.vault import Vault


def test_store_schema_matches_models(vault: Vault) -> None:
    for engine, md in ((vault.engine, metadata), (vault.key_engine, key_metadata)):
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), md)
        assert diff == [], diff
