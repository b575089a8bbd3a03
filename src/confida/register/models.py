"""The processing register as pydantic models.

The register is the single source of truth: enforcement, the privacy notice and the record of
processing all read these models, so every cross-reference (a purpose naming a category, a role
naming a purpose) is checked here once, when the register is loaded, not at each use.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from confida.register.duration import Duration

_NAME = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"


def _parse_duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    if isinstance(value, int | float):
        raise ValueError("a duration needs a unit: write e.g. '30 days' or 'P30D'")
    return Duration.parse(value)


DURATION_PATTERN = (
    r"^\s*(?:[Pp](?:\d+[Yy])?(?:\d+[Mm])?(?:\d+[Ww])?(?:\d+[Dd])?(?:[Tt]\d+[Hh])?"
    r"|\d+\s*[A-Za-z]+(?:\s*,?\s*\d+\s*[A-Za-z]+)*)\s*$"
)

DurationField = Annotated[
    Duration, BeforeValidator(_parse_duration), PlainSerializer(str, return_type=str),
    WithJsonSchema({
        "type": "string", "pattern": DURATION_PATTERN,
        "description": "a period: '30 days', '6 months', '2y', '1 year 2 months' or ISO 8601 "
                       "'P1Y6M' (calendar months)",
    }),
]

#: The Field metadata every register field carries (``json_schema_extra``): the GDPR article the
#: field serves and an example value. ``python -m confida.register.reference`` renders them into
#: docs/register.md and schemas/register.schema.json.
RULE_ERROR = "register_rule"


def doc(gdpr: str, example: Any) -> dict[str, Any]:
    return {"gdpr": gdpr, "examples": [example]}


# --- texts a person reads, in one language or several --------------------------------------
#: A language tag as the register writes it: ``en``, ``de``, ``pt-BR``.
LANG_TAG = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$"
#: The language every per-language text must have: pages fall back to it, and the canonical
#: notice (whose hash is the notice version) is written in it.
FALLBACK_LANG = "en"


class Localized(str):
    """A register text a person reads: the English text (it *is* that ``str``, so every reader
    that only knows one language keeps working) and, when the register gives them, the same
    text per language (``translations``, English included). :func:`localized` picks one."""

    translations: dict[str, str]

    def __new__(cls, text: str, translations: Mapping[str, str] | None = None) -> Localized:
        obj = super().__new__(cls, text)
        obj.translations = dict(translations or {})
        return obj

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Localized):
            return str.__eq__(self, other) and self.translations == other.translations
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = str.__hash__

    def __reduce__(self) -> tuple[Any, ...]:
        return (Localized, (str(self), self.translations))

    def in_(self, lang: str) -> str:
        """The text in ``lang`` (or its base language, ``pt`` for ``pt-BR``), else English."""
        t = self.translations
        return t.get(lang) or t.get(lang.split("-")[0]) or str(self)


def localized(value: Any, lang: str) -> Any:
    """``value`` in ``lang`` when it is a register text with translations; otherwise as it is
    (a plain string, ``None``, anything else)."""
    return value.in_(lang) if isinstance(value, Localized) else value


def _local_text(value: Any) -> Localized:
    if isinstance(value, Localized):
        return value
    if isinstance(value, str):
        return Localized(value)
    if isinstance(value, Mapping):
        bad = [str(k) for k in value if not isinstance(k, str) or not re.match(LANG_TAG, k)]
        if bad:
            raise ValueError(f"per-language texts are keyed by language (en, de, ...), not "
                             f"{', '.join(repr(b) for b in bad)}")
        empty = [k for k, v in value.items() if not isinstance(v, str) or not v.strip()]
        if empty:
            raise ValueError(f"the text in {', '.join(empty)} must be non-empty text")
        if FALLBACK_LANG not in value:
            raise ValueError(f"per-language texts need an '{FALLBACK_LANG}' text: pages fall "
                             "back to it and the privacy notice's version is taken from it")
        return Localized(value[FALLBACK_LANG], value)
    raise ValueError("expected text, or a mapping of language to text ({en: ..., de: ...})")


def _local_dump(value: Any) -> Any:
    if isinstance(value, Localized) and value.translations:
        return dict(value.translations)
    return str(value)


PER_LANGUAGE = "; one text, or one per language ({en: ..., de: ...})"

#: A register text a person reads: a string, or one string per language (``{en: ..., de: ...}``,
#: ``en`` required). Either way the field reads as the English ``str``; :func:`localized` gives
#: the page's language. Dumped as JSON it is what the register wrote: a plain string stays a
#: plain string, so registers without translations keep their content hash; a Python dump keeps
#: the :class:`Localized` string (English to every reader that knows one language).
LocalText = Annotated[
    str, PlainValidator(_local_text), PlainSerializer(_local_dump, when_used="json"),
    WithJsonSchema({"anyOf": [
        {"type": "string"},
        {"type": "object", "description": "the same text per language; 'en' required",
         "patternProperties": {LANG_TAG: {"type": "string", "minLength": 1}},
         "additionalProperties": False, "required": [FALLBACK_LANG]},
    ]}),
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


class SpecialCategoryCondition(StrEnum):
    """GDPR Art. 9(2)(a)-(j): the condition that lifts the ban on processing special categories."""

    explicit_consent = "explicit_consent"
    employment = "employment"
    vital_interests = "vital_interests"
    not_for_profit = "not_for_profit"
    made_public = "made_public"
    legal_claims = "legal_claims"
    substantial_public_interest = "substantial_public_interest"
    health_care = "health_care"
    public_health = "public_health"
    archiving_research = "archiving_research"

    @property
    def article(self) -> str:
        letter = "abcdefghij"[list(SpecialCategoryCondition).index(self)]
        return f"Art. 9(2)({letter}) GDPR"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(_Strict):
    name: LocalText = Field(description="name of the person or office" + PER_LANGUAGE,
                      json_schema_extra=doc("Art. 13(1)(a)-(b)", "Data Protection Officer"))
    email: str | None = Field(None, description="e-mail address",
                              json_schema_extra=doc("Art. 13(1)(a)-(b)", "dpo@example-ai.eu"))
    address: LocalText | None = Field(
        None, description="postal address" + PER_LANGUAGE,
        json_schema_extra=doc("Art. 13(1)(a)-(b)", "Musterstraße 1, 10115 Berlin, Germany"))
    phone: str | None = Field(None, description="telephone number",
                              json_schema_extra=doc("Art. 13(1)(a)-(b)", "+49 30 1234567"))


class Controller(_Strict):
    name: str = Field(description="the controller's legal name",
                      json_schema_extra=doc("Art. 13(1)(a), 30(1)(a)", "Example AI GmbH"))
    address: LocalText | None = Field(
        None, description="the controller's postal address" + PER_LANGUAGE,
        json_schema_extra=doc("Art. 13(1)(a), 30(1)(a)", "Musterstraße 1, 10115 Berlin, Germany"))
    email: str | None = Field(
        None, description="where people write about their data",
        json_schema_extra=doc("Art. 13(1)(a), 30(1)(a)", "privacy@example-ai.eu"))
    representative: Contact | None = Field(
        None, description="the representative in the EU of a controller established outside it",
        json_schema_extra=doc("Art. 13(1)(a), 27, 30(1)(a)",
                              {"name": "EU Rep Ltd", "email": "rep@example.eu"}))
    dpo: Contact | None = Field(
        None, description="the data protection officer",
        json_schema_extra=doc("Art. 13(1)(b), 37, 30(1)(a)",
                              {"name": "Data Protection Officer", "email": "dpo@example-ai.eu"}))
    supervisory_authority: Contact | None = Field(
        None, description="the lead supervisory authority, named where the notice explains "
        "the right to complain",
        json_schema_extra=doc("Art. 13(2)(d), 77", {
            "name": "Berliner Beauftragte für Datenschutz und Informationsfreiheit",
            "email": "mailbox@datenschutz-berlin.de"}))


class Category(_Strict):
    description: LocalText = Field(
        description="what the data is, in words the notice and the record of processing "
        "show" + PER_LANGUAGE,
        json_schema_extra=doc("Art. 13(1)(c), 30(1)(c)", "E-mail address"))
    special: bool = Field(
        False, description="special category of personal data, Art. 9 GDPR (health, religion, "
        "biometric data, ...): every purpose that uses it declares special_category_condition",
        json_schema_extra=doc("Art. 9(1)", True))
    personal: bool = Field(
        True, description="false for non-personal metadata (e.g. a model id)",
        json_schema_extra=doc("Art. 4(1)", False))


FieldType = Literal["string", "text", "integer", "number", "boolean", "datetime", "object", "array"]


class FieldSpec(_Strict):
    category: str = Field(
        description="the declared category of this field's values; purposes that may not use "
        "it never receive it (minimisation)",
        json_schema_extra=doc("Art. 5(1)(c), 30(1)(c)", "contact.email"))
    type: FieldType = Field(
        "string", description="the value's type, checked on collect",
        json_schema_extra=doc("Art. 5(1)(d)", "text"))
    scan: bool = Field(
        False, description="free text: scanned for personal data on collect",
        json_schema_extra=doc("Art. 25(1), 32(1)", True))
    required: bool = Field(
        False, description="a record of this kind is refused without it",
        json_schema_extra=doc("Art. 5(1)(d)", True))
    max_length: int | None = Field(
        None, gt=0, description="longest value accepted (characters)",
        json_schema_extra=doc("Art. 5(1)(c)", 320))


class Kind(_Strict):
    description: LocalText = Field(
        description="what one record of this kind is" + PER_LANGUAGE,
        json_schema_extra=doc("Art. 30(1)(c)", "One message in a conversation with the assistant"))
    fields: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], FieldSpec] = Field(
        description="the fields a record may hold, each with its category; undeclared fields "
        "are dropped on collect and counted",
        json_schema_extra=doc("Art. 5(1)(c), 25(2)", {
            "text": {"category": "content.conversation", "type": "text", "scan": True,
                     "required": True}}))
    retention: DurationField | None = Field(
        None, description="upper bound on how long records of this kind are kept, any purpose",
        json_schema_extra=doc("Art. 5(1)(e)", "30 days"))
    quasi_identifiers: list[str] = Field(
        default_factory=list, description="fields that identify in combination (k-anonymity "
        "of aggregates and exports)",
        json_schema_extra=doc("Art. 89(1), Recital 26", ["country", "locale"]))
    anonymization: dict[str, Any] = Field(
        default_factory=dict, description="per-field PII policy for data leaving the vault",
        json_schema_extra=doc("Art. 25(1), 89(1)",
                              {"text": {"default": "keep", "PERSON": "pseudonymize",
                                        "EMAIL": "replace"}}))

    @model_validator(mode="after")
    def _qi_are_fields(self) -> Kind:
        _raise_rules(kind_problems(self.model_dump(mode="python")))
        return self


class Transfer(_Strict):
    country: LocalText = Field(description="the third country the data goes to" + PER_LANGUAGE,
                         json_schema_extra=doc("Art. 13(1)(f), 30(1)(e)", "United States"))
    recipient: LocalText | None = Field(
        None, description="who receives it there" + PER_LANGUAGE,
        json_schema_extra=doc("Art. 13(1)(e)-(f)", "GPU compute provider (processor)"))
    safeguard: LocalText = Field(
        description="e.g. adequacy decision, standard contractual clauses" + PER_LANGUAGE,
        json_schema_extra=doc("Art. 13(1)(f), 45, 46", "Standard contractual clauses "
                              "(Commission Implementing Decision (EU) 2021/914)"))


class Purpose(_Strict):
    description: LocalText = Field(
        description="plain language, shown in the privacy notice and the privacy center"
        + PER_LANGUAGE,
        json_schema_extra=doc("Art. 5(1)(b), 13(1)(c)", {
            "en": "To bill paid plans and keep invoices for as long as tax law requires.",
            "de": "Um kostenpflichtige Tarife abzurechnen und Rechnungen so lange "
                  "aufzubewahren, wie es das Steuerrecht verlangt."}))
    legal_basis: LegalBasis = Field(
        description="the lawful basis of Art. 6(1)(a)-(f)",
        json_schema_extra=doc("Art. 6(1), 13(1)(c)", "legal_obligation"))
    consent_required: bool = Field(
        False, description="nothing is collected or read for this purpose without a consent "
        "in force; true exactly when legal_basis is consent",
        json_schema_extra=doc("Art. 6(1)(a), 7", True))
    legitimate_interest: LocalText | None = Field(
        None, description="the interest pursued; required when legal_basis is "
        "legitimate_interests" + PER_LANGUAGE,
        json_schema_extra=doc("Art. 6(1)(f), 13(1)(d)",
                              "Keeping the service and its users safe from abuse and fraud."))
    categories: list[str] = Field(
        description="the categories this purpose may use; fields of others are dropped",
        json_schema_extra=doc("Art. 5(1)(c), 30(1)(c)", ["identity.name", "contact.email"]))
    kinds: list[str] = Field(
        description="the record kinds collected or read for this purpose",
        json_schema_extra=doc("Art. 5(1)(b)-(c)", ["invoice", "account"]))
    retention: DurationField = Field(
        description="how long a record collected for this purpose is kept",
        json_schema_extra=doc("Art. 5(1)(e), 13(2)(a), 30(1)(f)", "10 years"))
    recipients: list[LocalText] = Field(
        default_factory=list, description="recipients or categories of recipients; each "
        + PER_LANGUAGE.removeprefix("; "),
        json_schema_extra=doc("Art. 13(1)(e), 30(1)(d)",
                              ["Payment processor (processor)", "Tax advisor"]))
    transfers: list[Transfer] = Field(
        default_factory=list, description="transfers to third countries and their safeguards",
        json_schema_extra=doc("Art. 13(1)(f), 30(1)(e), 44-49", [{
            "country": "United States", "recipient": "GPU compute provider (processor)",
            "safeguard": "Standard contractual clauses"}]))
    automated_decision_making: bool = Field(
        False, description="decisions based solely on automated processing with legal or "
        "similarly significant effects",
        json_schema_extra=doc("Art. 13(2)(f), 22", False))
    consent_prompt: LocalText | None = Field(
        None, description="the question a consent switch asks" + PER_LANGUAGE,
        json_schema_extra=doc("Art. 7(2)", "Use my conversations to improve the models"))
    compatible_with: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "original purpose -> why processing its data for this purpose is compatible "
            "(Art. 6(4)); shown in the record of processing"
        ),
        json_schema_extra=doc("Art. 5(1)(b), 6(4)", {
            "service": "Invoicing a paid plan uses the account's name and e-mail address the "
                       "contract was made with."}),
    )
    special_category_condition: SpecialCategoryCondition | None = Field(
        None, description="the Art. 9(2)(a)-(j) condition under which this purpose processes "
        "special categories; required (by `confida compliance check`) when any of its "
        "categories is special; shown in the notice and the record of processing",
        json_schema_extra=doc("Art. 9(2)", "explicit_consent"))

    # --- privacy gateway (confida.gateway): what may leave for an upstream model provider
    egress: dict[str, Literal["tokenize", "redact", "allow"]] = Field(
        default_factory=dict,
        description=(
            "PII label (or 'default') -> what the privacy gateway sends upstream: 'tokenize' "
            "(reversible, restored in the answer), 'redact' or 'allow'. Unset labels are "
            "tokenised; SECRET is always refused"
        ),
    )

    @model_validator(mode="after")
    def _egress_labels(self) -> Purpose:
        for label in self.egress:
            if label != "default" and not re.fullmatch(r"[A-Z][A-Z0-9_]{0,31}", label):
                raise ValueError(f"egress.{label}: a PII label in capitals (e.g. PERSON) or "
                                 "'default'")
        if "SECRET" in self.egress:
            raise ValueError("egress.SECRET: secrets never leave through the gateway (a call "
                             "holding one is refused); remove this entry")
        return self
    # --- end privacy gateway

    @model_validator(mode="after")
    def _basis_coherent(self) -> Purpose:
        _raise_rules(purpose_problems(self.model_dump(mode="python")))
        return self

Action = Literal[
    "collect", "read", "list", "update", "consent", "rights", "requests", "export", "analytics",
    "audit", "scan", "register", "keys", "compliance", "breach", "apikey", "detokenize",
    "legal_hold",
]
ACTIONS: tuple[str, ...] = Action.__args__  # type: ignore[attr-defined]
MaskStyle = Literal["none", "email", "partial", "last4", "redact", "hash"]


class Role(_Strict):
    description: str = Field(description="who holds this role",
                             json_schema_extra=doc("Art. 32(4)", "Customer support agents"))
    actions: list[Literal[Action, "*"]] = Field(  # type: ignore[valid-type]
        description="what the role may do; '*' for everything",
        json_schema_extra=doc("Art. 25(2), 32(1)(b)", ["read", "list", "requests"]))
    purposes: list[str] = Field(
        default_factory=list, description="the purposes it may act for; '*' for every purpose",
        json_schema_extra=doc("Art. 5(1)(b), 25(2)", ["service"]))
    categories: list[str] = Field(
        default_factory=list, description="the categories it may see; '*' for every category",
        json_schema_extra=doc("Art. 25(2)", ["identity.name", "contact.email"]))
    masking: dict[str, MaskStyle] = Field(
        default_factory=dict, description="category (or '*') -> how values are masked on read",
        json_schema_extra=doc("Art. 25(1), 32(1)(a)", {"contact.email": "email"}))

    def may(self, action: str) -> bool:
        return "*" in self.actions or action in self.actions


class Register(_Strict):
    version: int = Field(1, description="format version of the register file",
                         json_schema_extra=doc("Art. 5(2)", 1))
    controller: Controller = Field(
        description="who is responsible for the processing",
        json_schema_extra=doc("Art. 13(1)(a), 30(1)(a)", {
            "name": "Example AI GmbH", "email": "privacy@example-ai.eu"}))
    categories: dict[Annotated[str, Field(pattern=_NAME)], Category] = Field(
        description="the data categories, Art. 9 special categories flagged",
        json_schema_extra=doc("Art. 9(1), 30(1)(c)", {
            "contact.email": {"description": "E-mail address"},
            "health.data": {"description": "Health information", "special": True}}))
    kinds: dict[Annotated[str, Field(pattern=_NAME)], Kind] = Field(
        description="the record kinds the service stores",
        json_schema_extra=doc("Art. 5(1)(c), 30(1)(c)", {"account": {
            "description": "The user's account",
            "fields": {"email": {"category": "contact.email", "required": True}}}}))
    purposes: dict[Annotated[str, Field(pattern=_NAME)], Purpose] = Field(
        description="why data is processed: one processing activity each",
        json_schema_extra=doc("Art. 5(1)(b), 30(1)(b)", {"service": {
            "description": "To provide the assistant you signed up for.",
            "legal_basis": "contract", "categories": ["contact.email"], "kinds": ["account"],
            "retention": "2 years"}}))
    roles: dict[Annotated[str, Field(pattern=_NAME)], Role] = Field(
        default_factory=dict, description="staff and service roles (the CLI acts as 'admin')",
        json_schema_extra=doc("Art. 25(2), 32(4)", {"admin": {
            "description": "Operators", "actions": ["*"], "purposes": ["*"],
            "categories": ["*"]}}))
    notice: dict[str, Any] = Field(
        default_factory=dict, description="extra notice text: how_to_exercise, "
        "privacy_center_url, data_subjects (purpose -> categories of data subjects)",
        json_schema_extra=doc("Art. 12(1), 13, 30(1)(c)", {
            "privacy_center_url": "https://example-ai.eu/privacy"}))

    @model_validator(mode="after")
    def _references(self) -> Register:
        _raise_rules(reference_problems(self.model_dump(mode="python")))
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


# --- the rules between fields, on raw data ---------------------------------------------------
# Written over plain mappings (a YAML document, or a model dumped), so that the loader can run
# them on a document that also has field errors and report every problem in one go, each at
# its own path. The validators above raise the same problems for code that builds models.

DocPath = tuple[str | int, ...]
_TRUE = {"1", "true", "t", "yes", "y", "on"}


def dotted(path: DocPath) -> str:
    return ".".join(str(p) for p in path)


def _raise_rules(problems: list[tuple[DocPath, str]]) -> None:
    if problems:
        text = "; ".join(f"{dotted(path)}: {msg}" if path else msg for path, msg in problems)
        raise PydanticCustomError(RULE_ERROR, "{problem}", {"problem": text})


def _true(value: Any) -> bool:
    """A boolean as pydantic reads one (``true``, ``yes``, ``1``, ...)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in _TRUE


