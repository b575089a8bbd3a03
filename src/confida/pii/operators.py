"""Anonymisation operators, the policy that picks one per label, and their state holders.

An operator turns one detected value into its replacement.  Operators are pure except for
the state that must outlive one call and is therefore passed in explicitly:

* :class:`PseudonymScope` -- "the same value gets the same ``<PERSON_1>``" within a scope
  (one conversation, one export) and nowhere else, so pseudonyms cannot be joined across scopes;
* :class:`TokenStore` -- where reversible tokens are kept.  The vault implements it by storing
  the token map encrypted under the data subject's key, so crypto-shredding the subject also
  erases every way back from the tokens; :class:`InMemoryTokenStore` is for tests and tools.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _hmac

from confida.pii.patterns import MONTHS

OPERATORS: tuple[str, ...] = (
    "redact", "replace", "mask", "hash", "pseudonymize", "generalize_date", "tokenize", "keep",
)

#: Tokens written by ``tokenize``; ``deanonymize`` looks for exactly this shape.
TOKEN_RE = re.compile(r"<TOK_[A-Za-z0-9]{20,64}>")


@runtime_checkable
class TokenStore(Protocol):
    """Where reversible tokens map back to their values.

    Implementations must keep the mapping at least as protected as the values themselves.
    The vault's implementation encrypts it under the data subject's data key, so that erasing
    the subject (destroying that key) makes every token issued for them irreversible.
    """

    def put(self, token: str, value: str) -> None:
        """Remember that ``token`` stands for ``value``."""
        ...

    def get(self, token: str) -> str | None:
        """The value behind ``token``, or ``None`` when unknown (or erased)."""
        ...


class InMemoryTokenStore:
    """A dict-backed :class:`TokenStore` for tests, tools and single-process use."""

    def __init__(self) -> None:
        self._map: dict[str, str] = {}

    def put(self, token: str, value: str) -> None:
        """Remember ``token`` -> ``value``."""
        self._map[token] = value

    def get(self, token: str) -> str | None:
        """The value for ``token``, if this store issued it."""
        return self._map.get(token)

    def __len__(self) -> int:
        return len(self._map)


class PseudonymScope:
    """Numbering of pseudonyms: the same (label, value) gets the same ``<LABEL_n>`` here.

    One scope per unit that may be linked internally (a conversation, a dataset export);
    a fresh scope restarts the numbering, so two exports cannot be joined on pseudonyms.
    """

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str], int] = {}
        self._counts: dict[str, int] = {}

    @staticmethod
    def _normal(label: str, value: str) -> str:
        """Values that differ only by case or spacing are the same person, card, phone."""
        v = " ".join(value.split()).casefold()
        if label in ("PHONE", "CREDIT_CARD", "IBAN", "NATIONAL_ID", "VAT_ID"):
            v = re.sub(r"[\s.\-/()]", "", v)
        return v

    def pseudonym(self, label: str, value: str) -> str:
        """The pseudonym of ``value`` in this scope, allocating the next number if new."""
        key = (label, self._normal(label, value))
        n = self._ids.get(key)
        if n is None:
            n = self._counts.get(label, 0) + 1
            self._counts[label] = n
            self._ids[key] = n
        return f"<{label}_{n}>"


@dataclass(frozen=True)
class OperatorSpec:
    """One operator with its parameters, e.g. ``mask`` with ``keep=4``."""

    op: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            known = ", ".join(OPERATORS)
            raise ValueError(f"unknown operator {self.op!r}; expected one of {known}")
        if self.op == "mask":
            keep = self.params.get("keep", 4)
            char = self.params.get("char", "*")
            if not isinstance(keep, int) or keep < 0:
                raise ValueError("mask: 'keep' must be a non-negative integer")
            if not isinstance(char, str) or len(char) != 1:
                raise ValueError("mask: 'char' must be a single character")
        if self.op == "hash":
            length = self.params.get("length", 16)
            if not isinstance(length, int) or not 8 <= length <= 64:
                raise ValueError("hash: 'length' must be an integer from 8 to 64")

    @classmethod
    def parse(cls, value: str | Mapping[str, Any]) -> OperatorSpec:
        """From ``"replace"`` or ``{"op": "mask", "keep": 4}`` (the register's YAML form)."""
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, Mapping) and isinstance(value.get("op"), str):
            params = {k: v for k, v in value.items() if k != "op"}
            return cls(value["op"], params)
        raise ValueError(f"operator must be a name or a mapping with 'op', not {value!r}")


