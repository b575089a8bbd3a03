"""The processing register as pydantic models.

The register is the single source of truth: enforcement, the privacy notice and the record of
processing all read these models, so every cross-reference (a purpose naming a category, a role
naming a purpose) is checked here once, when the register is loaded, not at each use.
"""

from __future__ import annotations

import hashlib
import json
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

from confida.register.duration import Duration

_NAME = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"


def _parse_duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    if isinstance(value, int | float):
        raise ValueError("a duration needs a unit: write e.g. '30 days' or 'P30D'")
    return Duration.parse(value)


DurationField = Annotated[
    Duration, BeforeValidator(_parse_duration), PlainSerializer(str, return_type=str)
]


class LegalBasis(StrEnum):
    """GDPR Art. 6(1)(a)-(f)."""

    consent = "consent"
    contract = "contract"
    legal_obligation = "legal_obligation"
    vital_interests = "vital_interests"
    public_task = "public_task"
    legitimate_interests = "legitimate_interests"

    @property
    def article(self) -> str:
        letter = "abcdef"[list(LegalBasis).index(self)]
        return f"Art. 6(1)({letter}) GDPR"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(_Strict):
    name: str
    email: str | None = None
    address: str | None = None
    phone: str | None = None


class Controller(_Strict):
    name: str
    address: str | None = None
    email: str | None = None
    representative: Contact | None = None
    dpo: Contact | None = None
    supervisory_authority: Contact | None = None


class Category(_Strict):
    description: str
    special: bool = Field(False, description="special category of personal data, Art. 9 GDPR")
    personal: bool = Field(True, description="false for non-personal metadata (e.g. a model id)")


FieldType = Literal["string", "text", "integer", "number", "boolean", "datetime", "object", "array"]


class FieldSpec(_Strict):
    category: str
    type: FieldType = "string"
    scan: bool = Field(False, description="free text: scanned for personal data on collect")
    required: bool = False
    max_length: int | None = Field(None, gt=0)


class Kind(_Strict):
    description: str
    fields: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], FieldSpec]
    retention: DurationField | None = Field(
        None, description="upper bound on how long records of this kind are kept, any purpose"
    )
    quasi_identifiers: list[str] = Field(default_factory=list)
    anonymization: dict[str, Any] = Field(
        default_factory=dict, description="per-field PII policy for data leaving the vault"
    )

    @model_validator(mode="after")
    def _qi_are_fields(self) -> Kind:
        for name in (*self.quasi_identifiers, *self.anonymization):
            if name not in self.fields:
                raise ValueError(f"{name!r} is not a field of this kind")
        return self


class Transfer(_Strict):
    country: str
    recipient: str | None = None
    safeguard: str = Field(description="e.g. adequacy decision, standard contractual clauses")


class Purpose(_Strict):
    description: str = Field(description="plain language, shown in the privacy notice")
    legal_basis: LegalBasis
    consent_required: bool = False
    legitimate_interest: str | None = None
    categories: list[str]
    kinds: list[str]
    retention: DurationField
    recipients: list[str] = Field(default_factory=list)
    transfers: list[Transfer] = Field(default_factory=list)
    automated_decision_making: bool = False
    consent_prompt: str | None = Field(None, description="the question a consent switch asks")
    compatible_with: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "original purpose -> why processing its data for this purpose is compatible "
            "(Art. 6(4)); shown in the record of processing"
        ),
    )

    @model_validator(mode="after")
    def _basis_coherent(self) -> Purpose:
        if self.legal_basis is LegalBasis.consent and not self.consent_required:
            raise ValueError("legal_basis 'consent' requires consent_required: true")
        if self.consent_required and self.legal_basis is not LegalBasis.consent:
            raise ValueError(
                f"consent_required is true but legal_basis is {self.legal_basis.value!r}; "
                "a purpose that needs consent has consent as its legal basis"
            )
        if self.legal_basis is LegalBasis.legitimate_interests and not self.legitimate_interest:
            raise ValueError(
                "legal_basis 'legitimate_interests' requires 'legitimate_interest': "
                "the interest pursued, as Art. 13(1)(d) asks"
            )
        return self


Action = Literal[
    "collect", "read", "list", "update", "consent", "rights", "requests", "export", "analytics",
    "audit", "scan", "register", "keys", "compliance", "breach", "apikey", "detokenize",
    "legal_hold",
]
ACTIONS: tuple[str, ...] = Action.__args__  # type: ignore[attr-defined]
MaskStyle = Literal["none", "email", "partial", "last4", "redact", "hash"]


