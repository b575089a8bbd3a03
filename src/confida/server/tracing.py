"""Optional OpenTelemetry spans, one per request, that hold names and numbers only.

On with ``[api] tracing = true`` in confida.toml when the ``opentelemetry-sdk`` package is
installed (``pip install 'confida[otel]'``). Each request is one server span named by method
and route template (``POST /v1/subjects/{subject_id}/erasure``) with the attributes
``http.method``, ``http.route``, ``http.status_code`` and ``confida.request_id``: never the
concrete path, the query, a header or the body, which can all carry personal data. A failed
request's span has status ERROR and ``error.type`` (the exception's class name, never its
message). The incoming W3C ``traceparent`` is honoured (baggage is not read).

This module uses the OpenTelemetry *API* only: where the spans go (the tracer provider and its
exporter) is the operator's to configure, e.g. by running the server under
``opentelemetry-instrument`` with ``OTEL_SERVICE_NAME``, ``OTEL_TRACES_EXPORTER`` and
``OTEL_EXPORTER_OTLP_ENDPOINT`` (see docs/operations.md#observability). FastAPI's own
telemetry, which records the concrete path and query, is switched off in ``server/app.py``.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from confida.server.request_id import method_label, of_scope, route_template

logger = logging.getLogger("confida.server")
TRACER_NAME = "confida.server"


def available() -> bool:
    """The SDK is installed (the API alone records nothing)."""
    try:
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        return False
    return True


def enabled(tracing: bool) -> bool:
    if not tracing:
        return False
    if not available():
        logger.warning("[api] tracing is on but opentelemetry-sdk is not installed "
                       "(pip install 'confida[otel]'): no spans are recorded")
        return False
    return True


class Tracing:
    """Pure ASGI middleware: one server span per HTTP request, named by route template."""

    def __init__(self, app: ASGIApp) -> None:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.app = app
        self._trace = trace
        self._propagator = TraceContextTextMapPropagator()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace = self._trace
        carrier: dict[str, str] = {}
        for k, v in scope.get("headers", ()):
            if k in (b"traceparent", b"tracestate"):
                carrier[k.decode("latin-1")] = v.decode("latin-1")
        parent = self._propagator.extract(carrier) if carrier else None
        method = method_label(scope)
        tracer = trace.get_tracer(TRACER_NAME)
        span = tracer.start_span(method, context=parent, kind=trace.SpanKind.SERVER,
                                 attributes={"http.method": method})
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        error: BaseException | None = None
        try:
            with trace.use_span(span, end_on_exit=False, record_exception=False,
                                set_status_on_exception=False):
                await self.app(scope, receive, send_status)
        except BaseException as exc:
            error = exc
            raise
        finally:
            route = route_template(scope)
            attrs: dict[str, Any] = {"http.route": route, "http.status_code": status}
            rid = of_scope(scope)
            if rid is not None:
                attrs["confida.request_id"] = rid
            if error is not None:
                attrs["error.type"] = type(error).__name__
            span.set_attributes(attrs)
            span.update_name(f"{method} {route}")
            if error is not None or status >= 500:
                span.set_status(trace.Status(trace.StatusCode.ERROR))
            span.end()
