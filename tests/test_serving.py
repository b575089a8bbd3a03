"""Serving that stops and reports honestly: bounded shutdown, liveness and readiness, error logs.

- SIGTERM with an idle keep-alive connection open and requests in flight: the idle connection
  is closed at once, a request in flight completes (its record is stored), a request that never
  ends is cut at the bound, and the process exits within it (a real ``confida serve`` over TLS).
- ``/ready`` is 200 only when the record store, the key store, the KEK and the retention job are
  healthy; 503 with a problem body naming the failing check otherwise. Each failure is real: a
  store moved away, the KEK file removed, the retention job's runs failing or its thread ended.
- An unexpected error is logged with its type, constraint and place in the code, and without
  the values of the request or of the SQL statement.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from confida import record
from confida.config import Config
from confida.crypto.keystore import INDEX_KEY
from confida.errors import StoreUnavailable
from confida.server.app import create_app
from confida.server.retention_task import RetentionTask
from confida.store.keyschema import data_key
from confida.vault import Vault
from tests.actors import ADMIN
from tests.apihelp import auth, setup
from tests.conftest import PG_URL, database
from tests.serving_support import MSG, call, serve

# --- bounded shutdown (a real server over TLS) ------------------------------------------------


@pytest.fixture
def tls_setup(tmp_path: Path) -> Iterator[tuple[Config, dict[str, str]]]:
    with database(tmp_path) as url:
        cfg, keys = setup(tmp_path, url)
        from confida.tls import create_self_signed

        create_self_signed(cfg.tls_cert, cfg.tls_key)
        yield cfg, keys


def _post_head(sock: ssl.SSLSocket, key: str, body: bytes) -> None:
    sock.sendall(
        b"POST /v1/records HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    )


def _read_response(sock: ssl.SSLSocket) -> tuple[int, dict[str, Any]]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before an answer")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(head.split()[1]), json.loads(rest[:length])


def _tls(srv: Any) -> ssl.SSLSocket:
    return srv.ctx().wrap_socket(socket.create_connection(("127.0.0.1", srv.port)),
                                 server_hostname="localhost")


def _collect_body(person: str) -> bytes:
    return json.dumps({"subject": person, "kind": "conversation_message",
                       "purpose": "service", "data": MSG}).encode()


def _wait_exit(srv: Any, t0: float, limit: float) -> float:
    try:
        srv.proc.wait(limit)
    except Exception:
        pytest.fail(f"still running {limit} s after SIGTERM:\n{srv.log_text()[-2000:]}")
    return time.monotonic() - t0


def test_sigterm_with_an_idle_connection_finishes_in_flight_work_and_exits_promptly(
    tls_setup: tuple[Config, dict[str, str]],
) -> None:
    """An idle keep-alive client (one answered request, then silence: it never answers the
    TLS close) and a request in flight. The request completes and is stored; the idle
    connection does not hold the process: it exits well within the bound."""
    cfg, keys = tls_setup
    bound = 3.0
    with serve(cfg.data_dir, "--shutdown-timeout", str(bound), cert=cfg.tls_cert) as srv:
        status, body = srv.request("GET", "/ready")
        assert status == 200 and body["checks"]["retention"] == "ok", body
        idle = _tls(srv)
        idle.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert _read_response(idle)[0] == 200
        payload = _collect_body("in-flight@example.com")
        busy = _tls(srv)  # headers and part of the body sent before the signal
        _post_head(busy, keys["service"], payload)
        busy.sendall(payload[:20])
        time.sleep(0.3)

        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        busy.sendall(payload[20:])
        status, collected = _read_response(busy)
        exited_after = _wait_exit(srv, t0, bound + 5)
        idle.close()
        busy.close()
        log = srv.log_text()
    assert status == 201, collected
    assert exited_after < bound, f"exited {exited_after:.1f} s after SIGTERM:\n{log}"
    assert "Traceback" not in log
    with Vault.open(cfg) as v:  # the request in flight was stored
        assert record.read(v, collected["record_id"], "service", actor=ADMIN).data == MSG


def test_sigterm_cuts_a_request_that_never_ends_at_the_bound(
    tls_setup: tuple[Config, dict[str, str]],
) -> None:
    """A client that sends half a request body and stops: the process still exits within
    the shutdown timeout (plus a moment), not when the client gives up."""
    cfg, keys = tls_setup
    bound = 2.0
    with serve(cfg.data_dir, "--shutdown-timeout", str(bound), cert=cfg.tls_cert) as srv:
        payload = _collect_body("never-finished@example.com")
        stuck = _tls(srv)
        _post_head(stuck, keys["service"], payload)
        stuck.sendall(payload[:20])
        time.sleep(0.3)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        exited_after = _wait_exit(srv, t0, bound + 10)
        stuck.close()
        log = srv.log_text()
    assert bound - 0.5 < exited_after < bound + 1.5, f"exited after {exited_after:.1f} s"
    assert "Traceback" not in log


def test_shutdown_timeout_must_be_a_positive_number(data_dir: Path) -> None:
    from tests.conftest import cli

    r = cli(data_dir, "serve", "--shutdown-timeout", "0")
    assert r.exit_code == 2 and "shutdown timeout" in r.output
    assert "Traceback" not in r.output


# --- readiness (the app in-process, on the real stores) ---------------------------------------


@pytest.fixture
def app_client(config: Config) -> Iterator[tuple[TestClient, Any]]:
    app = create_app(config)
    with TestClient(app) as client:
        yield client, app.state.ctx


def _ready(client: TestClient) -> tuple[int, dict[str, Any]]:
    r = client.get("/ready")
    return r.status_code, r.json()


def test_ready_when_healthy_and_health_is_only_liveness(
    app_client: tuple[TestClient, Any],
) -> None:
    client, _ = app_client
    status, body = _ready(client)
    assert status == 200, body
    assert body == {"status": "ready", "checks": {
        "record_store": "ok", "key_store": "ok", "kek": "ok"}}
    assert client.get("/health").json()["status"] == "ok"


def test_not_ready_without_the_kek(app_client: tuple[TestClient, Any], config: Config) -> None:
    client, _ = app_client
    assert _ready(client)[0] == 200  # the KEK was read once: the next probe must not trust that
    kek_file = config.kek_dir / "v1.key"
    aside = kek_file.with_name("v1.key.aside")
    kek_file.rename(aside)
    try:
        r = client.get("/ready")
        assert r.status_code == 503 and r.headers["content-type"].startswith(
            "application/problem+json")
        body = r.json()
        assert body["type"].endswith("/not-ready") and body["status"] == 503
        assert body["checks"]["kek"].startswith("cannot unwrap the index key")
        assert body["checks"]["key_store"] == "ok" and "kek" in body["detail"]
        assert str(config.kek_dir) not in r.text  # names, never paths or messages
        assert client.get("/health").status_code == 200  # still alive
    finally:
        aside.rename(kek_file)
    assert _ready(client)[0] == 200


def test_not_ready_when_the_key_store_is_unreachable(
    app_client: tuple[TestClient, Any], config: Config,
) -> None:
    client, _ = app_client
    db = Path(make_url(config.keystore_url).database or "")
    aside = db.with_name("keystore.db.aside")
    db.rename(aside)
    try:
        status, body = _ready(client)
        assert status == 503
        assert body["checks"]["key_store"].startswith("unreachable")
        assert body["checks"]["kek"].startswith("not checked")
        assert not db.exists()  # the probe did not create an empty store in its place
    finally:
        aside.rename(db)
    assert _ready(client)[0] == 200


def test_not_ready_when_the_record_store_is_unreachable(
    app_client: tuple[TestClient, Any], config: Config,
) -> None:
    client, _ = app_client
    url = make_url(config.database_url)
    if PG_URL:  # the test's schema renamed away: the tables are gone from the search path
        schema = url.query["options"].split("=", 1)[1]
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        move = [f'ALTER SCHEMA "{schema}" RENAME TO "{schema}_x"',
                f'ALTER SCHEMA "{schema}_x" RENAME TO "{schema}"']
        with admin.connect() as conn:
            conn.execute(text(move[0]))
        try:
            status, body = _ready(client)
        finally:
            with admin.connect() as conn:
                conn.execute(text(move[1]))
            admin.dispose()
    else:
        db = Path(url.database or "")
        aside = db.with_name("confida.db.aside")
        db.rename(aside)
        try:
            status, body = _ready(client)
        finally:
            aside.rename(db)
    assert status == 503, body
    assert body["checks"]["record_store"] != "ok" and "record_store" in body["detail"]
    assert _ready(client)[0] == 200


def _wait(cond: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_not_ready_while_retention_fails_and_after_its_thread_died(
    app_client: tuple[TestClient, Any], config: Config, capfd: pytest.CaptureFixture[str],
) -> None:
    client, ctx = app_client
    outcome: dict[str, BaseException | None] = {"raise": None}

    def open_vault(cfg: Config) -> Vault:
        exc = outcome["raise"]
        if exc is not None:
            raise exc
        return Vault.open(cfg)

    task = RetentionTask(config, every_seconds=0.05, open_vault=open_vault)
    ctx.jobs.append(task)
    assert _ready(client)[1]["checks"]["retention"] == "not started"
    task.start()
    _wait(lambda: task.runs >= 1)
    assert _ready(client) == (200, {"status": "ready", "checks": {
        "record_store": "ok", "key_store": "ok", "kek": "ok", "retention": "ok"}})

    # runs fail (a store error): the thread lives on and retries, readiness says so
    outcome["raise"] = StoreUnavailable("database unavailable: secret-host-name")
    _wait(lambda: task.last_error is not None)
    status, body = _ready(client)
    assert status == 503 and body["checks"]["retention"] == "failing (StoreUnavailable)"
    outcome["raise"] = None
    _wait(lambda: task.last_error is None)
    assert _ready(client)[0] == 200

    # a bug raises something unexpected: still reported by type, never by message
    outcome["raise"] = ZeroDivisionError("value 4111-1111-1111-1111")
    _wait(lambda: task.last_error == "ZeroDivisionError")
    assert _ready(client)[1]["checks"]["retention"] == "failing (ZeroDivisionError)"

    # the thread itself dies (anything that escapes the job's loop)
    class Crash(BaseException):
        pass

    outcome["raise"] = Crash("4111-1111-1111-1111")
    _wait(lambda: not task._thread.is_alive())
    status, body = _ready(client)
    assert status == 503 and body["checks"]["retention"] == "stopped (Crash)", body
    assert "retention: stopped (Crash)" in body["detail"]
    err = capfd.readouterr().err
    assert "4111" not in err and "secret-host-name" not in err
    assert "retention thread stopped: Crash at confida/server/retention_task.py" in err


# --- error logs: type, constraint and place; no values ----------------------------------------


def test_an_unexpected_error_is_logged_by_constraint_and_place_without_values(
    tls_setup: tuple[Config, dict[str, str]],
) -> None:
    """A real IntegrityError inside a real server: its SQL parameters hold the subject's ref,
    id and pseudonym; the request holds the e-mail. The log names the constraint and the
    code, and none of those values."""
    cfg, keys = tls_setup
    person = "jane.unique.doe@example.com"
    entry = ("from tests.serving_support import serve_with_duplicate_subjects as m; m()")
    # one process: the fault is patched into this one (spawned workers would not have it)
    with serve(cfg.data_dir, "--workers", "1", cert=cfg.tls_cert, entry=entry) as srv:
        conn = srv.connection()
        body = {"subject": person, "kind": "conversation_message", "purpose": "service",
                "data": MSG}
        first = call(conn, "POST", "/v1/records", body, auth(keys["service"]))
        second = call(conn, "POST", "/v1/records", body, auth(keys["service"]))
        conn.close()
        time.sleep(0.3)
        log = srv.log_text()
    assert first[0] == 201 and second[0] == 500, (first, second)
    assert "internal-error" in json.dumps(second[1]) and "uq_subject_ref" not in str(second[1])
    with Vault.open(cfg) as v, v.engine.connect() as c:
        row = c.execute(text("SELECT id, ref, pseudonym FROM subject")).one()
    assert "IntegrityError constraint=uq_subject_ref at confida/subject.py:" in log, log
    assert "get_or_create_many" in log
    for value in (person, "jane", row.id, row.ref, row.pseudonym, "INSERT INTO"):
        assert value not in log, value


def test_sqlite_constraint_failures_are_named_like_postgresql_ones(vault: Vault) -> None:
    """SQLite reports columns ("UNIQUE constraint failed: data_key.key_id"); the log gives the
    schema's constraint name, as PostgreSQL does."""
    from sqlalchemy.exc import IntegrityError

    from confida.error_detail import describe

    with pytest.raises(IntegrityError) as info, vault.key_engine.begin() as conn:
        row = conn.execute(select(data_key).where(data_key.c.key_id == INDEX_KEY)).one()
        conn.execute(data_key.insert().values(**row._mapping))
    line = describe(info.value)
    assert line.startswith("IntegrityError constraint=pk_data_key at "), line
    assert INDEX_KEY not in line and os.sep + "tmp" not in line
