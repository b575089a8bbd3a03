"""Finding and removing personal data in text handed to Confida, as audited operations.

The text is never stored or logged: the audit entry keeps the labels and counts only.
"""

from __future__ import annotations

from collections.abc import Mapping

from confida import pii
from confida.authz import authorise
from confida.errors import BadInput
from confida.operation import Actor, Operation
from confida.vault import Vault


def scan(vault: Vault, text: str, *, actor: Actor) -> tuple[list[pii.Finding], dict[str, int]]:
    """Spans and labels of the personal data found, and a count per label."""
    with vault.operation(Operation("pii.scan", actor)) as (_c, op):
        authorise(actor, "scan", register=vault.register, op=op)
        found = pii.detect(text)
        summary = pii.summarize(found)
        op.details["summary"] = summary
    return found, summary


def redact(
    vault: Vault, text: str, policy: Mapping[str, str] | None = None, *, actor: Actor
) -> pii.AnonymizeResult:
    """Anonymise ``text`` per ``policy`` (label -> operator; default: replace every finding).

    Reversible tokenisation needs a subject's token store, so it is refused here.
    """
    with vault.operation(Operation("pii.redact", actor)) as (_c, op):
        authorise(actor, "scan", register=vault.register, op=op)
        try:
            parsed = pii.Policy.from_dict(dict(policy)) if policy else pii.Policy()
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInput(f"invalid policy: {exc}") from None
        if "tokenize" in (policy or {}).values():
            raise BadInput("redaction without a subject keeps no token store: 'tokenize' is "
                           "not available here")
        res = pii.anonymize(text, parsed, hash_key=vault.system_key("pii-hash"))
        op.details["replaced"] = len(res.items)
    return res