class Role(_Strict):
    description: str
    actions: list[Action | Literal["*"]]
    purposes: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list, description="'*' for every category")
    masking: dict[str, MaskStyle] = Field(
        default_factory=dict, description="category (or '*') -> how values are masked on read"
    )

    def may(self, action: str) -> bool:
        return "*" in self.actions or action in self.actions


class Register(_Strict):
    version: int = 1
    controller: Controller
    categories: dict[Annotated[str, Field(pattern=_NAME)], Category]
    kinds: dict[Annotated[str, Field(pattern=_NAME)], Kind]
    purposes: dict[Annotated[str, Field(pattern=_NAME)], Purpose]
    roles: dict[Annotated[str, Field(pattern=_NAME)], Role] = Field(default_factory=dict)
    notice: dict[str, Any] = Field(default_factory=dict, description="extra notice text")

    @model_validator(mode="after")
    def _references(self) -> Register:
        problems: list[str] = []
        for kname, kind in self.kinds.items():
            for fname, spec in kind.fields.items():
                if spec.category not in self.categories:
                    problems.append(
                        f"kinds.{kname}.fields.{fname}.category: undeclared category "
                        f"{spec.category!r}"
                    )
        for pname, purpose in self.purposes.items():
            for i, cat in enumerate(purpose.categories):
                if cat not in self.categories:
                    problems.append(
                        f"purposes.{pname}.categories.{i}: undeclared category {cat!r}"
                    )
            for i, k in enumerate(purpose.kinds):
                if k not in self.kinds:
                    problems.append(f"purposes.{pname}.kinds.{i}: undeclared kind {k!r}")
            for orig, reason in purpose.compatible_with.items():
                where = f"purposes.{pname}.compatible_with.{orig}"
                if orig not in self.purposes:
                    problems.append(f"{where}: undeclared purpose {orig!r}")
                elif orig == pname:
                    problems.append(f"{where}: a purpose is trivially compatible with itself")
                elif self.purposes[orig].consent_required:
                    # Art. 6(4): the compatibility test is for processing *not* based on consent;
                    # data given under consent is used for that purpose only.
                    problems.append(
                        f"{where}: {orig!r} is based on consent; data collected under consent "
                        "cannot be reused for another purpose"
                    )
                if not reason.strip():
                    problems.append(f"{where}: give the reason the purposes are compatible")
        for rname, role in self.roles.items():
            for i, p in enumerate(role.purposes):
                if p != "*" and p not in self.purposes:
                    problems.append(f"roles.{rname}.purposes.{i}: undeclared purpose {p!r}")
            for i, c in enumerate(role.categories):
                if c != "*" and c not in self.categories:
                    problems.append(f"roles.{rname}.categories.{i}: undeclared category {c!r}")
            for c in role.masking:
                if c != "*" and c not in self.categories:
                    problems.append(f"roles.{rname}.masking.{c}: undeclared category {c!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # --- queries used by enforcement -----------------------------------------------------------

    def kind(self, name: str) -> Kind:
        from confida.errors import UnknownKind

        try:
            return self.kinds[name]
        except KeyError:
            raise UnknownKind(
                f"unknown kind {name!r}; the register declares: {', '.join(sorted(self.kinds))}"
            ) from None

    def purpose(self, name: str) -> Purpose:
        from confida.errors import UnknownPurpose

        try:
            return self.purposes[name]
        except KeyError:
            raise UnknownPurpose(
                f"unknown purpose {name!r}; the register declares: "
                f"{', '.join(sorted(self.purposes))}"
            ) from None

    def role(self, name: str) -> Role:
        from confida.errors import AccessDenied

        try:
            return self.roles[name]
        except KeyError:
            raise AccessDenied(f"unknown role {name!r}") from None

    def retention_for(self, kind: str, purpose: str) -> Duration:
        """The shorter of the purpose's retention and the kind's own cap."""
        p = self.purpose(purpose).retention
        k = self.kind(kind).retention
        return p if k is None or p.approx_days() <= k.approx_days() else k

    def content_hash(self) -> str:
        """A stable version of the register: sha256 of its canonical JSON form."""
        doc = self.model_dump(mode="json")
        raw = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(raw.encode()).hexdigest()


def is_valid_name(name: str) -> bool:
    return re.match(_NAME, name) is not None
