"""The session cookie: AES-256-GCM under a versioned installation key from the key store.

The cookie names a server-side session (``confida.web_sessions``) and carries the CSRF token;
what counts is the row on the server, so a copied cookie dies with sign-out, erasure or a
revoked key. It is sealed rather than only signed so nothing in it is readable, and it says which
key version sealed it (``v<N>.<sealed>``), so a key rotation keeps recent cookies working and
refuses older ones. The cookie is ``__Host-`` prefixed (Secure, Path=/, no Domain), HttpOnly and
SameSite=Strict.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict, dataclass
from typing import Any

from confida import web_sessions
from confida.crypto import aead
from confida.errors import ConfidaError
from confida.vault import Vault

COOKIE = "__Host-confida-session"
MAX_COOKIE = 3800
ANON_SECONDS = 60 * 60
_AAD = aead.associated_data("confida-web-session", "v2")

ANON, SUBJECT, STAFF = "anon", web_sessions.SUBJECT, web_sessions.STAFF


@dataclass(frozen=True)
class Session:
    kind: str  # anon | subject | staff
    csrf: str
    exp: int
    sid: str  # the server-side session ("" for an anonymous one, which has none)
    kv: int  # the key version that seals it
    role: str | None = None  # staff: the role the actor signed in with

    def expired(self, now: float) -> bool:
        return self.exp <= int(now)


def anonymous(now: float, *, csrf: str, key_version: int) -> Session:
    """A session holding only a CSRF token, for the sign-in and notice pages."""
    return Session(ANON, csrf, int(now) + ANON_SECONDS, "", key_version)


def for_server_session(s: web_sessions.WebSession, *, csrf: str,
                       role: str | None = None) -> Session:
    return Session(s.kind, csrf, int(s.expires_at.timestamp()), s.sid, s.key_version, role)


def seal(vault: Vault, s: Session) -> str:
    raw = json.dumps(asdict(s), separators=(",", ":")).encode()
    sealed = aead.seal(web_sessions.cookie_key(vault, s.kv), raw, _AAD)
    return f"v{s.kv}." + base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def open_cookie(vault: Vault, value: str | None, now: float) -> Session | None:
    """The session in ``value``, or None when absent, malformed, forged, expired or sealed
    under a key version no longer accepted. The server-side row is checked by the caller."""
    if not value or len(value) > MAX_COOKIE or "." not in value:
        return None
    version_text, body = value.split(".", 1)
    if not (version_text.startswith("v") and version_text[1:].isdigit()):
        return None
    version = int(version_text[1:])
    if version not in web_sessions.key_versions(vault):
        return None
    try:
        sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        data: dict[str, Any] = json.loads(
            aead.open_sealed(web_sessions.cookie_key(vault, version), sealed, _AAD))
        s = Session(**data)
    except (ValueError, TypeError, binascii.Error, ConfidaError):
        return None
    if s.kv != version:
        return None
    return None if s.expired(now) else s


def cookie_args(s: Session, now: float) -> dict[str, Any]:
    return {
        "key": COOKIE, "max_age": max(0, s.exp - int(now)), "path": "/", "secure": True,
        "httponly": True, "samesite": "strict",
    }