def _indexed(value: Any) -> list[tuple[int, str]]:
    """(index, name) for the names of a list, skipping what is not text (a field error)."""
    return [(i, v) for i, v in enumerate(value) if isinstance(v, str)] \
        if isinstance(value, list) else []


def _mapping(value: Any) -> Mapping[Any, Any]:
    return value if isinstance(value, Mapping) else {}


def kind_problems(kind: Mapping[str, Any]) -> list[tuple[DocPath, str]]:
    """(path inside the kind, problem) for the rules between a kind's fields."""
    fields = _mapping(kind.get("fields"))
    out: list[tuple[DocPath, str]] = []
    for i, name in _indexed(kind.get("quasi_identifiers")):
        if name not in fields:
            out.append((("quasi_identifiers", i), f"{name!r} is not a field of this kind"))
    for name in _mapping(kind.get("anonymization")):
        if name not in fields:
            out.append((("anonymization", name), f"{name!r} is not a field of this kind"))
    return out


def purpose_problems(p: Mapping[str, Any]) -> list[tuple[DocPath, str]]:
    """(path inside the purpose, problem) for the rules between a purpose's fields."""
    basis = p.get("legal_basis")
    if basis not in {b.value for b in LegalBasis}:
        return []  # reported as a field error
    consent_required = _true(p.get("consent_required"))
    out: list[tuple[DocPath, str]] = []
    if basis == LegalBasis.consent and not consent_required:
        out.append((("consent_required",),
                    "legal_basis 'consent' requires consent_required: true"))
    if consent_required and basis != LegalBasis.consent:
        out.append((("consent_required",),
                    f"consent_required is true but legal_basis is {str(basis)!r}; a purpose "
                    "that needs consent has consent as its legal basis"))
    if basis == LegalBasis.legitimate_interests and not p.get("legitimate_interest"):
        out.append((("legitimate_interest",),
                    "legal_basis 'legitimate_interests' requires 'legitimate_interest': the "
                    "interest pursued, as Art. 13(1)(d) asks"))
    return out


