"""Backpressure: beyond a bounded number of requests in flight, answer 503 at once.

Without a bound, a server offered more than it can do queues every request behind the
others: each one waits seconds in the thread pool, clients time out and retry, and the
queue grows until connections drop. A refusal that costs nothing and says when to come back
(``Retry-After``) keeps the latency of the requests it does accept at their service time, and
lets load balancers and clients spread the excess. The bound is per process (``[api]
max_in_flight``); size it to what one worker finishes within the latency you want (see the
README's "Sizing the server").

Health and readiness probes are never refused: an overloaded server is alive, and a probe
answered 503 would make an orchestrator kill it for being busy.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from confida.server.problems import problem

#: Paths that are answered whatever the load.
EXEMPT = frozenset({"/health", "/ready"})


class InFlightLimit:
    """At most ``limit`` HTTP requests in flight in this process; the next ones get 503.

    The count is a plain integer: the ASGI app runs on one event loop thread, and the
    increment and decrement happen there (a synchronous route's worker thread never touches
    it), so no lock is needed.
    """

    def __init__(self, app: ASGIApp, limit: int, retry_after_seconds: int = 1) -> None:
        if limit < 1:
            raise ValueError("the in-flight limit is at least 1")
        self.app = app
        self.limit = limit
        self.retry_after = str(max(1, retry_after_seconds))
        self.in_flight = 0
        self.refused = 0  # since start, for operators and tests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in EXEMPT:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            self.refused += 1
            resp = problem(503, "overloaded", "the server is at capacity; retry after the "
                           "delay in Retry-After", headers={"Retry-After": self.retry_after})
            await resp(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
