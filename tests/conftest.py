"""Shared fixtures: a database per test (SQLite file by default, PostgreSQL when
CONFIDA_TEST_DATABASE_URL names one), an audit log in it and a signing key.

On PostgreSQL every test gets its own schema, dropped afterwards, because the server is shared.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, create_engine, text

from confida.audit import AuditLog, AuditSigner, define_tables

ORIGIN = "test.confida.example/audit"


@dataclass
class Db:
    engine: Engine
    schema: str | None


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


def make_entry(i: int, **over: object) -> dict[str, object]:
    """A typical entry; nothing personal, the subject is a pseudonym."""
    entry: dict[str, object] = {
        "time": "2026-11-28T00:00:00+00:00",
        "actor": "svc:chat-api",
        "action": "record.read",
        "purpose": "service",
        "object_ids": [f"rec_{i:08d}"],
        "subject": f"psn_{i % 97:06x}",
        "outcome": ("allowed", "denied", "failed")[i % 3],
        "details": {"fields": 3, "n": i},
    }
    entry.update(over)
    return entry
