"""AES-256-GCM for record payloads and token maps.

The associated data binds each record ciphertext to its id, subject, kind, version, purposes,
retention deadline and legal hold, so a ciphertext copied onto another row (another person,
another kind), an older ciphertext replayed onto its own row, or an edited metadata column fails
to decrypt instead of leaking or silently changing what the record is for.
Nonces are 96 random bits from the OS, stored in front of the ciphertext.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from confida.errors import KeyUnavailable

NONCE_BYTES = 12
KEY_BYTES = 32
_VERSION = b"confida-v1"


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def associated_data(*parts: str) -> bytes:
    """Unambiguous AAD: length-prefixed parts, so ("ab","c") and ("a","bc") differ."""
    out = bytearray(_VERSION)
    for p in parts:
        raw = p.encode("utf-8")
        out += len(raw).to_bytes(4, "big") + raw
    return bytes(out)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes, aad: bytes, what: str = "ciphertext") -> bytes:
    if len(sealed) < NONCE_BYTES + 16:
        raise KeyUnavailable(f"{what} is truncated")
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except InvalidTag:
        raise KeyUnavailable(
            f"{what} failed authentication: wrong key, or the data was altered or moved"
        ) from None


RECORD_AAD_FORMAT = "record-v2"


def record_aad(
    *,
    record_id: str,
    subject_id: str,
    kind: str,
    version: int,
    purposes: Sequence[str],
    retain_until: datetime,
    legal_hold: bool,
) -> bytes:
    """The associated data of a record payload: every column a reader relies on.

    ``version`` grows on every re-seal, so the ciphertext of an earlier version no longer opens
    once it is replaced (no replay of a pre-rectification value). The deadline is written as
    UTC ISO 8601 with microseconds, the precision both stores keep.
    """
    if retain_until.tzinfo is None:
        raise ValueError("retain_until must be timezone-aware")
    deadline = retain_until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return associated_data(
        RECORD_AAD_FORMAT, record_id, subject_id, kind, str(int(version)),
        str(len(purposes)), *sorted(purposes), deadline, "hold" if legal_hold else "no-hold",
    )


class Opener:
    """Opens many ciphertexts under one key with one AES-GCM context (bulk reads, exports)."""

    def __init__(self, key: bytes) -> None:
        self._aes = AESGCM(key)

    def open(self, sealed: bytes, aad: bytes, what: str = "ciphertext") -> bytes:
        if len(sealed) < NONCE_BYTES + 16:
            raise KeyUnavailable(f"{what} is truncated")
        try:
            return self._aes.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
        except InvalidTag:
            raise KeyUnavailable(
                f"{what} failed authentication: wrong key, or the data was altered or moved"
            ) from None
