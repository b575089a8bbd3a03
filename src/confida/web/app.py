"""The web app's assembly: the privacy center (``/privacy``), the console (``/console``), their
static files, the security headers, and the pages the session dependencies answer with.

``mount(app, config)`` is the one-line integration in ``server/app.py``. Every state change is
a POST with a CSRF token, and URLs carry no personal data.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class WebHeaders:
    """The pages' security headers, on the pages only. A pure ASGI middleware: the API's
    requests pass straight through (Starlette's ``@app.middleware("http")`` wrapped every API
    call in extra tasks and streams, about a third of a collect's time in the event loop)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(WEB_PREFIXES):
            await self.app(scope, receive, send)
            return
        no_store = not path.startswith("/static")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                h = MutableHeaders(scope=message)
                h["Content-Security-Policy"] = CSP
                h["X-Frame-Options"] = "DENY"
                h["X-Content-Type-Options"] = "nosniff"
                h["Referrer-Policy"] = "no-referrer"
                h["Cross-Origin-Opener-Policy"] = "same-origin"
                h["Strict-Transport-Security"] = "max-age=31536000"
                if no_store:
                    h["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)


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

    app.add_middleware(WebHeaders)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=303)
