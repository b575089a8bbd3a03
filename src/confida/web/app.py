"""Routes of the privacy center (``/privacy``) and the console (``/console``).

``mount(app, config)`` is the one-line integration in ``server/app.py``. Every state change is
a POST with a CSRF token; URLs carry no personal data (the privacy-center link's token is
exchanged for a session cookie and redirected away at once); pages call ``ports`` only.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from confida.config import Config
from confida.errors import BadInput, ConfidaError, Refused, Unauthenticated
from confida.operation import Actor
from confida.vault import Vault
from confida.web import csrf, i18n, ports
from confida.web import session as sessions

HERE = Path(__file__).resolve().parent
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
WEB_PREFIXES = ("/privacy", "/console", "/static")
REQUEST_TYPES = ("rectification", "restriction", "objection")
MAX_FORM_BYTES = 64 * 1024

env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True, lstrip_blocks=True,
)


def _date(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else ""


env.filters["date"] = _date


class Web:
    """Per-application state: the vault (opened lazily) and the clock used for sessions."""

    def __init__(self, config: Config, shared: Any = None) -> None:
        self.config = config
        self._shared = shared  # the API's ServerContext: one vault (and key cache) per process
        self._vault: Vault | None = None

    @property
    def vault(self) -> Vault:
        if self._shared is not None:
            return self._shared.vault()  # type: ignore[no-any-return]
        if self._vault is None:  # mounted without the API (tests, embedding): its own vault
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


def _web(request: Request) -> Web:
    return request.app.state.web  # type: ignore[no-any-return]


# --- rendering and session plumbing ----------------------------------------------------------


def _lang(request: Request) -> str:
    return i18n.negotiate(request.headers.get("accept-language"), request.cookies.get(i18n.COOKIE))


def _session(request: Request) -> sessions.Session | None:
    return sessions.open_cookie(_web(request).vault, request.cookies.get(sessions.COOKIE),
                                time.time())


def _render(request: Request, template: str, s: sessions.Session | None, *,
            status: int = 200, **ctx: Any) -> HTMLResponse:
    """Render a page; make sure the browser holds a session (for the CSRF token) afterwards."""
    now = time.time()
    if s is None:
        s = sessions.new(sessions.ANON, now, csrf=csrf.new_token())
    lang = _lang(request)
    html = env.get_template(template).render(
        t=i18n.translator(lang), lang=lang, basis=lambda v: i18n.basis(lang, v),
        csrf_token=s.csrf, session=s, path=request.url.path, **ctx,
    )
    resp = HTMLResponse(html, status_code=status)
    resp.set_cookie(value=sessions.seal(_web(request).vault, s), **sessions.cookie_args(s, now))
    return resp


async def _form(request: Request, s: sessions.Session | None) -> dict[str, str] | None:
    """The posted form when its CSRF token matches the session's; None otherwise."""
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        return None
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    if s is None or not csrf.valid(s.csrf, data.get(csrf.FIELD)):
        return None
    return data


def _forbidden(request: Request, s: sessions.Session | None) -> HTMLResponse:
    return _render(request, "message.html", s, status=403, title_key="error",
                   body_key="forbidden")


def _see_other(url: str, *, flash: str | None = None) -> RedirectResponse:
    return RedirectResponse(url + (f"?done={flash}" if flash else ""), status_code=303)


def _subject_actor(s: sessions.Session) -> Actor:
    """The person acting on their own data: no staff role; named by the session id only."""
    return Actor(id=f"privacy-center:{s.sid}", role=None, source="web")


def _staff_actor(s: sessions.Session) -> Actor:
    return Actor(id=s.sub or "unknown", role=s.role, source="web")


FLASHES = {"consent": "consent_saved", "request": "request_sent", "done": "done"}


# --- privacy center --------------------------------------------------------------------------

privacy = APIRouter(prefix="/privacy", include_in_schema=False)


def _subject_session(request: Request) -> sessions.Session | None:
    s = _session(request)
    return s if s is not None and s.kind == sessions.SUBJECT and s.sub else None


def _session_over(request: Request) -> HTMLResponse:
    return _render(request, "message.html", None, status=401, title_key="privacy_center",
                   body_key="session_over")


