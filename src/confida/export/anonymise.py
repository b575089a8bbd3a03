"""Pure anonymisation of records and texts leaving the vault (no state, no I/O).

The same functions run in the single-process export, in ``confida redact`` and inside Ray
workers, which is what makes the bulk path's output identical to the local one: nothing here
depends on the order in which records arrive or on which process handles them. The only
secret is a per-dataset key, passed in; it makes pseudonyms consistent inside one dataset and
unlinkable across datasets, and it is never stored with the data.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from confida.pii import Policy, PseudonymScope, anonymize
from confida.register.models import Kind


class KeyedPseudonymScope(PseudonymScope):
    """``<PERSON_3f9a0c1d>``: an HMAC of the normalised value under the dataset key.

    Unlike the numbered scope, it needs no shared counter, so parallel workers agree on every
    pseudonym; without the key a dictionary of candidate names cannot be tested against it.
    """

    def __init__(self, key: bytes) -> None:
        super().__init__()
        if len(key) < 16:
            raise ValueError("a pseudonym key has at least 16 bytes")
        self._key = key

    def pseudonym(self, label: str, value: str) -> str:
        msg = f"{label}\x00{self._normal(label, value)}".encode("utf-8", "surrogatepass")
        return f"<{label}_{hmac.new(self._key, msg, hashlib.sha256).hexdigest()[:8]}>"


def redact_text(text: str, policy: Policy, hash_key: bytes | None = None) -> str:
    """The text with its personal data replaced by ``policy`` (what ``confida redact`` writes).

    A fresh numbered scope per text, as the local command has always done: pseudonyms are
    consistent within a text, and the result depends on nothing but the text, the policy and
    the key.
    """
    if not text:
        return text
    return anonymize(text, policy, hash_key=hash_key).text


def keyed_ref(key: bytes, namespace: str, value: str) -> str:
    """A dataset-scoped stand-in for an identifier (subject, record, conversation)."""
    return hmac.new(key, f"{namespace}\x00{value}".encode(), hashlib.sha256).hexdigest()[:24]


@dataclass(frozen=True)
class FieldRule:
    """How one field is treated on its way out: ``text`` (policy), ``day``, ``ref`` or ``keep``."""

    how: str
    policy: Mapping[str, Any] = field(default_factory=dict)


def field_rules(kind: Kind) -> dict[str, FieldRule]:
    """Per-field rules from the register: deny by default for free text.

    - a field with an ``anonymization`` policy in the register: that policy;
    - any other free-text (``scan``) field: every finding replaced by its type tag;
    - datetimes: the day only (a timestamp to the second links rows to logs);
    - identifiers (``*_id``): a keyed reference, consistent within the dataset only;
    - other fields (already limited to the purpose's categories): kept.
    """
    rules: dict[str, FieldRule] = {}
    for name, spec in kind.fields.items():
        if name in kind.anonymization:
            rules[name] = FieldRule("text", dict(kind.anonymization[name]))
        elif spec.scan or spec.type == "text":
            rules[name] = FieldRule("text", {"default": "replace"})
        elif spec.type == "datetime":
            rules[name] = FieldRule("day")
        elif name.endswith("_id") or name == "id":
            rules[name] = FieldRule("ref")
        else:
            rules[name] = FieldRule("keep")
    return rules


def _day(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, str) and len(value) >= 10:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).date().isoformat()
        except ValueError:
            return None  # unparseable: dropped rather than passed on as it is
    return None


def anonymise_record(
    data: Mapping[str, Any], rules: Mapping[str, FieldRule], key: bytes,
    policies: Mapping[str, Policy] | None = None,
) -> dict[str, Any]:
    """One record's fields, anonymised by ``rules``; fields without a rule are dropped."""
    scope = KeyedPseudonymScope(key)
    out: dict[str, Any] = {}
    for name, rule in rules.items():
        if name not in data:
            continue
        value = data[name]
        if value is None:
            out[name] = None
        elif rule.how == "text":
            pol = (policies or {}).get(name) or Policy.from_dict(rule.policy)
            text = value if isinstance(value, str) else str(value)
            out[name] = anonymize(text, pol, scope=scope, hash_key=key).text if text else text
        elif rule.how == "day":
            out[name] = _day(value)
        elif rule.how == "ref":
            out[name] = keyed_ref(key, name, str(value))
        else:
            out[name] = value
    return out
