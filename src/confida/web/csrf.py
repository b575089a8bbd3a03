"""CSRF protection: a per-session token every form posts back, compared in constant time.

The session cookie is already SameSite=Strict; the token is the second, independent layer the
issue asks for, and covers browsers that ignore SameSite.
"""

from __future__ import annotations

import hmac
import secrets

FIELD = "csrf"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def valid(expected: str | None, presented: str | None) -> bool:
    """True only when both are present and equal; the comparison time does not leak a prefix."""
    if not expected or not presented or len(presented) > 128:
        return False
    return hmac.compare_digest(expected.encode("ascii", "replace"),
                               presented.encode("ascii", "replace"))
