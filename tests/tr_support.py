"""Helpers for the transparency tests: a vault with a clock the test moves, and direct writes
that bypass the core on purpose (to plant what the compliance audit must find)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Connection, insert, update

from confida.clock import utcnow
from confida.config import Config
from confida.crypto import aead
from confida.record import aad_of
from confida.register import Register
from confida.store.schema import record, subject
from confida.vault import Vault

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "chat-assistant.yaml"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


@dataclass
class ListSink:
    """Records audit entries in memory (stands in for confida.audit's sink, a boundary here)."""

    entries: list[Mapping[str, Any]] = field(default_factory=list)

    def append(self, conn: Connection, entry: Mapping[str, Any]) -> None:
        self.entries.append(entry)


def sample_doc() -> dict[str, Any]:
    return yaml.safe_load(SAMPLE.read_text("utf-8"))


def register_from(doc: dict[str, Any]) -> Register:
    return Register.model_validate(doc)


def open_vault(config: Config, clock: Clock, **kw: Any) -> Vault:
    return Vault.open(config, clock=clock, **kw)


def plant_record(vault: Vault, conn: Connection, *, kind: str, purpose: str,
                 subject_id: str | None = None, created_at: datetime | None = None,
                 retain_until: datetime | None = None, consent_event_id: int | None = None,
                 data: Mapping[str, Any] | None = None) -> tuple[str, str]:
    """Insert a record with a direct database write, bypassing every rule of ``collect``."""
    now = created_at or vault.clock()
    if subject_id is None:
        subject_id = str(uuid.uuid4())
        vault.keys.create_key(subject_id)
        conn.execute(insert(subject).values(id=subject_id, ref=uuid.uuid4().hex,
                                            pseudonym=uuid.uuid4().hex, status="active",
                                            created_at=now))
    rid = str(uuid.uuid4())
    key = vault.keys.get_key(subject_id)
    until = retain_until or now + timedelta(days=365)
    conn.execute(insert(record).values(
        id=rid, subject_id=subject_id, kind=kind, purpose=purpose,
        ciphertext=aead.seal(key, json.dumps(data or {"x": 1}).encode(),
                             aad_of(rid, subject_id, kind, purpose, 1, until, False)),
        pii_summary={}, dropped_fields=0, consent_event_id=consent_event_id, legal_hold=False,
        created_at=now, updated_at=now, retain_until=until, version=1,
    ))
    return rid, subject_id


def set_record(conn: Connection, record_id: str, **values: Any) -> None:
    conn.execute(update(record).where(record.c.id == record_id).values(**values))


# --- fixtures shared by the transparency tests (loaded with ``pytest_plugins``) ---------------


@pytest.fixture
def clock() -> Clock:
    return Clock(utcnow())  # the stores were initialised (KEK v1 created) at the real time


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def v(config: Config, clock: Clock, sink: ListSink) -> Iterator[Vault]:
    vault = Vault.open(config, clock=clock, audit=sink)
    try:
        yield vault
    finally:
        vault.close()
