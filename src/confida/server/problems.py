"""Errors as RFC 9457 problem details (``application/problem+json``).

The ``type`` of each problem is stable (``https://confida.dev/problems/<code>``, the core error's
``code``) so clients can branch on it; ``detail`` is the core's message, which by the core's own
rule names purposes, kinds and ids but never a personal value. Unexpected exceptions become a
bare 500 problem: no stack trace, no exception text (it could hold anything).
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import exc as sqlalchemy_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from confida.error_detail import describe
from confida.errors import ConfidaError, RateLimited, Unauthenticated

PROBLEM_BASE = "https://confida.dev/problems/"
MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("confida.server")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="stable URI naming the kind of problem")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        None, description="for validation problems: where the input is wrong (never its value)"
    )


_TITLES = {
    400: "Bad request", 401: "Unauthenticated", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 406: "Not acceptable", 409: "Conflict", 410: "Gone",
    413: "Payload too large", 415: "Unsupported media type", 422: "Unprocessable content",
    429: "Too many requests", 500: "Internal server error", 503: "Service unavailable",
    504: "Gateway timeout",
}

_HTTP_CODES = {404: "not-found", 405: "method-not-allowed", 406: "not-acceptable",
               413: "payload-too-large", 415: "unsupported-media-type"}


def problem(
    status: int, code: str, detail: str | None = None, *, headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    body = Problem(type=PROBLEM_BASE + code, title=_TITLES.get(status, "Error"), status=status,
                   detail=detail, errors=errors)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status,
                        media_type=MEDIA_TYPE, headers=headers)


def from_error(exc: ConfidaError) -> JSONResponse:
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="confida"'
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    return problem(exc.http_status, exc.code, exc.message, headers=headers)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Location and reason only: pydantic's ``input`` would echo the (personal) value back."""
    out = []
    for e in exc.errors()[:20]:
        out.append({"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
                    "type": str(e.get("type", ""))})
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(ConfidaError)
    async def _confida(_request: Request, exc: ConfidaError) -> JSONResponse:
        return from_error(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(422, "invalid-request", "the request does not match the API schema",
                       errors=_validation_errors(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http-error")
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            # FastAPI's answer to any parse failure, a document nested past the parser's stack
            # included (the core refuses more than 64 levels as invalid-record)
            code, detail = "invalid-json", "the body is not valid JSON or is nested too deeply"
        return problem(exc.status_code, code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        if _store_busy(exc):
            # a locked or unreachable database that a code path did not wrap in
            # StoreUnavailable: the request was lawful and may be retried, so 503, not 500
            log.warning("database unavailable while handling a request: %s", describe(exc))
            return problem(503, "store-unavailable",
                           "the database is busy or unavailable; retry shortly",
                           headers={"Retry-After": "1"})
        log.error("unexpected %s while handling a request", describe(exc))
        return problem(500, "internal-error", "an unexpected error occurred; it has been logged")


def _store_busy(exc: BaseException) -> bool:
    """An operational database error (locked, connection lost), from SQLAlchemy or from a
    driver connection used directly; never an integrity or programming error, which are bugs."""
    if isinstance(exc, sqlalchemy_exc.OperationalError):
        return True
    return isinstance(exc, sqlite3.OperationalError | psycopg.OperationalError)
