"""The access decision: may this role take this action, for this purpose, on these categories?

GDPR's purpose limitation (Art. 5(1)(b)) says data collected for one purpose is not processed for
another; a role-only check ("support may read records") would let support read anything for any
reason. So every decision here takes the purpose too, and deny is the default: an unknown role,
an action the role does not list, a purpose the role may not use, or a category outside the
role's list is refused or withheld. What is allowed is then masked per the role's ``masking``.

The register's ``roles`` section is the only source of these rules. An actor without a role is
the system itself (internal jobs, tests): roles limit people and services, not the engine.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confida.errors import AccessDenied
from confida.register.models import Register, Role
from confida.vault import Actor

REDACTED = "[redacted]"


@dataclass(frozen=True)
class Grant:
    """An allowed decision: which role, and what of a record it may see."""

    role_name: str
    role: Role

    def may_see(self, category: str) -> bool:
        return "*" in self.role.categories or category in self.role.categories

    def mask_style(self, category: str) -> str:
        m = self.role.masking
        return m.get(category) or m.get("*") or "none"


def decide(
    register: Register, actor: Actor, action: str, purpose: str | None = None
) -> Grant | None:
    """Allow, or raise :class:`AccessDenied`. ``None`` means the actor is the system (no role)."""
    if actor.role is None:
        return None
    role = register.roles.get(actor.role)
    if role is None:
        raise AccessDenied(f"role {actor.role!r} is not declared in the register")
    if not role.may(action):
        raise AccessDenied(f"role {actor.role!r} may not {action}")
    if purpose is not None:
        register.purpose(purpose)  # an unknown purpose is bad input, not a denial
        if "*" not in role.purposes and purpose not in role.purposes:
            raise AccessDenied(f"role {actor.role!r} may not act for purpose {purpose!r}")
    return Grant(actor.role, role)


# --- masking --------------------------------------------------------------------------------


def _partial(s: str) -> str:
    if len(s) <= 2:
        return "*" * len(s)
    keep = max(1, len(s) // 5)
    return s[:keep] + "*" * (len(s) - 2 * keep) + s[-keep:]


def _email(s: str) -> str:
    local, at, domain = s.rpartition("@")
    if not at or not local:
        return _partial(s)
    return f"{local[0]}***@{domain}"


def _last4(s: str) -> str:
    return "*" * max(0, len(s) - 4) + s[-4:] if len(s) > 4 else "*" * len(s)


def mask_value(value: Any, style: str, hash_key: bytes | None = None) -> Any:
    """Mask one value. Non-strings are masked on their text form; structures are redacted.

    ``hash`` is keyed (HMAC-SHA256): an unkeyed hash of an e-mail address is reversed by hashing
    candidate addresses, so it would not mask anything.
    """
    if style == "none" or value is None:
        return value
    if isinstance(value, dict | list):
        return REDACTED
    s = value if isinstance(value, str) else str(value)
    if style == "email":
        return _email(s)
    if style == "partial":
        return _partial(s)
    if style == "last4":
        return _last4(s)
    if style == "hash":
        if hash_key is None:
            return REDACTED
        return "h:" + hmac.new(hash_key, s.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
    return REDACTED  # "redact" and any style not known: deny by default


def role_view(
    register: Register,
    grant: Grant | None,
    kind: str,
    data: Mapping[str, Any],
    hash_key: bytes | None = None,
) -> tuple[dict[str, Any], int]:
    """The fields of a record this role may see, masked; and how many were withheld."""
    if grant is None:
        return dict(data), 0
    fields = register.kind(kind).fields
    out: dict[str, Any] = {}
    withheld = 0
    for name, value in data.items():
        spec = fields.get(name)
        if spec is None or not grant.may_see(spec.category):
            withheld += 1
            continue
        out[name] = mask_value(value, grant.mask_style(spec.category), hash_key)
    return out, withheld
