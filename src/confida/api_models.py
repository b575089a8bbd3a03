"""The bodies of the REST API under ``/v1``: requests (``...In``) and answers (``...Out``,
``...Page``), as pydantic models shared by the server and the Python client.

This module imports pydantic and nothing else of Confida's, so that ``confida.client`` can use
it without FastAPI, the web server or the core store. The server's routes
(``confida.server.api``, ``rights_api``, ``audit_api``) declare these models as their bodies; the
OpenAPI component names are the class names, so renaming one changes the published schema.

The bounds the core also enforces are repeated here as constants (the tests check that they
match the core's): a request the schema refuses never reaches the core.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: Items of one ``POST /v1/records/batch`` (``confida.record.MAX_BATCH``).
MAX_BATCH = 10_000
#: The longest lifetime of a subject token, in minutes (``confida.subject_token.MAX_MINUTES``).
MAX_TOKEN_MINUTES = 15

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.]*$")]
VerifiedBy = Annotated[str, Field(min_length=1, max_length=200, description=(
    "how the host application verified the requester (e.g. `session:password+totp`); no "
    "personal data"))]
HostRequestId = Annotated[str, Field(min_length=1, max_length=128,
                                     pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]

__all__ = [
    "AccessIn", "BatchIn", "BatchOut", "CheckpointOut", "CollectIn", "CollectedOut",
    "ConsentEventOut", "ConsentIn", "ConsentStateOut", "ConsentsOut", "ConsistencyOut",
    "ErasureIn", "ErasureNoticePage", "ErasureOut", "FindingOut", "InclusionOut", "LegalHoldIn",
    "LegalHoldOut", "NoticeOut", "ObjectIn", "PrivacyLinkIn", "PrivacyLinkOut", "RecordMetaOut",
    "RecordOut", "RecordPage", "RectifyIn", "RedactIn", "RedactOut", "ReferenceIn", "ReferenceOut",
    "RequestOut", "RequestPage",
    "RestrictIn", "RightsRequestIn", "ScanIn", "ScanOut", "SubjectTokenIn", "SubjectTokenOut",
    "UpdateIn",
]


class _Strict(BaseModel):
    """Request bodies refuse fields they do not declare (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid")


# --- records ------------------------------------------------------------------------------


class CollectIn(_Strict):
    subject: Annotated[str, Field(min_length=1, max_length=256)]
    kind: Name
    purpose: Name
    data: dict[str, Any] = Field(description="The record's fields, as the register declares.")


class BatchIn(_Strict):
    items: list[CollectIn] = Field(min_length=1, max_length=MAX_BATCH)


class CollectedOut(BaseModel):
    record_id: str
    kind: str
    purpose: str
    retain_until: datetime
    dropped_fields: int = Field(description="undeclared fields dropped (minimisation)")
    pii_summary: dict[str, int] = Field(description="PII types found in free text, and counts")


class BatchOut(BaseModel):
    records: list[CollectedOut]


class RecordMetaOut(BaseModel):
    id: str
    kind: str
    purpose: str
    created_at: datetime
    updated_at: datetime
    retain_until: datetime
    pii_summary: dict[str, int]
    legal_hold: bool


class RecordOut(RecordMetaOut):
    data: dict[str, Any] = Field(description="the fields this purpose and role may see, masked")
    withheld_fields: int = Field(description="fields not shown for this purpose or role")


class UpdateIn(_Strict):
    data: dict[str, Any] = Field(min_length=1, description="fields to change")


class LegalHoldIn(_Strict):
    hold: bool = Field(description="true places the hold, false lifts it")
    reason: Annotated[str, Field(min_length=1, max_length=500,
                                 description="the legal ground; no personal data")]


class LegalHoldOut(BaseModel):
    record_id: str
    legal_hold: bool


class RecordPage(BaseModel):
    items: list[RecordMetaOut]
    next: str | None = Field(description="cursor of the next page; null on the last page")


# --- consents -----------------------------------------------------------------------------


class ConsentIn(_Strict):
    purpose: Name
    action: Literal["grant", "withdraw"]
    notice_version: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class ConsentEventOut(BaseModel):
    id: int
    purpose: str
    action: str
    at: datetime
    source: str
    notice_version: str | None


class ConsentStateOut(BaseModel):
    granted: bool
    since: str | None
    notice_version: str | None


class ConsentsOut(BaseModel):
    current: dict[str, ConsentStateOut]
    history: list[ConsentEventOut]


# --- subject tokens and privacy-center links ----------------------------------------------


class SubjectTokenIn(_Strict):
    subject: Annotated[str, Field(min_length=1, max_length=256)]
    minutes: Annotated[int, Field(ge=1, le=MAX_TOKEN_MINUTES)] | None = None
    use: Literal["api", "link"] = Field(
        "api", description="`api`: a bearer token for `/v1/me` during its lifetime; `link`: "
        "opens the privacy center once (`/privacy/enter?token=...`).")


class SubjectTokenOut(BaseModel):
    token: str
    expires_at: datetime


class PrivacyLinkIn(_Strict):
    minutes: Annotated[int, Field(ge=1, le=MAX_TOKEN_MINUTES)] | None = None


class PrivacyLinkOut(BaseModel):
    url: str
    expires_at: datetime


# --- PII detection ------------------------------------------------------------------------


class ScanIn(_Strict):
    text: Annotated[str, Field(max_length=200_000)]


class FindingOut(BaseModel):
    start: int
    end: int
    label: str
    score: float


class ScanOut(BaseModel):
    findings: list[FindingOut]
    summary: dict[str, int]


class RedactIn(_Strict):
    text: Annotated[str, Field(max_length=200_000)]
    policy: dict[str, str] | None = Field(
        None, description='per-label operator, e.g. {"default": "replace", "PERSON": '
        '"pseudonymize"}; default: replace everything found')


class RedactOut(BaseModel):
    text: str
    replaced: int


# --- data subject rights and requests -----------------------------------------------------


class RightsRequestIn(BaseModel):
    """What every data-subject request carries: how the requester was verified, and the
    host's own id for the request (makes a retry idempotent)."""

    model_config = ConfigDict(extra="forbid")
    verified_by: VerifiedBy
    request_id: HostRequestId | None = None


class AccessIn(RightsRequestIn):
    portability: bool = False


class RectifyIn(RightsRequestIn):
    record_id: Annotated[str, Field(min_length=1, max_length=64)]
    data: dict[str, Any] = Field(min_length=1)


class RestrictIn(RightsRequestIn):
    lift: bool = False


class ObjectIn(RightsRequestIn):
    purpose: Annotated[str, Field(min_length=1, max_length=64)]


class ErasureIn(RightsRequestIn):
    pass


class RequestOut(BaseModel):
    id: str
    type: str
    subject: str = Field(description="the subject's pseudonym, never the host's id")
    status: str
    verified_by: str
    received_at: datetime
    due_at: datetime
    extended_months: int
    extension_reason: str | None
    closed_at: datetime | None
    rejection_reason: str | None
    overdue: bool
    details: dict[str, Any]


class ErasureOut(BaseModel):
    request: RequestOut
    records: int
    kept: list[dict[str, Any]]
    notice_id: int | None
    resumed: bool


class NoticeOut(BaseModel):
    id: int
    at: datetime
    references: list[dict[str, str]]


class ReferenceIn(_Strict):
    system: Annotated[str, Field(min_length=1, max_length=128, description=(
        "the downstream system, named by the host (e.g. `chat-cache`)"))]
    reference: Annotated[str, Field(min_length=1, max_length=128, description=(
        "that system's own opaque key for the person (never an e-mail or the subject id)"))]


class ReferenceOut(BaseModel):
    system: str
    reference: str
    created: bool = Field(description="false when it was on record already (idempotent)")


class ErasureNoticePage(BaseModel):
    items: list[NoticeOut]
    next: str | None = Field(description="cursor of the next page; null when this page was "
                             "not full")
    last_id: int = Field(description="the last notice id seen: a poller stores it and passes "
                         "it back as `since` (the same as the cursor, in the clear)")


class RequestPage(BaseModel):
    items: list[RequestOut]
    next: str | None = Field(description="cursor of the next page; null on the last page")


# --- the audit log ------------------------------------------------------------------------


class CheckpointOut(BaseModel):
    tree_size: int
    note: str
    created_at: datetime


class InclusionOut(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str
    root: str
    proof: list[str]


class ConsistencyOut(BaseModel):
    first: int
    second: int
    first_root: str
    second_root: str
    proof: list[str]
