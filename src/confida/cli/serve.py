"""``confida serve``: HTTPS by default; plain HTTP only when asked for explicitly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from confida.cli.output import err_console, guard, state
from confida.config import Config
from confida.permissions import require_safe

#: Where links point when neither ``--base-url`` nor a served address is known.
DEFAULT_BASE_URL = "https://127.0.0.1:8443"


def _address_file(cfg: Config) -> Path:
    return cfg.data_dir / "run" / "address.json"


def served_url(host: str, port: int, insecure_http: bool) -> str:
    """The address ``confida serve --host H --port P`` answers on, as a browser on this host
    reaches it (a wildcard address becomes 127.0.0.1)."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - naming the wildcard, not binding to it
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{'http' if insecure_http else 'https'}://{host}:{port}"


def record_served_url(cfg: Config, url: str) -> None:
    """Remember where the server listens, for the links ``confida link`` and ``demo`` print
    (a file in the data dir's ``run/``; an address, nothing personal)."""
    path = _address_file(cfg)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(json.dumps({"url": url}) + "\n", encoding="utf-8")
    except OSError:
        pass  # only a default for links: serving goes on without it


def base_url(cfg: Config, given: str | None) -> str:
    """The privacy center's base URL: ``given`` (``--base-url``), else the address
    ``confida serve`` last listened on for this data dir, else :data:`DEFAULT_BASE_URL`."""
    if given:
        return given.rstrip("/")
    try:
        url = json.loads(_address_file(cfg).read_text("utf-8")).get("url")
    except (OSError, ValueError, AttributeError):
        url = None
    return url if isinstance(url, str) and url else DEFAULT_BASE_URL


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        ctx: typer.Context,
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8443,
        insecure_http: Annotated[
            bool,
            typer.Option("--insecure-http",
                         help="Serve plain HTTP (only behind a TLS-terminating proxy)."),
        ] = False,
        cert: Annotated[str | None, typer.Option(help="TLS certificate (PEM).")] = None,
        key: Annotated[str | None, typer.Option(help="TLS private key (PEM).")] = None,
        shutdown_timeout: Annotated[
            float | None,
            typer.Option("--shutdown-timeout", metavar="SECONDS",
                         help="On SIGTERM/SIGINT, how long requests in flight may take to "
                         "finish before the server exits anyway (default 10, or [api] "
                         "shutdown_timeout_seconds in confida.toml)."),
        ] = None,
        workers: Annotated[
            int | None,
            typer.Option("--workers", min=1, max=256, metavar="N",
                         help="Server processes sharing the port (default: [api] workers in "
                         "confida.toml, else one per CPU on PostgreSQL and one on SQLite)."),
        ] = None,
    ) -> None:
        """Serve the API, privacy center and console over HTTPS (TLS 1.2+)."""
        from confida.server.run import run_server

        st = state(ctx)
        with guard(st):
            cfg = st.config()
            cfg.require_initialised()
            if key and not insecure_http:  # the operator's own TLS key: same rule as ours
                require_safe(cfg, extra_secrets=[Path(key)])
            if insecure_http:
                err_console.print(
                    "[bold yellow]warning:[/] serving plain HTTP; personal data will cross the "
                    "network unencrypted unless a TLS-terminating proxy is in front"
                )
            from confida.backup import data_dir_lock
            from confida.erasure_replay import replay_config

            # held while serving: `confida restore` refuses to run under a live server
            with data_dir_lock(cfg, exclusive=False):
                record_served_url(cfg, served_url(host, port, insecure_http))
                replayed = replay_config(cfg)  # no erased person is served again after a restore
                if replayed.repaired:
                    err_console.print(f"erasure journal replayed: {replayed.repaired} repairs")
                from confida.server.workers import default_workers, run_workers

                n = workers or default_workers(cfg)  # run_workers refuses a nonsense count
                kw = {"host": host, "port": port, "insecure_http": insecure_http, "cert": cert,
                      "key": key, "shutdown_timeout": shutdown_timeout}
                if n > 1:
                    run_workers(cfg, n, **kw)
                else:
                    run_server(cfg, **kw)

    _ = serve
