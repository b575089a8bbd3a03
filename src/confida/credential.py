"""API keys: the credentials services and staff present to the API.

A key is ``cfk_<id>_<secret>``: ``id`` is 8 lowercase base32 characters, printed so that a key can
be named in logs, listed and revoked; ``secret`` carries 256 random bits. The key is shown once,
when created; only SHA-256 of the secret is stored. A plain (unsalted, fast) hash is enough
because the secret is uniformly random: there is no dictionary to run against it, unlike a
password. Verification compares digests with ``hmac.compare_digest`` so timing reveals nothing.

Why in the core and not in the HTTP layer: the same rules apply whichever adapter checks a key,
and creating or revoking one is an audited operation like any other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update

from confida import web_sessions
from confida.authz import authorise
from confida.errors import BadInput, ConfidaError, NotFound, Unauthenticated
from confida.operation import Actor, Operation
from confida.store.engine import reading
from confida.store.schema import api_key
from confida.vault import Vault

PREFIX = "cfk_"
_KEY_RE = re.compile(r"^cfk_([a-z2-7]{8})_([A-Za-z0-9_-]{43})$")
_DUMMY = hashlib.sha256(b"confida:no-such-key").hexdigest()
# Built once: every authenticated request runs it.
_BY_ID = select(api_key).where(api_key.c.id == bindparam("key_id"))


@dataclass(frozen=True)
class ApiKeyInfo:
    """What may be shown about a key: never its secret or hash."""

    id: str
    role: str
    label: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


@dataclass(frozen=True)
class NewApiKey:
    info: ApiKeyInfo
    key: str  # shown once to the operator, never stored


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _new_id() -> str:
    return base64.b32encode(secrets.token_bytes(5)).decode("ascii").lower()


def _info(row: object) -> ApiKeyInfo:
    m = row._mapping  # type: ignore[attr-defined]
    return ApiKeyInfo(m["id"], m["role"], m["label"], m["created_at"], m["expires_at"],
                      m["revoked_at"])


def create(
    vault: Vault,
    role: str,
    *,
    label: str | None = None,
    expires_at: datetime | None = None,
    actor: Actor,
) -> NewApiKey:
    """Create a key for ``role`` (which the register must declare); return it once."""
    with vault.operation(Operation("apikey.create", actor)) as (conn, op):
        authorise(actor, "apikey", register=vault.register, op=op)
        if role not in vault.register.roles:
            raise BadInput(
                f"unknown role {role!r}; the register declares: "
                f"{', '.join(sorted(vault.register.roles)) or 'none'}"
            )
        if label is not None and len(label) > 128:
            raise BadInput("a key label is at most 128 characters")
        now = vault.clock()
        if expires_at is not None and expires_at <= now:
            raise BadInput("the expiry must be in the future")
        key_id = _new_id()
        while conn.execute(select(api_key.c.id).where(api_key.c.id == key_id)).first():
            key_id = _new_id()  # 40-bit ids: a collision is rare but must not merge two keys
        secret = secrets.token_urlsafe(32)  # 256 bits -> 43 base64url characters
        conn.execute(
            insert(api_key).values(
                id=key_id, secret_sha256=_digest(secret), role=role, label=label,
                created_at=now, expires_at=expires_at, revoked_at=None,
            )
        )
        op.object_ids.append(f"apikey:{key_id}")
        op.details.update({"role": role, "expires": expires_at is not None})
    info = ApiKeyInfo(key_id, role, label, now, expires_at, None)
    return NewApiKey(info, f"{PREFIX}{key_id}_{secret}")


def revoke(vault: Vault, key_id: str, *, actor: Actor) -> ApiKeyInfo:
    """Revoke a key by its id; it is refused from the next request on. Idempotent."""
    with vault.operation(Operation("apikey.revoke", actor,
                                   object_ids=[f"apikey:{key_id.removeprefix(PREFIX)}"])) as (
        conn, op,
    ):
        authorise(actor, "apikey", register=vault.register, op=op)
        key_id = key_id.removeprefix(PREFIX)
        row = conn.execute(select(api_key).where(api_key.c.id == key_id)).first()
        if row is None:
            raise NotFound("no such API key")
        if row.revoked_at is None:
            conn.execute(
                update(api_key).where(api_key.c.id == key_id).values(revoked_at=vault.clock())
            )
            web_sessions.end_for_actor(conn, f"apikey:{key_id}", vault.clock())  # its consoles
        row = conn.execute(select(api_key).where(api_key.c.id == key_id)).one()
    return _info(row)


def list_keys(vault: Vault, *, actor: Actor) -> list[ApiKeyInfo]:
    """Every key's id, role, label and dates (never a secret); audited."""
    with vault.operation(Operation("apikey.list", actor)) as (conn, op):
        authorise(actor, "apikey", register=vault.register, op=op)
        rows = conn.execute(select(api_key).order_by(api_key.c.created_at, api_key.c.id)).all()
        op.details["count"] = len(rows)
    return [_info(r) for r in rows]


def refuse(vault: Vault, action: str, exc: ConfidaError, caller: Actor) -> None:
    """Record a refusal made before any core operation could start (an unauthenticated or
    wrongly authenticated caller), then raise it: every attempt is in the audit log.

    ``caller`` is who the request claimed (or failed) to be, not an authenticated actor: no
    access decision is made here, authentication already said no."""
    try:
        with vault.operation(Operation(action, caller)):
            raise exc
    except ConfidaError:
        pass
    raise exc


def looks_like_key(token: str) -> bool:
    return token.startswith(PREFIX)


def authenticate(vault: Vault, token: str) -> Actor:
    """The actor a presented key stands for, or :class:`Unauthenticated`.

    Unknown ids still cost one digest comparison, so response time does not tell whether an id
    exists.
    """
    m = _KEY_RE.match(token)
    if m is None:
        raise Unauthenticated("malformed API key")
    key_id, secret = m.groups()
    with reading(vault.engine) as conn:
        row = conn.execute(_BY_ID, {"key_id": key_id}).first()
    stored = row.secret_sha256 if row is not None else _DUMMY
    ok = hmac.compare_digest(_digest(secret), stored)
    if row is None or not ok:
        raise Unauthenticated("invalid API key")
    if row.revoked_at is not None:
        raise Unauthenticated("API key revoked")
    if row.expires_at is not None and row.expires_at <= vault.clock():
        raise Unauthenticated("API key expired")
    return Actor(id=f"apikey:{key_id}", role=row.role, source="api")
