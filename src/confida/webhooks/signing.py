"""Signatures per the Standard Webhooks specification (https://www.standardwebhooks.com/).

Each delivery carries three headers:

- ``webhook-id``: the message id, the same on every retry of one delivery (receivers use it to
  drop duplicates: delivery is at least once);
- ``webhook-timestamp``: whole seconds since the epoch, when this attempt was signed;
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>``
  (space-separated when several, e.g. while a secret is rotated).

The secret is 32 random bytes, shown as ``whsec_<base64>``. :func:`verify` is what a receiver
runs: it checks the signature in constant time and refuses a timestamp outside the tolerance
(5 minutes either way), so a captured request cannot be replayed later. HMAC comes from the
``cryptography`` package; nothing here is hand-written cryptography.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from cryptography.hazmat.primitives import constant_time, hashes, hmac

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "SECRET_PREFIX",
    "WebhookVerificationError",
    "decode_secret",
    "encode_secret",
    "new_secret",
    "sign",
    "signature",
    "verify",
]

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
DEFAULT_TOLERANCE_SECONDS = 300
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


class WebhookVerificationError(ValueError):
    """The request is not a genuine, fresh delivery: refuse it (answer 4xx, do not process)."""


def new_secret() -> bytes:
    return os.urandom(SECRET_BYTES)


def encode_secret(secret: bytes) -> str:
    """The form shown to the operator once: ``whsec_`` and the base64 of the secret."""
    return SECRET_PREFIX + base64.b64encode(secret).decode("ascii")


def decode_secret(secret: str | bytes) -> bytes:
    """The raw key from ``whsec_<base64>`` (or raw bytes, given as they are)."""
    if isinstance(secret, bytes):
        raw = secret
    else:
        text = secret.strip().removeprefix(SECRET_PREFIX)
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise WebhookVerificationError("the secret is not whsec_ and base64") from None
    if not raw:
        raise WebhookVerificationError("the secret is empty")
    return raw


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def signature(secret: bytes, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """One ``v1,<base64>`` signature of ``{id}.{timestamp}.{body}``."""
    mac = hmac.HMAC(secret, hashes.SHA256())
    mac.update(f"{msg_id}.{int(timestamp)}.".encode())
    mac.update(_as_bytes(body))
    return "v1," + base64.b64encode(mac.finalize()).decode("ascii")


def sign(secret: bytes, msg_id: str, timestamp: int, body: bytes | str) -> dict[str, str]:
    """The three signature headers of one attempt."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": signature(secret, msg_id, timestamp, body),
    }


def verify(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: datetime | None = None,
) -> None:
    """Return if ``body`` with ``headers`` was signed with ``secret`` within ``tolerance``
    seconds of ``now``; else raise :class:`WebhookVerificationError`.

    ``secret`` is the ``whsec_...`` text shown at ``confida webhooks add`` (or its raw bytes);
    ``headers`` any mapping of the request's headers (names are matched case-insensitively);
    ``body`` the raw request body, exactly as received (verify before parsing it). The
    signature is compared as canonical base64 in constant time; any of several space-separated
    signatures may match.
    """
    key = decode_secret(secret)
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    msg_id = lower.get("webhook-id", "")
    stamp = lower.get("webhook-timestamp", "")
    given = lower.get("webhook-signature", "")
    if not (msg_id and stamp and given):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or "
                                       "webhook-signature")
    if not _TIMESTAMP.match(stamp):
        raise WebhookVerificationError("webhook-timestamp is not whole seconds since the epoch")
    ts = int(stamp)
    current = (now or datetime.now(UTC)).timestamp()
    if abs(current - ts) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance")
    expected = signature(key, msg_id, ts, body).encode("ascii")
    matched = False
    for candidate in given.split(" "):
        # every candidate is compared, in constant time, whatever an earlier one gave
        matched |= constant_time.bytes_eq(expected, candidate.encode("utf-8", "replace"))
    if not matched:
        raise WebhookVerificationError("no matching signature")