@dataclass(frozen=True)
class Policy:
    """Which operator applies to which label, with a default for the others."""

    default: OperatorSpec = field(default_factory=lambda: OperatorSpec("replace"))
    rules: Mapping[str, OperatorSpec] = field(default_factory=dict)

    def for_label(self, label: str) -> OperatorSpec:
        """The operator for ``label`` (the default when the policy does not name it)."""
        return self.rules.get(label, self.default)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        """Load ``{"default": "replace", "PERSON": "pseudonymize", ...}``; errors say which key."""
        if not isinstance(data, Mapping):
            raise ValueError("a policy must be a mapping of label -> operator")
        default = OperatorSpec("replace")
        rules: dict[str, OperatorSpec] = {}
        for key, value in data.items():
            try:
                spec = OperatorSpec.parse(value)
            except ValueError as exc:
                raise ValueError(f"policy entry {key!r}: {exc}") from None
            if str(key).lower() == "default":
                default = spec
            else:
                rules[str(key).upper()] = spec
        return cls(default, rules)

    def to_dict(self) -> dict[str, Any]:
        """The inverse of :meth:`from_dict` (for showing and storing a policy)."""
        def one(spec: OperatorSpec) -> Any:
            return spec.op if not spec.params else {"op": spec.op, **dict(spec.params)}

        return {"default": one(self.default), **{k: one(v) for k, v in self.rules.items()}}


# --- the operators themselves ---------------------------------------------------------------


def op_replace(label: str, spec: OperatorSpec) -> str:
    """The type tag, ``<PERSON>``, or the policy's own ``with`` text."""
    return str(spec.params.get("with", f"<{label}>"))


def op_mask(value: str, spec: OperatorSpec) -> str:
    """Mask letters and digits except the last ``keep``; separators keep the shape readable."""
    keep = int(spec.params.get("keep", 4))
    char = str(spec.params.get("char", "*"))
    alnum_positions = [i for i, c in enumerate(value) if c.isalnum()]
    visible = set(alnum_positions[len(alnum_positions) - keep :]) if keep else set()
    return "".join(c if (not c.isalnum() or i in visible) else char for i, c in enumerate(value))


def op_hash(label: str, value: str, spec: OperatorSpec, key: bytes | None) -> str:
    """HMAC-SHA256 of the value under a secret key: consistent across texts, not reversible.

    A keyed hash, because a plain hash of a phone number or a name is reversed by trying
    every candidate; without the key nobody can run that dictionary attack.
    """
    if not key:
        raise ValueError("the 'hash' operator needs a secret key: pass hash_key=...")
    mac = _hmac.HMAC(key, hashes.SHA256())
    normal = PseudonymScope._normal(label, value)
    mac.update(f"{label}\x00{normal}".encode("utf-8", "surrogatepass"))
    length = int(spec.params.get("length", 16))
    return f"<{label}:{mac.finalize().hex()[:length]}>"


def op_generalize_date(value: str, label: str) -> str:
    """Keep only the year of a date ("17 March 1982" -> "1982"); a tag if there is none."""
    years = re.findall(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d)", value)
    if years:
        return years[0]
    words = re.findall(r"[^\W\d_]+", value.lower())
    if any(w in MONTHS for w in words):
        return f"<{label}>"
    return f"<{label}>"


def op_tokenize(value: str, store: TokenStore | None) -> str:
    """A random token whose value is kept in ``store``; reversible only through the store."""
    if store is None:
        raise ValueError("the 'tokenize' operator needs a token store: pass token_store=...")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    token = "<TOK_" + "".join(secrets.choice(alphabet) for _ in range(24)) + ">"
    store.put(token, value)
    return token
