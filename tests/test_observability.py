"""Observability: /metrics, request ids in responses, logs and audit entries, JSON logs, spans.

Everything runs through the real app (FastAPI over ASGI, the store on SQLite or PostgreSQL,
real API keys); spans go to the OpenTelemetry SDK's in-memory exporter. That no personal value
reaches a metric label, a log line or a span is tests/test_observability_scan.py.
"""

from __future__ import annotations

import io
import json
import logging
import os
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from confida import breach, monitoring, record
from confida import request as requests
from confida.audit import reads as audit_reads
from confida.config import ApiSettings, Config
from confida.errors import AccessDenied, BadInput
from confida.operation import Actor, Operation, notify_observers, observers, request_id
from confida.server import metrics, metrics_dir
from confida.server.app import create_app
from confida.server.logging import JsonFormatter, RedactingFilter
from confida.server.run import check_api_limits
from confida.store.engine import snapshot
from confida.vault import Vault
from confida.webhooks import delivery as webhook_delivery
from confida.webhooks import endpoints as webhook_endpoints
from tests.actors import ADMIN
from tests.apihelp import RecordingSink, auth, setup

MSG = {"conversation_id": "c-1", "text": "hello there", "role": "user"}
DPO = Actor(id="test-dpo", role="dpo", source="api")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def entries(cfg: Config) -> list[dict[str, Any]]:
    with Vault.open(cfg) as v, snapshot(v.engine) as conn:
        return list(audit_reads.entries(conn))


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[tuple[TestClient, dict[str, str], Config]]:
    cfg, keys = setup(tmp_path, database_url,
                      api=ApiSettings(rate_per_second=10_000, rate_burst=10_000))
    with TestClient(create_app(cfg), raise_server_exceptions=False) as c:
        yield c, keys, cfg


def scrape(c: TestClient, keys: dict[str, str]) -> str:
    r = c.get("/metrics", headers=auth(keys["dpo"]))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return r.text


# --- /metrics --------------------------------------------------------------------------------


def test_metrics_need_a_role_that_may_audit_and_are_not_in_the_schema(api: Any) -> None:
    c, keys, cfg = api
    assert c.get("/metrics").status_code == 401
    assert c.get("/metrics", headers=auth("cfk_not-a-key")).status_code == 401
    assert c.get("/metrics", headers=auth(keys["service"])).status_code == 403  # no `audit`
    assert c.get("/metrics", headers=auth(keys["admin"])).status_code == 200
    scrape(c, keys)
    assert "/metrics" not in c.get("/openapi.json").json()["paths"]
    reads = [e for e in entries(cfg) if e["action"] == "metrics.read"]
    assert [e["outcome"] for e in reads] == ["denied", "allowed", "allowed"]  # each one audited
    assert reads[-1]["role"] == "dpo" and reads[-1]["details"]["authz"]["decision"] == "allowed"


def test_requests_are_labelled_by_route_template_and_status(api: Any) -> None:
    c, keys, _ = api
    before = scrape(c, keys)
    for sid in ("alice-1", "bob-2"):
        r = c.post("/v1/records", headers=auth(keys["service"]), json={
            "subject": sid, "kind": "conversation_message", "purpose": "service", "data": MSG})
        assert r.status_code == 201
        assert c.get(f"/v1/subjects/{sid}/records",
                     headers=auth(keys["service"], "service")).status_code == 200
    assert c.get("/v1/subjects/carol-3/records").status_code == 401
    assert c.get("/no/such/page/dave-4").status_code == 404
    assert c.get("/static/confida.css").status_code == 200
    text = scrape(c, keys)
    tpl = "/v1/subjects/{subject_id}/records"

    def delta(name: str, **labels: str) -> float:
        return value(text, name, **labels) - value(before, name, **labels)

    assert delta("confida_http_requests_total", method="GET", route=tpl, status="200") == 2
    assert delta("confida_http_requests_total", method="GET", route=tpl, status="401") == 1
    assert delta("confida_http_requests_total", method="POST", route="/v1/records",
                 status="201") == 2
    assert delta("confida_http_requests_total", method="GET", route="unmatched",
                 status="404") == 1
    assert delta("confida_http_requests_total", method="GET", route="/static/{path}",
                 status="200") == 1
    assert delta("confida_http_request_duration_seconds_count", method="GET", route=tpl) == 3
    for sid in ("alice-1", "bob-2", "carol-3", "dave-4"):
        assert sid not in text


