"""Short-lived tokens scoped to one data subject, for the privacy center.

A person who signed in to the host application is handed a token by the host's backend (which
holds an API key allowed to issue them); with it, the privacy center shows that person their own
data and consents, and nothing else. The token names the subject by Confida's internal id (a
random UUID), never by the host's id, expires after ``api.subject_token_minutes`` (15 by
default), and is signed with HMAC-SHA256 under a key held in the key store (wrapped by the KEK),
so it cannot be forged or moved to another subject. Verification is constant-time.

Format: ``cst_<base64url(payload JSON)>.<base64url(tag)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from confida import subject as subjects
from confida.authz import authorise
from confida.errors import BadInput, Unauthenticated
from confida.operation import Actor, Operation
from confida.vault import Vault

PREFIX = "cst_"
KEY_NAME = "subject-token-hmac"
MAX_TOKEN_CHARS = 512


@dataclass(frozen=True)
class SubjectToken:
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class SubjectClaims:
    subject_id: str
    expires_at: datetime
    token_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tag(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, b"confida-subject-token\x00" + payload.encode(), hashlib.sha256)
                .digest())


def issue(
    vault: Vault, external_id: str, *, minutes: int | None = None, actor: Actor
) -> SubjectToken:
    """Issue a token for the subject the host knows as ``external_id`` (audited)."""
    ttl = minutes if minutes is not None else vault.config.api.subject_token_minutes
    if not 1 <= ttl <= 60:
        raise BadInput("a subject token lives between 1 and 60 minutes")
    with vault.operation(Operation("subject_token.issue", actor)) as (conn, op):
        authorise(actor, "rights", register=vault.register, op=op)
        s = subjects.require(vault, conn, external_id)
        op.subject_pseudonyms.append(s.pseudonym)
        exp = vault.clock() + timedelta(minutes=ttl)
        jti = secrets.token_hex(8)
        payload = _b64(json.dumps({"sub": s.id, "exp": int(exp.timestamp()), "jti": jti},
                                  separators=(",", ":")).encode())
        op.object_ids.append(f"subject_token:{jti}")
        op.details["minutes"] = ttl
    token = f"{PREFIX}{payload}.{_tag(vault.system_key(KEY_NAME), payload)}"
    return SubjectToken(token, datetime.fromtimestamp(int(exp.timestamp()), tz=exp.tzinfo))


def looks_like_token(token: str) -> bool:
    return token.startswith(PREFIX)


def verify(vault: Vault, token: str) -> SubjectClaims:
    if len(token) > MAX_TOKEN_CHARS or not token.startswith(PREFIX) or token.count(".") != 1:
        raise Unauthenticated("malformed subject token")
    payload, tag = token[len(PREFIX):].split(".")
    if not hmac.compare_digest(_tag(vault.system_key(KEY_NAME), payload).encode(), tag.encode()):
        raise Unauthenticated("invalid subject token")
    try:
        claims = json.loads(_unb64(payload))
        sub, exp, jti = str(claims["sub"]), int(claims["exp"]), str(claims["jti"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise Unauthenticated("malformed subject token") from None
    now = vault.clock()
    if exp <= int(now.timestamp()):
        raise Unauthenticated("subject token expired")
    return SubjectClaims(sub, datetime.fromtimestamp(exp, tz=now.tzinfo), jti)


def actor_for(claims: SubjectClaims) -> Actor:
    """The subject acting on their own data: no staff role, source ``web``."""
    return Actor(id=f"subject-token:{claims.token_id}", role=None, source="web")
