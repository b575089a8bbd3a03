"""The ASGI application: the REST API under /v1, with its protections.

Order of the middlewares (outermost first): security headers on every answer, then the bound on
requests in flight (backpressure), then the request timeout, then the body size limit, so that
even a refusal carries the headers and an overloaded process refuses before reading a byte.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from confida import readiness
from confida.config import Config
from confida.server import api, audit_api, problems, rights_api
from confida.server.backpressure import InFlightLimit
from confida.server.deps import ServerContext
from confida.server.security import BodyLimit, SecurityHeaders, Timeout
from confida.version import __version__


class ReadyOut(BaseModel):
    status: str
    checks: dict[str, str]

_ERROR_STATUSES = {
    "400": "Bad input (e.g. no Confida-Purpose header on a read)",
    "401": "No valid credential",
    "403": "Refused by a rule: role, purpose, consent or objection",
    "404": "Not found",
    "409": "The subject's processing is restricted",
    "410": "The subject was erased",
    "413": "Request body too large",
    "422": "The request does not match the schema or the register",
    "429": "Rate limit exceeded (see Retry-After)",
    "503": "Overloaded (see Retry-After), a key or the store is unavailable, or the request "
           "timed out",
}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated document, with every error documented as problem+json."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description,
                      routes=app.routes)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = problems.Problem.model_json_schema(ref_template="#/components/schemas/"
                                                            "{model}")
    ref = {"$ref": "#/components/schemas/Problem"}
    for path, item in doc.get("paths", {}).items():
        for op in item.values():
            responses = op.setdefault("responses", {})
            statuses = dict(_ERROR_STATUSES) if path.startswith("/v1") else {}
            if "parameters" in op or "requestBody" in op:
                statuses.setdefault("422", _ERROR_STATUSES["422"])
            for code, desc in statuses.items():
                responses[code] = {"description": desc,
                                   "content": {problems.MEDIA_TYPE: {"schema": ref}}}
            if "requestBody" in op:
                responses["413"] = {"description": _ERROR_STATUSES["413"],
                                    "content": {problems.MEDIA_TYPE: {"schema": ref}}}
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    # --- tags and examples, keyed by operationId (confida.server.openapi_doc)
    from confida.server import openapi_doc
    openapi_doc.enrich(doc)
    # ---
    app.openapi_schema = doc
    return doc


def create_app(config: Config) -> FastAPI:
    ctx = ServerContext(config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if config.api.threads:
            import anyio.to_thread

            anyio.to_thread.current_default_thread_limiter().total_tokens = config.api.threads
        yield
        ctx.close()

    app = FastAPI(
        title="Confida",
        version=__version__,
        description="GDPR and confidentiality by construction for the personal data of AI "
        "services. Authenticate with `Authorization: Bearer <key>`; state why you read personal "
        "data in `Confida-Purpose`. Errors are RFC 9457 problem details.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry spans and logs carry the concrete path, the query and
        # exception texts (personal data): off; confida.server.tracing records names only
        telemetry={"tracing": False, "metrics": False, "logs": False,
                   "operation_spans": False, "auto_configure": False},
    )
    app.state.config = config
    app.state.ctx = ctx
    problems.install(app)

    @app.get("/health", tags=["meta"], operation_id="getHealth")
    def health() -> dict[str, str]:
        """Liveness: the process answers. No personal data, no authentication needed."""
        return {"status": "ok", "version": __version__}

    @app.get("/ready", tags=["meta"], response_model=ReadyOut, operation_id="getReadiness",
         responses={
        503: {"description": "Not ready: a check failed (named in `detail` and `checks`)",
              "content": {problems.MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/"
                                                                   "Problem"}}}}})
    def ready() -> Any:
        """Readiness: the record store and key store answer on a fresh connection, the KEK
        opens the key store's index key, and every background job (retention) is alive and
        its last run succeeded. 503 names the failing checks; no authentication needed."""
        result = ctx.readiness.run()
        if result.ready:
            return ReadyOut(status="ready", checks=result.checks)
        return JSONResponse(readiness.problem_body(result), status_code=503,
                            media_type=problems.MEDIA_TYPE)

    app.include_router(api.router)
    app.include_router(audit_api.router)
    app.include_router(rights_api.router)
    pii = api.pii_router()
    if pii is not None:
        app.include_router(pii)
    # --- the interactive API reference at /docs (confida.server.docs_page)
    from confida.server import docs_page
    app.include_router(docs_page.router)
    # ---
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]

    app.add_middleware(BodyLimit, max_bytes=config.api.max_body_bytes)
    app.add_middleware(Timeout, seconds=config.api.request_timeout_seconds)
    app.add_middleware(InFlightLimit, limit=config.api.max_in_flight)
    app.add_middleware(SecurityHeaders)

    from confida.web.app import mount  # the privacy center and the console

    mount(app, config)

    # --- observability (outermost): request id, then the span, then metrics of every answer,
    # refusals of the limits above included; /metrics itself (confida.server.metrics)
    from confida.server import metrics, request_id, tracing

    metrics.register_observer()
    app.include_router(metrics.router)
    app.add_middleware(metrics.HttpMetrics)
    if tracing.enabled(config.api.tracing):
        app.add_middleware(tracing.Tracing)
    app.add_middleware(request_id.RequestId)
    # ---
    # --- privacy gateway: under /gateway when an upstream is configured (docs/gateway.md)
    from confida.server.gateway_api import mount_gateway

    mount_gateway(app, config)
    # --- end privacy gateway
    return app
