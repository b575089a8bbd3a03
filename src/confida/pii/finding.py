"""The result type of PII detection, and the one summary of it that may be stored.

A :class:`Finding` carries only offsets, a label and a score.  The caller already holds the
text, so the value is ``text[f.start:f.end]``; keeping it out of the object means a finding
can be logged, counted or put in an audit entry without leaking the personal data it points at.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

#: The labels that the detector emits.  Further labels (e.g. from a spaCy backend) are allowed.
LABELS: tuple[str, ...] = (
    "PERSON",
    "EMAIL",
    "PHONE",
    "CREDIT_CARD",
    "IBAN",
    "IP_ADDRESS",
    "LOCATION",
    "NATIONAL_ID",
    "VAT_ID",
    "URL",
    "DATE",
    "SECRET",
)


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """One span of personal data: ``text[start:end]`` is of kind ``label``.

    ``score`` is a confidence in [0, 1]; ``kind`` optionally names the sub-type that matched
    (e.g. ``"de.idnr"`` for a German tax id, ``"ipv6"``) so that policies and reports can be
    finer than the label without ever holding the value.
    """

    start: int
    end: int
    label: str
    score: float = field(default=1.0, compare=False)
    kind: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise ValueError(f"invalid span [{self.start}, {self.end})")

    @property
    def length(self) -> int:
        """Number of characters covered; used when resolving overlaps."""
        return self.end - self.start

    def overlaps(self, other: Finding) -> bool:
        """True when the two spans share at least one character."""
        return self.start < other.end and other.start < self.end


def summarize(findings: Iterable[Finding]) -> dict[str, int]:
    """Count findings per label: the only form in which a record may keep its PII scan.

    The vault stores this next to an encrypted record, so it must never contain values.
    """
    return dict(sorted(Counter(f.label for f in findings).items()))
