from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from confida.crypto import aead
from confida.crypto.kek import FileKek
from confida.errors import KeyUnavailable

WHEN = datetime(2027, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _aad(rid: str = "r1", subject: str = "s1", kind: str = "account", **kw: object) -> bytes:
    args: dict[str, object] = {"version": 1, "purposes": ("service",), "retain_until": WHEN,
                               "legal_hold": False, **kw}
    return aead.record_aad(record_id=rid, subject_id=subject, kind=kind, **args)  # type: ignore[arg-type]


@given(st.binary(max_size=4096), st.text(max_size=40), st.text(max_size=40))
def test_seal_round_trip(plaintext: bytes, rid: str, kind: str) -> None:
    key = aead.new_key()
    aad = _aad(rid, "s", kind)
    sealed = aead.seal(key, plaintext, aad)
    assert aead.open_sealed(key, sealed, aad) == plaintext
    assert len(plaintext) < 16 or plaintext not in sealed


@given(st.binary(min_size=1, max_size=256), st.integers(0, 10_000))
def test_any_bit_flip_is_rejected(plaintext: bytes, pos: int) -> None:
    key = aead.new_key()
    sealed = bytearray(aead.seal(key, plaintext, b"aad"))
    i = pos % (len(sealed) * 8)
    sealed[i // 8] ^= 1 << (i % 8)
    with pytest.raises(KeyUnavailable):
        aead.open_sealed(key, bytes(sealed), b"aad")


def test_wrong_key_and_moved_ciphertext_rejected() -> None:
    key = aead.new_key()
    sealed = aead.seal(key, b"secret", _aad())
    with pytest.raises(KeyUnavailable):
        aead.open_sealed(aead.new_key(), sealed, _aad())
    for other in (("r2", "s1", "account"), ("r1", "s2", "account"), ("r1", "s1", "invoice")):
        with pytest.raises(KeyUnavailable):
            aead.open_sealed(key, sealed, _aad(*other))
    later = WHEN.replace(microsecond=WHEN.microsecond + 1)
    for meta in ({"version": 2}, {"purposes": ("safety",)}, {"purposes": ("service", "safety")},
                 {"retain_until": later}, {"legal_hold": True}):
        with pytest.raises(KeyUnavailable):
            aead.open_sealed(key, sealed, _aad(**meta))
    assert aead.open_sealed(key, sealed, _aad(retain_until=WHEN.astimezone(
        timezone(timedelta(hours=2))))) == b"secret"  # the same instant in another zone


def test_aad_is_unambiguous() -> None:
    assert aead.associated_data("ab", "c") != aead.associated_data("a", "bc")


def test_nonces_are_random() -> None:
    key = aead.new_key()
    nonces = {aead.seal(key, b"x", b"")[: aead.NONCE_BYTES] for _ in range(200)}
    assert len(nonces) == 200


def test_file_kek_is_created_0600_and_never_overwritten(tmp_path: Path) -> None:
    kek = FileKek(tmp_path / "kek")
    kek.create_version("v1")
    p = tmp_path / "kek" / "v1.key"
    assert p.stat().st_mode & 0o777 == 0o600
    before = p.read_bytes()
    with pytest.raises(KeyUnavailable, match="refusing to overwrite"):
        kek.create_version("v1")
    assert p.read_bytes() == before


def test_file_kek_refuses_wide_permissions(tmp_path: Path) -> None:
    kek = FileKek(tmp_path / "kek")
    kek.create_version("v1")
    os.chmod(tmp_path / "kek" / "v1.key", 0o644)
    with pytest.raises(KeyUnavailable, match="chmod 600"):
        FileKek(tmp_path / "kek").wrap("v1", aead.new_key(), b"")


def test_file_kek_wrong_key_refuses(tmp_path: Path) -> None:
    a, b = FileKek(tmp_path / "a"), FileKek(tmp_path / "b")
    a.create_version("v1")
    b.create_version("v1")
    wrapped = a.wrap("v1", aead.new_key(), b"id")
    with pytest.raises(KeyUnavailable, match="wrong key"):
        b.unwrap("v1", wrapped, b"id")


def test_file_kek_missing(tmp_path: Path) -> None:
    with pytest.raises(KeyUnavailable, match="missing"):
        FileKek(tmp_path / "kek").wrap("v1", aead.new_key(), b"")
