"""The privacy gateway's HTTP adapter: an OpenAI-compatible API in front of an upstream.

``POST /v1/chat/completions`` and ``POST /v1/responses`` (streaming or not) and
``GET /v1/models`` (passed through). Callers authenticate with Confida API keys, as on the
REST API (:mod:`confida.server.deps`); every decision is the core's
(:func:`confida.gateway.core.prepare_call`), this module only moves bytes: it reads the request,
forwards what the core let out, and restores the answer (:mod:`confida.gateway.restore`,
:mod:`confida.gateway.stream`). Errors are OpenAI-style bodies,
``{"error": {"message", "type", "code", "param"}}``; the upstream's own errors pass through
with their status. Nothing here logs a body, a header value or a token.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio
import anyio.to_thread
import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from starlette.exceptions import HTTPException as StarletteHTTPException

from confida.config import Config
from confida.errors import BadInput, ConfidaError, RateLimited, Unauthenticated
from confida.gateway.core import (
    PreparedCall,
    UpstreamUnavailable,
    call_request,
    finish_calls,
    prepare_call,
    prescan,
)
from confida.gateway.restore import restore_json
from confida.gateway.stream import EventRewriter, SseParser
from confida.gateway.upstream import UpstreamSettings
from confida.operation import Actor
from confida.server.deps import ServerContext, bearer, staff
from confida.server.security import BodyLimit, SecurityHeaders

log = logging.getLogger("confida.gateway")

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          404: "not_found_error", 409: "conflict_error", 410: "invalid_request_error",
          413: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error"}
_PATHS = {"chat": "chat/completions", "responses": "responses"}
_TRUE = frozenset({"1", "true", "yes", "on"})
Creds = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
#: Threads that run the core's part of calls (see ``core_limiter``).
CORE_THREADS = 2

# --- metrics: through the server's registry (confida.server.metrics), names only -----------
try:  # pragma: no branch
    from prometheus_client import Counter, Histogram

    from confida.server import metrics as _metrics

    GATEWAY_OVERHEAD = Histogram(
        "confida_gateway_overhead_seconds",
        "Time the gateway adds to a call (checks, scanning, storing, restoring), by endpoint.",
        ["endpoint"], registry=_metrics.LOCAL,
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0))
    GATEWAY_CALLS = Counter(
        "confida_gateway_calls", "Gateway calls by endpoint and status.", ["endpoint", "status"],
        registry=_metrics.LOCAL)
    GATEWAY_TOKENS = Counter(
        "confida_gateway_tokens", "Values tokenised before leaving for the upstream.",
        ["endpoint"], registry=_metrics.LOCAL)
except ImportError:  # pragma: no cover - the metrics module is optional
    GATEWAY_OVERHEAD = GATEWAY_CALLS = GATEWAY_TOKENS = None  # type: ignore[assignment]


def _observe(endpoint: str, status: int, overhead: float, tokens: int = 0) -> None:
    if GATEWAY_OVERHEAD is None:
        return
    GATEWAY_OVERHEAD.labels(endpoint).observe(overhead)
    GATEWAY_CALLS.labels(endpoint, str(status)).inc()
    if tokens:
        GATEWAY_TOKENS.labels(endpoint).inc(tokens)


# --- errors --------------------------------------------------------------------------------------


def openai_error(status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> JSONResponse:
    kind = _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return JSONResponse({"error": {"message": message, "type": kind, "code": code,
                                   "param": None}}, status_code=status, headers=headers)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(ConfidaError)
    async def _confida(_r: Request, exc: ConfidaError) -> JSONResponse:
        headers = {}
        if isinstance(exc, Unauthenticated):
            headers["WWW-Authenticate"] = 'Bearer realm="confida"'
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.retry_after)
        return openai_error(exc.http_status, exc.code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_r: Request, _exc: RequestValidationError) -> JSONResponse:
        return openai_error(400, "invalid-request", "the request does not match the API")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_r: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        return openai_error(exc.status_code, "http-error", detail)

    @app.exception_handler(Exception)
    async def _unexpected(_r: Request, exc: Exception) -> JSONResponse:
        log.error("gateway: unexpected %s", type(exc).__name__)  # never the text: it may hold data
        return openai_error(500, "internal-error", "an unexpected error occurred")


# --- the answer ---------------------------------------------------------------------------------


def answer_text(endpoint: str, doc: Any) -> str:
    """The text of a (restored) answer to store: choice 0's content, or the response's output
    text; a tool call's name and arguments when that is all the model said."""
    if not isinstance(doc, dict):
        return ""
    texts: list[str] = []
    if endpoint == "chat":
        choices = doc.get("choices") or []
        msg = choices[0].get("message", {}) if choices and isinstance(choices[0], dict) else {}
        if isinstance(msg.get("content"), str):
            texts.append(msg["content"])
        for tc in msg.get("tool_calls") or []:
            f = tc.get("function", {}) if isinstance(tc, dict) else {}
            texts.append(f"[tool call {f.get('name')}] {f.get('arguments', '')}")
        return "\n".join(texts)
    for item in doc.get("output") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call":
            texts.append(f"[tool call {item.get('name')}] {item.get('arguments', '')}")
        for part in item.get("content") or []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
    return "\n".join(texts)


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


