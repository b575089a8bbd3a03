"""What the synchronous and the asynchronous client share: the request each method sends and
how its answer is read (:class:`Call`), the retry rule, and the reading of error answers.

Nothing here does I/O: ``Client`` and ``AsyncClient`` send a :class:`Call` and sleep between
attempts, each in its own way.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import random
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from confida.api_models import (
    CollectedOut,
    ConsentEventOut,
    ConsentsOut,
    ConsistencyOut,
    ErasureNoticePage,
    ErasureOut,
    InclusionOut,
    LegalHoldOut,
    PrivacyLinkOut,
    RecordOut,
    RecordPage,
    RedactOut,
    ReferenceOut,
    RequestOut,
    RequestPage,
    ScanOut,
    SubjectTokenOut,
)
from confida.client.errors import (
    ApiError,
    ConnectionFailed,
    ExportMismatch,
    error_from_answer,
    make_error,
)
from confida.errors import ConfidaError
from confida.version import __version__

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

Verify = bool | str | Path | ssl.SSLContext

#: Methods whose repetition has the effect of one request: retried on every 429 and 503, and
#: after a connection that broke mid-request.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
#: Problems the server answers before the operation had any effect (the rate limit and the
#: in-flight bound refuse before the route runs; a store error rolls the transaction back): a
#: POST is retried on these only. A 503 ``timeout`` may come after the commit: never retried.
REFUSED_BEFORE_EFFECT = frozenset({"rate-limited", "overloaded", "store-unavailable"})
#: 429s that waiting does not cure.
NEVER_RETRIED = frozenset({"privacy-budget-exceeded"})
RETRY_STATUSES = frozenset({429, 503})

BACKOFF_BASE = 0.2  # seconds before the first retry without Retry-After, doubled each time
BACKOFF_MAX = 10.0
RETRY_AFTER_CAP = 30.0  # a larger Retry-After is waited for this long, no longer


def segment(value: str) -> str:
    """``value`` as one path segment: ``quote(value, safe="")``, and the segments ``.`` and
    ``..`` (which URL normalisation would remove) with their dots escaped."""
    s = quote(value, safe="")
    return s.replace(".", "%2E") if s in (".", "..") else s


def ssl_verify(verify: Verify) -> bool | ssl.SSLContext:
    """httpx's ``verify`` for ours: True (system CAs via certifi), False, a CA file, a context."""
    if isinstance(verify, bool | ssl.SSLContext):
        return verify
    return ssl.create_default_context(cafile=str(verify))


def headers_for(api_key: str | None) -> dict[str, str]:
    h = {"Accept": "application/json", "User-Agent": f"confida-client/{__version__}"}
    if api_key:
        h["Authorization"] = f"Bearer {api_key}"
    return h


def host_of(base_url: str) -> str:
    return urlsplit(base_url).netloc or base_url


# --- retries -----------------------------------------------------------------------------


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def should_retry(method: str, status: int, code: str | None) -> bool:
    """Whether an error answer is retried: 429/503 for idempotent methods; for others only
    the problems refused before any effect."""
    if status not in RETRY_STATUSES or code in NEVER_RETRIED:
        return False
    return method in IDEMPOTENT or code in REFUSED_BEFORE_EFFECT


def should_retry_transport(method: str, exc: httpx.TransportError) -> bool:
    """A connection that could not be made sent nothing: retried for every method, unless
    the certificate was refused (that will not change). A connection that broke after the
    request was sent: retried for idempotent methods only."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, ssl.SSLCertVerificationError):
                return False
            cause = cause.__cause__ or cause.__context__
        return True
    return method in IDEMPOTENT


def delay(attempt: int, retry_after: float | None, rng: random.Random) -> float:
    """Seconds before retry ``attempt`` (0 for the first): exponential backoff with jitter;
    with a Retry-After, that (capped at RETRY_AFTER_CAP) plus the jitter, so clients refused
    together do not come back together."""
    backoff = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** attempt)
    jitter = rng.uniform(0, backoff)
    if retry_after is None:
        return backoff / 2 + jitter / 2
    return min(max(retry_after, 0.0), RETRY_AFTER_CAP) + jitter


def transport_error(exc: httpx.TransportError, base_url: str) -> ConfidaError:
    """No answer. The message names the exception type and the host, never the URL's path
    (it holds subject ids)."""
    err = make_error(ConnectionFailed, f"{type(exc).__name__} talking to {host_of(base_url)}",
                     code=ConnectionFailed.code, status=None, problem=None)
    err.__cause__ = exc
    return err


def answer_error(resp: httpx.Response) -> ConfidaError:
    ctype = resp.headers.get("content-type", "")
    body: Any = None
    if "json" in ctype.lower():
        try:
            body = json.loads(resp.content)
        except ValueError:
            body = None
    return error_from_answer(resp.status_code, ctype, body,
                             retry_after_seconds(resp.headers.get("retry-after")))


# --- the calls ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request of the API and how to read its 2xx answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    body: Any = None
    params: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    retry: bool = True

    def request_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"headers": dict(self.headers)}
        if self.body is not None:
            kw["content"] = json.dumps(to_jsonable_python(self.body), ensure_ascii=False,
                                       allow_nan=False, separators=(",", ":")).encode("utf-8")
            kw["headers"]["Content-Type"] = "application/json"
        if self.params:
            kw["params"] = {k: v for k, v in self.params.items() if v is not None}
        return kw


@dataclass(frozen=True)
class AccessExport:
    """An Art. 15 / Art. 20 export: the zip (it holds personal data: store it 0600, or not at
    all), the id of the request it answered, and the zip's SHA-256, checked on receipt."""

    zip: bytes
    request_id: str
    sha256: str


