"""The synchronous client (:class:`Client`); ``confida.client.aio`` has the same API, async."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, Literal, Protocol, TypeVar

import httpx

from confida.api_models import (
    CollectedOut,
    ConsentEventOut,
    ConsentsOut,
    ConsistencyOut,
    ErasureOut,
    InclusionOut,
    LegalHoldOut,
    NoticeOut,
    PrivacyLinkOut,
    RecordMetaOut,
    RecordOut,
    RedactOut,
    ReferenceOut,
    RequestOut,
    ScanOut,
    SubjectTokenOut,
)
from confida.client import _base as b
from confida.client._base import AccessExport, Call, Verify
from confida.client.errors import problem_code

T = TypeVar("T")
I_co = TypeVar("I_co", covariant=True)


class _Page(Protocol[I_co]):
    @property
    def items(self) -> list[I_co]: ...
    @property
    def next(self) -> str | None: ...


class Client:
    """A Confida API client. ``api_key`` is an API key (``cfk_...``), an OIDC access token or a
    subject token (``cst_...``, for the ``my_*`` methods). ``verify``: True (the system's CAs),
    a CA file (e.g. the ``tls/cert.pem`` that ``confida init`` made), an ``ssl.SSLContext``, or
    False (never in production). ``retries``: how often a refused request is retried (see
    ``docs/client.md``); ``transport``: an httpx transport (tests, proxies)."""

    def __init__(self, base_url: str, api_key: str | None = None, *, verify: Verify = True,
                 timeout: float = 30, retries: int = 3,
                 transport: httpx.BaseTransport | None = None) -> None:
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self._http = httpx.Client(base_url=self.base_url, headers=b.headers_for(api_key),
                                  verify=b.ssl_verify(verify), timeout=timeout,
                                  transport=transport, follow_redirects=False)
        self._rng = random.Random()
        self._sleep: Callable[[float], None] = time.sleep

    # --- plumbing --------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _send(self, call: Call[T]) -> T:
        retries = self.retries if call.retry else 0
        attempt = 0
        while True:
            try:
                resp = self._http.request(call.method, call.path, **call.request_kwargs())
            except httpx.TransportError as exc:
                if attempt < retries and b.should_retry_transport(call.method, exc):
                    self._sleep(b.delay(attempt, None, self._rng))
                    attempt += 1
                    continue
                raise b.transport_error(exc, self.base_url) from exc
            if resp.is_success:
                return call.parse(resp)
            err = b.answer_error(resp)
            code = problem_code(getattr(err, "problem", None))
            if attempt < retries and b.should_retry(call.method, resp.status_code, code):
                ra = b.retry_after_seconds(resp.headers.get("retry-after"))
                self._sleep(b.delay(attempt, ra, self._rng))
                attempt += 1
                continue
            raise err

    def _pages(self, page: Callable[[str | None], Call[_Page[T]]]) -> Iterator[T]:
        cursor: str | None = None
        while True:
            got = self._send(page(cursor))
            yield from got.items
            if not got.next:
                return
            cursor = got.next

    # --- records ---------------------------------------------------------------------------

    def collect(self, subject: str, kind: str, purpose: str,
                data: Mapping[str, Any]) -> CollectedOut:
        """Store one record for ``subject``, collected for ``purpose``."""
        return self._send(b.collect(subject, kind, purpose, data))

    def collect_many(self, items: list[Mapping[str, Any]]) -> list[CollectedOut]:
        """Store many records atomically (all or none); each item is a dict with ``subject``,
        ``kind``, ``purpose`` and ``data``."""
        return self._send(b.collect_many(items))

    def get(self, record_id: str, purpose: str) -> RecordOut:
        """Read one record for ``purpose``: the fields that purpose and the role may see."""
        return self._send(b.get(record_id, purpose))

    def update(self, record_id: str, data: Mapping[str, Any], purpose: str) -> RecordOut:
        """Change fields of a record (the old values are not kept)."""
        return self._send(b.update(record_id, data, purpose))

    def set_legal_hold(self, record_id: str, hold: bool, reason: str) -> LegalHoldOut:
        """Place (``hold=True``) or lift a legal hold; ``reason`` holds no personal data."""
        return self._send(b.set_legal_hold(record_id, hold, reason))

    def list_records(self, subject: str, purpose: str, *, kind: str | None = None,
                     collected_for: str | None = None,
                     page_size: int = 100) -> Iterator[RecordMetaOut]:
        """The subject's records (metadata only), oldest first; pages are fetched as the
        iteration reaches them."""
        return self._pages(lambda c: b.records_page(subject, purpose, kind, collected_for,
                                                    page_size, c))

    # --- consents --------------------------------------------------------------------------

    def consents(self, subject: str, purpose: str) -> ConsentsOut:
        """Current consents and the ledger history; ``purpose`` states why you read them."""
        return self._send(b.consents(subject, purpose))

    def grant_consent(self, subject: str, purpose: str,
                      notice_version: str | None = None) -> ConsentEventOut:
        return self._send(b.consent_event(subject, purpose, "grant", notice_version))

    def withdraw_consent(self, subject: str, purpose: str) -> ConsentEventOut:
        return self._send(b.consent_event(subject, purpose, "withdraw"))

    # --- data subject rights and requests ----------------------------------------------------

    def access_export(self, subject: str, verified_by: str, *, portability: bool = False,
                      request_id: str | None = None) -> AccessExport:
        """The Art. 15 (or, ``portability=True``, Art. 20) export as a zip, its SHA-256
        checked against the server's ``Confida-Sha256``."""
        return self._send(b.access_export(subject, verified_by, portability, request_id))

    def rectify(self, subject: str, record_id: str, data: Mapping[str, Any], verified_by: str,
                request_id: str | None = None) -> RequestOut:
        return self._send(b.rectify(subject, record_id, data, verified_by, request_id))

    def restrict(self, subject: str, verified_by: str, *, lift: bool = False,
                 request_id: str | None = None) -> RequestOut:
        return self._send(b.restrict(subject, verified_by, lift, request_id))

    def object_to(self, subject: str, purpose: str, verified_by: str,
                  request_id: str | None = None) -> RequestOut:
        return self._send(b.object_to(subject, purpose, verified_by, request_id))

    def erase(self, subject: str, verified_by: str,
              request_id: str | None = None) -> ErasureOut:
        """Erase the subject (Art. 17): the data key is destroyed first."""
        return self._send(b.erase(subject, verified_by, request_id))

    def register_reference(self, subject: str, system: str, reference: str) -> ReferenceOut:
        """Tell Confida that ``system`` keeps data about the subject under its own opaque
        ``reference``: the subject's erasure notice then names it. Idempotent."""
        return self._send(b.register_reference(subject, system, reference))

    def requests(self, *, overdue: bool = False, status: str | None = None,
                 page_size: int = 100) -> Iterator[RequestOut]:
        """Data subject requests by deadline, soonest first."""
        return self._pages(lambda c: b.requests_page(overdue, status, page_size, c))

    def erasure_notices(self, since: int = 0, page_size: int = 100) -> Iterator[NoticeOut]:
        """Erasure notices after notice id ``since``, oldest first."""
        return self._pages(lambda c: b.notices_page(since, page_size, c))

    # --- the audit log ---------------------------------------------------------------------

    def latest_checkpoint(self) -> str:
        """The newest signed checkpoint, as the C2SP signed note (keep it verbatim)."""
        return self._send(b.latest_checkpoint())

    def inclusion_proof(self, index: int, tree_size: int) -> InclusionOut:
        return self._send(b.inclusion_proof(index, tree_size))

    def consistency_proof(self, first: int, second: int) -> ConsistencyOut:
        return self._send(b.consistency_proof(first, second))

    # --- PII -------------------------------------------------------------------------------

    def scan(self, text: str) -> ScanOut:
        return self._send(b.scan(text))

    def redact(self, text: str, policy: Mapping[str, str] | None = None) -> RedactOut:
        return self._send(b.redact(text, policy))

    # --- subject tokens and the subject's own view -------------------------------------------

    def subject_token(self, subject: str, *, minutes: int | None = None,
                      use: Literal["api", "link"] = "api") -> SubjectTokenOut:
        """A token scoped to ``subject``: ``Client(url, token.token)`` then opens ``my_*``."""
        return self._send(b.subject_token(subject, minutes, use))

    def privacy_link(self, subject: str, *, minutes: int | None = None) -> PrivacyLinkOut:
        return self._send(b.privacy_link(subject, minutes))

    def my_records(self, *, page_size: int = 100) -> Iterator[RecordMetaOut]:
        """With a subject token: the holder's own records (metadata)."""
        return self._pages(lambda c: b.my_records_page(page_size, c))

    def my_consents(self) -> ConsentsOut:
        return self._send(b.my_consents())

    def set_my_consent(self, purpose: str, action: Literal["grant", "withdraw"],
                       notice_version: str | None = None) -> ConsentEventOut:
        return self._send(b.set_my_consent(purpose, action, notice_version))

    # --- meta ------------------------------------------------------------------------------

    def register(self) -> dict[str, Any]:
        """The processing register in force."""
        return self._send(b.register())

    def health(self) -> dict[str, Any]:
        return self._send(b.health())

    def ready(self) -> dict[str, Any]:
        """Readiness; not ready raises :class:`~confida.client.ServerBusy` (``problem["checks"]``
        names the failing checks). Never retried."""
        return self._send(b.ready())