@privacy.get("/enter")
def enter(request: Request, token: str = "") -> Response:
    """Exchange the link's token for a session and leave the URL at once (303, no-referrer)."""
    vault = _web(request).vault
    try:
        external_id = ports.subject_from_link(vault, token)
    except (Unauthenticated, BadInput):
        return _render(request, "message.html", None, status=401,
                       title_key="link_invalid_title", body_key="link_invalid_body")
    now = time.time()
    s = sessions.new(sessions.SUBJECT, now, csrf=csrf.new_token(), sub=external_id)
    resp = RedirectResponse("/privacy/", status_code=303)
    resp.set_cookie(value=sessions.seal(vault, s), **sessions.cookie_args(s, now))
    return resp


@privacy.get("/")
def overview(request: Request, done: str = "") -> Response:
    s = _subject_session(request)
    if s is None:
        return _session_over(request)
    vault = _web(request).vault
    assert s.sub is not None
    if ports.is_erased(vault, s.sub):
        return _render(request, "message.html", s, status=410, title_key="deleted_title",
                       body_key="deleted_body")
    actor = _subject_actor(s)
    reg = vault.register
    states = ports.consent_state(vault, s.sub)
    consents = [
        {"purpose": name, "prompt": p.consent_prompt or p.description,
         "description": p.description, "on": bool(states.get(name, {}).get("granted"))}
        for name, p in reg.purposes.items() if p.consent_required
    ]
    objectable = [{"name": n, "description": p.description} for n, p in reg.purposes.items()
                  if p.legal_basis.value in ("legitimate_interests", "public_task")]
    reqs = ports.my_requests(vault, s.sub)
    flash = FLASHES.get(done)
    flash_kw = {"due": _date(reqs[0].due_at)} if done == "request" and reqs else {}
    return _render(
        request, "privacy/overview.html", s, holdings=ports.holdings(vault, s.sub, actor),
        consents=consents, notice_version=vault.notice_version(), requests=reqs,
        request_types=REQUEST_TYPES, objectable=objectable, flash=flash, flash_kw=flash_kw,
        form_request_id=f"web-{uuid.uuid4().hex}",  # a resent form is the same request
    )


@privacy.post("/consent")
async def set_consent(request: Request) -> Response:
    s = _subject_session(request)
    form = await _form(request, s)
    if form is None or s is None or s.sub is None:
        return _forbidden(request, s)
    purpose, choice = form.get("purpose", ""), form.get("choice", "")
    if choice not in ("on", "off"):
        return _forbidden(request, s)
    vault = _web(request).vault
    if not csrf.valid(vault.notice_version(), form.get("notice_version")):
        # The notice changed since the page was shown: the choice must be made against the
        # current one, which is the version the consent will record.
        return _render(request, "message.html", s, status=409, title_key="error",
                       body_key="notice_changed")
    try:
        ports.set_consent(vault, s.sub, purpose, choice == "on", _subject_actor(s))
    except ConfidaError as exc:
        return _error(request, s, exc)
    return _see_other("/privacy/", flash="consent")


@privacy.post("/export")
async def export(request: Request) -> Response:
    s = _subject_session(request)
    form = await _form(request, s)
    if form is None or s is None or s.sub is None:
        return _forbidden(request, s)
    try:
        data = ports.access_export(_web(request).vault, s.sub, _subject_actor(s))
    except ConfidaError as exc:
        return _error(request, s, exc)
    return Response(data, media_type="application/zip", headers={
        "Content-Disposition": 'attachment; filename="my-data.zip"',
        "Cache-Control": "no-store",
    })


@privacy.post("/request")
async def new_request(request: Request) -> Response:
    s = _subject_session(request)
    form = await _form(request, s)
    if form is None or s is None or s.sub is None:
        return _forbidden(request, s)
    type_ = form.get("type", "")
    if type_ not in REQUEST_TYPES:
        return _forbidden(request, s)
    purpose = form.get("purpose") or None if type_ == "objection" else None
    try:
        ports.submit_request(_web(request).vault, s.sub, type_, purpose=purpose,
                             request_id=form.get("request_id") or None,
                             actor=_subject_actor(s))
    except ConfidaError as exc:
        return _error(request, s, exc)
    return _see_other("/privacy/", flash="request")


@privacy.get("/delete")
def delete_page(request: Request) -> Response:
    s = _subject_session(request)
    if s is None:
        return _session_over(request)
    return _render(request, "privacy/delete.html", s)


@privacy.post("/delete")
async def delete(request: Request) -> Response:
    s = _subject_session(request)
    form = await _form(request, s)
    if form is None or s is None or s.sub is None:
        return _forbidden(request, s)
    if form.get("confirm") != "yes":
        return _render(request, "privacy/delete.html", s, status=400, missing_confirm=True)
    try:
        ports.erase(_web(request).vault, s.sub, _subject_actor(s))
    except ConfidaError as exc:
        return _error(request, s, exc)
    resp = _render(request, "message.html", None, title_key="deleted_title",
                   body_key="deleted_body")
    return resp


