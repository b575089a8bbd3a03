"""Running the server with uvicorn, TLS 1.2 or newer only."""

from __future__ import annotations

import ssl
from typing import Any

import uvicorn

from confida.config import Config
from confida.errors import KeyUnavailable
from confida.server.app import create_app


class TLSConfig(uvicorn.Config):
    """uvicorn's config with the TLS floor raised to 1.2 and compression off."""

    def load(self) -> None:
        super().load()
        if self.ssl is not None:
            self.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
            self.ssl.options |= ssl.OP_NO_COMPRESSION


def server_config(
    config: Config, *, host: str, port: int, insecure_http: bool,
    cert: str | None = None, key: str | None = None, **kw: Any,
) -> uvicorn.Config:
    app = create_app(config)
    tls: dict[str, Any] = {}
    if not insecure_http:
        certfile, keyfile = cert or str(config.tls_cert), key or str(config.tls_key)
        from pathlib import Path

        for p, what in ((certfile, "certificate"), (keyfile, "private key")):
            if not Path(p).exists():
                raise KeyUnavailable(f"TLS {what} {p} is missing; run `confida init` or pass one")
        tls = {"ssl_certfile": certfile, "ssl_keyfile": keyfile}
    return TLSConfig(app, host=host, port=port, server_header=False, proxy_headers=False,
                     timeout_keep_alive=5, h11_max_incomplete_event_size=16 * 1024,
                     limit_concurrency=1000, **tls, **kw)


def run_server(config: Config, **kw: Any) -> None:
    from confida.server.retention_task import retention_task
    from confida.transparency.serving import record_serve_mode

    cfg = server_config(config, **kw)
    # uvicorn configures its loggers in Config.__init__; from here on every line is redacted
    from confida.server import logging as redaction

    redaction.install()
    record_serve_mode(config, insecure_http=kw.get("insecure_http", False),
                      cert=kw.get("cert"), key=kw.get("key"))
    with retention_task(config):
        uvicorn.Server(cfg).run()
