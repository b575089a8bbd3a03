"""The audit entry: what was done, by whom, for which purpose, to which objects — never values.

Entries are hashed as canonical JSON, so the same entry always gives the same leaf hash whoever
serialises it: keys sorted, no whitespace, UTF-8 (``ensure_ascii=False``), no NaN/Infinity.
Unknown fields are refused rather than kept, because an open schema is how personal values end
up in a log that, by design, can never be edited to remove them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)

__all__ = ["CANONICAL_ENCODER", "AuditEntry", "Outcome", "canonical_json"]

Outcome = Literal["allowed", "denied", "failed"]
Scalar = str | int | float | bool | None


# Built once: json.dumps() with non-default options constructs a new encoder on every call,
# which doubles the cost of checking a million entries.
CANONICAL_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_json(value: Any) -> bytes:
    """The one serialisation that is hashed: sorted keys, compact, UTF-8, finite numbers."""
    return CANONICAL_ENCODER.encode(value).encode("utf-8")


class AuditEntry(BaseModel):
    """One logged operation.

    ``subjects`` are data subjects' random pseudonyms (held only in the subject row), so the log
    keeps proving what was done after erasure while no longer saying to whom; one operation may
    touch several subjects (a bulk collect). ``details`` is for non-personal metadata such as
    counts or field names. ``role`` and ``source`` (api, cli, web, system) describe the actor.

    Input may also use the vault's names ``objects`` (for ``object_ids``) and a single
    ``subject``; the canonical form, which is what gets hashed, always uses the field names.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    actor: str = Field(min_length=1)
    role: str | None = None
    source: str | None = None
    action: str = Field(min_length=1)
    purpose: str | None = None
    object_ids: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    outcome: Outcome
    details: dict[str, Scalar | list[Scalar] | dict[str, Scalar]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        """Accept ``objects`` and ``subject`` (one pseudonym or None) as input spellings."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "objects" in data and "object_ids" not in data:
            data["object_ids"] = data.pop("objects")
        if "subject" in data and "subjects" not in data:
            one = data.pop("subject")
            data["subjects"] = [] if one is None else [one]
        return data

    @field_validator("time")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        """Naive times are ambiguous in evidence; store every time in UTC."""
        if v.tzinfo is None:
            raise ValueError("time must be timezone-aware")
        return v.astimezone(UTC)

    @field_serializer("time")
    def _time_text(self, v: datetime) -> str:
        return v.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def canonical_json(self) -> bytes:
        """The bytes that become the Merkle leaf."""
        return canonical_json(self.model_dump(mode="json"))
