"""Webhooks against a real HTTP receiver on 127.0.0.1, on SQLite and on PostgreSQL.

At-least-once delivery, order per endpoint (head of line), backoff on an injected clock, dead
letters and their retry, signatures that verify, the secret sealed at rest, nothing personal or
secret in the logs, and who may manage endpoints.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from confida import credential, request, webhooks
from confida.clock import utcnow
from confida.errors import AccessDenied, BadInput, KeyUnavailable, NotFound, RequestConflict
from confida.operation import Actor, subject_actor, system_actor
from confida.rights import erasure_feed
from confida.server.app import create_app
from confida.server.webhook_task import WebhookTask
from confida.store.schema import audit_tables, webhook_delivery, webhook_endpoint
from confida.vault import Vault
from confida.webhooks import delivery, endpoints, signing
from tests.actors import ADMIN
from tests.webhook_support import RESPONSE_BODY, Receiver, erase, overdue_request, receiving

FAST = 0.3  # the client's timeout in these tests; a "slow" answer takes longer


@pytest.fixture
def receiver() -> Receiver:
    with receiving(slow_seconds=FAST * 3) as r:
        yield r


def _add(vault: Vault, receiver: Receiver, events: str = "erasure", **kw: object
         ) -> webhooks.NewEndpoint:
    return webhooks.add(vault, receiver.url, events, actor=ADMIN, **kw)  # type: ignore[arg-type]


def _run(vault: Vault, now=None, **kw: object) -> webhooks.DeliveryRun:  # type: ignore[no-untyped-def]
    return webhooks.deliver_due(vault, actor=ADMIN, now=now, timeout=FAST, **kw)  # type: ignore[arg-type]


def _rows(vault: Vault) -> list:  # type: ignore[type-arg]
    with vault.engine.connect() as conn:
        return list(conn.execute(select(webhook_delivery).order_by(webhook_delivery.c.id)))


# --- events --------------------------------------------------------------------------------


def test_an_erasure_is_pushed_signed_with_the_feeds_data(vault, receiver):
    before = erase(vault, "old-user")  # before the endpoint: not pushed by default
    new = _add(vault, receiver)
    assert new.secret.startswith("whsec_") and len(base64.b64decode(new.secret[6:])) == 32
    notice = erase(vault, "ada@example.org", reference="ds-1:row-42")
    run = _run(vault)
    assert (run.enqueued, run.delivered) == (1, 1)
    [hit] = receiver.hits
    signing.verify(new.secret, hit.headers, hit.body)  # raises if not genuine
    assert hit.headers["content-type"] == "application/json"
    body = json.loads(hit.body)
    [feed] = [n for n in erasure_feed(vault, before, actor=ADMIN) if n.id == notice]
    assert body["type"] == "erasure"
    assert body["data"] == {"notice_id": notice, "at": delivery.stamp(feed.at),
                            "references": feed.references}
    assert feed.references == [{"system": "training", "reference": "ds-1:row-42"}]
    assert b"ada@example.org" not in hit.body  # it names no subject
    assert _run(vault).attempts == []  # delivered once; nothing new
    assert len(receiver.hits) == 1


def test_a_real_delivery_verifies_with_the_standardwebhooks_package(vault, receiver):
    sw = pytest.importorskip("standardwebhooks")
    new = _add(vault, receiver)
    notice = erase(vault, "gone")
    _run(vault)  # real time: the reference verifier checks the timestamp against its clock
    [hit] = receiver.hits
    assert sw.Webhook(new.secret).verify(hit.body, hit.headers)["data"]["notice_id"] == notice


def test_since_zero_pushes_every_notice_so_far_in_order(vault, receiver):
    first, second = erase(vault, "u1"), erase(vault, "u2")
    _add(vault, receiver, since=0)
    _run(vault)
    assert [json.loads(h.body)["data"]["notice_id"] for h in receiver.hits] == [first, second]


def test_an_overdue_request_is_pushed_once_with_the_pseudonym(vault, receiver):
    rid = overdue_request(vault, "late@example.org")
    new = _add(vault, receiver, "request.overdue")
    assert _run(vault).delivered == 1
    assert _run(vault).attempts == [] and webhooks.enqueue(vault, actor=ADMIN) == 0
    [hit] = receiver.hits
    signing.verify(new.secret, hit.headers, hit.body)
    req = request.get(vault, rid, actor=ADMIN)
    data = json.loads(hit.body)["data"]
    assert data == {"request_id": rid, "type": "rectification",
                    "due_at": delivery.stamp(req.due_at), "subject": req.subject}
    assert b"late@example.org" not in hit.body
    # extended, and past its new deadline: a new event, pushed once more
    request.extend(vault, rid, 1, "complex case", actor=ADMIN)
    later = utcnow() + timedelta(days=20)
    assert _run(vault, now=later).delivered == 1
    assert _run(vault, now=later).attempts == []
    assert len(receiver.hits) == 2
    # an answered request is not overdue
    rid2 = overdue_request(vault, "late2@example.org")
    request.complete(vault, rid2, actor=ADMIN)
    assert _run(vault, now=later).attempts == []


def test_an_endpoint_gets_only_its_events(vault, receiver):
    overdue_request(vault, "late@example.org")
    _add(vault, receiver, "erasure")
    erase(vault, "gone")
    _run(vault)
    assert [json.loads(h.body)["type"] for h in receiver.hits] == ["erasure"]


# --- delivery guarantees -------------------------------------------------------------------


def test_failures_back_off_then_recover_in_order(vault, receiver):
    _add(vault, receiver)
    notices = [erase(vault, "first"), erase(vault, "second")]
    receiver.then("fail", "slow")
    t0 = utcnow()
    run = _run(vault, now=t0)
    assert [(a.status, a.error) for a in run.attempts] == [("pending", "HTTP 500")]
    first, second = _rows(vault)
    assert first.attempts == 1 and first.last_error == "HTTP 500"
    assert t0 + timedelta(seconds=5) <= first.next_attempt_at <= t0 + timedelta(seconds=6)
    # head of line: the second waits behind the first, even though it is due
    assert second.attempts == 0 and len(receiver.hits) == 1
    assert _run(vault, now=t0 + timedelta(seconds=4)).attempts == []  # not due yet
    t1 = t0 + timedelta(seconds=6)
    run = _run(vault, now=t1)
    assert [(a.status, a.error) for a in run.attempts] == [("pending", "timeout")]
    first = _rows(vault)[0]
    assert t1 + timedelta(seconds=30) <= first.next_attempt_at <= t1 + timedelta(seconds=36)
    run = _run(vault, now=t1 + timedelta(seconds=40))
    assert [a.status for a in run.attempts] == ["delivered", "delivered"]
    ids = receiver.ids()
    assert ids[0] == ids[1] == ids[2] != ids[3]  # the same webhook-id on every retry
    assert receiver.hits[0].body == receiver.hits[2].body  # the same bytes on every attempt
    assert [json.loads(h.body)["data"]["notice_id"] for h in receiver.hits[2:]] == notices
    assert [r.status for r in _rows(vault)] == ["delivered", "delivered"]


def test_dead_letter_after_max_attempts_then_retry(vault, receiver):
    _add(vault, receiver)
    erase(vault, "first")
    erase(vault, "second")
    receiver.default = "fail"
    t = utcnow()
    for _ in range(3):
        _run(vault, now=t, max_attempts=3)
        t += timedelta(hours=5)  # past any backoff
    first, second = _rows(vault)
    assert (first.status, first.attempts, first.last_error) == ("dead", 3, "HTTP 500")
    assert second.attempts == 1  # the dead letter no longer blocks the endpoint
    [dead] = webhooks.deliveries(vault, status="dead", actor=ADMIN)
    assert (dead.id, dead.event_type, dead.attempts) == (first.id, "erasure", 3)
    with pytest.raises(RequestConflict):
        webhooks.retry(vault, second.id, actor=ADMIN)  # only a dead letter is retried
    with pytest.raises(NotFound):
        webhooks.retry(vault, 99999, actor=ADMIN)
    receiver.default = "ok"
    again = webhooks.retry(vault, first.id, actor=ADMIN)
    assert (again.status, again.attempts) == ("pending", 0)
    run = _run(vault, now=t)
    # the retried one goes first (it keeps its place), then the other
    assert [a.delivery_id for a in run.attempts] == [first.id, second.id]
    assert webhooks.deliveries(vault, status="dead", actor=ADMIN) == []


def test_a_delivery_in_flight_is_not_sent_by_a_second_runner(vault, receiver):
    """Two runners at once (the server's thread and a cron `deliver`): the claimed delivery
    is sent once, and the endpoint's next one waits behind it."""
    _add(vault, receiver)
    erase(vault, "first")
    erase(vault, "second")
    receiver.then("slow")
    slow = threading.Thread(target=lambda: webhooks.deliver_due(
        vault, actor=ADMIN, timeout=FAST * 10))
    slow.start()
    deadline = time.monotonic() + 5
    while not receiver.hits and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _run(vault).attempts == []  # the first is claimed; the second waits behind it
    slow.join()
    assert len(receiver.hits) == 2
    assert [r.status for r in _rows(vault)] == ["delivered", "delivered"]


def test_a_crashed_send_is_sent_again_once_its_claim_expires(vault, receiver):
    _add(vault, receiver)
    erase(vault, "first")
    t = utcnow()
    with vault.engine.begin() as conn:  # a runner claimed it, then died before recording
        delivery._enqueue_in(conn, t)
        [row] = delivery._due_heads(conn, t)
        assert delivery._claim(vault, conn, row, t, FAST) is not None
    assert _run(vault, now=t + timedelta(seconds=5)).attempts == []
    run = _run(vault, now=t + timedelta(seconds=FAST + delivery.LEASE_MARGIN_SECONDS + 1))
    assert [(a.attempt, a.status) for a in run.attempts] == [(2, "delivered")]


def test_endpoints_are_served_side_by_side(vault):
    with receiving() as a, receiving() as b:
        webhooks.add(vault, a.url, "erasure", actor=ADMIN)
        webhooks.add(vault, b.url, "erasure", actor=ADMIN)
        erase(vault, "gone")
        a.default = "fail"  # one failing receiver does not hold the other up
        run = _run(vault)
        assert sorted(x.status for x in run.attempts) == ["delivered", "pending"]
        assert len(a.hits) == len(b.hits) == 1


def test_backoff_grows_is_capped_and_jittered():
    waits = [delivery.backoff(n, rand=lambda: 0.0).total_seconds() for n in range(1, 12)]
    assert waits[:3] == [5, 30, 120] and waits == sorted(waits)
    assert max(waits) == delivery.BACKOFF_SECONDS[-1]
    assert delivery.backoff(1, rand=lambda: 1.0).total_seconds() == 5 * (1 + delivery.JITTER)


def test_a_refused_connection_is_a_short_reason(vault):
    with receiving() as r:
        url = r.url
    webhooks.add(vault, url, "erasure", actor=ADMIN)  # nothing listens there any more
    erase(vault, "gone")
    [a] = _run(vault).attempts
    assert (a.status, a.error) == ("pending", "connection failed")


# --- secrets, logs ---------------------------------------------------------------------------


def test_the_secret_is_sealed_at_rest_and_bound_to_its_endpoint(vault, receiver, backend):
    new = _add(vault, receiver)
    other = _add(vault, receiver)
    raw = base64.b64decode(new.secret.removeprefix("whsec_"))
    with vault.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(webhook_endpoint))}
        dump = repr([tuple(r) for r in rows.values()]).encode()
    assert raw not in bytes(rows[new.endpoint.id].secret_sealed)
    assert new.secret.encode() not in dump and new.secret[6:].encode() not in dump
    if backend == "sqlite":
        db = vault.config.database_url.removeprefix("sqlite:///")
        for suffix in ("", "-wal"):
            try:
                data = open(db + suffix, "rb").read()  # noqa: PTH123, SIM115
            except FileNotFoundError:
                continue
            assert raw not in data and new.secret[6:].encode() not in data
    assert endpoints.open_secret(vault, new.endpoint.id,
                                 rows[new.endpoint.id].secret_sealed) == raw
    with pytest.raises(KeyUnavailable):  # moved onto another endpoint, it does not open
        endpoints.open_secret(vault, other.endpoint.id, rows[new.endpoint.id].secret_sealed)


