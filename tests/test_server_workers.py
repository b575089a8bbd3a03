"""Production serving: several worker processes on one port, and backpressure.

``confida serve --workers 2`` runs as users run it (a real subprocess, HTTPS, the store on
SQLite and PostgreSQL): both workers answer, records written through one are read through the
other, a killed worker is replaced, SIGTERM stops them all, and a parent killed with SIGKILL
leaves no orphan serving (a restore would otherwise run under it). The in-flight bound answers
503 with Retry-After at once instead of queueing, and never refuses health probes.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from confida.config import ApiSettings, Config
from confida.errors import BadInput
from confida.server.backpressure import InFlightLimit
from confida.server.run import check_api_limits, check_workers, run_server
from confida.server.workers import SharedJobHealth, default_workers
from tests.apihelp import auth, setup
from tests.serving_support import MSG, run_threads, serve

# --- backpressure --------------------------------------------------------------------------------


def _blocking_app(release: asyncio.Event, entered: list[str]) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        entered.append(scope["path"])
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def test_beyond_the_bound_requests_get_503_with_retry_after_at_once() -> None:
    async def scenario() -> tuple[list[httpx.Response], list[str], float, InFlightLimit]:
        release = asyncio.Event()
        entered: list[str] = []
        limited = InFlightLimit(_blocking_app(release, entered), limit=3)
        transport = httpx.ASGITransport(app=limited)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            held = [asyncio.create_task(client.get(f"/v1/x{i}")) for i in range(3)]
            while len(entered) < 3:
                await asyncio.sleep(0.001)
            t0 = time.monotonic()
            refused = await client.get("/v1/extra")
            waited = time.monotonic() - t0
            probe = asyncio.create_task(client.get("/health"))  # exempt: passes the bound
            while len(entered) < 4:
                await asyncio.sleep(0.001)
            release.set()
            done = [*(await asyncio.gather(*held)), await probe]
            after = await client.get("/v1/after")  # the slots are free again
        return [refused, *done, after], entered, waited, limited

    responses, entered, waited, limited = asyncio.run(scenario())
    refused, *served, after = responses
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("/overloaded")
    assert waited < 0.5  # refused at once, not after the held requests
    assert "/v1/extra" not in entered  # the app never saw it
    assert [r.status_code for r in served] == [200] * 4
    assert "/health" in entered
    assert after.status_code == 200
    assert limited.in_flight == 0 and limited.refused == 1


def test_a_failing_request_frees_its_slot() -> None:
    async def boom(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("bug")

    limited = InFlightLimit(boom, limit=1)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=limited, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for _ in range(3):
                assert (await client.get("/v1/x")).status_code == 500

    asyncio.run(scenario())
    assert limited.in_flight == 0 and limited.refused == 0


@pytest.mark.parametrize("field,value", [("max_in_flight", 0), ("threads", 0),
                                         ("workers", 999), ("max_in_flight", True)])
def test_nonsense_limits_are_refused(tmp_path: Path, field: str, value: Any) -> None:
    cfg = Config(data_dir=tmp_path, api=ApiSettings(**{field: value}))
    with pytest.raises(BadInput, match=field):
        check_api_limits(cfg)
    with pytest.raises(BadInput, match="workers"):
        check_workers(0)
    with pytest.raises(BadInput, match=field):
        run_server(cfg, host="127.0.0.1", port=1, insecure_http=True)


def test_default_workers(tmp_path: Path) -> None:
    assert default_workers(Config(data_dir=tmp_path, database_url="sqlite:///x.db")) == 1
    pg = Config(data_dir=tmp_path, database_url="postgresql+psycopg://h/db")
    assert default_workers(pg) == (os.cpu_count() or 1)
    assert default_workers(Config(data_dir=tmp_path, database_url="sqlite:///x.db",
                                  api=ApiSettings(workers=3))) == 3


def test_shared_job_health_round_trip() -> None:
    h = SharedJobHealth("retention")
    assert h.health() == (False, "not started")
    h.publish(True, "ok")
    assert h.health() == (True, "ok")
    h.publish(False, "failing (StoreUnavailable)" + "x" * 500)  # bounded, never overflows
    ok, status = h.health()
    assert not ok and status.startswith("failing (StoreUnavailable)")


# --- real worker processes -------------------------------------------------------------------


def _worker_pids(srv: Any) -> list[int]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        m = re.search(r"serving with \d+ worker processes \(([\d, ]+)\)", srv.log_text())
        if m:
            return [int(p) for p in m.group(1).split(", ")]
        time.sleep(0.1)
    raise AssertionError(srv.log_text())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped) is not serving
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def _wait(pred: Any, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


@contextmanager
def _two_workers(tmp_path: Path) -> Iterator[tuple[Any, Config, dict[str, str]]]:
    """``confida serve --workers 2`` on a fresh store (SQLite, or the PostgreSQL server)."""
    from confida.tls import create_self_signed
    from tests.conftest import database

    with database(tmp_path) as url:
        cfg, keys = setup(tmp_path, url)
        create_self_signed(cfg.tls_cert, cfg.tls_key)
        with serve(cfg.data_dir, "--workers", "2", cert=cfg.tls_cert) as srv:
            yield srv, cfg, keys


def test_two_workers_serve_one_store(tmp_path: Path) -> None:
    with _two_workers(tmp_path) as (srv, _cfg, keys):
        pids = _worker_pids(srv)
        assert len(pids) == 2 and srv.proc.pid not in pids
        status, body = srv.request("GET", "/ready")
        assert status == 200 and body["checks"]["retention"] == "ok", body
        ids: list[str] = []
        lock = threading.Lock()

        def work(i: int) -> None:
            for j in range(10):  # a new connection each time: the kernel spreads them
                status, body = srv.request(
                    "POST", "/v1/records", {"subject": f"p-{i}-{j % 3}",
                                            "kind": "conversation_message",
                                            "purpose": "service", "data": MSG},
                    auth(keys["service"]))
                assert status == 201, body
                with lock:
                    ids.append(body["record_id"])

        assert not run_threads(6, work)
        for rid in ids:
            status, body = srv.request("GET", f"/v1/records/{rid}", None,
                                       auth(keys["service"], "service"))
            assert status == 200 and body["data"]["text"] == MSG["text"]

        os.kill(pids[0], signal.SIGKILL)  # a crashed worker is replaced
        assert _wait(lambda: len(re.findall(r"worker \d+ ended", srv.log_text())) == 1)
        assert _wait(lambda: srv.request("GET", "/health")[0] == 200)
        for _ in range(5):
            assert srv.request("GET", "/health")[0] == 200

        srv.proc.send_signal(signal.SIGTERM)  # a graceful stop ends every worker
        srv.proc.wait(30)
        assert srv.proc.returncode == 0, srv.log_text()[-2000:]
        assert not any(_alive(p) for p in pids[1:])
        assert " 500" not in srv.log_text()


def test_a_killed_parent_leaves_no_worker_serving(tmp_path: Path) -> None:
    from confida.backup import data_dir_lock

    with _two_workers(tmp_path) as (srv, cfg, _keys):
        pids = _worker_pids(srv)
        srv.proc.kill()
        srv.proc.wait(10)
        assert _wait(lambda: not any(_alive(p) for p in pids)), "orphaned workers"
        with data_dir_lock(cfg, exclusive=True):  # a restore may now run
            pass


def test_the_shared_socket_says_tcp_so_responses_are_not_delayed(tmp_path: Path,
                                                                 monkeypatch: Any) -> None:
    """asyncio turns TCP_NODELAY on only for connections of a socket whose ``proto`` is TCP;
    without it every two-part response waited for a delayed ACK (~40 ms)."""
    import socket as socket_mod

    import confida.server.workers as workers

    seen: list[int] = []

    class Stop(Exception):
        pass

    def fake_retention(_config: Config) -> Any:
        raise Stop

    real_socket = socket_mod.socket

    def spy(*a: Any, **kw: Any) -> Any:
        s = real_socket(*a, **kw)
        if "fileno" in kw:
            seen.append(s.proto)
        return s

    monkeypatch.setattr(workers.socket, "socket", spy)
    monkeypatch.setattr("confida.server.retention_task.retention_task", fake_retention)
    cfg = Config(data_dir=tmp_path)
    with pytest.raises(Stop):
        workers.run_workers(cfg, 2, host="127.0.0.1", port=0, insecure_http=True)
    assert seen == [socket_mod.IPPROTO_TCP]
