"""Short-lived privacy-center links: ``issue(vault, external_id, ttl_seconds)`` / ``verify``.

Interim seam until ``confida.subject_token`` (api branch) lands. The host application issues a
link after its own login; the token is sealed (AES-256-GCM under an installation key), so the
URL carries no readable personal data, cannot be forged, and expires (at most one hour).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets

from confida.crypto import aead
from confida.errors import BadInput, ConfidaError, Unauthenticated
from confida.operation import Actor, Operation
from confida.vault import Vault

PREFIX = "csl_"
KEY_NAME = "web-subject-link"
MAX_TOKEN = 1024
MAX_TTL = 3600
_AAD = aead.associated_data("confida-subject-link", "v1")


def issue(vault: Vault, subject_external_id: str, ttl_seconds: int = 900,
          *, actor: Actor) -> str:
    """A token for the subject the host knows as ``subject_external_id`` (audited)."""
    from confida import subject as subjects

    if not 1 <= ttl_seconds <= MAX_TTL:
        raise BadInput(f"a privacy-center link lives between 1 and {MAX_TTL} seconds")
    with vault.operation(Operation("subject_link.issue", actor)) as (conn, op):
        s = subjects.require(vault, conn, subject_external_id)
        op.subject_pseudonyms.append(s.pseudonym)
        op.details["ttl_seconds"] = ttl_seconds
    exp = vault.clock().timestamp() + ttl_seconds
    raw = json.dumps({"sub": subject_external_id, "exp": exp, "n": secrets.token_hex(4)},
                     separators=(",", ":")).encode()
    sealed = aead.seal(vault.system_key(KEY_NAME), raw, _AAD)
    return PREFIX + base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def verify(vault: Vault, token: str) -> str:
    """The subject's external id, or :class:`Unauthenticated` (malformed, forged, expired)."""
    if not isinstance(token, str) or not token.startswith(PREFIX) or len(token) > MAX_TOKEN:
        raise Unauthenticated("malformed privacy-center link")
    body = token[len(PREFIX):]
    try:
        sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        claims = json.loads(aead.open_sealed(vault.system_key(KEY_NAME), sealed, _AAD))
        sub, exp = str(claims["sub"]), float(claims["exp"])
    except (ValueError, KeyError, TypeError, binascii.Error, ConfidaError):
        raise Unauthenticated("invalid privacy-center link") from None
    if exp <= vault.clock().timestamp():
        raise Unauthenticated("privacy-center link expired")
    return sub
