"""Real TLS: `confida serve` in a subprocess with the certificate `init` made, on a free port.

A client pinned to TLS 1.2 or 1.3 connects and gets an answer; clients whose highest version is
TLS 1.1 or 1.0 are refused in the handshake; plain HTTP to the HTTPS port gets no HTTP answer.
The legacy clients lower OpenSSL's security level (``@SECLEVEL=0``) so that it is the server, not
the local client library, that refuses them; where this OpenSSL cannot build a TLS 1.0/1.1
client at all the handshake fails either way, which the test accepts and says.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.apihelp import auth, setup
from tests.conftest import database
from tests.tls_support import handshake


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _client_ctx(cafile: Path, minimum: ssl.TLSVersion, maximum: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    ctx.minimum_version = minimum
    ctx.maximum_version = maximum
    return ctx


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("tls")
    with database(tmp) as url:
        cfg, keys = setup(tmp, url)
        from confida.tls import create_self_signed

        create_self_signed(cfg.tls_cert, cfg.tls_key)
        port = _free_port()
        env = {**os.environ, "CONFIDA_DATA_DIR": str(cfg.data_dir)}
        log = (tmp / "server.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-c", "from confida.cli import main; main()", "serve",
             "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if proc.poll() is not None:
                        raise RuntimeError((tmp / "server.log").read_text()) from None
                    time.sleep(0.2)
            yield {"port": port, "cert": cfg.tls_cert, "keys": keys, "log": tmp / "server.log"}
        finally:
            proc.terminate()
            proc.wait(10)
            log.close()


def _get(server: dict[str, Any], ctx: ssl.SSLContext, path: str,
         headers: dict[str, str] | None = None) -> tuple[int, bytes, str]:
    conn = http.client.HTTPSConnection("127.0.0.1", server["port"], context=ctx, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read(), conn.sock.version()  # type: ignore[union-attr]
    finally:
        conn.close()


pytestmark = pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_modern_tls_client_connects(server: dict[str, Any], version: ssl.TLSVersion) -> None:
    ctx = _client_ctx(server["cert"], version, version)
    status, body, negotiated = _get(server, ctx, "/health")
    assert status == 200 and json.loads(body)["status"] == "ok"
    assert negotiated == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[
        version]


def test_api_over_tls_end_to_end(server: dict[str, Any]) -> None:
    ctx = _client_ctx(server["cert"], ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
    status, body, _ = _get(server, ctx, "/v1/register", auth(server["keys"]["support"]))
    assert status == 200 and "purposes" in json.loads(body)
    status, body, _ = _get(server, ctx, "/v1/register", {"Authorization": "Bearer nope"})
    assert status == 401


def _legacy_ctx(version: ssl.TLSVersion) -> ssl.SSLContext:
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = version
        ctx.maximum_version = version
    except (ssl.SSLError, ValueError):
        pytest.skip("this OpenSSL cannot build a TLS 1.0/1.1 client at all")
    return ctx


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_legacy_client_works_against_a_permissive_server(
    server: dict[str, Any], version: ssl.TLSVersion
) -> None:
    """Control: the same legacy client completes a handshake with a server that allows it, so
    the refusal below is Confida's and not this machine's OpenSSL."""
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(server["cert"], server["cert"].with_name("key.pem"))
    sctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    sctx.minimum_version = ssl.TLSVersion.TLSv1
    negotiated = handshake(sctx, _legacy_ctx(version))
    if negotiated is None:
        pytest.skip("this OpenSSL build refuses TLS 1.0/1.1 even at SECLEVEL=0; the "
                    "refusal test below then holds either way")
    assert negotiated in ("TLSv1", "TLSv1.1")


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_legacy_tls_client_is_refused(server: dict[str, Any], version: ssl.TLSVersion) -> None:
    ctx = _legacy_ctx(version)
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.version()  # the handshake happened: this must not be reached


def test_plain_http_to_https_port_gets_no_http_answer(server: dict[str, Any]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server["port"], timeout=10)
    try:
        with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
            conn.request("GET", "/health")
            conn.getresponse()
    finally:
        conn.close()


def test_certificate_verification_is_not_optional(server: dict[str, Any], tmp_path: Path) -> None:
    """A client trusting only the system CAs refuses the self-signed certificate."""
    ctx = ssl.create_default_context()
    with pytest.raises(ssl.SSLCertVerificationError):
        _get(server, ctx, "/health")


def test_server_log_has_no_personal_data(server: dict[str, Any]) -> None:
    ctx = _client_ctx(server["cert"], ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
    _get(server, ctx, "/v1/subjects/jane.doe@example.com/records?kind=account",
         auth(server["keys"]["support"], "service"))
    time.sleep(0.3)
    text = server["log"].read_text()
    assert "/v1/subjects/[subject]/records" in text, text[-2000:]
    # the start-up line names the server's own address, as it is (the operator needs it);
    # every other line loses the client's address
    started = [ln for ln in text.splitlines() if "Uvicorn running on" in ln]
    assert started and "https://127.0.0.1:" in started[0], text[-2000:]
    rest = "\n".join(ln for ln in text.splitlines() if "Uvicorn running on" not in ln)
    assert "jane.doe" not in text and "127.0.0.1:" not in rest
