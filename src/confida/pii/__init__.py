"""PII detection and anonymisation for free text (see docs/pii.md).

``detect`` finds personal data by one linear scan, validated by checksums, name lexicons and
context words in seven languages; ``anonymize`` applies a :class:`Policy` of operators to
what was found; ``summarize`` is the only form (labels and counts) in which a record may keep
the result of a scan.
"""

from confida.pii.anonymize import AnonymizeResult, ReplacedItem, anonymize, deanonymize
from confida.pii.detector import Backend, detect, detect_many
from confida.pii.finding import LABELS, Finding, summarize
from confida.pii.operators import (
    OPERATORS,
    InMemoryTokenStore,
    OperatorSpec,
    Policy,
    PseudonymScope,
    TokenStore,
)

__all__ = [
    "LABELS",
    "OPERATORS",
    "AnonymizeResult",
    "Backend",
    "Finding",
    "InMemoryTokenStore",
    "OperatorSpec",
    "Policy",
    "PseudonymScope",
    "ReplacedItem",
    "TokenStore",
    "anonymize",
    "deanonymize",
    "detect",
    "detect_many",
    "summarize",
]
