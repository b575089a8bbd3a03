"""Running the server with uvicorn, TLS 1.2 or newer only, and a shutdown that ends in time.

On SIGTERM or SIGINT the server stops accepting connections, lets requests in flight finish,
closes idle keep-alive connections at once, and stops its background jobs; whatever still runs
when the shutdown timeout (``--shutdown-timeout``, ``[api] shutdown_timeout_seconds``, 10 s by
default) is reached is cancelled. Without this, one client holding an idle TLS connection kept
the process waiting for the TLS close handshake it never answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from confida.config import Config
from confida.errors import BadInput, KeyUnavailable
from confida.server.app import create_app

DEFAULT_SHUTDOWN_TIMEOUT = 10.0
# An idle connection gets this long to finish its TLS close (and a just-sent response to
# drain) before it is dropped.
IDLE_CLOSE_GRACE_SECONDS = 0.25


class TLSConfig(uvicorn.Config):
    """uvicorn's config with the TLS floor raised to 1.2 and compression off."""

    def load(self) -> None:
        super().load()
        if self.ssl is not None:
            self.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
            self.ssl.options |= ssl.OP_NO_COMPRESSION


def _busy(conn: Any) -> bool:
    """A request is being read or answered on ``conn``, or its answer is still being sent."""
    cycle = getattr(conn, "cycle", None)
    if cycle is not None and not getattr(cycle, "response_complete", True):
        return True
    transport = getattr(conn, "transport", None)
    try:
        return transport is not None and transport.get_write_buffer_size() > 0
    except Exception:  # noqa: BLE001 - a transport already torn down is not busy
        return False


def _drop(conn: Any) -> None:
    """Close ``conn`` now, without waiting for the client's side of the TLS close."""
    transport = getattr(conn, "transport", None)
    if transport is None:
        return
    with contextlib.suppress(Exception):  # already gone
        transport.abort()


class BoundedServer(uvicorn.Server):
    """uvicorn's server whose shutdown ends within ``timeout_graceful_shutdown`` seconds.

    uvicorn already stops accepting, lets requests in flight finish and cancels them at the
    timeout; two gaps remain, and are closed here. An idle connection is asked to close with a
    TLS close_notify, and uvicorn then waits for the client's answer (up to asyncio's 30 s TLS
    shutdown timeout, per connection): idle connections are dropped instead, after a short
    grace. And ``on_stop`` (the background jobs) runs inside the shutdown, with what is left
    of the time, because uvicorn ends the process by re-raising the signal right after.
    """

    def __init__(self, config: uvicorn.Config,
                 on_stop: Callable[[float], None] | None = None) -> None:
        super().__init__(config)
        self._on_stop = on_stop

    async def shutdown(self, sockets: Any = None) -> None:
        bound = self.config.timeout_graceful_shutdown
        deadline = time.monotonic() + (bound if bound is not None else DEFAULT_SHUTDOWN_TIMEOUT)
        closer = asyncio.ensure_future(self._close_idle_connections())
        try:
            await super().shutdown(sockets)
        finally:
            closer.cancel()
            for conn in list(self.server_state.connections):
                _drop(conn)  # the bound is reached: nothing may keep the process up
        if self._on_stop is not None:
            # at least a moment, so that a job idling between runs can end cleanly
            self._on_stop(max(0.5, deadline - time.monotonic()))

    async def _close_idle_connections(self) -> None:
        loop = asyncio.get_running_loop()
        idle_since: dict[int, float] = {}
        while True:
            now = loop.time()
            for conn in list(self.server_state.connections):
                if _busy(conn):
                    idle_since.pop(id(conn), None)
                elif now - idle_since.setdefault(id(conn), now) >= IDLE_CLOSE_GRACE_SECONDS:
                    _drop(conn)
            await asyncio.sleep(0.05)


def check_shutdown_timeout(seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds <= 3600:
        raise BadInput("the shutdown timeout is a number of seconds, more than 0 and at most "
                       "3600")
    return float(seconds)


def server_config(
    config: Config, *, host: str, port: int, insecure_http: bool,
    cert: str | None = None, key: str | None = None, shutdown_timeout: float | None = None,
    **kw: Any,
) -> uvicorn.Config:
    timeout = check_shutdown_timeout(
        shutdown_timeout if shutdown_timeout is not None
        else config.api.shutdown_timeout_seconds)
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
                     timeout_keep_alive=config.api.keep_alive_seconds,
                     h11_max_incomplete_event_size=16 * 1024,
                     limit_concurrency=1000, timeout_graceful_shutdown=timeout,  # type: ignore[arg-type]
                     **tls, **kw)


def check_workers(workers: int) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 256:
        raise BadInput("the number of workers is a whole number from 1 to 256")
    return workers


def check_api_limits(config: Config) -> None:
    """Refuse settings that would make the server refuse everything or queue without bound."""
    api = config.api
    for name, value, low, high in (("max_in_flight", api.max_in_flight, 1, 100_000),
                                   ("threads", api.threads, 1, 1024),
                                   ("workers", api.workers, 0, 256)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise BadInput(f"[api] {name} is a whole number from {low} to {high}")
    # --- observability
    if api.log_format not in ("text", "json"):
        raise BadInput('[api] log_format is "text" or "json"')
    if not isinstance(api.tracing, bool):
        raise BadInput("[api] tracing is true or false")


def run_server(config: Config, **kw: Any) -> None:
    """Serve in this process until SIGTERM/SIGINT (several processes:
    :func:`confida.server.workers.run_workers`)."""
    from confida.server.retention_task import retention_task
    from confida.transparency.serving import record_serve_mode

    check_api_limits(config)
    cfg = server_config(config, **kw)
    # uvicorn configures its loggers in Config.__init__; from here on every line is redacted
    from confida.server import logging as redaction

    redaction.install(log_format=config.api.log_format)
    record_serve_mode(config, insecure_http=kw.get("insecure_http", False),
                      cert=kw.get("cert"), key=kw.get("key"))
    from confida.server.webhook_task import stop_jobs, webhook_task  # --- webhooks

    with retention_task(config) as task, webhook_task(config) as hooks:
        cfg.app.state.ctx.jobs.extend((task, hooks))  # /ready reports their health
        BoundedServer(cfg, on_stop=lambda s: stop_jobs(s, hooks, task)).run()
