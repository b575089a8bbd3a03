"""KEK rotation: re-wraps data keys, never touches records, resumable and idempotent."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from confida import record
from confida.crypto.kek import FileKek
from confida.store.keyschema import data_key
from confida.store.schema import record as record_t
from confida.vault import Vault
from tests.actors import ADMIN

MSG = {"conversation_id": "c", "text": "hello"}


def _records(vault: Vault) -> list[bytes]:
    with vault.engine.connect() as conn:
        return conn.execute(select(record_t.c.ciphertext).order_by(record_t.c.id)).scalars().all()


def test_rotate_rewraps_keys_not_records(vault: Vault) -> None:
    ids = [record.collect(vault, f"u{i}", "conversation_message", MSG, "service", actor=ADMIN).record_id
           for i in range(5)]
    before = _records(vault)
    res = vault.keys.rotate()
    assert res == {"version": "v2", "rewrapped": 6, "resumed": False}  # 5 subjects + index key
    assert _records(vault) == before
    with vault.key_engine.connect() as conn:
        assert set(conn.execute(select(data_key.c.kek_version)).scalars()) == {"v2"}
    fresh = Vault.open(vault.config)  # no cached keys: unwraps under v2
    try:
        assert all(record.read(fresh, i, "service", actor=ADMIN).data == MSG for i in ids)
        states = {v["version"]: v["state"] for v in fresh.keys.versions()}
        assert states == {"v1": "retired", "v2": "active"}
    finally:
        fresh.close()


class Crash(Exception):
    pass


class CrashingKek(FileKek):
    """Fails after ``n`` wraps under the new version, as a crash mid-rotation would."""

    def __init__(self, directory, n: int) -> None:
        super().__init__(directory)
        self.left = n

    def wrap(self, version: str, key: bytes, aad: bytes) -> bytes:
        if version == "v2":
            if self.left == 0:
                raise Crash
            self.left -= 1
        return super().wrap(version, key, aad)


def test_rotation_interrupted_then_resumed(vault: Vault) -> None:
    ids = [record.collect(vault, f"u{i}", "conversation_message", MSG, "service", actor=ADMIN).record_id
           for i in range(7)]
    crashing = Vault.open(vault.config, kek=CrashingKek(vault.config.kek_dir, 3))
    try:
        with pytest.raises(Crash):
            crashing.keys.rotate(batch=2)
        states = {v["version"]: v["state"] for v in crashing.keys.versions()}
        assert states == {"v1": "active", "v2": "rotating"}
    finally:
        crashing.close()
    mid = Vault.open(vault.config)  # mid-rotation, every key still readable
    try:
        assert all(record.read(mid, i, "service", actor=ADMIN).data == MSG for i in ids)
        res = mid.keys.rotate()
        assert res["version"] == "v2" and res["resumed"] is True
        assert res["rewrapped"] == 8 - 2  # the first batch had committed
        again = mid.keys.rotate()  # idempotent: a second call is a new, complete rotation
        assert again["version"] == "v3" and not again["resumed"]
    finally:
        mid.close()
    final = Vault.open(vault.config)
    try:
        assert all(record.read(final, i, "service", actor=ADMIN).data == MSG for i in ids)
    finally:
        final.close()
