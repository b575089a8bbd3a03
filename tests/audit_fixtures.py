"""Fixtures of the audit tests: a database per test (SQLite file by default,
PostgreSQL when CONFIDA_TEST_DATABASE_URL names one), an audit log in it and a signing key.

On PostgreSQL every test gets its own schema, dropped afterwards, because the server is shared.
Loaded by the audit test modules with ``pytest_plugins`` rather than from conftest.py, so the
audit suite brings no conftest of its own to merge with the vault's.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, text

from confida.audit import AuditLog, AuditSigner, define_tables
from tests.audit_data import ORIGIN, Db


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Db]:
    url = os.environ.get("CONFIDA_TEST_DATABASE_URL")
    if not url:
        engine = create_engine(f"sqlite:///{tmp_path / 'audit.db'}")
        yield Db(engine, None)
        engine.dispose()
        return
    engine = create_engine(url)
    schema = f"audit_test_{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Db(engine, schema)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def log(db: Db) -> AuditLog:
    audit_log = AuditLog(define_tables(MetaData(schema=db.schema)), origin=ORIGIN)
    with db.engine.begin() as conn:
        audit_log.create(conn)
    return audit_log


@pytest.fixture
def signer(tmp_path: Path) -> AuditSigner:
    return AuditSigner.generate(tmp_path / "keys" / "audit-ed25519.pem", ORIGIN)
