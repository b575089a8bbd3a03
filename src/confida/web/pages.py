"""What the privacy center and the console share: templates, the session cookie, CSRF forms.

Pages resolve who is acting through the dependencies here (:func:`subject_page`,
:func:`staff_page`, :func:`checked_form`); a missing, ended or expired server-side session is
a signed-out visitor, whatever cookie the browser sends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from confida import web_sessions
from confida.config import Config
from confida.errors import ConfidaError
from confida.operation import Actor
from confida.register.models import localized
from confida.vault import Vault
from confida.web import csrf, i18n
from confida.web import session as sessions

HERE = Path(__file__).resolve().parent
MAX_FORM_BYTES = 64 * 1024

env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True, lstrip_blocks=True,
)


def _date(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else ""


def _minute(value: datetime | None) -> str:
    """A moment to the minute (``2026-12-08 14:05``): pages never show seconds' fractions."""
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


env.filters["date"] = _date
env.filters["minute"] = _minute


class Web:
    """Per-application state: the vault (the API's when mounted into it) and the OIDC verifier."""

    def __init__(self, config: Config, shared: Any = None) -> None:
        self.config = config
        self._shared = shared  # the API's ServerContext: one vault (and key cache) per process
        self._vault: Vault | None = None

    @property
    def vault(self) -> Vault:
        if self._shared is not None:
            return self._shared.vault()  # type: ignore[no-any-return]
        if self._vault is None:  # mounted without the API (embedding): its own vault
            from confida.audit.sink import open_sink

            self._vault = Vault.open(self.config, audit=open_sink(self.config))
        return self._vault

    def oidc(self) -> Any:
        """The API's OIDC verifier when ``[oidc]`` is configured, else None (API keys only)."""
        if self._shared is None or not self.config.oidc.enabled:
            return None
        return self._shared.verifier()

    def close(self) -> None:
        if self._vault is not None:
            self._vault.close()
            self._vault = None


def web(request: Request) -> Web:
    return request.app.state.web  # type: ignore[no-any-return]


def vault_of(request: Request) -> Vault:
    return web(request).vault


# --- signals the app turns into pages ------------------------------------------------------


class LoginRequired(Exception):
    """A console page without a live staff session: redirect to the sign-in page."""


class SessionOver(Exception):
    """A privacy-center page without a live subject session."""


class Forbidden(Exception):
    """A POST without a live session or with a wrong CSRF token."""


# --- sessions ------------------------------------------------------------------------------


def lang(request: Request) -> str:
    return i18n.negotiate(request.headers.get("accept-language"), request.cookies.get(i18n.COOKIE))


def cookie_session(request: Request) -> sessions.Session | None:
    """The browser's session if it is still live on the server (anonymous ones have no row)."""
    vault = vault_of(request)
    s = sessions.open_cookie(vault, request.cookies.get(sessions.COOKIE), time.time())
    if s is None or s.kind == sessions.ANON:
        return s
    return s if web_sessions.resume(vault, s.sid, s.kind, s.kv) is not None else None


@dataclass(frozen=True)
class Page:
    """A signed-in visitor: the cookie, the server-side session and who acts in it."""

    cookie: sessions.Session
    server: web_sessions.WebSession
    actor: Actor


def _page(request: Request, kind: str) -> Page | None:
    vault = vault_of(request)
    s = sessions.open_cookie(vault, request.cookies.get(sessions.COOKIE), time.time())
    if s is None or s.kind != kind:
        return None
    server = web_sessions.resume(vault, s.sid, kind, s.kv)
    if server is None:
        return None
    return Page(s, server, web_sessions.actor_of(server, s.role))


def subject_page(request: Request) -> Page:
    """The person signed in to the privacy center; otherwise the session-over page."""
    page = _page(request, sessions.SUBJECT)
    if page is None:
        raise SessionOver
    return page


def staff_page(request: Request) -> Page:
    """The staff member signed in to the console; otherwise a redirect to the sign-in page.
    Every console page depends on this, so none can be reached without it."""
    page = _page(request, sessions.STAFF)
    if page is None:
        raise LoginRequired
    return page


