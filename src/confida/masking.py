"""Masking: what of an allowed read a role sees.

The decision whether a role may read at all is :func:`confida.authz.authorise`; this module only
shapes the result: fields in categories outside the role's list are withheld, the rest masked
per the role's ``masking``. An unknown mask style redacts (deny by default).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from confida.authz import Grant
from confida.register.models import Register

REDACTED = "[redacted]"



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
    grant: Grant,
    kind: str,
    data: Mapping[str, Any],
    hash_key: bytes | None = None,
) -> tuple[dict[str, Any], int]:
    """The fields of a record this role may see, masked; and how many were withheld."""
    if grant.role is None:
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
