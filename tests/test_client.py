"""``confida.client.Client`` against a real ``confida serve`` over TLS (SQLite, or the
PostgreSQL server when CONFIDA_TEST_DATABASE_URL is set).

One server for the module, pinned by its certificate (``verify=<cert>``): every client method
once at least, the errors mapped to the core's own classes, pagination over several pages,
and a property: any subject id the API accepts goes through collect, list, consents and
erasure, percent-encoded into the path. The retry rule is tested twice: against a real server
whose in-flight bound is 1 (it answers 503 ``overloaded``), and in detail with an
``httpx.MockTransport`` -- a boundary we control, standing in for the server so that each
refusal (429, 503 ``timeout``, a broken connection, a proxy's HTML page) comes exactly when
the test wants it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import ssl
import subprocess
import threading
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from confida import errors
from confida.api_models import (
    CollectedOut,
    ConsentsOut,
    ErasureOut,
    RecordMetaOut,
    RecordOut,
    RequestOut,
)
from confida.client import (
    AccessExport,
    ApiError,
    Client,
    ConnectionFailed,
    ExportMismatch,
    ServerBusy,
    ServerError,
    _base,
)
from confida.client.errors import class_for_code
from tests.client_support import Server, client_server, import_probe_cmd
from tests.serving_support import env_for, run_threads

ACCOUNT = {"email": "a@example.org", "display_name": "Jane Doe"}
MSG = {"conversation_id": "c-1", "text": "hello there", "role": "user"}
VERIFIED = "session:password+totp"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # a generous rate limit: the property test sends a few hundred requests in seconds
    with client_server(tmp_path_factory.mktemp("client"), rate_per_second=10_000.0,
                       rate_burst=10_000) as srv:
        yield srv


@pytest.fixture(scope="module")
def admin(server: Server) -> Iterator[Client]:
    with Client(server.url, server.keys["admin"], verify=server.cert) as c:
        yield c


@pytest.fixture(scope="module")
def service(server: Server) -> Iterator[Client]:
    with Client(server.url, server.keys["service"], verify=server.cert) as c:
        yield c


def _subject() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


# --- the package ---------------------------------------------------------------------------


def test_importing_the_client_loads_no_server_and_no_store() -> None:
    out = subprocess.run(import_probe_cmd(), env=env_for(Path("/nonexistent")),
                         capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "", f"confida.client imported: {out.stdout}"


def test_the_five_line_quick_start(server: Server) -> None:
    """docs/client.md's quick start, as a user types it (with the test server's address)."""
    from confida.client import Client

    client = Client(server.url, server.keys["service"], verify=server.cert)
    rec = client.collect("user-42", "account", "service", {"email": "a@example.org"})
    assert client.get(rec.record_id, purpose="service").data == {"email": "a@example.org"}
    client.close()


def test_the_docs_quick_start_is_five_lines() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "client.md").read_text()
    block = doc.split("```python", 1)[1].split("```", 1)[0]
    lines = [x for x in block.strip().splitlines() if x.strip() and not x.startswith("#")]
    assert len(lines) <= 5, lines
    assert "Client(" in block and ".collect(" in block and ".get(" in block


# --- records -------------------------------------------------------------------------------


def test_collect_get_update_hold(admin: Client, service: Client) -> None:
    s = _subject()
    c = service.collect(s, "account", "service", {**ACCOUNT, "undeclared": 1})
    assert isinstance(c, CollectedOut) and c.kind == "account" and c.dropped_fields == 1
    r = service.get(c.record_id, "service")
    assert isinstance(r, RecordOut) and r.data == ACCOUNT and not r.legal_hold
    u = service.update(c.record_id, {"display_name": "J. Doe"}, "service")
    assert u.data["display_name"] == "J. Doe" and u.updated_at >= r.updated_at
    held = admin.set_legal_hold(c.record_id, True, "litigation hold, case 2026-17")
    assert held.legal_hold and held.record_id == c.record_id
    assert admin.get(c.record_id, "service").legal_hold
    assert not admin.set_legal_hold(c.record_id, False, "case closed").legal_hold
    with pytest.raises(errors.AccessDenied) as exc:  # the service role lacks `legal_hold`
        service.set_legal_hold(c.record_id, True, "no")
    assert exc.value.status == 403


def test_collect_many_and_list_with_filters(service: Client) -> None:
    s = _subject()
    out = service.collect_many([
        {"subject": s, "kind": "account", "purpose": "service", "data": ACCOUNT},
        {"subject": s, "kind": "conversation_message", "purpose": "service", "data": MSG},
        {"subject": s, "kind": "conversation_message", "purpose": "safety", "data": MSG},
    ])
    assert [o.kind for o in out] == ["account", "conversation_message", "conversation_message"]
    every = list(service.list_records(s, "service"))  # what the purpose service may list
    assert all(isinstance(m, RecordMetaOut) for m in every)
    assert {m.id for m in every} == {out[0].record_id, out[1].record_id}
    msgs = list(service.list_records(s, "safety", kind="conversation_message"))
    assert len(msgs) == 2
    assert [m.id for m in service.list_records(s, "safety", collected_for="safety")] == [
        out[2].record_id]


class _Counting(httpx.HTTPTransport):
    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.queries: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.queries.append(request.url.query.decode())
        return super().handle_request(request)


def test_list_records_follows_cursors_lazily(server: Server, service: Client) -> None:
    s = _subject()
    ids = [c.record_id for c in service.collect_many(
        [{"subject": s, "kind": "conversation_message", "purpose": "service",
          "data": {**MSG, "conversation_id": f"c-{i}"}} for i in range(7)])]
    ctx = ssl.create_default_context(cafile=str(server.cert))
    transport = _Counting(verify=ctx)
    with Client(server.url, server.keys["service"], transport=transport) as c:
        it = c.list_records(s, "service", page_size=2)
        assert transport.queries == []  # nothing is fetched before the iteration starts
        first = [next(it), next(it)]
        assert len(transport.queries) == 1
        rest = list(it)
    got = first + rest
    assert sorted(m.id for m in got) == sorted(ids)  # one batch: same time, then by id
    assert [(m.created_at, m.id) for m in got] == sorted((m.created_at, m.id) for m in got)
    assert len(transport.queries) == 4  # 2 + 2 + 2 + 1
    assert all("limit=2" in q for q in transport.queries)
    assert ["cursor=" in q for q in transport.queries] == [False, True, True, True]


# --- consents ------------------------------------------------------------------------------


def test_consents_grant_and_withdraw(service: Client) -> None:
    s = _subject()
    with pytest.raises(errors.ConsentRequired) as exc:
        service.collect(s, "conversation_message", "model_training", MSG)
    assert exc.value.status == 403 and exc.value.code == "consent-required"
    assert exc.value.problem["type"] == "https://confida.dev/problems/consent-required"
    g = service.grant_consent(s, "model_training", notice_version="2026-01")
    assert g.action == "grant" and g.source == "api" and g.notice_version == "2026-01"
    rec = service.collect(s, "conversation_message", "model_training", MSG)
    cons = service.consents(s, "service")
    assert isinstance(cons, ConsentsOut) and cons.current["model_training"].granted
    w = service.withdraw_consent(s, "model_training")
    assert w.action == "withdraw"
    assert not service.consents(s, "service").current["model_training"].granted
    with pytest.raises(errors.ConsentRequired):  # a withdrawal applies to the very next read
        service.get(rec.record_id, "model_training")


# --- rights, requests, the erasure feed -------------------------------------------------------


def test_access_export_is_checked_and_opens(service: Client) -> None:
    s = _subject()
    service.collect(s, "account", "service", ACCOUNT)
    ex = service.access_export(s, VERIFIED, request_id=f"acc-{uuid.uuid4().hex[:8]}")
    assert isinstance(ex, AccessExport)
    assert ex.sha256 == hashlib.sha256(ex.zip).hexdigest() and ex.request_id
    names = zipfile.ZipFile(io.BytesIO(ex.zip)).namelist()
    assert names
    port = service.access_export(s, VERIFIED, portability=True)
    assert zipfile.ZipFile(io.BytesIO(port.zip)).namelist()


def test_rectify_restrict_object_erase(server: Server, admin: Client,
                                       service: Client) -> None:
    s = _subject()
    acc = service.collect(s, "account", "service", ACCOUNT)
    msg = service.collect(s, "conversation_message", "safety", MSG)
    r = service.rectify(s, acc.record_id, {"display_name": "Jane Roe"}, VERIFIED)
    assert isinstance(r, RequestOut) and r.type == "rectification" and r.subject != s
    assert service.get(acc.record_id, "service").data["display_name"] == "Jane Roe"

    rid = f"obj-{uuid.uuid4().hex[:8]}"
    o = service.object_to(s, "safety", VERIFIED, request_id=rid)
    assert o.type == "objection"
    with pytest.raises(errors.ObjectionRecorded):
        service.get(msg.record_id, "safety")
    with pytest.raises(errors.RequestConflict) as conflict:  # the same id, another request
        service.restrict(s, VERIFIED, request_id=rid)
    assert conflict.value.status == 409

    assert service.restrict(s, VERIFIED).type == "restriction"
    with pytest.raises(errors.SubjectRestricted) as restricted:
        service.get(acc.record_id, "service")
    assert restricted.value.status == 409
    service.restrict(s, VERIFIED, lift=True)
    assert service.get(acc.record_id, "service").data["email"] == ACCOUNT["email"]

    token = service.subject_token(s).token  # issued before the erasure
    e = service.erase(s, VERIFIED)
    assert isinstance(e, ErasureOut) and e.records == 2 and e.request.type == "erasure"
    with pytest.raises(errors.NotFound):  # the records are gone
        service.get(acc.record_id, "service")
    with Client(server.url, token, verify=server.cert) as me:
        assert list(me.my_records()) == []
        with pytest.raises(errors.SubjectErased) as gone:
            me.set_my_consent("model_training", "grant")
    assert gone.value.status == 410
    again = service.collect(s, "account", "service", ACCOUNT)  # the id is free: a new person
    assert [m.id for m in service.list_records(s, "service")] == [again.record_id]

    mine = [q for q in admin.requests(page_size=1) if q.subject == r.subject]
    assert {q.type for q in mine} >= {"rectification", "objection", "restriction", "erasure"}
    assert all(isinstance(q, RequestOut) for q in admin.requests(overdue=True))
    closed = list(admin.requests(status="completed", page_size=2))
    assert closed and all(q.status == "completed" for q in closed)
    notices = list(admin.erasure_notices(page_size=1))
    assert e.notice_id in {n.id for n in notices}
    later = list(admin.erasure_notices(since=notices[-1].id))
    assert later == []


def test_a_registered_reference_comes_back_in_the_erasure_notice(service: Client) -> None:
    s = _subject()
    service.collect(s, "account", "service", ACCOUNT)
    ref = service.register_reference(s, "chat-cache", "u_7c1e")
    assert ref.created and not service.register_reference(s, "chat-cache", "u_7c1e").created
    with pytest.raises(errors.BadInput):  # the subject id itself would name the person
        service.register_reference(s, "chat-cache", s)
    with pytest.raises(errors.NotFound):
        service.register_reference(_subject(), "chat-cache", "u_none")
    e = service.erase(s, VERIFIED)
    notice = next(n for n in service.erasure_notices(since=e.notice_id - 1))
    assert notice.references == [{"system": "chat-cache", "reference": "u_7c1e"}]


# --- audit, PII, tokens, meta --------------------------------------------------------------


def test_audit_checkpoint_and_proofs(admin: Client, server: Server, service: Client) -> None:
    from confida.audit import verify_consistency, verify_inclusion

    note = admin.latest_checkpoint()
    origin, size, root = note.splitlines()[:3]
    assert origin == server.config.audit_origin and "\n\n— " in note
    n = int(size)
    p = admin.inclusion_proof(0, n)
    verify_inclusion(base64.b64decode(p.leaf_hash), 0, n,
                     [base64.b64decode(x) for x in p.proof], base64.b64decode(p.root))
    assert p.root == root
    q = admin.consistency_proof(1, 5)
    verify_consistency(1, 5, base64.b64decode(q.first_root), base64.b64decode(q.second_root),
                       [base64.b64decode(x) for x in q.proof])
    with pytest.raises(errors.AccessDenied):  # the service role may not read the log
        service.latest_checkpoint()
    with pytest.raises(errors.BadInput):  # a proof that cannot exist
        admin.inclusion_proof(10**9, 10**9 + 1)


def test_scan_and_redact(service: Client) -> None:
    text = "Write to jane.doe@example.org or call +49 30 1234567"
    found = service.scan(text)
    assert found.summary.get("EMAIL") == 1
    assert any(text[f.start:f.end] == "jane.doe@example.org" for f in found.findings)
    red = service.redact(text)
    assert "jane.doe@example.org" not in red.text and red.replaced >= 1
    kept = service.redact(text, policy={"default": "keep", "EMAIL": "replace"})
    assert "+49 30 1234567" in kept.text and "jane.doe" not in kept.text


def test_subject_token_and_my_view(server: Server, service: Client) -> None:
    s = _subject()
    rec = service.collect(s, "account", "service", ACCOUNT)
    tok = service.subject_token(s, minutes=5)
    assert tok.token.startswith("cst_") and tok.expires_at > datetime.now(UTC)
    with Client(server.url, tok.token, verify=server.cert) as me:
        assert [m.id for m in me.my_records(page_size=1)] == [rec.record_id]
        ev = me.set_my_consent("model_training", "grant")
        assert ev.source == "web" and ev.action == "grant"
        assert me.my_consents().current["model_training"].granted
        with pytest.raises(errors.ConfidaError) as exc:  # the token opens /v1/me only
            me.get(rec.record_id, "service")
        assert exc.value.status in (401, 403)
    link = service.privacy_link(s, minutes=2)
    assert "/privacy/enter?token=" in link.url
    assert service.subject_token(s, use="link").token


def test_register_health_ready(service: Client, server: Server) -> None:
    reg = service.register()
    assert "purposes" in reg and "service" in reg["purposes"]
    assert service.health()["status"] == "ok"
    assert service.ready()["status"] == "ready"
    with Client(server.url, verify=server.cert) as anonymous:  # probes need no credential
        assert anonymous.health()["status"] == "ok"


# --- errors --------------------------------------------------------------------------------


def test_refusals_raise_the_core_classes(server: Server, service: Client) -> None:
    with Client(server.url, "cfk_AAAAAAAA_" + "x" * 43, verify=server.cert) as bad:
        with pytest.raises(errors.Unauthenticated) as unauth:
            bad.register()
    assert unauth.value.status == 401 and unauth.value.problem["status"] == 401
    with Client(server.url, server.keys["support"], verify=server.cert) as support:
        with pytest.raises(errors.AccessDenied) as denied:  # support may not collect
            support.collect(_subject(), "account", "service", ACCOUNT)
    assert denied.value.status == 403 and str(denied.value) == denied.value.problem["detail"]
    with pytest.raises(errors.NotFound) as missing:
        service.get(str(uuid.uuid4()), "service")
    assert missing.value.status == 404
    with pytest.raises(errors.UnknownKind) as kind:
        service.collect(_subject(), "no_such_kind", "service", {})
    assert kind.value.status == 422 and kind.value.code == "unknown-kind"
    with pytest.raises(errors.BadInput) as invalid:  # refused by the schema: invalid-request
        service.collect(_subject(), "Not A Kind", "service", {})
    assert type(invalid.value) is errors.BadInput and invalid.value.code == "invalid-request"
    assert invalid.value.status == 422 and invalid.value.problem["errors"]
    with pytest.raises(errors.ConsentRequired):
        service.collect(_subject(), "conversation_message", "model_training", MSG)


def test_an_untrusted_certificate_fails_at_once(server: Server) -> None:
    with Client(server.url, server.keys["service"], retries=3) as c:  # system CAs only
        c._sleep = lambda s: pytest.fail("a refused certificate must not be retried")
        with pytest.raises(ConnectionFailed) as exc:
            c.health()
    assert isinstance(exc.value.__cause__, httpx.ConnectError) and exc.value.status is None
    ctx = ssl.create_default_context(cafile=str(server.cert))
    with Client(server.url, verify=ctx) as c:
        assert c.health()["status"] == "ok"
    with Client(server.url, verify=False) as c:
        assert c.health()["status"] == "ok"


def test_every_core_code_maps_to_its_own_class() -> None:
    """The codes of confida.errors are unique and each maps back to its class; core errors
    elsewhere (never sent by the API) have codes of their own too."""
    import confida.backup
    import confida.crypto.keystore
    import confida.permissions
    import confida.web.ports  # noqa: F401

    everything: list[type[errors.ConfidaError]] = []
    todo = [errors.ConfidaError]
    while todo:
        cls = todo.pop()
        everything.append(cls)
        todo += cls.__subclasses__()
    core = [c for c in everything if c.__module__ == "confida.errors"]
    assert len({c.code for c in core}) == len(core)
    for cls in core:
        assert class_for_code(cls.code) is cls
    own = [c for c in everything if "code" in vars(c)]  # a subclass may inherit its code
    codes = [c.code for c in own]
    assert sorted(codes) == sorted(set(codes)), "two error classes declare the same code"
    assert class_for_code("unsafe-permissions") is ApiError
    assert class_for_code("invalid-request") is errors.BadInput
    assert class_for_code("overloaded") is ServerBusy is class_for_code("timeout")
    assert class_for_code("internal-error") is ServerError


def test_the_models_bounds_match_the_core() -> None:
    from confida import api_models, record, subject_token

    assert api_models.MAX_BATCH == record.MAX_BATCH
    assert api_models.MAX_TOKEN_MINUTES == subject_token.MAX_MINUTES


def test_the_openapi_schemas_are_the_shared_models(config: Any) -> None:
    from confida import api_models
    from confida.server.app import create_app

    names = set(create_app(config).openapi()["components"]["schemas"])
    # the checkpoint's JSON form is inlined in its 200 (text/plain is the default answer)
    assert names - {"Problem", "ReadyOut"} == set(api_models.__all__) - {"RightsRequestIn",
                                                                         "CheckpointOut"}


# --- subject ids: a property ---------------------------------------------------------------

#: ids that break naive URL building: separators, escapes, dot segments, route words
AWKWARD = ["a/b", "/", "a//b", "/leading", "trailing/", "%", "%2F", "100%", "%zz", "a b",
           " padded ", "é", "日本語", "emoji 😀", ".", "..", "../x", "a/..", "?q=1#f", "x/records",
           "x/consents", "x/erasure", "+plus", "semi;colon", "a\tb", "a\rb", "a\nb", "nul\x00", "\\"]

def _accepted(s: str) -> bool:
    """What the API takes as a subject id: anything not blank (the core refuses those)."""
    return bool(s.strip())


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(subject=st.one_of(st.sampled_from(AWKWARD),
                         st.text(min_size=1, max_size=60)).filter(_accepted))
@example(subject="a/b%2F c")
def test_any_subject_id_round_trips(service: Client, subject: str) -> None:
    """An erased id is free again (its subject row keeps no reference to it): an id drawn
    twice starts afresh, so each example sees exactly its own record."""
    rec = service.collect(subject, "account", "service", ACCOUNT)
    assert [m.id for m in service.list_records(subject, "service")] == [rec.record_id]
    service.grant_consent(subject, "model_training")
    cons = service.consents(subject, "service")
    assert [h.purpose for h in cons.history] == ["model_training"]
    assert cons.current["model_training"].granted
    e = service.erase(subject, VERIFIED)
    assert e.records == 1 and not e.resumed
    assert list(service.list_records(subject, "service")) == []


def test_a_subject_id_with_a_newline(service: Client) -> None:
    """Collected in the body, then named in a path: the convertor matches every character."""
    s = f"line1\nline2-{uuid.uuid4().hex[:6]}"
    rec = service.collect(s, "account", "service", ACCOUNT)
    assert [m.id for m in service.list_records(s, "service")] == [rec.record_id]
    assert service.erase(s, VERIFIED).records == 1


# --- retries against a real server ------------------------------------------------------------


def test_an_overloaded_server_is_retried_and_nothing_is_stored_twice(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """``[api] max_in_flight = 1``: concurrent collects are refused 503 ``overloaded`` before
    the route runs; without retries they fail, with them every one is stored exactly once."""
    with client_server(tmp_path_factory.mktemp("busy"), max_in_flight=1,
                       rate_per_second=10_000.0, rate_burst=10_000) as srv:
        refused: list[BaseException] = []
        with Client(srv.url, srv.keys["service"], verify=srv.cert, retries=0) as c:
            for _ in range(10):  # until a burst overlaps (the first one nearly always does)
                refused = run_threads(8, lambda i: c.collect(
                    f"burst-{uuid.uuid4().hex[:8]}", "account", "service", ACCOUNT))
                if refused:
                    break
        assert refused and all(isinstance(e, ServerBusy) for e in refused)
        busy = refused[0]
        assert isinstance(busy, ServerBusy)
        assert busy.status == 503 and busy.code == "overloaded"

        subjects = [f"retry-{i}" for i in range(5)]
        sleeps: list[float] = []
        lock = threading.Lock()
        with Client(srv.url, srv.keys["service"], verify=srv.cert, retries=20) as c:
            real_sleep = c._sleep

            def sleep(s: float) -> None:
                with lock:
                    sleeps.append(s)
                real_sleep(s)

            c._sleep = sleep
            assert run_threads(5, lambda i: [c.collect(subjects[i], "account", "service",
                                                       ACCOUNT) for _ in range(2)]) == []
            for s in subjects:
                assert len(list(c.list_records(s, "service"))) == 2
        assert sleeps and min(sleeps) >= 1  # the server's Retry-After: 1 was honoured


# --- the retry rule, in detail (MockTransport) ------------------------------------------------


def _problem(status: int, code: str, retry_after: str | None = "0",
             detail: str = "refused") -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(status, headers=headers, json={
        "type": f"https://confida.dev/problems/{code}", "title": "x", "status": status,
        "detail": detail})


_COLLECTED = {"record_id": "r1", "kind": "account", "purpose": "service",
              "retain_until": "2030-01-01T00:00:00Z", "dropped_fields": 0, "pii_summary": {}}
_RECORD = {"id": "r1", "kind": "account", "purpose": "service",
           "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
           "retain_until": "2030-01-01T00:00:00Z", "pii_summary": {}, "legal_hold": False,
           "data": {}, "withheld_fields": 0}


def _mock(answers: list[httpx.Response | Exception],
          retries: int = 3) -> tuple[Client, list[httpx.Request], list[float]]:
    seen: list[httpx.Request] = []
    sleeps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a

    c = Client("https://confida.test", "cfk_x", transport=httpx.MockTransport(handler),
               retries=retries)
    c._sleep = sleeps.append
    return c, seen, sleeps


def _ok_collect() -> httpx.Response:
    return httpx.Response(201, json=_COLLECTED)


def _ok_get() -> httpx.Response:
    return httpx.Response(200, json=_RECORD)


@pytest.mark.parametrize("code,status", [("overloaded", 503), ("store-unavailable", 503),
                                         ("rate-limited", 429)])
def test_a_post_is_retried_when_refused_before_any_effect(code: str, status: int) -> None:
    c, seen, sleeps = _mock([_problem(status, code), _problem(status, code), _ok_collect()])
    assert c.collect("s", "account", "service", {}).record_id == "r1"
    assert len(seen) == 3 and len(sleeps) == 2
    assert seen[0].content == seen[2].content  # the same request, resent


@pytest.mark.parametrize("code,status", [("timeout", 503), ("key-unavailable", 503),
                                         ("privacy-budget-exceeded", 429),
                                         ("internal-error", 500), ("access-denied", 403)])
def test_a_post_is_not_retried_when_it_may_have_taken_effect(code: str, status: int) -> None:
    c, seen, _ = _mock([_problem(status, code), _ok_collect()])
    with pytest.raises(errors.ConfidaError) as exc:
        c.collect("s", "account", "service", {})
    assert len(seen) == 1 and exc.value.code == code and exc.value.status == status


@pytest.mark.parametrize("code", ["timeout", "key-unavailable", "overloaded"])
def test_idempotent_requests_are_retried_on_every_503(code: str) -> None:
    c, seen, _ = _mock([_problem(503, code), _ok_get()])
    assert c.get("r1", "service").id == "r1" and len(seen) == 2
    c, seen, _ = _mock([_problem(503, code, retry_after=None), _ok_get()])
    assert c.update("r1", {"a": 1}, "service").id == "r1" and len(seen) == 2
    assert seen[0].method == "PATCH"


def test_retries_stop_after_the_limit_with_the_last_error() -> None:
    c, seen, sleeps = _mock([_problem(503, "overloaded", retry_after=None)] * 5, retries=2)
    with pytest.raises(ServerBusy):
        c.collect("s", "account", "service", {})
    assert len(seen) == 3 and len(sleeps) == 2
    assert sleeps[1] > 0  # exponential: backoff 0.2 s then 0.4 s, half of it jitter
    c, seen, _ = _mock([_problem(503, "overloaded")], retries=0)
    with pytest.raises(ServerBusy):
        c.collect("s", "account", "service", {})
    assert len(seen) == 1


def test_retry_after_is_honoured_and_capped() -> None:
    c, _, sleeps = _mock([_problem(429, "rate-limited", retry_after="7"), _ok_collect()])
    c.collect("s", "account", "service", {})
    assert 7 <= sleeps[0] <= 7 + _base.BACKOFF_BASE
    c, _, sleeps = _mock([_problem(503, "overloaded", retry_after="86400"), _ok_collect()])
    c.collect("s", "account", "service", {})
    assert _base.RETRY_AFTER_CAP <= sleeps[0] <= _base.RETRY_AFTER_CAP + _base.BACKOFF_BASE
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    c, _, sleeps = _mock([_problem(503, "overloaded", retry_after=when), _ok_collect()])
    c.collect("s", "account", "service", {})
    assert 17 <= sleeps[0] <= 20 + _base.BACKOFF_BASE
    with pytest.raises(errors.RateLimited) as exc:
        _mock([_problem(429, "rate-limited", retry_after="9")], retries=0)[0].collect(
            "s", "account", "service", {})
    assert exc.value.retry_after == 9


def test_jitter_spreads_clients_refused_together() -> None:
    import random

    rng = random.Random(1)
    delays = {round(_base.delay(0, 1.0, rng), 6) for _ in range(20)}
    assert len(delays) > 10 and all(1.0 <= d <= 1.0 + _base.BACKOFF_BASE for d in delays)


def test_connection_errors_are_retried_only_when_safe() -> None:
    refused = httpx.ConnectError("connection refused")
    c, seen, _ = _mock([refused, refused, _ok_collect()])  # nothing was sent: safe for POST
    assert c.collect("s", "account", "service", {}).record_id == "r1" and len(seen) == 3
    broken = httpx.ReadError("connection reset")
    c, seen, _ = _mock([broken, _ok_collect()])  # the POST may have been received
    with pytest.raises(ConnectionFailed) as exc:
        c.collect("s/with/id", "account", "service", {})
    assert len(seen) == 1 and exc.value.__cause__ is broken
    assert "s/with/id" not in str(exc.value) and "confida.test" in str(exc.value)
    c, seen, _ = _mock([broken, httpx.ReadTimeout("slow"), _ok_get()])
    assert c.get("r1", "service").id == "r1" and len(seen) == 3


def test_an_answer_that_is_not_a_problem_is_not_echoed() -> None:
    html = "<html><body>upstream secret jane@example.org</body></html>"
    for status, cls in [(502, ServerBusy), (500, ServerError), (404, ApiError),
                        (429, errors.RateLimited)]:
        c, seen, _ = _mock([httpx.Response(status, html=html)], retries=0)
        with pytest.raises(cls) as exc:
            c.get("r1", "service")
        assert "jane" not in str(exc.value) and str(status) in str(exc.value)
        assert exc.value.problem is None and exc.value.status == status
    c, seen, _ = _mock([httpx.Response(503, html=html), _ok_get()])  # a proxy's 503: GET retried
    assert c.get("r1", "service").id == "r1"
    c, seen, _ = _mock([httpx.Response(503, html=html), _ok_collect()])  # ... a POST is not
    with pytest.raises(ServerBusy):
        c.collect("s", "account", "service", {})
    foreign = httpx.Response(403, json={"type": "about:blank", "title": "t", "status": 403,
                                        "detail": "jane@example.org"})
    c, _, _ = _mock([foreign], retries=0)
    with pytest.raises(ApiError) as exc:
        c.get("r1", "service")
    assert "jane" not in str(exc.value)


def test_an_unknown_problem_code_keeps_its_code() -> None:
    c, _, _ = _mock([_problem(409, "something-new", detail="a newer server says no")])
    with pytest.raises(ApiError) as exc:
        c.get("r1", "service")
    assert exc.value.code == "something-new" and str(exc.value) == "a newer server says no"


def test_an_export_that_does_not_match_its_hash_is_refused() -> None:
    blob = b"PK\x03\x04 not really a zip"
    good = hashlib.sha256(blob).hexdigest()
    for header, ok in [(good, True), (good.upper(), True), ("0" * 64, False), (None, False)]:
        headers = {"Confida-Request-Id": "req-1"}
        if header:
            headers["Confida-Sha256"] = header
        c, _, _ = _mock([httpx.Response(200, content=blob, headers=headers)])
        if ok:
            assert c.access_export("s", VERIFIED).zip == blob
        else:
            with pytest.raises(ExportMismatch):
                c.access_export("s", VERIFIED)


def test_paths_and_bodies_on_the_wire() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"items": [], "next": None, "last_id": 0})

    with Client("https://h.test/base/", "k", transport=httpx.MockTransport(handler)) as c:
        for s in ["a/b", "..", ".", "é %"]:
            list(c.list_records(s, "service"))
        list(c.erasure_notices(since=5))
    raw = [r.url.raw_path.decode() for r in sent]
    assert raw[:4] == ["/base/v1/subjects/a%2Fb/records?limit=100",
                       "/base/v1/subjects/%2E%2E/records?limit=100",
                       "/base/v1/subjects/%2E/records?limit=100",
                       "/base/v1/subjects/%C3%A9%20%25/records?limit=100"]
    assert raw[4] == "/base/v1/erasure-feed?since=5&limit=100"
    assert sent[0].headers["authorization"] == "Bearer k"
    assert sent[0].headers["confida-purpose"] == "service"
    assert sent[0].headers["user-agent"].startswith("confida-client/")


def test_bodies_carry_dates_and_unicode(server: Server, service: Client) -> None:
    s = _subject()
    when = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)
    rec = service.collect(s, "conversation_message", "service",
                          {**MSG, "text": "grüße 👋", "created_at": when})
    data = service.get(rec.record_id, "service").data
    assert data["text"] == "grüße 👋" and datetime.fromisoformat(
        data["created_at"].replace("Z", "+00:00")) == when