def _model(cls: type[M]) -> Callable[[httpx.Response], M]:
    return lambda r: cls.model_validate_json(r.content)


def _json(r: httpx.Response) -> dict[str, Any]:
    out = r.json()
    if not isinstance(out, dict):
        raise make_error(ApiError, "the answer is not a JSON object", code="bad-answer",
                         status=r.status_code, problem=None)
    return out


def _text(r: httpx.Response) -> str:
    return r.text


def _batch(r: httpx.Response) -> list[CollectedOut]:
    return [CollectedOut.model_validate(x) for x in r.json()["records"]]


def _export(r: httpx.Response) -> AccessExport:
    blob = r.content
    sent = r.headers.get("confida-sha256", "").strip().lower()
    got = hashlib.sha256(blob).hexdigest()
    if not sent or not hmac.compare_digest(sent, got):
        raise make_error(ExportMismatch, "the access export does not match its Confida-Sha256 "
                         "header (truncated or altered in transit)", code=ExportMismatch.code,
                         status=r.status_code, problem=None)
    return AccessExport(zip=blob, request_id=r.headers.get("confida-request-id", ""), sha256=got)


def _purpose(purpose: str) -> dict[str, str]:
    return {"Confida-Purpose": purpose}


def _rights_body(verified_by: str, request_id: str | None, **extra: Any) -> dict[str, Any]:
    body = {"verified_by": verified_by, **extra}
    if request_id is not None:
        body["request_id"] = request_id
    return body


# records

def collect(subject: str, kind: str, purpose: str, data: Mapping[str, Any]) -> Call[CollectedOut]:
    return Call("POST", "/v1/records", _model(CollectedOut),
                body={"subject": subject, "kind": kind, "purpose": purpose, "data": dict(data)})


def collect_many(items: list[Mapping[str, Any]]) -> Call[list[CollectedOut]]:
    return Call("POST", "/v1/records/batch", _batch, body={"items": [dict(i) for i in items]})


def get(record_id: str, purpose: str) -> Call[RecordOut]:
    return Call("GET", f"/v1/records/{segment(record_id)}", _model(RecordOut),
                headers=_purpose(purpose))


def update(record_id: str, data: Mapping[str, Any], purpose: str) -> Call[RecordOut]:
    return Call("PATCH", f"/v1/records/{segment(record_id)}", _model(RecordOut),
                body={"data": dict(data)}, headers=_purpose(purpose))


def set_legal_hold(record_id: str, hold: bool, reason: str) -> Call[LegalHoldOut]:
    return Call("PUT", f"/v1/records/{segment(record_id)}/legal-hold", _model(LegalHoldOut),
                body={"hold": hold, "reason": reason})


def records_page(subject: str, purpose: str, kind: str | None, collected_for: str | None,
                 page_size: int, cursor: str | None) -> Call[RecordPage]:
    return Call("GET", f"/v1/subjects/{segment(subject)}/records", _model(RecordPage),
                params={"kind": kind, "collected_for": collected_for, "limit": page_size,
                        "cursor": cursor}, headers=_purpose(purpose))


# consents

def consents(subject: str, purpose: str) -> Call[ConsentsOut]:
    return Call("GET", f"/v1/subjects/{segment(subject)}/consents", _model(ConsentsOut),
                headers=_purpose(purpose))


def consent_event(subject: str, purpose: str, action: Literal["grant", "withdraw"],
                  notice_version: str | None = None) -> Call[ConsentEventOut]:
    body: dict[str, Any] = {"purpose": purpose, "action": action}
    if notice_version is not None:
        body["notice_version"] = notice_version
    return Call("POST", f"/v1/subjects/{segment(subject)}/consents", _model(ConsentEventOut),
                body=body)


# rights and requests

def access_export(subject: str, verified_by: str, portability: bool,
                  request_id: str | None) -> Call[AccessExport]:
    return Call("POST", f"/v1/subjects/{segment(subject)}/access-export", _export,
                body=_rights_body(verified_by, request_id, portability=portability),
                headers={"Accept": "application/zip, application/problem+json"})