def test_no_payload_secret_or_response_in_logs_or_audit(vault, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    new = _add(vault, receiver, "erasure,request.overdue")
    overdue_request(vault, "late@example.org")
    erase(vault, "gone@example.org", reference="ds-9:row-secret-ref")
    receiver.then("fail", "slow")
    t = utcnow()
    for step in range(4):
        _run(vault, now=t + timedelta(hours=step), max_attempts=2)
    assert len(receiver.hits) >= 3
    assert "HTTP 500" in caplog.text and "timeout" in caplog.text  # the reasons are logged
    with vault.engine.connect() as conn:
        audit = "\n".join(r.entry for r in conn.execute(select(audit_tables.entry.c.entry)))
    raw_b64 = new.secret.removeprefix("whsec_")
    # httpx itself logs the request line (URL included; the server's log redaction drops its
    # query); Confida's own lines name the delivery, the endpoint and a reason, not the URL
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("confida"))
    assert "webhook delivery" in ours and "t0k3n" not in ours and "127.0.0.1" not in ours
    for text in (caplog.text, audit):
        for needle in (raw_b64, "row-secret-ref", "notice_id", "late@example.org",
                       "gone@example.org", RESPONSE_BODY.decode()):
            assert needle not in text, needle
        for hit in receiver.hits:
            assert hit.headers["webhook-signature"].split(",")[1] not in text
    assert "t0k3n" not in audit
    assert "webhooks.attempt" in audit


