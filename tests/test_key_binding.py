"""A wrapped data key opens only under its own key id.

The KEK wrap binds each data key to its row's ``key_id`` (and KEK version) as associated data.
Someone with write access to the key store, but not the KEK, who moves one subject's wrapped key
into another subject's row must get a refusal, not the first subject's key handed out as the
second's (which would let erasing one subject leave the other's data readable, or decrypt one
person's records for another).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from confida.crypto.keystore import KeyStore
from confida.errors import KeyUnavailable
from confida.store.engine import transaction
from confida.store.keyschema import data_key
from confida.vault import Vault

A, B = "test-binding-a", "test-binding-b"


def _wrapped(vault: Vault, key_id: str) -> bytes:
    with vault.key_engine.connect() as conn:
        return bytes(conn.execute(
            select(data_key.c.wrapped).where(data_key.c.key_id == key_id)).scalar_one())


def _set_wrapped(vault: Vault, key_id: str, blob: bytes) -> None:
    with transaction(vault.key_engine) as conn:
        conn.execute(update(data_key).where(data_key.c.key_id == key_id).values(wrapped=blob))


def _swap(vault: Vault) -> tuple[bytes, bytes]:
    wa, wb = _wrapped(vault, A), _wrapped(vault, B)
    _set_wrapped(vault, A, wb)
    _set_wrapped(vault, B, wa)
    return wa, wb


def _fresh(vault: Vault) -> KeyStore:
    """Another process's key store: nothing cached, every key unwrapped from its row."""
    return KeyStore(vault.key_engine, vault.keys.kek)


def test_moved_wrapped_key_is_refused(vault: Vault) -> None:
    ka, kb = vault.keys.create_key(A), vault.keys.create_key(B)
    assert ka != kb
    wa, wb = _swap(vault)
    for ks in (vault.keys, _fresh(vault)):  # the cache must not paper over it either
        for key_id in (A, B):
            with pytest.raises(KeyUnavailable):
                ks.get_key(key_id)
        with pytest.raises(KeyUnavailable):
            ks.get_keys([A, B])
    # Control: put back, each row opens to its own key again.
    _set_wrapped(vault, A, wa)
    _set_wrapped(vault, B, wb)
    for ks in (vault.keys, _fresh(vault)):
        assert ks.get_key(A) == ka and ks.get_key(B) == kb
        assert ks.get_keys([A, B]) == {A: ka, B: kb}


def test_copied_wrapped_key_is_refused(vault: Vault) -> None:
    """A copy (not a swap): B's row given A's blob, A's row left as it was."""
    ka = vault.keys.create_key(A)
    vault.keys.create_key(B)
    _set_wrapped(vault, B, _wrapped(vault, A))
    ks = _fresh(vault)
    assert ks.get_key(A) == ka
    with pytest.raises(KeyUnavailable):
        ks.get_key(B)


def test_rotation_refuses_a_moved_key(vault: Vault) -> None:
    """Re-wrapping under a new KEK version must not launder a moved key into a valid row."""
    vault.keys.create_key(A)
    vault.keys.create_key(B)
    _swap(vault)
    with pytest.raises(KeyUnavailable):
        _fresh(vault).rotate()
