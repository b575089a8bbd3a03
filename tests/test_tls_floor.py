"""The server itself sets the TLS 1.2 floor; it does not rely on the platform's defaults.

This Python (3.10 and later) and OpenSSL 3 at its default security level already refuse TLS 1.0
and 1.1, so ``test_tls.py``'s handshake against ``confida serve`` would pass even if the server
never raised the floor. Here the context uvicorn builds is made as permissive as an older
platform's (minimum TLS 1.0, ``@SECLEVEL=0``) before the server's own configuration code runs on
it: the context the server then serves with must still have its floor at TLS 1.2, and a real
handshake from a TLS 1.1 client must fail. A control shows that the same client completes a
handshake with the permissive context, so the refusal is the server's code; where this machine's
OpenSSL cannot build a TLS 1.0/1.1 client at all, the control is skipped and the assertion on the
context's ``minimum_version`` is the part that can still fail.
"""

from __future__ import annotations

import ssl
from typing import Any

import pytest
import uvicorn.config

from confida.config import Config
from confida.server.run import server_config
from confida.tls import create_self_signed
from tests.tls_support import handshake

pytestmark = pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")

LEGACY = [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1]


@pytest.fixture
def tls_config(config: Config) -> Config:
    create_self_signed(config.tls_cert, config.tls_key)
    return config


@pytest.fixture
def permissive_platform(monkeypatch: pytest.MonkeyPatch) -> list[ssl.SSLContext]:
    """uvicorn's contexts start out accepting TLS 1.0 with every cipher; returns those built."""
    made: list[ssl.SSLContext] = []
    original = uvicorn.config.create_ssl_context

    def permissive(*args: Any, **kw: Any) -> ssl.SSLContext:
        ctx = original(*args, **kw)
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        made.append(ctx)
        return ctx

    monkeypatch.setattr(uvicorn.config, "create_ssl_context", permissive)
    return made


def _server_ssl(config: Config) -> ssl.SSLContext:
    """The SSL context ``confida serve`` would serve with, built by the server's own code."""
    cfg = server_config(config, host="127.0.0.1", port=0, insecure_http=False)
    cfg.load()
    assert cfg.ssl is not None
    return cfg.ssl


def _legacy_client(version: ssl.TLSVersion) -> ssl.SSLContext:
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = version
    except (ssl.SSLError, ValueError):
        pytest.skip("this OpenSSL cannot build a TLS 1.0/1.1 client at all")
    return ctx


def test_floor_on_this_platform(tls_config: Config) -> None:
    ctx = _server_ssl(tls_config)
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert ctx.options & ssl.OP_NO_COMPRESSION


def test_floor_is_raised_even_where_the_platform_allows_legacy_tls(
    tls_config: Config, permissive_platform: list[ssl.SSLContext]
) -> None:
    ctx = _server_ssl(tls_config)
    assert permissive_platform == [ctx]  # the context built is the one served with
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert ctx.options & ssl.OP_NO_COMPRESSION


@pytest.mark.parametrize("version", LEGACY)
def test_legacy_client_is_refused_by_the_servers_context(
    tls_config: Config, permissive_platform: list[ssl.SSLContext], version: ssl.TLSVersion
) -> None:
    ctx = _server_ssl(tls_config)
    assert handshake(ctx, _legacy_client(version)) is None
    modern = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    modern.check_hostname, modern.verify_mode = False, ssl.CERT_NONE
    assert handshake(ctx, modern) in ("TLSv1.2", "TLSv1.3")  # it does serve


@pytest.mark.parametrize("version", LEGACY)
def test_control_the_permissive_context_alone_accepts_the_legacy_client(
    tls_config: Config, permissive_platform: list[ssl.SSLContext], version: ssl.TLSVersion
) -> None:
    ctx = uvicorn.config.create_ssl_context(
        certfile=str(tls_config.tls_cert), keyfile=str(tls_config.tls_key), password=None,
        ssl_version=ssl.PROTOCOL_TLS_SERVER, cert_reqs=ssl.CERT_NONE, ca_certs=None, ciphers=None)
    negotiated = handshake(ctx, _legacy_client(version))
    if negotiated is None:
        pytest.skip("this OpenSSL refuses TLS 1.0/1.1 even at SECLEVEL=0; the assertion on the "
                    "server context's minimum_version is what guards the floor here")
    assert negotiated == {ssl.TLSVersion.TLSv1: "TLSv1", ssl.TLSVersion.TLSv1_1: "TLSv1.1"}[version]
