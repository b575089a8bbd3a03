"""The web app's assembly: the privacy center (``/privacy``), the console (``/console``), their
static files, the security headers, and the pages the session dependencies answer with.

``mount(app, config)`` is the one-line integration in ``server/app.py``. Every state change is
a POST with a CSRF token, and URLs carry no personal data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from confida.config import Config
from confida.web import console, privacy_center
from confida.web.pages import (
    HERE,
    Forbidden,
    LoginRequired,
    SessionOver,
    Web,
    forbidden,
    session_over,
)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
WEB_PREFIXES = ("/privacy", "/console", "/static")


async def _to_login(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/console/login", status_code=303)


async def _session_over(request: Request, exc: Exception) -> Response:
    return session_over(request)


async def _forbidden(request: Request, exc: Exception) -> Response:
    return forbidden(request)


def mount(app: FastAPI, config: Config) -> None:
    """Add the privacy center, the console, their static files and security headers."""
    app.state.web = Web(config, getattr(app.state, "ctx", None))
    app.include_router(privacy_center.router)
    app.include_router(console.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_exception_handler(LoginRequired, _to_login)
    app.add_exception_handler(SessionOver, _session_over)
    app.add_exception_handler(Forbidden, _forbidden)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if request.url.path.startswith(WEB_PREFIXES):
            h = response.headers
            h["Content-Security-Policy"] = CSP
            h["X-Frame-Options"] = "DENY"
            h["X-Content-Type-Options"] = "nosniff"
            h["Referrer-Policy"] = "no-referrer"
            h["Cross-Origin-Opener-Policy"] = "same-origin"
            h["Strict-Transport-Security"] = "max-age=31536000"
            if not request.url.path.startswith("/static"):
                h["Cache-Control"] = "no-store"
        return response

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=303)