async def read_form(request: Request, s: sessions.Session | None) -> dict[str, str]:
    """The posted form when its CSRF token matches the session's; :class:`Forbidden` otherwise."""
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        raise Forbidden
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    if s is None or not csrf.valid(s.csrf, data.get(csrf.FIELD)):
        raise Forbidden
    return data


async def subject_form(request: Request) -> tuple[Page, dict[str, str]]:
    """A privacy-center POST: a live subject session and its CSRF token, else 403."""
    page = _page(request, sessions.SUBJECT)
    if page is None:
        raise Forbidden
    return page, await read_form(request, page.cookie)


async def checked_form(request: Request) -> dict[str, str]:
    """A POST from any visitor (sign-in, language): its CSRF token must match the cookie's."""
    return await read_form(request, cookie_session(request))


SubjectPage = Annotated[Page, Depends(subject_page)]
SubjectForm = Annotated[tuple[Page, dict[str, str]], Depends(subject_form)]
StaffPage = Annotated[Page, Depends(staff_page)]
CheckedForm = Annotated[dict[str, str], Depends(checked_form)]


async def staff_form(request: Request, page: StaffPage) -> dict[str, str]:
    """A console POST: the staff page's session and its CSRF token."""
    return await read_form(request, page.cookie)


StaffForm = Annotated[dict[str, str], Depends(staff_form)]


# --- rendering -----------------------------------------------------------------------------


def render(request: Request, template: str, s: sessions.Session | None, *,
           status: int = 200, **ctx: Any) -> HTMLResponse:
    """Render a page; make sure the browser holds a session (for the CSRF token) afterwards."""
    now = time.time()
    vault = vault_of(request)
    if s is None:
        s = sessions.anonymous(now, csrf=csrf.new_token(),
                               key_version=web_sessions.current_key_version(vault))
    language = lang(request)
    html = env.get_template(template).render(
        t=i18n.translator(language), lang=language, basis=lambda v: i18n.basis(language, v),
        has=lambda key: key in i18n.EN, loc=lambda v: localized(v, language),
        # text that exists in English only (the core's messages and evidence) says so
        en_only=Markup(' lang="en"') if language != "en" else Markup(""),
        num=lambda x: str(x).replace(".", ",") if language == "de" else str(x),
        csrf_token=s.csrf, session=s, path=request.url.path, **ctx,
    )
    resp = HTMLResponse(html, status_code=status)
    resp.set_cookie(value=sessions.seal(vault, s), **sessions.cookie_args(s, now))
    return resp


def start(resp: RedirectResponse, request: Request, server: web_sessions.WebSession,
          role: str | None = None) -> RedirectResponse:
    """Hand the browser the cookie of a freshly opened server-side session."""
    s = sessions.for_server_session(server, csrf=csrf.new_token(), role=role)
    resp.set_cookie(value=sessions.seal(vault_of(request), s),
                    **sessions.cookie_args(s, time.time()))
    return resp


def see_other(url: str, *, flash: str | None = None) -> RedirectResponse:
    return RedirectResponse(url + (f"?done={flash}" if flash else ""), status_code=303)


def error(request: Request, s: sessions.Session | None, exc: ConfidaError) -> HTMLResponse:
    """A core refusal shown as a page; the message names rules, never personal values."""
    return render(request, "message.html", s, status=exc.http_status, title_key="error",
                  body_text=exc.message)


def forbidden(request: Request) -> HTMLResponse:
    return render(request, "message.html", cookie_session(request), status=403,
                  title_key="error", body_key="forbidden")


def session_over(request: Request) -> HTMLResponse:
    return render(request, "message.html", None, status=401, title_key="privacy_center",
                  body_key="session_over")


FLASHES = {"consent": "consent_saved", "request": "request_sent", "done": "done"}
SAFE_BACK = {"/privacy/", "/privacy/notice", "/privacy/delete", "/console/", "/console/login",
             "/console/keys", "/console/register", "/console/compliance", "/console/audit",
             "/console/breaches", "/console/webhooks"}
