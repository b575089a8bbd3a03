"""A real HTTP receiver for the webhook tests: a ``http.server`` thread on 127.0.0.1 whose
answers a test scripts one request at a time (``ok``: 200, ``fail``: 500, ``slow``: waits past
the client's timeout, then 200)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from confida import record, rights
from confida import subject as subjects
from confida.downstream import record_refs
from confida.request import RECTIFICATION, submit
from confida.vault import Vault
from tests.actors import ADMIN

#: What the receiver answers in its body: it must never reach a log or the store.
RESPONSE_BODY = b"receiver-body-7f3a: not for logs"


@dataclass(frozen=True)
class Hit:
    mode: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self, slow_seconds: float = 1.0) -> None:
        self.script: deque[str] = deque()
        self.default = "ok"
        self.slow_seconds = slow_seconds
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with outer._lock:
                    mode = outer.script.popleft() if outer.script else outer.default
                    outer.hits.append(
                        Hit(mode, {k.lower(): v for k, v in self.headers.items()}, body))
                if mode == "slow":
                    time.sleep(outer.slow_seconds)
                try:
                    self.send_response(500 if mode == "fail" else 200)
                    self.send_header("content-length", str(len(RESPONSE_BODY)))
                    self.end_headers()
                    self.wfile.write(RESPONSE_BODY)
                except OSError:
                    pass  # the client gave up (a timeout): nothing to answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook?token=t0k3n"

    def then(self, *modes: str) -> Receiver:
        self.script.extend(modes)
        return self

    def ids(self) -> list[str]:
        return [h.headers["webhook-id"] for h in self.hits]


@contextmanager
def receiving(slow_seconds: float = 1.0) -> Iterator[Receiver]:
    r = Receiver(slow_seconds)
    r._thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


def erase(vault: Vault, who: str, reference: str | None = None) -> int:
    """Collect a record for ``who`` (with a downstream reference), erase them; the notice id."""
    record.collect(vault, who, "account", {"email": f"{who}@example.org"}, "service",
                   actor=ADMIN)
    if reference is not None:
        with vault.engine.begin() as conn:
            sid = subjects.require(vault, conn, who).id
            record_refs(vault, conn, "training", [(sid, reference)])
    res = rights.erase(vault, who, verified_by="test:webhooks", actor=ADMIN)
    assert res.notice_id is not None
    return res.notice_id


def overdue_request(vault: Vault, who: str, days_ago: int = 45) -> str:
    """An open request received ``days_ago`` days ago (past its one-month deadline)."""
    record.collect(vault, who, "account", {"email": f"{who}@example.org"}, "service",
                   actor=ADMIN)
    now = vault.clock()
    earlier = Vault(vault.config, clock=lambda: now - timedelta(days=days_ago))
    try:
        return submit(earlier, RECTIFICATION, who, "test:support-desk", actor=ADMIN).id
    finally:
        earlier.close()