# --- managing endpoints ----------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://example.org/hook",  # plain http off the host
    "ftp://127.0.0.1/x",
    "https://user:pw@example.org/hook",  # credentials in the URL
    "https:///nohost",
    "https://exa mple.org/",
    "https://example.org/\\@evil.test",
    "https://example.org/#frag",
    "http://10.0.0.1/hook",
    "http://127.0.0.1.example.org/hook",
    "https://example.org:99999/",
    "",
    "https://example.org/" + "a" * 2100,
])
def test_bad_urls_are_refused(vault, url):
    with pytest.raises(BadInput):
        webhooks.add(vault, url, "erasure", actor=ADMIN)


@pytest.mark.parametrize("url", [
    "https://example.org/hook", "http://127.0.0.1:8080/x", "http://localhost/x",
    "http://[::1]:9000/x", "https://10.1.2.3/x",
])
def test_good_urls_are_taken(vault, url):
    assert webhooks.add(vault, url, ["erasure"], actor=ADMIN).endpoint.url == url


@pytest.mark.parametrize("events", ["", "erasure,nope", [], ["request.deleted"]])
def test_unknown_events_are_refused(vault, events):
    with pytest.raises(BadInput):
        webhooks.add(vault, "https://example.org/", events, actor=ADMIN)


def test_list_remove_and_the_secret_goes_with_the_endpoint(vault, receiver):
    new = _add(vault, receiver, "request.overdue,erasure")
    assert new.endpoint.events == ["erasure", "request.overdue"]
    erase(vault, "gone")
    [ep] = webhooks.list_endpoints(vault, actor=ADMIN)
    assert (ep.id, ep.pending) == (new.endpoint.id, 0)
    webhooks.enqueue(vault, actor=ADMIN)
    [ep] = webhooks.list_endpoints(vault, actor=ADMIN)
    assert ep.pending == 1 and ep.host == receiver.url.split("/")[2]
    webhooks.remove(vault, ep.id, actor=ADMIN)
    assert webhooks.list_endpoints(vault, actor=ADMIN) == []
    [gone] = webhooks.list_endpoints(vault, actor=ADMIN, include_removed=True)
    assert gone.disabled_at is not None
    with vault.engine.connect() as conn:
        assert conn.execute(select(webhook_endpoint.c.secret_sealed)).scalar() is None
    assert _run(vault).attempts == [] and receiver.hits == []
    for bad in (ep.id, "not-an-id"):
        with pytest.raises(NotFound):
            webhooks.remove(vault, bad, actor=ADMIN)


