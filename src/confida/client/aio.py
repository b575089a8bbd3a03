"""The asynchronous client (:class:`AsyncClient`): the API of ``confida.client.sync.Client``,
with ``await`` (and ``async for`` over the listing methods)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
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


class AsyncClient:
    """A Confida API client for asyncio: ``async with AsyncClient(url, key) as c``, then
    ``await c.collect(...)``, ``async for r in c.list_records(...)``. The arguments are those
    of :class:`confida.client.Client`; ``transport`` is an ``httpx.AsyncBaseTransport``."""

    def __init__(self, base_url: str, api_key: str | None = None, *, verify: Verify = True,
                 timeout: float = 30, retries: int = 3,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self._http = httpx.AsyncClient(base_url=self.base_url,
                                       headers=b.headers_for(api_key),
                                       verify=b.ssl_verify(verify), timeout=timeout,
                                       transport=transport, follow_redirects=False)
        self._rng = random.Random()
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    # --- plumbing --------------------------------------------------------------------------

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def _send(self, call: Call[T]) -> T:
        retries = self.retries if call.retry else 0
        attempt = 0
        while True:
            try:
                resp = await self._http.request(call.method, call.path, **call.request_kwargs())
            except httpx.TransportError as exc:
                if attempt < retries and b.should_retry_transport(call.method, exc):
                    await self._sleep(b.delay(attempt, None, self._rng))
                    attempt += 1
                    continue
                raise b.transport_error(exc, self.base_url) from exc
            if resp.is_success:
                return call.parse(resp)
            err = b.answer_error(resp)
            code = problem_code(getattr(err, "problem", None))
            if attempt < retries and b.should_retry(call.method, resp.status_code, code):
                ra = b.retry_after_seconds(resp.headers.get("retry-after"))
                await self._sleep(b.delay(attempt, ra, self._rng))
                attempt += 1
                continue
            raise err

    async def _pages(self, page: Callable[[str | None], Call[_Page[T]]]) -> AsyncIterator[T]:
        cursor: str | None = None
        while True:
            got = await self._send(page(cursor))
            for item in got.items:
                yield item
            if not got.next:
                return
            cursor = got.next

    # --- records ---------------------------------------------------------------------------

    async def collect(self, subject: str, kind: str, purpose: str,
                data: Mapping[str, Any]) -> CollectedOut:
        """Store one record for ``subject``, collected for ``purpose``."""
        return await self._send(b.collect(subject, kind, purpose, data))

    async def collect_many(self, items: list[Mapping[str, Any]]) -> list[CollectedOut]:
        """Store many records atomically (all or none); each item is a dict with ``subject``,
        ``kind``, ``purpose`` and ``data``."""
        return await self._send(b.collect_many(items))

    async def get(self, record_id: str, purpose: str) -> RecordOut:
        """Read one record for ``purpose``: the fields that purpose and the role may see."""
        return await self._send(b.get(record_id, purpose))

    async def update(self, record_id: str, data: Mapping[str, Any], purpose: str) -> RecordOut:
        """Change fields of a record (the old values are not kept)."""
        return await self._send(b.update(record_id, data, purpose))

    async def set_legal_hold(self, record_id: str, hold: bool, reason: str) -> LegalHoldOut:
        """Place (``hold=True``) or lift a legal hold; ``reason`` holds no personal data."""
        return await self._send(b.set_legal_hold(record_id, hold, reason))

    def list_records(self, subject: str, purpose: str, *, kind: str | None = None,
                     collected_for: str | None = None,
                     page_size: int = 100) -> AsyncIterator[RecordMetaOut]:
        """The subject's records (metadata only), oldest first; pages are fetched as the
        iteration reaches them."""
        return self._pages(lambda c: b.records_page(subject, purpose, kind, collected_for,
                                                    page_size, c))

    # --- consents --------------------------------------------------------------------------

    async def consents(self, subject: str, purpose: str) -> ConsentsOut:
        """Current consents and the ledger history; ``purpose`` states why you read them."""
        return await self._send(b.consents(subject, purpose))

    async def grant_consent(self, subject: str, purpose: str,
                      notice_version: str | None = None) -> ConsentEventOut:
        return await self._send(b.consent_event(subject, purpose, "grant", notice_version))

    async def withdraw_consent(self, subject: str, purpose: str) -> ConsentEventOut:
        return await self._send(b.consent_event(subject, purpose, "withdraw"))

    # --- data subject rights and requests ----------------------------------------------------

    async def access_export(self, subject: str, verified_by: str, *, portability: bool = False,
                      request_id: str | None = None) -> AccessExport:
        """The Art. 15 (or, ``portability=True``, Art. 20) export as a zip, its SHA-256
        checked against the server's ``Confida-Sha256``."""
        return await self._send(b.access_export(subject, verified_by, portability, request_id))

    async def rectify(self, subject: str, record_id: str, data: Mapping[str, Any], verified_by: str,
                request_id: str | None = None) -> RequestOut:
        return await self._send(b.rectify(subject, record_id, data, verified_by, request_id))

    async def restrict(self, subject: str, verified_by: str, *, lift: bool = False,
                 request_id: str | None = None) -> RequestOut:
        return await self._send(b.restrict(subject, verified_by, lift, request_id))

    async def object_to(self, subject: str, purpose: str, verified_by: str,
                  request_id: str | None = None) -> RequestOut:
        return await self._send(b.object_to(subject, purpose, verified_by, request_id))

    async def erase(self, subject: str, verified_by: str,
              request_id: str | None = None) -> ErasureOut:
        """Erase the subject (Art. 17): the data key is destroyed first."""
        return await self._send(b.erase(subject, verified_by, request_id))

    async def register_reference(self, subject: str, system: str,
                                 reference: str) -> ReferenceOut:
        """Tell Confida that ``system`` keeps data about the subject under its own opaque
        ``reference``: the subject's erasure notice then names it. Idempotent."""
        return await self._send(b.register_reference(subject, system, reference))

    def requests(self, *, overdue: bool = False, status: str | None = None,
                 page_size: int = 100) -> AsyncIterator[RequestOut]:
        """Data subject requests by deadline, soonest first."""
        return self._pages(lambda c: b.requests_page(overdue, status, page_size, c))

    def erasure_notices(self, since: int = 0, page_size: int = 100) -> AsyncIterator[NoticeOut]:
        """Erasure notices after notice id ``since``, oldest first."""
        return self._pages(lambda c: b.notices_page(since, page_size, c))

    # --- the audit log ---------------------------------------------------------------------

    async def latest_checkpoint(self) -> str:
        """The newest signed checkpoint, as the C2SP signed note (keep it verbatim)."""
        return await self._send(b.latest_checkpoint())

    async def inclusion_proof(self, index: int, tree_size: int) -> InclusionOut:
        return await self._send(b.inclusion_proof(index, tree_size))

    async def consistency_proof(self, first: int, second: int) -> ConsistencyOut:
        return await self._send(b.consistency_proof(first, second))

    # --- PII -------------------------------------------------------------------------------

    async def scan(self, text: str) -> ScanOut:
        return await self._send(b.scan(text))

    async def redact(self, text: str, policy: Mapping[str, str] | None = None) -> RedactOut:
        return await self._send(b.redact(text, policy))

    # --- subject tokens and the subject's own view -------------------------------------------

    async def subject_token(self, subject: str, *, minutes: int | None = None,
                      use: Literal["api", "link"] = "api") -> SubjectTokenOut:
        """A token scoped to ``subject``: ``Client(url, token.token)`` then opens ``my_*``."""
        return await self._send(b.subject_token(subject, minutes, use))

    async def privacy_link(self, subject: str, *, minutes: int | None = None) -> PrivacyLinkOut:
        return await self._send(b.privacy_link(subject, minutes))

    def my_records(self, *, page_size: int = 100) -> AsyncIterator[RecordMetaOut]:
        """With a subject token: the holder's own records (metadata)."""
        return self._pages(lambda c: b.my_records_page(page_size, c))

    async def my_consents(self) -> ConsentsOut:
        return await self._send(b.my_consents())

    async def set_my_consent(self, purpose: str, action: Literal["grant", "withdraw"],
                       notice_version: str | None = None) -> ConsentEventOut:
        return await self._send(b.set_my_consent(purpose, action, notice_version))

    # --- meta ------------------------------------------------------------------------------

    async def register(self) -> dict[str, Any]:
        """The processing register in force."""
        return await self._send(b.register())

    async def health(self) -> dict[str, Any]:
        return await self._send(b.health())

    async def ready(self) -> dict[str, Any]:
        """Readiness; not ready raises :class:`~confida.client.ServerBusy` (``problem["checks"]``
        names the failing checks). Never retried."""
        return await self._send(b.ready())
