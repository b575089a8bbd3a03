"""``confida.client.AsyncClient`` against a real ``confida serve`` over TLS: the same API as
``Client`` with ``await`` and ``async for``, the same errors, the same retry rule (the refusals
come from an ``httpx.MockTransport``, a boundary we control, so that each comes on cue).

Each test runs its own event loop (``asyncio.run``); one server serves the module.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import uuid
import zipfile
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from confida import errors
from confida.api_models import RecordMetaOut, RequestOut
from confida.client import AsyncClient, ConnectionFailed, ExportMismatch, ServerBusy
from tests.client_support import Server, client_server

T = TypeVar("T")
ACCOUNT = {"email": "a@example.org", "display_name": "Jane Doe"}
MSG = {"conversation_id": "c-1", "text": "hello there", "role": "user"}
VERIFIED = "session:password+totp"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with client_server(tmp_path_factory.mktemp("aclient"), rate_per_second=10_000.0,
                       rate_burst=10_000) as srv:
        yield srv


async def _with(server: Server, role: str, body: Callable[[AsyncClient], Awaitable[T]]) -> T:
    async with AsyncClient(server.url, server.keys[role], verify=server.cert) as c:
        return await body(c)


def run(server: Server, role: str, body: Callable[[AsyncClient], Awaitable[T]]) -> T:
    return asyncio.run(_with(server, role, body))


def _subject() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


async def _all(it: Any) -> list[Any]:
    return [x async for x in it]


def test_records_and_pages(server: Server) -> None:
    s = _subject()

    async def body(c: AsyncClient) -> None:
        rec = await c.collect(s, "account", "service", ACCOUNT)
        assert (await c.get(rec.record_id, "service")).data == ACCOUNT
        assert (await c.update(rec.record_id, {"display_name": "J."}, "service")).data[
            "display_name"] == "J."
        many = await c.collect_many([{"subject": s, "kind": "conversation_message",
                                      "purpose": "service", "data": MSG}] * 5)
        listed = await _all(c.list_records(s, "service", page_size=2))
        assert all(isinstance(m, RecordMetaOut) for m in listed)
        assert {m.id for m in listed} == {rec.record_id, *(m.record_id for m in many)}
        kinds = await _all(c.list_records(s, "service", kind="account", collected_for="service"))
        assert [m.id for m in kinds] == [rec.record_id]

    run(server, "service", body)

    async def hold(c: AsyncClient) -> None:
        rid = (await _all(c.list_records(s, "service", kind="account")))[0].id
        assert (await c.set_legal_hold(rid, True, "audit by the tax office")).legal_hold

    run(server, "admin", hold)


def test_consents_rights_and_feeds(server: Server) -> None:
    s = _subject()

    async def body(c: AsyncClient) -> tuple[str, int | None]:
        with pytest.raises(errors.ConsentRequired):
            await c.collect(s, "conversation_message", "model_training", MSG)
        assert (await c.grant_consent(s, "model_training")).action == "grant"
        assert (await c.consents(s, "service")).current["model_training"].granted
        assert (await c.withdraw_consent(s, "model_training")).action == "withdraw"
        acc = await c.collect(s, "account", "service", ACCOUNT)
        ex = await c.access_export(s, VERIFIED)
        assert hashlib.sha256(ex.zip).hexdigest() == ex.sha256
        assert zipfile.ZipFile(io.BytesIO(ex.zip)).namelist()
        r = await c.rectify(s, acc.record_id, {"display_name": "Jane Roe"}, VERIFIED)
        assert isinstance(r, RequestOut) and r.type == "rectification"
        assert (await c.object_to(s, "safety", VERIFIED)).type == "objection"
        assert (await c.restrict(s, VERIFIED)).type == "restriction"
        with pytest.raises(errors.SubjectRestricted):
            await c.get(acc.record_id, "service")
        await c.restrict(s, VERIFIED, lift=True, request_id=f"lift-{uuid.uuid4().hex[:6]}")
        e = await c.erase(s, VERIFIED)
        assert e.records == 1
        return r.subject, e.notice_id

    pseudonym, notice = run(server, "service", body)

    async def staff(c: AsyncClient) -> None:
        reqs = await _all(c.requests(page_size=2))
        assert {q.type for q in reqs if q.subject == pseudonym} >= {
            "access", "rectification", "objection", "restriction", "erasure"}
        assert await _all(c.requests(overdue=True)) == []
        notices = await _all(c.erasure_notices(page_size=1))
        assert notice in {n.id for n in notices}

    run(server, "admin", staff)


def test_audit_pii_tokens_meta(server: Server) -> None:
    async def audit(c: AsyncClient) -> None:
        note = await c.latest_checkpoint()
        n = int(note.splitlines()[1])
        p = await c.inclusion_proof(0, n)
        assert base64.b64decode(p.root) and p.tree_size == n
        q = await c.consistency_proof(1, 3)
        assert q.first == 1 and q.second == 3
        assert (await c.register())["purposes"]
        assert (await c.health())["status"] == "ok"
        assert (await c.ready())["status"] == "ready"

    run(server, "admin", audit)
    s = _subject()

    async def svc(c: AsyncClient) -> str:
        assert (await c.scan("mail me at jane@example.org")).summary == {"EMAIL": 1}
        assert "jane@" not in (await c.redact("mail me at jane@example.org")).text
        await c.collect(s, "account", "service", ACCOUNT)
        assert "/privacy/enter?token=" in (await c.privacy_link(s)).url
        return (await c.subject_token(s, minutes=3)).token

    token = run(server, "service", svc)

    async def me() -> None:
        async with AsyncClient(server.url, token, verify=server.cert) as c:
            assert len(await _all(c.my_records())) == 1
            await c.set_my_consent("model_training", "grant")
            assert (await c.my_consents()).current["model_training"].granted

    asyncio.run(me())


def test_errors_are_the_core_classes(server: Server) -> None:
    async def body(c: AsyncClient) -> None:
        with pytest.raises(errors.NotFound) as nf:
            await c.get(str(uuid.uuid4()), "service")
        assert nf.value.status == 404
        with pytest.raises(errors.UnknownKind):
            await c.collect(_subject(), "no_such_kind", "service", {})
        with pytest.raises(errors.AccessDenied):
            await c.latest_checkpoint()

    run(server, "service", body)

    async def anonymous() -> None:
        async with AsyncClient(server.url, "cfk_AAAAAAAA_" + "y" * 43,
                               verify=server.cert) as c:
            with pytest.raises(errors.Unauthenticated) as exc:
                await c.register()
            assert exc.value.status == 401

    asyncio.run(anonymous())


# --- the retry rule (MockTransport) -----------------------------------------------------------


def _problem(status: int, code: str) -> httpx.Response:
    return httpx.Response(status, headers={"Retry-After": "0"}, json={
        "type": f"https://confida.dev/problems/{code}", "title": "x", "status": status,
        "detail": "refused"})


_COLLECTED = {"record_id": "r1", "kind": "account", "purpose": "service",
              "retain_until": "2030-01-01T00:00:00Z", "dropped_fields": 0, "pii_summary": {}}


def _mock(answers: list[httpx.Response | Exception]) -> tuple[AsyncClient, list[str]]:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a

    c = AsyncClient("https://confida.test", "k", transport=httpx.MockTransport(handler))

    async def no_wait(_s: float) -> None:
        return None

    c._sleep = no_wait
    return c, seen


def test_async_retries_follow_the_same_rule() -> None:
    async def main() -> None:
        c, seen = _mock([_problem(503, "overloaded"), _problem(429, "rate-limited"),
                         httpx.Response(201, json=_COLLECTED)])
        async with c:
            assert (await c.collect("s", "account", "service", {})).record_id == "r1"
        assert len(seen) == 3
        c, seen = _mock([_problem(503, "timeout"), httpx.Response(201, json=_COLLECTED)])
        async with c:
            with pytest.raises(ServerBusy):  # may have committed: a POST is not resent
                await c.collect("s", "account", "service", {})
        assert len(seen) == 1
        c, seen = _mock([httpx.ReadError("reset"), httpx.ReadError("reset")])
        async with c:
            with pytest.raises(ConnectionFailed):
                await c.collect("s", "account", "service", {})
        assert len(seen) == 1
        c, seen = _mock([httpx.Response(200, content=b"zip", headers={
            "Confida-Sha256": hashlib.sha256(b"other").hexdigest()})])
        async with c:
            with pytest.raises(ExportMismatch):
                await c.access_export("s", VERIFIED)

    asyncio.run(main())