def test_who_may_manage_webhooks(vault):
    url = "https://example.org/hook"
    support = Actor("key-support", "support", "api")  # handles requests, not rights
    service = Actor("key-service", "service", "api")  # rights, but not requests
    dpo = Actor("key-dpo", "dpo", "api")
    for fn in (lambda a: webhooks.add(vault, url, "erasure", actor=a),
               lambda a: webhooks.list_endpoints(vault, actor=a),
               lambda a: webhooks.deliveries(vault, actor=a),
               lambda a: webhooks.deliver_due(vault, actor=a),
               lambda a: webhooks.overview(vault, actor=a)):
        for actor in (support, subject_actor("s-1", "tok"), Actor("anon", None, "api")):
            with pytest.raises(AccessDenied):
                fn(actor)
    webhooks.add(vault, url, "erasure", actor=service)
    with pytest.raises(AccessDenied):  # its deliveries name requests and their deadlines
        webhooks.add(vault, url, "request.overdue", actor=service)
    webhooks.add(vault, url, "erasure,request.overdue", actor=dpo)
    webhooks.deliver_due(vault, actor=system_actor("webhooks"))
    with vault.engine.connect() as conn:
        entries = [json.loads(e) for e in conn.execute(select(audit_tables.entry.c.entry))
                   .scalars()]
    denied = [e for e in entries if e["action"] == "webhooks.add" and e["outcome"] == "denied"]
    assert any(e["details"]["authz"]["rule"] == "role:support:action" for e in denied)
    assert any(e["details"]["authz"]["rule"] == "role:service:action" for e in denied)