def rectify(subject: str, record_id: str, data: Mapping[str, Any], verified_by: str,
            request_id: str | None) -> Call[RequestOut]:
    return Call("POST", f"/v1/subjects/{segment(subject)}/rectifications", _model(RequestOut),
                body=_rights_body(verified_by, request_id, record_id=record_id, data=dict(data)))


def restrict(subject: str, verified_by: str, lift: bool,
             request_id: str | None) -> Call[RequestOut]:
    return Call("POST", f"/v1/subjects/{segment(subject)}/restriction", _model(RequestOut),
                body=_rights_body(verified_by, request_id, lift=lift))


def object_to(subject: str, purpose: str, verified_by: str,
              request_id: str | None) -> Call[RequestOut]:
    return Call("POST", f"/v1/subjects/{segment(subject)}/objections", _model(RequestOut),
                body=_rights_body(verified_by, request_id, purpose=purpose))


def erase(subject: str, verified_by: str, request_id: str | None) -> Call[ErasureOut]:
    return Call("POST", f"/v1/subjects/{segment(subject)}/erasure", _model(ErasureOut),
                body=_rights_body(verified_by, request_id))


def register_reference(subject: str, system: str, reference: str) -> Call[ReferenceOut]:
    return Call("POST", f"/v1/subjects/{segment(subject)}/references", _model(ReferenceOut),
                body={"system": system, "reference": reference})


def requests_page(overdue: bool, status: str | None, page_size: int,
                  cursor: str | None) -> Call[RequestPage]:
    return Call("GET", "/v1/requests", _model(RequestPage),
                params={"overdue": "true" if overdue else None, "status": status,
                        "limit": page_size, "cursor": cursor})


def notices_page(since: int, page_size: int, cursor: str | None) -> Call[ErasureNoticePage]:
    return Call("GET", "/v1/erasure-feed", _model(ErasureNoticePage),
                params={"since": None if cursor else since, "limit": page_size,
                        "cursor": cursor})


# audit

def latest_checkpoint() -> Call[str]:
    return Call("GET", "/v1/audit/checkpoints/latest", _text,
                headers={"Accept": "text/plain, application/problem+json"})


def inclusion_proof(index: int, tree_size: int) -> Call[InclusionOut]:
    return Call("GET", "/v1/audit/proofs/inclusion", _model(InclusionOut),
                params={"index": index, "tree_size": tree_size})


def consistency_proof(first: int, second: int) -> Call[ConsistencyOut]:
    return Call("GET", "/v1/audit/proofs/consistency", _model(ConsistencyOut),
                params={"first": first, "second": second})


# PII

def scan(text: str) -> Call[ScanOut]:
    return Call("POST", "/v1/pii/scan", _model(ScanOut), body={"text": text})


def redact(text: str, policy: Mapping[str, str] | None) -> Call[RedactOut]:
    body: dict[str, Any] = {"text": text}
    if policy is not None:
        body["policy"] = dict(policy)
    return Call("POST", "/v1/pii/redact", _model(RedactOut), body=body)


# subject tokens, privacy-center links and the subject's own view

def subject_token(subject: str, minutes: int | None, use: str) -> Call[SubjectTokenOut]:
    body: dict[str, Any] = {"subject": subject, "use": use}
    if minutes is not None:
        body["minutes"] = minutes
    return Call("POST", "/v1/subject-tokens", _model(SubjectTokenOut), body=body)


def privacy_link(subject: str, minutes: int | None) -> Call[PrivacyLinkOut]:
    return Call("POST", f"/v1/subjects/{segment(subject)}/privacy-link", _model(PrivacyLinkOut),
                body={} if minutes is None else {"minutes": minutes})


def my_records_page(page_size: int, cursor: str | None) -> Call[RecordPage]:
    return Call("GET", "/v1/me/records", _model(RecordPage),
                params={"limit": page_size, "cursor": cursor})


def my_consents() -> Call[ConsentsOut]:
    return Call("GET", "/v1/me/consents", _model(ConsentsOut))


def set_my_consent(purpose: str, action: Literal["grant", "withdraw"],
                   notice_version: str | None) -> Call[ConsentEventOut]:
    body: dict[str, Any] = {"purpose": purpose, "action": action}
    if notice_version is not None:
        body["notice_version"] = notice_version
    return Call("POST", "/v1/me/consents", _model(ConsentEventOut), body=body)


# meta

def register() -> Call[dict[str, Any]]:
    return Call("GET", "/v1/register", _json)


def health() -> Call[dict[str, Any]]:
    return Call("GET", "/health", _json)


def ready() -> Call[dict[str, Any]]:
    return Call("GET", "/ready", _json, retry=False)
