"""``confida gateway``: the OpenAI-compatible privacy gateway, HTTPS by default like ``serve``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from confida.cli.output import err_console, guard, state
from confida.permissions import require_safe

if TYPE_CHECKING:
    from confida.config import Config
    from confida.gateway.upstream import UpstreamSettings


def register(app: typer.Typer) -> None:
    @app.command()
    def gateway(
        ctx: typer.Context,
        upstream: Annotated[
            str | None,
            typer.Option(help="The OpenAI-compatible upstream's base URL, e.g. "
                         "https://api.openai.com/v1 (default: [gateway] upstream in "
                         "gateway.toml). Its key: upstream_key_file there, or "
                         "CONFIDA_UPSTREAM_API_KEY."),
        ] = None,
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8444,
        insecure_http: Annotated[
            bool,
            typer.Option("--insecure-http",
                         help="Serve plain HTTP (only behind a TLS-terminating proxy)."),
        ] = False,
        cert: Annotated[str | None, typer.Option(help="TLS certificate (PEM).")] = None,
        key: Annotated[str | None, typer.Option(help="TLS private key (PEM).")] = None,
    ) -> None:
        """Serve the privacy gateway: OpenAI-compatible, personal data tokenised on the way out
        and restored in the answer, secrets refused, every call recorded and audited."""
        st = state(ctx)
        with guard(st):
            cfg = st.config()
            cfg.require_initialised()
            if key and not insecure_http:
                require_safe(cfg, extra_secrets=[Path(key)])
            from confida.gateway.upstream import load_settings

            settings = load_settings(cfg.data_dir, upstream=upstream)
            if insecure_http:
                err_console.print(
                    "[bold yellow]warning:[/] serving plain HTTP; personal data will cross the "
                    "network unencrypted unless a TLS-terminating proxy is in front")
            err_console.print(f"privacy gateway on port {port}, upstream {settings.host}")
            from confida.backup import data_dir_lock

            with data_dir_lock(cfg, exclusive=False):
                _run(cfg, settings, host=host, port=port, insecure_http=insecure_http,
                     cert=cert, key=key)

    _ = gateway


def _run(config: Config, upstream: UpstreamSettings, *, host: str, port: int,
         insecure_http: bool, cert: str | None = None, key: str | None = None) -> None:
    """Serve the gateway in this process until SIGTERM/SIGINT: TLS 1.2+ with the data dir's
    certificate unless ``insecure_http``, log lines redacted as the server's are."""
    from pathlib import Path

    from confida.errors import KeyUnavailable
    from confida.server import logging as redaction
    from confida.server.gateway_api import create_gateway_app
    from confida.server.run import BoundedServer, TLSConfig

    tls: dict[str, Any] = {}
    if not insecure_http:
        certfile, keyfile = cert or str(config.tls_cert), key or str(config.tls_key)
        for p, what in ((certfile, "certificate"), (keyfile, "private key")):
            if not Path(p).exists():
                raise KeyUnavailable(f"TLS {what} {p} is missing; run `confida init` or pass one")
        tls = {"ssl_certfile": certfile, "ssl_keyfile": keyfile}
    cfg = TLSConfig(create_gateway_app(config, upstream), host=host, port=port,
                    server_header=False, proxy_headers=False,
                    timeout_keep_alive=config.api.keep_alive_seconds,
                    timeout_graceful_shutdown=config.api.shutdown_timeout_seconds,  # type: ignore[arg-type]
                    # no access log: each call has its audit entry and its metrics, and every
                    # log line would cost a pass of the PII redactor
                    access_log=False, **tls)
    redaction.install(log_format=config.api.log_format)
    BoundedServer(cfg).run()