def test_has_work_reads_without_an_audit_entry(vault, receiver):
    def entries() -> int:
        with vault.engine.connect() as conn:
            return len(conn.execute(select(audit_tables.entry.c.idx)).all())

    erase(vault, "before")
    n = entries()
    assert not delivery.has_work(vault)  # no endpoint
    _add(vault, receiver)
    n = entries()
    assert not delivery.has_work(vault) and entries() == n
    erase(vault, "gone")
    assert delivery.has_work(vault)
    _run(vault)
    assert not delivery.has_work(vault)
    overdue_request(vault, "late@example.org")
    assert not delivery.has_work(vault)  # this endpoint takes erasures only
    _add(vault, receiver, "request.overdue")
    assert delivery.has_work(vault)
    receiver.default = "fail"
    t = utcnow()
    _run(vault, now=t)
    assert not delivery.has_work(vault, now=t + timedelta(seconds=1))  # backing off
    assert delivery.has_work(vault, now=t + timedelta(seconds=7))


# --- the server's runner -------------------------------------------------------------------


def test_the_runner_delivers_and_reports_health(config, vault, receiver):
    new = _add(vault, receiver)
    erase(vault, "gone")
    task = WebhookTask(config, every_seconds=0.05, timeout=FAST)
    assert task.health() == (False, "not started")
    task.start()
    try:
        deadline = time.monotonic() + 10
        while not receiver.hits and time.monotonic() < deadline:
            time.sleep(0.05)
        assert task.health() == (True, "ok")
    finally:
        task.stop()
    [hit] = receiver.hits
    signing.verify(new.secret, hit.headers, hit.body)
    with vault.engine.connect() as conn:
        actors = {json.loads(e)["actor"] for e in conn.execute(
            select(audit_tables.entry.c.entry)).scalars()}
    assert "system:webhooks" in actors


