"""Sessions as a sealed cookie: AES-256-GCM under an installation key from the key store.

Sealed rather than only signed because a subject session carries the host's id for the person,
which must not be readable even by whoever holds the cookie jar. The cookie is ``__Host-``
prefixed (Secure, Path=/, no Domain), HttpOnly and SameSite=Strict, and lives 15 minutes for a
data subject and 30 for staff; the expiry inside the sealed payload is what counts.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from confida.crypto import aead
from confida.errors import ConfidaError
from confida.vault import Vault

COOKIE = "__Host-confida-session"
KEY_NAME = "web-session"
MAX_COOKIE = 3800
SUBJECT_SECONDS = 15 * 60
STAFF_SECONDS = 30 * 60
ANON_SECONDS = 60 * 60
_AAD = aead.associated_data("confida-web-session", "v1")

ANON, SUBJECT, STAFF = "anon", "subject", "staff"


@dataclass(frozen=True)
class Session:
    kind: str  # anon | subject | staff
    csrf: str
    exp: int
    sid: str  # random id naming the session in audit entries
    sub: str | None = None  # subject: host's id; staff: actor id (apikey:<id>)
    role: str | None = None

    def expired(self, now: float) -> bool:
        return self.exp <= int(now)


def new(kind: str, now: float, *, csrf: str, sub: str | None = None,
        role: str | None = None) -> Session:
    ttl = {SUBJECT: SUBJECT_SECONDS, STAFF: STAFF_SECONDS}.get(kind, ANON_SECONDS)
    return Session(kind, csrf, int(now) + ttl, secrets.token_hex(8), sub, role)


def _key(vault: Vault) -> bytes:
    return vault.system_key(KEY_NAME)


def seal(vault: Vault, s: Session) -> str:
    raw = json.dumps(asdict(s), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(aead.seal(_key(vault), raw, _AAD)).decode().rstrip("=")


def open_cookie(vault: Vault, value: str | None, now: float) -> Session | None:
    """The session in ``value``, or None when absent, malformed, forged or expired."""
    if not value or len(value) > MAX_COOKIE:
        return None
    try:
        sealed = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        data: dict[str, Any] = json.loads(aead.open_sealed(_key(vault), sealed, _AAD))
        s = Session(**data)
    except (ValueError, TypeError, binascii.Error, ConfidaError):
        return None
    return None if s.expired(now) else s


def cookie_args(s: Session, now: float) -> dict[str, Any]:
    return {
        "key": COOKIE, "max_age": max(0, s.exp - int(now)), "path": "/", "secure": True,
        "httponly": True, "samesite": "strict",
    }
