"""AEAD at its edges: every plaintext round-trips, and any blob too short to be a ciphertext is
refused as unreadable (``KeyUnavailable``), never as some other error a caller does not expect.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from confida.crypto import aead
from confida.errors import KeyUnavailable

AAD = aead.associated_data("test", "edge")


def _openers(key: bytes) -> list[Callable[[bytes], bytes]]:
    return [lambda b: aead.open_sealed(key, b, AAD), lambda b: aead.Opener(key).open(b, AAD)]


@pytest.mark.parametrize("plaintext", [b"", b"x", b"y" * 1000])
def test_every_plaintext_round_trips(plaintext: bytes) -> None:
    key = aead.new_key()
    sealed = aead.seal(key, plaintext, AAD)
    assert len(sealed) == aead.NONCE_BYTES + 16 + len(plaintext)
    for open_ in _openers(key):
        assert open_(sealed) == plaintext


@pytest.mark.parametrize("length", [0, 1, 11, 12, 27])
def test_too_short_is_refused_as_unreadable(length: int) -> None:
    key = aead.new_key()
    for open_ in _openers(key):
        with pytest.raises(KeyUnavailable):
            open_(b"\x00" * length)