def test_an_unknown_method_is_one_label() -> None:
    assert metrics.method_label({"method": "BREW"}) == "other"
    assert metrics.method_label({"method": "GET"}) == "GET"
    assert metrics.route_template({}) == "unmatched"


def test_operations_are_counted_by_action_and_outcome(api: Any) -> None:
    c, keys, _ = api
    before = scrape(c, keys)
    r = c.post("/v1/records", headers=auth(keys["service"]), json={
        "subject": "u-1", "kind": "conversation_message", "purpose": "service", "data": MSG})
    assert r.status_code == 201
    rid = r.json()["record_id"]
    assert c.get(f"/v1/records/{rid}", headers=auth(keys["service"], "service")).status_code == 200
    # support may not read for safety: a denied decision
    assert c.get(f"/v1/records/{rid}", headers=auth(keys["support"], "safety")).status_code == 403
    text = scrape(c, keys)
    for action, outcome, n in (("record.collect", "allowed", 1), ("record.read", "allowed", 1),
                               ("record.read", "denied", 1), ("metrics.read", "allowed", 1)):
        assert (value(text, "confida_operations_total", action=action, outcome=outcome)
                - value(before, "confida_operations_total", action=action, outcome=outcome)
                == n), (action, outcome)


def test_erasure_durations_are_observed(api: Any) -> None:
    c, keys, _ = api
    before = scrape(c, keys)
    for i in range(2):
        assert c.post("/v1/records", headers=auth(keys["service"]), json={
            "subject": f"gone-{i}", "kind": "conversation_message", "purpose": "service",
            "data": MSG}).status_code == 201
        r = c.post(f"/v1/subjects/gone-{i}/erasure", headers=auth(keys["service"]),
                   json={"verified_by": "session:password"})
        assert r.status_code == 200, r.text
    # refused: support may not exercise rights
    r = c.post("/v1/subjects/gone-0/erasure", headers=auth(keys["support"]),
               json={"verified_by": "session:password"})
    assert r.status_code == 403
    text = scrape(c, keys)
    name = "confida_erasure_duration_seconds_count"
    assert value(text, name, outcome="allowed") - value(before, name, outcome="allowed") == 2
    assert value(text, name, outcome="denied") - value(before, name, outcome="denied") == 1
    assert value(text, "confida_erasure_duration_seconds_sum", outcome="allowed") > value(
        before, "confida_erasure_duration_seconds_sum", outcome="allowed")


