"""Short-lived tokens scoped to one data subject: the one way a person reaches their own data.

The host application, after its own login, asks Confida (with a key whose role has ``rights``)
for a token. A ``link`` token opens the privacy center once (``/privacy/enter?token=...``); an
``api`` token is a bearer credential for ``/v1/me/...`` during its lifetime. Both have the same
format and are verified by the same code; the ``use`` claim keeps one from standing in for the
other.

The token names the subject by Confida's internal id (a random UUID), never by the host's id,
lives at most 15 minutes, and is signed with HMAC-SHA256 under a versioned system key held in the
key store (wrapped by the KEK), so it cannot be forged, moved to another subject, or carried to
another installation. The tag is checked, in constant time, before the payload is parsed.

Format: ``cst_v<N>.<base64url(payload JSON)>.<base64url(tag)>``.
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

from sqlalchemy import Connection

from confida import subject as subjects
from confida.authz import authorise
from confida.errors import BadInput, SubjectErased, Unauthenticated
from confida.operation import Actor, Operation, subject_actor
from confida.vault import Vault

PREFIX = "cst_"
KEY_NAME = "subject-token"
KEY_VERSION = 1  # raise to rotate; tokens live minutes, so the old version needs no grace
MAX_TOKEN_CHARS = 512
MAX_MINUTES = 15
LINK, API = "link", "api"
USES = (LINK, API)


@dataclass(frozen=True)
class SubjectToken:
    token: str
    expires_at: datetime
    token_id: str


@dataclass(frozen=True)
class SubjectClaims:
    subject_id: str
    expires_at: datetime
    token_id: str
    use: str


@dataclass(frozen=True)
class PrivacyLink:
    url: str
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(vault: Vault, version: int) -> bytes:
    return vault.system_key(f"{KEY_NAME}-v{version}")


def _tag(key: bytes, version: int, payload: str) -> str:
    msg = f"confida-subject-token\x00v{version}\x00{payload}".encode()
    return _b64(hmac.new(key, msg, hashlib.sha256).digest())


def _minutes(vault: Vault, minutes: int | None) -> int:
    ttl = minutes if minutes is not None else min(vault.config.api.subject_token_minutes,
                                                  MAX_MINUTES)
    if not 1 <= ttl <= MAX_MINUTES:
        raise BadInput(f"a subject token lives between 1 and {MAX_MINUTES} minutes")
    return ttl


def _subject_claims(
    vault: Vault, conn: Connection, op: Operation, external_id: str, ttl: int,
) -> tuple[str, int, str]:
    """(subject id, expiry, token id) for a token about to be issued, in the caller's decided
    operation; an erased subject gets none."""
    s = subjects.require(vault, conn, external_id)
    if s.status in (subjects.ERASED, subjects.ERASING):
        raise SubjectErased("this subject's data has been erased")
    op.subject_pseudonyms.append(s.pseudonym)
    exp = int((vault.clock() + timedelta(minutes=ttl)).timestamp())
    jti = secrets.token_hex(16)
    op.object_ids.append(f"subject_token:{jti}")
    op.details["minutes"] = ttl
    return s.id, exp, jti


def _signed(vault: Vault, sub: str, exp: int, jti: str, use: str) -> SubjectToken:
    payload = _b64(json.dumps({"sub": sub, "exp": exp, "jti": jti, "use": use},
                              separators=(",", ":")).encode())
    tag = _tag(_key(vault, KEY_VERSION), KEY_VERSION, payload)
    token = f"{PREFIX}v{KEY_VERSION}.{payload}.{tag}"
    return SubjectToken(token, datetime.fromtimestamp(exp, tz=vault.clock().tzinfo), jti)


def issue(
    vault: Vault, external_id: str, *, minutes: int | None = None, use: str = API,
    actor: Actor,
) -> SubjectToken:
    """Issue a token for the subject the host knows as ``external_id`` (role-checked, audited)."""
    name = use if use in USES else "unknown"  # the log names a known use, not what was typed
    with vault.operation(Operation(f"subject_token.issue.{name}", actor)) as (conn, op):
        authorise(actor, "rights", register=vault.register, op=op)
        if use not in USES:
            raise BadInput(f"a subject token's use is one of {', '.join(USES)}")
        ttl = _minutes(vault, minutes)
        sub, exp, jti = _subject_claims(vault, conn, op, external_id, ttl)
    return _signed(vault, sub, exp, jti, use)


def privacy_link(
    vault: Vault, external_id: str, *, base_url: str, minutes: int | None = None, actor: Actor
) -> PrivacyLink:
    """A single-use privacy-center link for the subject (the ``link`` token in its URL)."""
    with vault.operation(Operation(f"subject_token.issue.{LINK}", actor)) as (conn, op):
        authorise(actor, "rights", register=vault.register, op=op)
        ttl = _minutes(vault, minutes)
        sub, exp, jti = _subject_claims(vault, conn, op, external_id, ttl)
    t = _signed(vault, sub, exp, jti, LINK)
    return PrivacyLink(f"{base_url.rstrip('/')}/privacy/enter?token={t.token}", t.expires_at)


def looks_like_token(token: str) -> bool:
    return token.startswith(PREFIX)


def verify(vault: Vault, token: str, *, use: str) -> SubjectClaims:
    """The claims of a genuine, unexpired token issued for ``use``; else :class:`Unauthenticated`.

    The tag is compared before anything in the payload is parsed, so the JSON parser only ever
    sees bytes this installation signed.
    """
    if (not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS
            or not token.startswith(PREFIX) or token.count(".") != 2):
        raise Unauthenticated("malformed subject token")
    version_text, payload, tag = token[len(PREFIX):].split(".")
    if not (version_text.startswith("v") and version_text[1:].isdigit()):
        raise Unauthenticated("malformed subject token")
    version = int(version_text[1:])
    if version != KEY_VERSION:
        raise Unauthenticated("invalid subject token")
    expected = _tag(_key(vault, version), version, payload)
    if not hmac.compare_digest(expected.encode(), tag.encode("ascii", "replace")):
        raise Unauthenticated("invalid subject token")
    try:
        claims = json.loads(_unb64(payload))
        sub, exp = str(claims["sub"]), int(claims["exp"])
        jti, token_use = str(claims["jti"]), str(claims["use"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise Unauthenticated("malformed subject token") from None
    if token_use != use:
        raise Unauthenticated(f"this subject token is not for {use} use")
    now = vault.clock()
    if exp <= int(now.timestamp()):
        raise Unauthenticated("subject token expired")
    return SubjectClaims(sub, datetime.fromtimestamp(exp, tz=now.tzinfo), jti, token_use)


def actor_for(claims: SubjectClaims, source: str = "api") -> Actor:
    """The subject acting on their own data, named by the token id only."""
    return subject_actor(claims.subject_id, f"token:{claims.token_id}", source=source)
