"""Key store answers that erasure and key rotation act on.

``has_key`` decides whether an erasure still has a key to destroy, and ``destroy``'s answer is
what the erasure records; both must be about the one key asked for, not the store as a whole.
A rotation reports its progress truthfully and records when the old KEK version stopped being
used, which is when its retirement window starts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from confida.crypto.keystore import ACTIVE, RETIRED, KeyStore
from confida.store.keyschema import data_key
from confida.vault import Vault

T0 = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_has_key_is_about_that_key(vault: Vault) -> None:
    vault.keys.create_key("edge-present")
    assert vault.keys.has_key("edge-present")
    assert not vault.keys.has_key("edge-absent")  # though other keys exist


def test_destroy_says_whether_it_destroyed(vault: Vault) -> None:
    vault.keys.create_key("edge-doomed")
    assert vault.keys.destroy("edge-doomed") is True
    assert not vault.keys.has_key("edge-doomed")
    assert vault.keys.destroy("edge-doomed") is False
    assert vault.keys.destroy("edge-never") is False


def test_rotation_progress_and_retirement_time(vault: Vault) -> None:
    ks = KeyStore(vault.key_engine, vault.keys.kek, clock=lambda: T0)
    ids = [f"edge-rot-{i}" for i in range(5)]
    keys = ks.create_keys(ids)
    before = {str(r["version"]) for r in ks.versions()}
    with vault.key_engine.connect() as conn:  # these and the installation's own keys
        total = conn.execute(select(func.count()).select_from(data_key)).scalar_one()
    assert total > len(ids)
    seen: list[tuple[int, int]] = []
    res = ks.rotate(batch=2, progress=lambda done, todo: seen.append((done, todo)))
    assert res["rewrapped"] == total and not res["resumed"]
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)  # cumulative, not per batch
    assert all(todo == total for _, todo in seen) and len(seen) == 1 + -(-total // 2)
    states = {str(r["version"]): r for r in ks.versions()}
    (old,) = before
    assert states[old]["state"] == RETIRED and states[res["version"]]["state"] == ACTIVE
    retired_at = states[old]["retired_at"]
    assert retired_at is not None
    assert abs(retired_at.replace(tzinfo=UTC) - T0) < timedelta(seconds=1)
    fresh = KeyStore(vault.key_engine, vault.keys.kek)
    assert fresh.get_keys(ids) == keys  # re-wrapped, same data keys