def test_gauges_follow_the_store(tmp_path: Path, database_url: str) -> None:
    cfg, keys = setup(tmp_path, database_url)
    clock = Clock(datetime(2027, 1, 31, 12, 0, tzinfo=UTC))
    with Vault.open(cfg, clock=clock) as v:
        for sid in ("p1", "p2", "p3"):
            record.collect(v, sid, "conversation_message", MSG, "service", actor=ADMIN)
        requests.submit(v, requests.ACCESS, "p1", "session:password", actor=ADMIN)
        requests.submit(v, requests.ERASURE, "p2", "session:password", actor=ADMIN)
        done = requests.submit(v, requests.ACCESS, "p3", "session:password", actor=ADMIN)
        requests.complete(v, done.id, actor=ADMIN)
        breach.register_breach(v, title="Lost laptop", description="A laptop was stolen",
                               actor=ADMIN)
        clock.now += timedelta(hours=70)
        g = monitoring.gauges(v, actor=DPO)
        assert g.requests_open["access"] == 1 and g.requests_open["erasure"] == 1
        assert sum(g.requests_overdue.values()) == 0
        assert g.breaches_unnotified == 1
        assert g.breach_notification_due_seconds == pytest.approx(2 * 3600)
        assert g.audit_tree_size > 0 and g.checkpoint_tree_size is not None
        assert g.checkpoint_interval_seconds == cfg.checkpoint_every_seconds
        with pytest.raises(AccessDenied):
            monitoring.gauges(v, actor=Actor(id="svc", role="service"))

        clock.now += timedelta(days=40)  # past the one-month deadline
        # a receiver that is down: both overdue requests wait in its backlog
        webhook_endpoints.add(v, "http://127.0.0.1:9/hook", "request.overdue", actor=ADMIN)
        assert webhook_delivery.enqueue(v, actor=ADMIN, now=clock.now) == 2
        app = create_app(cfg)
        app.state.ctx._vault = v  # the clocked vault
        with TestClient(app) as c:
            text = scrape(c, keys)
        assert value(text, "confida_requests_open", type="access") == 1
        assert value(text, "confida_requests_overdue", type="access") == 1
        assert value(text, "confida_requests_overdue", type="erasure") == 1
        assert value(text, "confida_requests_overdue", type="objection") == 0
        assert value(text, "confida_breaches_unnotified") == 1
        assert value(text, "confida_breach_notification_due_seconds") == pytest.approx(
            -(40 * 24 - 2) * 3600)
        assert value(text, "confida_audit_checkpoint_age_seconds") >= 40 * 24 * 3600
        assert value(text, "confida_audit_tree_size") >= value(
            text, "confida_audit_checkpoint_tree_size")
        assert value(text, "confida_webhook_backlog") == 2
        assert value(text, "confida_webhook_dead_letters") == 0


def test_the_multiprocess_dir_is_private_fresh_and_cleaned(tmp_path: Path) -> None:
    cfg = Config(data_dir=tmp_path / "data")
    run = cfg.data_dir / "run"
    run.mkdir(parents=True)
    stale = run / "metrics-999999999"  # a killed server's (no such process)
    stale.mkdir()
    (stale / "counter_1.db").write_bytes(b"x")
    live = run / f"metrics-{os.getppid()}"  # a live process's: left alone
    live.mkdir()
    path = metrics_dir.prepare(cfg)
    assert path == run / f"metrics-{os.getpid()}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o700 and list(path.iterdir()) == []
    assert not stale.exists() and live.exists()
    (path / "counter_1.db").write_bytes(b"x")
    assert metrics_dir.prepare(cfg) == path and list(path.iterdir()) == []  # fresh on start
    metrics_dir.worker_ended(12345, path)
    metrics_dir.remove(path)
    assert not path.exists()
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ  # only the workers set it


# --- operations, observers and request ids in the core -------------------------------------------


def test_operation_observers_see_outcomes_and_never_fail_an_operation(config: Config) -> None:
    seen: list[tuple[str, str]] = []

    def watch(op: Operation, outcome: str, seconds: float) -> None:
        assert seconds >= 0
        seen.append((op.action, outcome))

    def broken(op: Operation, outcome: str, seconds: float) -> None:
        raise RuntimeError("observer bug")

    observers.extend([broken, watch])
    try:
        with Vault.open(config, audit=RecordingSink()) as v:
            rec = record.collect(v, "u1", "conversation_message", MSG, "service", actor=ADMIN)
            record.read(v, rec.record_id, "service", actor=ADMIN)
            with pytest.raises(AccessDenied):
                record.read(v, rec.record_id, "safety", actor=Actor(id="s", role="support"))
    finally:
        observers.remove(broken)
        observers.remove(watch)
    assert seen == [("record.collect", "allowed"), ("record.read", "allowed"),
                    ("record.read", "denied")]
    notify_observers(Operation("x", ADMIN), "allowed")  # with none registered: nothing