def test_a_failing_run_shows_in_health_and_recovers(config, vault):
    calls = {"n": 0}

    def flaky(cfg):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyUnavailable("the KEK file is missing")
        return Vault.open(cfg)

    task = WebhookTask(config, every_seconds=60, open_vault=flaky)
    task.run_once()
    assert (task.errors, task.last_error) == (1, "KeyUnavailable")
    task.run_once()  # the next tick opens the vault afresh
    assert (task.errors, task.last_error) == (1, None)

    def broken(cfg):  # type: ignore[no-untyped-def]
        raise KeyUnavailable("the KEK file is missing")

    task = WebhookTask(config, every_seconds=0.05, open_vault=broken).start()
    try:
        deadline = time.monotonic() + 5
        while task.errors < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert task.health() == (False, "failing (KeyUnavailable)")
    finally:
        task.stop()
    assert task.health() == (False, "failing (KeyUnavailable)")


def test_serve_runs_the_webhook_task_and_stops_it(config, monkeypatch):
    """The network server itself is the boundary replaced here: its ``run`` returns at once."""
    import uvicorn

    from confida.server import webhook_task as wt
    from confida.server.run import run_server

    started: list[WebhookTask] = []
    real_start = wt.WebhookTask.start

    def spy(self):  # type: ignore[no-untyped-def]
        started.append(self)
        return real_start(self)

    monkeypatch.setattr(wt.WebhookTask, "start", spy)
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: None)
    run_server(config, host="127.0.0.1", port=0, insecure_http=True)
    [task] = started
    assert not task._thread.is_alive() and task.errors == 0


# --- the console -----------------------------------------------------------------------------


def test_console_lists_endpoints_and_dead_letters(config, vault, receiver):
    import re

    _add(vault, receiver)
    erase(vault, "gone")
    receiver.default = "fail"
    _run(vault, max_attempts=1)
    dpo = credential.create(vault, "dpo", actor=ADMIN).key
    support = credential.create(vault, "support", actor=ADMIN).key
    app = create_app(config)
    try:
        with TestClient(app, base_url="https://testserver") as client:
            def sign_in(key: str) -> None:
                page = client.get("/console/login")
                token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
                r = client.post("/console/login", data={"api_key": key, "csrf": token},
                                follow_redirects=False)
                assert r.status_code == 303

            sign_in(dpo)
            r = client.get("/console/webhooks")
            assert r.status_code == 200
            host = receiver.url.split("/")[2]
            assert host in r.text and "t0k3n" not in r.text  # the host only, not the path
            assert "HTTP 500" in r.text and 'href="/console/webhooks"' in r.text
            assert "<script>" not in r.text and "style=" not in r.text
            assert "unsafe-inline" not in r.headers["content-security-policy"]
            assert "Unzustellbare" in client.get(
                "/console/webhooks", headers={"Accept-Language": "de"}).text
            client.post("/console/signout", data={
                "csrf": re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)})
            sign_in(support)  # may handle requests, not rights
            assert client.get("/console/webhooks").status_code == 403
    finally:
        app.state.web.close()


def test_dead_letters_clear_from_the_page_after_retry(vault, receiver):
    _add(vault, receiver)
    erase(vault, "gone")
    receiver.default = "fail"
    _run(vault, max_attempts=1)
    [dead] = webhooks.overview(vault, actor=ADMIN).dead
    receiver.default = "ok"
    webhooks.retry(vault, dead.id, actor=ADMIN)
    _run(vault)
    view = webhooks.overview(vault, actor=ADMIN)
    assert view.dead == [] and view.endpoints[0].delivered == 1


def test_a_removed_endpoints_deliveries_are_not_retried(vault, receiver):
    new = _add(vault, receiver)
    erase(vault, "gone")
    receiver.default = "fail"
    _run(vault, max_attempts=1)
    [dead] = webhooks.deliveries(vault, status="dead", actor=ADMIN)
    webhooks.remove(vault, new.endpoint.id, actor=ADMIN)
    with pytest.raises(NotFound):
        webhooks.retry(vault, dead.id, actor=ADMIN)
    with vault.engine.begin() as conn:  # even if it were pending, nothing signs it any more
        conn.execute(update(webhook_delivery).values(status="pending"))
    assert _run(vault).attempts == []