@privacy.get("/notice")
def notice(request: Request) -> Response:
    s = _session(request)
    body, version = ports.notice_html(_web(request).vault, _lang(request))
    return _render(request, "privacy/notice.html", s, notice_body=Markup(body),  # noqa: S704
                   notice_version=version)


@privacy.post("/lang")
async def set_lang(request: Request) -> Response:
    """The language switch: a cookie, then back to a fixed page (no open redirect)."""
    s = _session(request)
    form = await _form(request, s)
    if form is None:
        return _forbidden(request, s)
    lang = form.get("lang", "")
    back = form.get("back", "")
    target = back if back in _SAFE_BACK else "/privacy/"
    resp = RedirectResponse(target, status_code=303)
    if lang in i18n.LANGS:
        resp.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, path="/", secure=True,
                        httponly=True, samesite="strict")
    return resp


@privacy.post("/signout")
async def signout(request: Request) -> Response:
    s = _session(request)
    if await _form(request, s) is None:
        return _forbidden(request, s)
    resp = _render(request, "message.html", None, title_key="privacy_center",
                   body_key="session_over")
    return resp


def _error(request: Request, s: sessions.Session | None, exc: ConfidaError) -> HTMLResponse:
    """A core refusal shown as a page; the message names rules, never personal values."""
    return _render(request, "message.html", s, status=exc.http_status, title_key="error",
                   body_text=exc.message)


# --- console ---------------------------------------------------------------------------------

console = APIRouter(prefix="/console", include_in_schema=False)
_SAFE_BACK = {"/privacy/", "/privacy/notice", "/privacy/delete", "/console/", "/console/login",
              "/console/keys", "/console/register", "/console/compliance", "/console/audit",
              "/console/breaches"}
NAV = ("requests_staff", "compliance", "audit", "register", "breaches", "keys")


def _staff_session(request: Request) -> sessions.Session | None:
    s = _session(request)
    if s is None or s.kind != sessions.STAFF or not s.sub:
        return None
    return s if ports.staff_still_valid(_web(request).vault, s.sub) else None


def _to_login() -> RedirectResponse:
    return RedirectResponse("/console/login", status_code=303)


@console.get("/login")
def login_page(request: Request) -> Response:
    return _render(request, "console/login.html", _session(request))


@console.post("/login")
async def login(request: Request) -> Response:
    s = _session(request)
    form = await _form(request, s)
    if form is None:
        return _forbidden(request, s)
    vault = _web(request).vault
    try:
        actor, exp = ports.staff_login(vault, form.get("api_key", "").strip()[:8192],
                                       _web(request).oidc())
    except (Unauthenticated, Refused):
        return _render(request, "console/login.html", s, status=401, failed=True)
    now = time.time()
    new = sessions.new(sessions.STAFF, now, csrf=csrf.new_token(), sub=actor.id, role=actor.role)
    if exp is not None and exp < new.exp:  # an OIDC session ends with its token
        new = dataclasses.replace(new, exp=exp)
    resp = RedirectResponse("/console/", status_code=303)
    resp.set_cookie(value=sessions.seal(vault, new), **sessions.cookie_args(new, now))
    return resp


@console.get("/")
def requests_page(request: Request, done: str = "") -> Response:
    s = _staff_session(request)
    if s is None:
        return _to_login()
    vault = _web(request).vault
    try:
        reqs = ports.staff_requests(vault, _staff_actor(s))
    except ConfidaError as exc:
        return _error(request, s, exc)
    return _render(request, "console/requests.html", s, requests=reqs, nav=NAV,
                   current="requests_staff", chart=_chart(reqs, vault.clock()),
                   flash=FLASHES.get(done))


@console.post("/requests/complete")
async def complete(request: Request) -> Response:
    s = _staff_session(request)
    form = await _form(request, s)
    if form is None or s is None:
        return _forbidden(request, s)
    try:
        ports.complete_request(_web(request).vault, form.get("request_id", ""), _staff_actor(s))
    except ConfidaError as exc:
        return _error(request, s, exc)
    return _see_other("/console/", flash="done")