def test_the_request_id_is_captured_when_the_operation_is_created(config: Config) -> None:
    sink = RecordingSink()
    with Vault.open(config, audit=sink) as v:
        token = request_id.set("req-1")
        try:
            op = Operation("record.read", ADMIN)
        finally:
            request_id.reset(token)
        assert op.request_id == "req-1" and request_id.get() is None
        with v.operation(op) as (_conn, o):
            o.decision = {"decision": "allowed", "rule": "test"}
        record.collect(v, "u1", "conversation_message", MSG, "service", actor=ADMIN)
    assert sink.entries[0]["details"]["request_id"] == "req-1"
    assert "request_id" not in sink.entries[1]["details"]  # outside a request: none


def test_request_ids_are_echoed_and_in_the_audit_entries(api: Any) -> None:
    c, keys, cfg = api
    r = c.post("/v1/records", headers={**auth(keys["service"]), "X-Request-Id": "req-collect-1"},
               json={"subject": "u-1", "kind": "conversation_message", "purpose": "service",
                     "data": MSG})
    assert r.status_code == 201 and r.headers["x-request-id"] == "req-collect-1"
    rid = r.json()["record_id"]
    generated = c.get("/health").headers["x-request-id"]
    assert len(generated) == 32 and int(generated, 16) >= 0
    for bad in ("jane doe", "a@b.example", "x" * 129, "", "na\u00efve".encode(), "a/b"):
        got = c.get("/health", headers={"X-Request-Id": bad}).headers["x-request-id"]
        assert got != bad and len(got) == 32
    assert c.get("/nowhere", headers={"X-Request-Id": "k-404"}).headers["x-request-id"] == "k-404"
    assert c.get("/v1/records/x", headers={"X-Request-Id": "k-401"}
                 ).headers["x-request-id"] == "k-401"  # refusals carry it too

    # reads go through the group commit, where one thread writes the entries of others: each
    # entry still carries the id of the request that caused it
    ids = [f"read-{i}" for i in range(16)]
    errors: list[str] = []

    def read(i: int) -> None:
        resp = c.get(f"/v1/records/{rid}", headers={**auth(keys["service"], "service"),
                                                    "X-Request-Id": ids[i]})
        if resp.status_code != 200 or resp.headers["x-request-id"] != ids[i]:
            errors.append(f"{resp.status_code} {resp.headers.get('x-request-id')}")

    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(ids))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    log = entries(cfg)
    by_action: dict[str, list[str]] = {}
    for e in log:
        by_action.setdefault(e["action"], []).append(e["details"].get("request_id"))
    assert by_action["record.collect"] == ["req-collect-1"]
    assert sorted(by_action["record.read"]) == sorted(ids)
    assert "k-401" in by_action["auth.authenticate"]


# --- JSON logs -------------------------------------------------------------------------------------


def _record(name: str, msg: str, args: Any) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)


def test_json_lines_carry_the_request_id_and_stay_redacted() -> None:
    flt, fmt = RedactingFilter(), JsonFormatter()
    access = _record("uvicorn.access", '%s - "%s %s HTTP/%s" %d',
                     ("203.0.113.7:5555", "GET", "/v1/subjects/jane.roe@example.org/records?x=1",
                      "1.1", 200))
    token = request_id.set("req-9")
    try:
        assert flt.filter(access)
        line = fmt.format(access)
    finally:
        request_id.reset(token)
    doc = json.loads(line)
    assert "\n" not in line
    assert doc["request_id"] == "req-9" and doc["level"] == "INFO"
    assert doc["logger"] == "uvicorn.access" and doc["status"] == 200
    assert doc["method"] == "GET" and doc["path"] == "/v1/subjects/[subject]/records?[query]"
    assert "jane.roe" not in line and "203.0.113.7" not in line
    assert doc["time"].endswith("Z")

    plain = _record("confida.audit", "mail %s", ("a@b.example",))
    try:
        raise ValueError("secret a@b.example")
    except ValueError:
        import sys

        plain.exc_info = sys.exc_info()
    flt.filter(plain)
    doc = json.loads(fmt.format(plain))
    assert doc["request_id"] is None and "a@b.example" not in json.dumps(doc)
    assert "Traceback" not in doc["message"]