def reference_problems(doc: Mapping[str, Any]) -> list[tuple[DocPath, str]]:
    """(path, problem) for every cross-reference of a register document that does not hold,
    and for the rules inside kinds and purposes."""
    categories = _mapping(doc.get("categories"))
    kinds = _mapping(doc.get("kinds"))
    purposes = _mapping(doc.get("purposes"))
    roles = _mapping(doc.get("roles"))
    problems: list[tuple[DocPath, str]] = []
    for kname, kind in kinds.items():
        kind = _mapping(kind)
        for fname, spec in _mapping(kind.get("fields")).items():
            cat = _mapping(spec).get("category")
            if isinstance(cat, str) and cat not in categories:
                problems.append((("kinds", kname, "fields", fname, "category"),
                                 f"undeclared category {cat!r}"))
        problems += [(("kinds", kname, *path), msg) for path, msg in kind_problems(kind)]
    for pname, purpose in purposes.items():
        purpose = _mapping(purpose)
        problems += [(("purposes", pname, *path), msg)
                     for path, msg in purpose_problems(purpose)]
        for i, cat in _indexed(purpose.get("categories")):
            if cat not in categories:
                problems.append((("purposes", pname, "categories", i),
                                 f"undeclared category {cat!r}"))
        for i, k in _indexed(purpose.get("kinds")):
            if k not in kinds:
                problems.append((("purposes", pname, "kinds", i), f"undeclared kind {k!r}"))
        for orig, reason in _mapping(purpose.get("compatible_with")).items():
            where = ("purposes", pname, "compatible_with", orig)
            if orig not in purposes:
                problems.append((where, f"undeclared purpose {orig!r}"))
            elif orig == pname:
                problems.append((where, "a purpose is trivially compatible with itself"))
            elif _true(_mapping(purposes[orig]).get("consent_required")):
                # Art. 6(4): the compatibility test is for processing *not* based on consent;
                # data given under consent is used for that purpose only.
                problems.append((where, f"{orig!r} is based on consent; data collected under "
                                 "consent cannot be reused for another purpose"))
            if isinstance(reason, str) and not reason.strip():
                problems.append((where, "give the reason the purposes are compatible"))
    for rname, role in roles.items():
        role = _mapping(role)
        for i, p in _indexed(role.get("purposes")):
            if p != "*" and p not in purposes:
                problems.append((("roles", rname, "purposes", i), f"undeclared purpose {p!r}"))
        for i, c in _indexed(role.get("categories")):
            if c != "*" and c not in categories:
                problems.append((("roles", rname, "categories", i),
                                 f"undeclared category {c!r}"))
        for c in _mapping(role.get("masking")):
            if c != "*" and c not in categories:
                problems.append((("roles", rname, "masking", c), f"undeclared category {c!r}"))
    return problems


def special_categories_of(register: Register, purpose: str) -> list[str]:
    """The Art. 9 special categories a purpose may use, in register order."""
    return [c for c in register.purposes[purpose].categories
            if c in register.categories and register.categories[c].special]