@console.post("/requests/extend")
async def extend(request: Request) -> Response:
    s = _staff_session(request)
    form = await _form(request, s)
    if form is None or s is None:
        return _forbidden(request, s)
    try:
        months = int(form.get("months", "0"))
        ports.extend_request(_web(request).vault, form.get("request_id", ""), months,
                             form.get("reason", ""), _staff_actor(s))
    except ValueError:
        return _error(request, s, BadInput("an extension is 1 or 2 months"))
    except ConfidaError as exc:
        return _error(request, s, exc)
    return _see_other("/console/", flash="done")


@console.get("/audit")
def audit_page(request: Request) -> Response:
    s = _staff_session(request)
    if s is None:
        return _to_login()
    try:
        status = ports.audit_status(_web(request).vault, _staff_actor(s))
    except ConfidaError as exc:
        return _error(request, s, exc)
    return _render(request, "console/audit.html", s, nav=NAV, current="audit", audit=status)


@console.post("/audit/verify")
async def audit_verify(request: Request) -> Response:
    s = _staff_session(request)
    form = await _form(request, s)
    if form is None or s is None:
        return _forbidden(request, s)
    try:
        status = ports.audit_status(_web(request).vault, _staff_actor(s), verify=True)
    except ConfidaError as exc:
        return _error(request, s, exc)
    return _render(request, "console/audit.html", s, nav=NAV, current="audit", audit=status)


@console.get("/compliance")
def compliance_page(request: Request) -> Response:
    s = _staff_session(request)
    if s is None:
        return _to_login()
    return _render(request, "console/compliance.html", s, nav=NAV, current="compliance")


@console.post("/compliance")
async def compliance_run(request: Request) -> Response:
    """Running the checks reads the whole store, so it is an explicit POST, not a page view."""
    s = _staff_session(request)
    form = await _form(request, s)
    if form is None or s is None:
        return _forbidden(request, s)
    try:
        report = ports.compliance_report(_web(request).vault, _staff_actor(s))
    except ConfidaError as exc:
        return _error(request, s, exc)
    return _render(request, "console/compliance.html", s, nav=NAV, current="compliance",
                   report=report)


@console.get("/breaches")
def breaches_page(request: Request) -> Response:
    s = _staff_session(request)
    if s is None:
        return _to_login()
    try:
        rows = ports.breaches(_web(request).vault, _staff_actor(s))
    except ConfidaError as exc:
        return _error(request, s, exc)
    return _render(request, "console/breaches.html", s, nav=NAV, current="breaches",
                   breaches=rows)


@console.get("/register")
def register_page(request: Request) -> Response:
    s = _staff_session(request)
    if s is None:
        return _to_login()
    vault = _web(request).vault
    return _render(request, "console/register.html", s, nav=NAV, current="register",
                   reg=vault.register, reg_hash=vault.register.content_hash(),
                   notice_version=vault.notice_version())


@console.get("/keys")
def keys_page(request: Request) -> Response:
    s = _staff_session(request)
    if s is None:
        return _to_login()
    return _render(request, "console/keys.html", s, nav=NAV, current="keys",
                   keys=ports.key_status(_web(request).vault))


@console.post("/signout")
async def staff_signout(request: Request) -> Response:
    s = _session(request)
    if await _form(request, s) is None:
        return _forbidden(request, s)
    return _render(request, "console/login.html", None)


def _chart(reqs: list[Any], now: datetime, weeks: int = 8) -> dict[str, Any]:
    """Requests received per week for the last ``weeks`` weeks, and median days to close.

    Drawn as inline SVG by the template: no script, with a title and description for screen
    readers and the numbers repeated in a table.
    """
    start = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0,
                                                          microsecond=0)
    starts = [start - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    counts = [0] * weeks
    for r in reqs:
        i = (r.received_at - starts[0]).days // 7
        if 0 <= i < weeks:
            counts[i] += 1
    top = max(counts) or 1
    bars = [
        {"x": 10 + i * 40, "h": round(100 * c / top), "y": 110 - round(100 * c / top),
         "count": c, "label": starts[i].strftime("%m-%d")}
        for i, c in enumerate(counts)
    ]
    days = [(r.closed_at - r.received_at).total_seconds() / 86400 for r in reqs
            if r.closed_at is not None]
    median = round(statistics.median(days), 1) if days else None
    return {"bars": bars, "weeks": weeks, "median": median, "width": 10 + weeks * 40}


# --- integration -----------------------------------------------------------------------------


def mount(app: FastAPI, config: Config) -> None:
    """Add the privacy center, the console, their static files and security headers."""
    app.state.web = Web(config, getattr(app.state, "ctx", None))
    app.include_router(privacy)
    app.include_router(console)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

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