class AnswerWriter:
    """Stores answers after they were sent, in batches, on one thread of its own
    (:func:`confida.gateway.core.finish_calls`): one transaction for the answers of the calls
    that ended within ``wait`` seconds, instead of one each. An answer still queued when the
    process is killed is lost (its call's audit entry stands); ``close`` stores the rest."""

    def __init__(self, max_batch: int = 64, wait: float = 0.05) -> None:
        self.max_batch, self.wait = max_batch, wait
        self._q: queue.SimpleQueue[tuple[Any, PreparedCall, str] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, vault: Any, call: PreparedCall, answer: str) -> None:
        if not answer:
            return
        self._q.put((vault, call, answer))
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, daemon=True,
                                                    name="confida-gateway-answers")
                    self._thread.start()

    def close(self, timeout: float) -> None:
        if self._thread is not None:
            self._q.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._q.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self.wait
            while len(batch) < self.max_batch:
                try:
                    item = self._q.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                finish_calls(batch[0][0], [(c, a) for _v, c, a in batch])
            except Exception as exc:  # noqa: BLE001 - a lost answer record must not kill the writer
                log.error("gateway: storing %d answer(s) failed: %s", len(batch),
                          type(exc).__name__)


# --- the app ------------------------------------------------------------------------------------


def create_gateway_app(config: Config, upstream: UpstreamSettings, *,
                       transport: httpx.AsyncBaseTransport | None = None,
                       ctx: ServerContext | None = None) -> FastAPI:
    """The gateway as an ASGI app; ``transport`` replaces the network (tests, benchmarks);
    ``ctx`` is the server's context when mounted in ``confida serve`` (one vault)."""
    standalone = ctx is None
    ctx = ctx or ServerContext(config)
    clients: dict[str, httpx.AsyncClient] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if config.api.threads:
            anyio.to_thread.current_default_thread_limiter().total_tokens = config.api.threads
        yield
        writer.close(config.api.shutdown_timeout_seconds)
        if "c" in clients:
            await clients.pop("c").aclose()
        ctx.close()

    limiters: dict[str, anyio.CapacityLimiter] = {}
    writer = AnswerWriter()

    def core_limiter() -> anyio.CapacityLimiter:
        """The core's work (scan, store, audit) runs on a few threads only: it is CPU-bound
        and serialised by the store's writer lock, and more threads only contend for the
        interpreter lock while one of them holds the writer lock (a convoy)."""
        lim = limiters.get("core")
        if lim is None:
            lim = limiters["core"] = anyio.CapacityLimiter(CORE_THREADS)
        return lim

    def client() -> httpx.AsyncClient:
        c = clients.get("c")
        if c is None:
            c = clients["c"] = httpx.AsyncClient(
                transport=transport, timeout=httpx.Timeout(upstream.timeout_seconds, connect=10),
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=100),
                trust_env=False)
        return c

    app = FastAPI(title="Confida privacy gateway", docs_url=None, redoc_url=None,
                  openapi_url=None, lifespan=lifespan)
    app.state.ctx = ctx
    app.state.config = config
    _install_errors(app)
    headers = {"content-type": "application/json"}
    if upstream.api_key:
        headers["authorization"] = f"Bearer {upstream.api_key}"

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models(_actor: Annotated[Actor, Depends(staff)]) -> Response:
        try:
            r = await client().get(upstream.endpoint("models"), headers=headers)
        except httpx.HTTPError:
            raise UpstreamUnavailable("the upstream could not be reached") from None
        return Response(r.content, status_code=r.status_code,
                        media_type=r.headers.get("content-type", "application/json"))

    async def proxy(endpoint: str, request: Request,
                    creds: HTTPAuthorizationCredentials | None) -> Response:
        started = time.perf_counter()
        raw = await request.body()
        body = _loads(raw)
        if body is None:
            raise BadInput("the body is not valid JSON")
        h = request.headers
        req = call_request(
            endpoint, body, subject=h.get("confida-subject"), purpose=h.get("confida-purpose"),
            temporary=(h.get("confida-temporary") or "").strip().lower() in _TRUE,
            conversation_id=h.get("confida-conversation"), upstream_host=upstream.host)
        vault = ctx.vault()

        def authenticate_and_prepare() -> PreparedCall:
            # the server's authentication (deps.staff), in the same thread hop as the core
            actor = staff(request, ctx, creds)
            prescan(req.endpoint, req.body)  # scanning, outside the store's writer lock
            return prepare_call(vault, req, actor=actor)

        call: PreparedCall = await anyio.to_thread.run_sync(authenticate_and_prepare,
                                                            limiter=core_limiter())
        overhead = time.perf_counter() - started
        out = json.dumps(call.body, ensure_ascii=False, separators=(",", ":")).encode()
        url = upstream.endpoint(_PATHS[endpoint])
        c = client()
        try:
            resp = await c.send(c.build_request("POST", url, content=out, headers=headers),
                                stream=True)
        except httpx.HTTPError:
            _observe(endpoint, 502, overhead)
            raise UpstreamUnavailable("the upstream could not be reached") from None
        if not call.stream or resp.status_code >= 400 \
                or "text/event-stream" not in resp.headers.get("content-type", ""):
            try:
                data = await resp.aread()
            except httpx.HTTPError:
                raise UpstreamUnavailable("the upstream's answer was cut off") from None
            finally:
                await resp.aclose()
            t0 = time.perf_counter()
            doc = _loads(data)
            if doc is None:
                content = data.decode("utf-8", "replace")
                restored = call.restore(content).encode()
                overhead += time.perf_counter() - t0
                _observe(endpoint, resp.status_code, overhead, call.tokens_sent)
                return Response(restored, status_code=resp.status_code,
                                media_type=resp.headers.get("content-type"))
            restored_doc = restore_json(doc, call.lookup)
            overhead += time.perf_counter() - t0
            _observe(endpoint, resp.status_code, overhead, call.tokens_sent)
            if resp.status_code < 400:
                writer.put(vault, call, answer_text(endpoint, restored_doc))
            return JSONResponse(restored_doc, status_code=resp.status_code)

        rewriter = EventRewriter(endpoint, call.lookup)
        _observe(endpoint, resp.status_code, overhead, call.tokens_sent)

        async def events() -> AsyncIterator[bytes]:
            parser = SseParser()
            try:
                async for chunk in resp.aiter_bytes():
                    for ev in parser.feed(chunk):
                        yield rewriter.event(ev)
                rest = parser.rest()
                if rest.strip():
                    yield rewriter.event(rest)
                tail = rewriter.flush_all()
                if tail:
                    yield tail
            finally:
                await resp.aclose()
                writer.put(vault, call, "".join(rewriter.answer))

        return StreamingResponse(events(), status_code=resp.status_code,
                                 media_type="text/event-stream",
                                 headers={"cache-control": "no-store"})

    @app.post("/v1/chat/completions")
    async def chat(request: Request, creds: Creds) -> Response:
        return await proxy("chat", request, creds)

    @app.post("/v1/responses")
    async def responses(request: Request, creds: Creds) -> Response:
        return await proxy("responses", request, creds)

    if standalone and GATEWAY_OVERHEAD is not None:  # this process's metrics (/metrics)
        app.include_router(_metrics.router)
    app.add_middleware(BodyLimit, max_bytes=config.api.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    return app


def mount_gateway(app: FastAPI, config: Config) -> bool:
    """Serve the gateway under ``/gateway`` of ``confida serve`` when ``gateway.toml`` (or
    ``CONFIDA_UPSTREAM_URL``) names an upstream; False (nothing mounted) otherwise."""
    import os

    from confida.gateway.upstream import SETTINGS_FILE, URL_ENV, load_settings

    if not (config.data_dir / SETTINGS_FILE).exists() and not os.environ.get(URL_ENV):
        return False
    settings = load_settings(config.data_dir)
    app.mount("/gateway", create_gateway_app(config, settings, ctx=app.state.ctx))
    return True
