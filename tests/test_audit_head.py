"""The audit log's head row: created once by whoever appends first, and its loss detected.

Two processes making the first append of a fresh store race to create the head (covered with
real processes in test_concurrency.py); the rule that tells that race from tampering is that a
head this append really inserted, next to entries that already exist, means the head was
removed.
"""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from confida import record
from confida.audit.log import LogCorrupted
from confida.store.schema import audit_tables
from confida.vault import Vault
from tests.actors import ADMIN


def _collect(vault: Vault) -> None:
    record.collect(vault, "u", "usage_event", {"event": "login"}, "analytics", actor=ADMIN)


def test_first_append_creates_the_head(vault: Vault) -> None:
    _collect(vault)
    with vault.engine.connect() as conn:
        assert conn.execute(select(audit_tables.head.c.size)).scalar_one() == 1


def test_a_removed_head_next_to_entries_is_corruption(vault: Vault) -> None:
    _collect(vault)
    with vault.engine.begin() as conn:
        conn.execute(delete(audit_tables.head))
    with pytest.raises(LogCorrupted, match="head row is missing"):
        _collect(vault)
    with vault.engine.connect() as conn:  # nothing was appended or recreated
        assert conn.execute(select(audit_tables.head.c.id)).first() is None
