"""A real ``confida serve`` (its uvicorn config: TLS 1.2+, the app, the pages) in a thread, for
the browser tests: Chromium must talk to the server over real TLS, as a user's browser does."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from confida.config import Config
from tests.serving_support import free_port


@contextmanager
def served_in_thread(config: Config) -> Iterator[str]:
    """Serve ``config`` on a free loopback port with a fresh self-signed certificate; yields
    the base URL and stops the server (and the pages' vault) afterwards."""
    import uvicorn

    from confida.server.run import server_config
    from confida.tls import create_self_signed

    create_self_signed(config.tls_cert, config.tls_key, ["127.0.0.1"])
    port = free_port()
    srv = uvicorn.Server(server_config(config, host="127.0.0.1", port=port,
                                       insecure_http=False, log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    assert srv.started, "server did not start"
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        t.join(10)
        srv.config.app.state.web.close()
