"""No personal value in a metric label, a log line or a span attribute.

Real API calls carry planted personal values (an e-mail address, a name, a phone number, and
subject ids made of them) in bodies, paths, query strings and headers, through the whole app:
in process (FastAPI over ASGI, with tracing on and every server logger captured as the JSON
lines production writes), and through a real ``confida serve --workers 2`` (HTTPS, JSON logs,
metrics shared between the worker processes). Then /metrics, every log line and every span are
searched for each planted value, raw and URL-encoded.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from fastapi.testclient import TestClient

from confida.config import ApiSettings
from confida.server.app import create_app
from confida.server.logging import JsonFormatter, RedactingFilter
from tests.apihelp import auth, setup
from tests.serving_support import serve
from tests.test_observability import memory_spans, samples, value

EMAIL = "jane.doe@example.com"
NAME = "Margarethe Quistorp"
PHONE = "+49 151 23456789"
SUBJECT_IDS = (EMAIL, "margarethe.quistorp", "4915123456789")
PLANTED = (EMAIL, NAME, PHONE, *SUBJECT_IDS, "Quistorp")
V = {"verified_by": "session:password+totp"}


def forms(v: str) -> set[str]:
    return {v, quote(v, safe=""), quote(v), quote_plus(v), v.replace(" ", "")}


def leaks(text: str) -> list[str]:
    low = text.lower()
    return sorted({f for v in PLANTED for f in forms(v) if f.lower() in low})


def planted_calls(call: Callable[..., tuple[int, Any]], keys: dict[str, str]) -> list[int]:
    """The same calls for both runs; ``call(method, path, body, headers)``: (status, body)."""
    svc, dpo = auth(keys["service"]), auth(keys["dpo"])
    statuses = []

    def do(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
           ) -> Any:
        status, out = call(method, path, body, headers or {})
        statuses.append(status)
        return out

    for i, sid in enumerate(SUBJECT_IDS):
        enc = quote(sid, safe="@")
        do("POST", "/v1/records", {"subject": sid, "kind": "account", "purpose": "service",
                                   "data": {"email": EMAIL, "display_name": NAME,
                                            "locale": "de-DE", "nickname": PHONE}}, svc)
        out = do("POST", "/v1/records", {
            "subject": sid, "kind": "conversation_message", "purpose": "service",
            "data": {"conversation_id": "c-1", "role": "user",
                     "text": f"I am {NAME}, call me on {PHONE} or write to {EMAIL}"}}, svc)
        rid = out["record_id"] if isinstance(out, dict) and "record_id" in out else "none"
        do("GET", f"/v1/records/{rid}", headers={**svc, "Confida-Purpose": "service"})
        do("GET", f"/v1/subjects/{enc}/records", headers={**svc, "Confida-Purpose": "service"})
        do("GET", f"/v1/subjects/{quote(sid, safe='')}/records?kind=account",
           headers={**svc, "Confida-Purpose": "service"})
        do("GET", f"/v1/subjects/{enc}/records?note={quote_plus(EMAIL)}&who={quote(NAME)}",
           headers={**svc, "Confida-Purpose": "service"})  # unknown query: 400
        do("GET", f"/v1/subjects/{enc}/records")  # no credential: 401
        do("GET", f"/v1/subjects/{enc}/records", headers={**auth(keys["support"]),
                                                          "Confida-Purpose": "safety"})  # 403
        do("POST", f"/v1/subjects/{enc}/consents",
           {"purpose": "model_training", "granted": True, "note": NAME}, svc)
        do("GET", f"/v1/subjects/{enc}/consents", headers=svc)
        do("POST", f"/v1/subjects/{enc}/access-export", {**V, "request_id": f"exp-{i}"}, svc)
        do("POST", "/v1/records", {"subject": sid, "kind": "account", "purpose": "service",
                                   "data": "not an object " + EMAIL}, svc)  # 422
        do("POST", "/v1/records", {"subject": sid, "kind": f"kind-{NAME}",
                                   "purpose": "service", "data": {"email": EMAIL}}, svc)
        do("GET", f"/v1/nowhere/{enc}/{quote(NAME)}", headers={"X-Request-Id": EMAIL})
        do("POST", "/v1/pii/scan", {"text": f"{NAME} {PHONE} {EMAIL}"}, svc)
        do("POST", f"/v1/subjects/{enc}/erasure", V, svc)
        do("POST", f"/v1/subjects/{enc}/erasure", V, svc)  # again: 410 or the same result
    do("GET", "/v1/requests?overdue=true", headers=dpo)
    return statuses


# --- in process ----------------------------------------------------------------------------------


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Every record of the server's loggers, at DEBUG, through the production filter and JSON
    formatter (the handlers ``confida.server.logging.install`` sets up)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    names = ("confida", "fastapi", "uvicorn", "starlette", "sqlalchemy", "opentelemetry")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)


def test_no_planted_value_in_metrics_logs_or_spans(tmp_path: Path, database_url: str) -> None:
    exporter = memory_spans()
    cfg, keys = setup(tmp_path, database_url,
                      api=ApiSettings(tracing=True, rate_per_second=10_000, rate_burst=10_000))
    with captured_logs() as logs, TestClient(create_app(cfg),
                                             raise_server_exceptions=False) as c:
        def call(method: str, path: str, body: Any, headers: dict[str, str]
                 ) -> tuple[int, Any]:
            r = c.request(method, path, json=body, headers=headers)
            try:
                return r.status_code, r.json()
            except ValueError:
                return r.status_code, None

        statuses = planted_calls(call, keys)
        r = c.get("/metrics", headers=auth(keys["dpo"]))
        assert r.status_code == 200
        metrics_text = r.text
    spans = exporter.get_finished_spans()
    span_text = "\n".join(s.to_json() for s in spans)
    log_text = logs.getvalue()
    assert leaks(metrics_text) == []
    assert leaks(span_text) == []
    assert leaks(log_text) == []
    # the calls did what they should: stored, read, refused, erased
    assert {200, 201, 400, 401, 403, 404, 422} <= set(statuses), statuses
    # and were seen: every route they reached is in the metrics, as its template, and each
    # request is a span
    assert 'route="/v1/subjects/{subject_id}/records"' in metrics_text
    assert 'route="/v1/subjects/{subject_id}/erasure"' in metrics_text
    assert len(spans) >= len(statuses)
    assert log_text.count("\n") > 10  # the server's loggers were captured


# --- a real server with two worker processes ------------------------------------------------------


def test_no_planted_value_through_serve_with_two_workers(tmp_path: Path) -> None:
    from confida.tls import create_self_signed
    from tests.conftest import database

    with database(tmp_path) as url:
        cfg, keys = setup(tmp_path, url)
        with (cfg.data_dir / "confida.toml").open("a") as f:
            f.write('\n[api]\nlog_format = "json"\nrate_per_second = 10000.0\n'
                    'rate_burst = 10000\n')
        create_self_signed(cfg.tls_cert, cfg.tls_key)
        with serve(cfg.data_dir, "--workers", "2", cert=cfg.tls_cert) as srv:
            shared = cfg.data_dir / "run" / f"metrics-{srv.proc.pid}"
            assert shared.is_dir() and (shared.stat().st_mode & 0o777) == 0o700

            def call(method: str, path: str, body: Any, headers: dict[str, str]
                     ) -> tuple[int, Any]:
                return srv.request(method, path, body, headers)

            statuses = planted_calls(call, keys)
            assert {200, 201, 400, 401, 403, 404, 422} <= set(statuses), statuses

            # every request on a new connection: the kernel spreads them over both workers,
            # and whichever answers the scrape reports the sum
            def worker_pids() -> set[str]:
                return {m.group(1) for p in shared.iterdir()
                        if (m := re.fullmatch(r"\w+_(\d+)\.db", p.name))}

            n = 0
            while n < 300 and (n < 20 or len(worker_pids()) < 2):
                status, _ = srv.request("GET", "/v1/register", None,
                                        {**auth(keys["service"]), "X-Request-Id": f"sum-{n}"})
                assert status == 200
                n += 1
            assert len(worker_pids()) == 2, "every request went to one worker"
            status, text = srv.request("GET", "/metrics", None, auth(keys["dpo"]))
            assert status == 200
            text = text.decode() if isinstance(text, bytes) else str(text)
            assert leaks(text) == []
            assert value(text, "confida_http_requests_total", method="GET",
                         route="/v1/register", status="200") == n
            assert 'route="/v1/subjects/{subject_id}/records"' in text
            assert samples(text)  # parses as the Prometheus text format
            srv.proc.send_signal(signal.SIGTERM)
            srv.proc.wait(30)
            assert not shared.exists()  # removed when the server stops
        log_text = srv.log_text()
    assert leaks(log_text) == []
    lines = [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]
    access = [d for d in lines if d["logger"] == "uvicorn.access"]
    assert any(d["request_id"] == "sum-0" and d["path"] == "/v1/register" for d in access)
    assert any(d["path"].startswith("/v1/subjects/[subject]/records") for d in access)
    assert all(d["request_id"] for d in access)
    assert os.path.isdir(cfg.data_dir / "run")
