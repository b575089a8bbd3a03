"""Apply a policy to the findings of a text: the scrubbed text and what was replaced.

The result lists, for each replaced span, its label, its offsets in the original and in the
new text, the operator and the replacement -- never the original value, so the result can be
logged or shown to an operator without re-exposing what was removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from confida.pii.detector import detect
from confida.pii.finding import Finding
from confida.pii.operators import (
    TOKEN_RE,
    Policy,
    PseudonymScope,
    TokenStore,
    op_generalize_date,
    op_hash,
    op_mask,
    op_replace,
    op_tokenize,
)


@dataclass(frozen=True, slots=True)
class ReplacedItem:
    """One replaced span: where it was, where its replacement now is, and how it was made."""

    label: str
    start: int
    end: int
    new_start: int
    new_end: int
    operator: str
    replacement: str


@dataclass(frozen=True, slots=True)
class AnonymizeResult:
    """The anonymised text and the list of replacements, in text order."""

    text: str
    items: tuple[ReplacedItem, ...]


def non_overlapping(findings: Sequence[Finding], length: int) -> list[Finding]:
    """Findings sorted by start, clipped to the text, overlaps dropped (the first wins)."""
    out: list[Finding] = []
    last_end = 0
    for f in sorted(findings, key=lambda f: (f.start, -f.end)):
        if f.start < last_end or f.end > length or f.start >= f.end:
            continue
        out.append(f)
        last_end = f.end
    return out


def anonymize(
    text: str,
    policy: Policy | None = None,
    *,
    findings: Sequence[Finding] | None = None,
    scope: PseudonymScope | None = None,
    token_store: TokenStore | None = None,
    hash_key: bytes | None = None,
) -> AnonymizeResult:
    """Replace each finding of ``text`` by its policy's operator.

    ``findings`` defaults to :func:`confida.pii.detect`; ``scope`` is created for this call
    when the policy pseudonymises and none is given (consistent within this text only);
    ``token_store`` is required by ``tokenize`` and ``hash_key`` by ``hash``.
    """
    policy = policy or Policy()
    found = detect(text) if findings is None else list(findings)
    scope = scope if scope is not None else PseudonymScope()
    parts: list[str] = []
    items: list[ReplacedItem] = []
    pos = 0
    new_len = 0
    for f in non_overlapping(found, len(text)):
        spec = policy.for_label(f.label)
        value = text[f.start : f.end]
        if spec.op == "keep":
            continue
        if spec.op == "redact":
            rep = ""
        elif spec.op == "replace":
            rep = op_replace(f.label, spec)
        elif spec.op == "mask":
            rep = op_mask(value, spec)
        elif spec.op == "hash":
            rep = op_hash(f.label, value, spec, hash_key)
        elif spec.op == "pseudonymize":
            rep = scope.pseudonym(f.label, value)
        elif spec.op == "generalize_date":
            rep = op_generalize_date(value, f.label) if f.label == "DATE" else op_replace(
                f.label, spec
            )
        else:  # tokenize
            rep = op_tokenize(value, token_store)
        gap = text[pos : f.start]
        parts.append(gap)
        new_len += len(gap)
        parts.append(rep)
        items.append(
            ReplacedItem(f.label, f.start, f.end, new_len, new_len + len(rep), spec.op, rep)
        )
        new_len += len(rep)
        pos = f.end
    parts.append(text[pos:])
    return AnonymizeResult("".join(parts), tuple(items))


def deanonymize(text: str, token_store: TokenStore) -> str:
    """Put back the values of ``tokenize`` tokens; unknown (e.g. erased) tokens stay as they are."""

    def back(m: object) -> str:
        token = m.group()  # type: ignore[attr-defined]
        value = token_store.get(token)
        return token if value is None else value

    return TOKEN_RE.sub(back, text)