def test_install_json_formats_every_handler() -> None:
    from confida.server.logging import install

    stream = io.StringIO()
    lg = logging.getLogger("confida-test-json")
    handler = logging.StreamHandler(stream)
    lg.addHandler(handler)
    lg.propagate = False
    lg.setLevel(logging.INFO)
    try:
        install(["confida-test-json"], log_format="json")
        lg.info("written by %s", "x@y.example")
    finally:
        lg.removeHandler(handler)
    doc = json.loads(stream.getvalue())
    assert doc["message"].lower() == "written by [email]"
    assert doc["logger"] == "confida-test-json"
    with pytest.raises(ValueError):
        install(["confida-test-json"], log_format="xml")


@pytest.mark.parametrize("field,value", [("log_format", "xml"), ("tracing", "yes")])
def test_bad_observability_settings_are_refused(tmp_path: Path, field: str, value: Any) -> None:
    with pytest.raises(BadInput, match=field):
        check_api_limits(Config(data_dir=tmp_path, api=ApiSettings(**{field: value})))


def test_settings_are_read_from_the_config_file(tmp_path: Path) -> None:
    tmp_path.joinpath("confida.toml").write_text('[api]\nlog_format = "json"\ntracing = true\n')
    cfg = Config.load(tmp_path)
    assert cfg.api.log_format == "json" and cfg.api.tracing is True
    check_api_limits(cfg)


# --- tracing ---------------------------------------------------------------------------------------


def memory_spans() -> Any:
    """An in-memory exporter on the process's tracer provider (set once, shared by tests)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        trace.set_tracer_provider(TracerProvider())
        provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def test_spans_are_named_by_route_template_with_names_only(tmp_path: Path,
                                                           database_url: str) -> None:
    exporter = memory_spans()
    cfg, keys = setup(tmp_path, database_url, api=ApiSettings(tracing=True))
    with TestClient(create_app(cfg), raise_server_exceptions=False) as c:
        assert c.post("/v1/records", headers=auth(keys["service"]), json={
            "subject": "span-subject", "kind": "conversation_message", "purpose": "service",
            "data": MSG}).status_code == 201
        parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        r = c.get("/v1/subjects/span-subject/records?kind=conversation_message",
                  headers={**auth(keys["service"], "service"), "X-Request-Id": "trace-me",
                           "traceparent": parent})
        assert r.status_code == 200
        assert c.get("/missing/span-subject").status_code == 404
    spans = exporter.get_finished_spans()
    # FastAPI's own spans (which hold the concrete path) are off: only ours
    assert {s.instrumentation_scope.name for s in spans} == {"confida.server"}
    by_name = {s.name: s for s in spans}
    assert set(by_name) == {"POST /v1/records", "GET /v1/subjects/{subject_id}/records",
                            "GET unmatched"}
    span = by_name["GET /v1/subjects/{subject_id}/records"]
    from opentelemetry.trace import SpanKind

    assert span.kind == SpanKind.SERVER
    assert dict(span.attributes or {}) == {
        "http.method": "GET", "http.route": "/v1/subjects/{subject_id}/records",
        "http.status_code": 200, "confida.request_id": "trace-me"}
    assert format(span.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert span.parent is not None and format(span.parent.span_id, "016x") == "b7ad6b7169203331"
    assert by_name["GET unmatched"].attributes["http.status_code"] == 404


def test_no_spans_unless_tracing_is_on(tmp_path: Path, database_url: str) -> None:
    exporter = memory_spans()
    cfg, _keys = setup(tmp_path, database_url)
    with TestClient(create_app(cfg)) as c:
        assert c.get("/health").status_code == 200
    assert exporter.get_finished_spans() == ()
