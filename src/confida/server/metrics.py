"""``/metrics``: Prometheus metrics, in which no label ever holds a personal value.

What is measured (``docs/operations.md#observability`` lists every metric):

- HTTP requests, by method, *route template* (``/v1/subjects/{subject_id}/records``, never
  the concrete path: subject ids are personal data) and status, with a latency histogram;
  a request no route matched is labelled ``unmatched``. :class:`HttpMetrics` is a pure ASGI
  middleware; the router leaves the matched route in ``scope["route"]``
  (:func:`confida.server.request_id.route_template`).
- Core operations, by action and outcome, counted when the vault has written the operation's
  audit entry (an observer in :data:`confida.operation.observers`), and the duration of
  erasures, from the start of ``rights.erase.begin`` to the end of ``rights.erase``.
- Gauges read from the store at scrape time (:func:`confida.monitoring.gauges`): audit log size
  and checkpoint age, open and overdue requests, the nearest breach notification deadline.

With ``confida serve --workers N`` every worker is its own process: the counters and
histograms use prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set up by
``confida.server.metrics_dir``), so whichever worker answers a scrape reports the sum over all
of them.

``/metrics`` is not public: it needs an API key (or OIDC token) of a role that may ``audit``,
and each scrape is an audited read. It is left out of the OpenAPI document.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from confida import monitoring
from confida.operation import Actor, Operation, observers
from confida.server.deps import get_vault, staff
from confida.server.request_id import method_label, route_template
from confida.vault import Vault

OTHER = "other"
#: What an action name looks like (they are literals in the core); anything else is ``other``.
_ACTION = re.compile(r"[a-z][a-z0-9_.:-]{0,63}")
_OUTCOMES = frozenset({"allowed", "denied", "failed"})

#: True when this process writes its samples to ``PROMETHEUS_MULTIPROC_DIR`` (decided by
#: prometheus-client when it was first imported).
MULTIPROCESS: bool = bool(getattr(values.ValueClass, "_multiprocess", False))

disable_created_metrics()  # no ``*_created`` series: they double the output for nothing

#: This process's own metrics (exported as they are in a single process; in multiprocess mode
#: their samples are read back, summed over every process, from the shared directory).
LOCAL = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "confida_http_requests", "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"], registry=LOCAL)
HTTP_DURATION = Histogram(
    "confida_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"], registry=LOCAL)
OPERATIONS = Counter(
    "confida_operations",
    "Core operations by action and outcome (allowed, denied, failed): one per audit entry.",
    ["action", "outcome"], registry=LOCAL)
ERASURE_DURATION = Histogram(
    "confida_erasure_duration_seconds",
    "Time from the start of an erasure to its end (or to the step that was refused or failed).",
    ["outcome"], registry=LOCAL,
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0))


# --- HTTP ----------------------------------------------------------------------------------------


class HttpMetrics:
    """Pure ASGI middleware: counts and times each request by route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before its response

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route, method = route_template(scope), method_label(scope)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)


# --- core operations -----------------------------------------------------------------------------

_ERASURE_STEPS = frozenset({"rights.erase.begin", "rights.erase.shred", "rights.erase.notify",
                            "rights.erase.delete", "rights.erase"})
# when the erasure running in this context began (one erasure runs its steps in one thread)
_erasure_started: ContextVar[float | None] = ContextVar("confida_erasure_started", default=None)


def observe_operation(op: Operation, outcome: str, seconds: float) -> None:
    """The observer registered in :data:`confida.operation.observers`: names only."""
    action = op.action if _ACTION.fullmatch(op.action) else OTHER
    outcome = outcome if outcome in _OUTCOMES else OTHER
    OPERATIONS.labels(action, outcome).inc()
    if op.action not in _ERASURE_STEPS:
        return
    if op.action == "rights.erase.begin":
        if outcome == "allowed":
            _erasure_started.set(op.started)
            return
        _erasure_started.set(None)
        ERASURE_DURATION.labels(outcome).observe(seconds)
        return
    began = _erasure_started.get()
    if began is None:
        return
    if outcome != "allowed" or op.action == "rights.erase":
        _erasure_started.set(None)
        ERASURE_DURATION.labels(outcome).observe(max(0.0, time.monotonic() - began))


def register_observer() -> None:
    """Count core operations in this process (once, however many apps are created)."""
    if observe_operation not in observers:
        observers.append(observe_operation)


# --- gauges from the store -----------------------------------------------------------------------


class StoreGauges(Collector):
    """The store's state as read for one scrape (:func:`confida.monitoring.gauges`)."""

    def __init__(self, g: monitoring.Gauges) -> None:
        self.g = g

    def collect(self) -> Iterator[Metric]:
        g = self.g
        yield GaugeMetricFamily("confida_audit_tree_size", "Entries in the audit log.",
                                value=g.audit_tree_size)
        yield GaugeMetricFamily(
            "confida_audit_checkpoint_interval_seconds",
            "The checkpoint policy's interval (checkpoint_every_seconds).",
            value=g.checkpoint_interval_seconds)
        if g.checkpoint_tree_size is not None:
            yield GaugeMetricFamily("confida_audit_checkpoint_tree_size",
                                    "Entries covered by the newest signed checkpoint.",
                                    value=g.checkpoint_tree_size)
        if g.checkpoint_age_seconds is not None:
            yield GaugeMetricFamily("confida_audit_checkpoint_age_seconds",
                                    "Seconds since the newest checkpoint was signed.",
                                    value=g.checkpoint_age_seconds)
        for name, doc, by_type in (
            ("confida_requests_open", "Open data subject requests, by type.", g.requests_open),
            ("confida_requests_overdue",
             "Open data subject requests past their legal deadline, by type.",
             g.requests_overdue),
        ):
            fam = GaugeMetricFamily(name, doc, labels=["type"])
            for type_, n in sorted(by_type.items()):
                fam.add_metric([type_], n)
            yield fam
        yield GaugeMetricFamily("confida_breaches_unnotified",
                                "Breaches not yet notified to the supervisory authority.",
                                value=g.breaches_unnotified)
        if g.breach_notification_due_seconds is not None:
            yield GaugeMetricFamily(
                "confida_breach_notification_due_seconds",
                "Seconds left until the nearest 72-hour notification deadline of a breach not "
                "yet notified to the authority (negative: overdue).",
                value=g.breach_notification_due_seconds)
        yield GaugeMetricFamily("confida_webhook_backlog",
                                "Webhook deliveries not yet acknowledged by their receiver.",
                                value=g.webhook_backlog)
        yield GaugeMetricFamily("confida_webhook_dead_letters",
                                "Webhook deliveries given up after their last attempt.",
                                value=g.webhook_dead)


def process_registry() -> CollectorRegistry:
    """This process's metrics, or in multiprocess mode the sum over every worker's."""
    if not MULTIPROCESS:
        return LOCAL
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


def exposition(g: monitoring.Gauges) -> bytes:
    store = CollectorRegistry(auto_describe=False)
    store.register(StoreGauges(g))
    return generate_latest(process_registry()) + generate_latest(store)


# --- the endpoint --------------------------------------------------------------------------------

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(vault: Annotated[Vault, Depends(get_vault)],
            actor: Annotated[Actor, Depends(staff)]) -> Response:
    """Prometheus text format; needs a credential whose role may ``audit``."""
    return Response(exposition(monitoring.gauges(vault, actor=actor)),
                    media_type=CONTENT_TYPE_PLAIN_0_0_4)
