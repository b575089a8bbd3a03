"""The privacy center (``/privacy``): a person sees and acts on their own data.

A person arrives with a single-use link from the host application; the link's token is
exchanged for a server-side session and the browser is redirected to a clean URL at once, so the
token stays neither in the address bar nor in the history. Every page acts as the person
(``confida.operation.subject_actor``) through one core call; the core decides what they may do.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from confida import register_change  # --- register change
from confida.errors import BadInput, ConfidaError, SubjectErased, Unauthenticated
from confida.web import i18n, ports
from confida.web.pages import (
    FLASHES,
    SAFE_BACK,
    CheckedForm,
    SubjectForm,
    SubjectPage,
    cookie_session,
    error,
    lang,
    render,
    see_other,
    start,
    vault_of,
)

REQUEST_TYPES = ("rectification", "restriction", "objection")

router = APIRouter(prefix="/privacy", include_in_schema=False)


def _refused_link(request: Request, reason: str) -> Response:
    """A link that does not verify is "not valid"; only a genuine one is "expired" or "used"."""
    return render(request, "message.html", None, status=401, title_key=f"{reason}_title",
                  body_key=f"{reason}_body")


async def _enter(request: Request, token: str) -> Response:
    try:
        server = ports.enter(vault_of(request), token)
    except (Unauthenticated, BadInput) as exc:
        return _refused_link(request, ports.link_failure(exc))
    except ConfidaError as exc:
        return error(request, None, exc)
    return start(RedirectResponse("/privacy/", status_code=303), request, server)


@router.get("/enter")
async def enter(request: Request, token: str = "") -> Response:
    """Exchange the link's single-use token for a session, then leave the URL (303)."""
    return await _enter(request, token)


@router.post("/enter")
async def enter_post(request: Request) -> Response:
    """The same exchange for a host that posts the token (it then never appears in a URL)."""
    form = await request.form()
    token = form.get("token")
    return await _enter(request, token if isinstance(token, str) else "")


@router.get("/")
def overview(request: Request, page: SubjectPage, done: str = "", req: str = "") -> Response:
    vault = vault_of(request)
    try:
        view = ports.overview(vault, page.actor, lang(request))
    except SubjectErased:
        return render(request, "message.html", page.cookie, status=410,
                      title_key="deleted_title", body_key="deleted_body")
    reqs = view["requests"]
    # --- register change: purposes the person is asked about again (confida.register_change)
    reconsent = register_change.pending_reconsent(vault, subject_id=page.actor.subject_id,
                                                  actor=page.actor)
    # --- end register change
    flash, flash_kw = FLASHES.get(done), {}
    if done == "request":
        # What became of the request just sent: an open one is answered by its deadline; a
        # restriction or objection is carried out at once, so it says so instead.
        sent = next((r for r in reqs if r.id == req), None)
        if sent is None:
            flash = None
        elif sent.is_open:
            flash_kw = {"due": sent.due_at.strftime("%Y-%m-%d")}
        else:
            flash = "request_done" if sent.status == "completed" else "request_rejected"
            flash_kw = {"date": (sent.closed_at or sent.received_at).strftime("%Y-%m-%d")}
    return render(
        request, "privacy/overview.html", page.cookie, **view, request_types=REQUEST_TYPES,
        flash=flash, flash_kw=flash_kw, reconsent=reconsent,
        form_request_id=f"web-{uuid.uuid4().hex}",  # a resent form is the same request
    )


@router.post("/consent")
async def set_consent(request: Request, posted: SubjectForm) -> Response:
    page, form = posted
    purpose, choice = form.get("purpose", ""), form.get("choice", "")
    if choice not in ("on", "off"):
        return render(request, "message.html", page.cookie, status=403, title_key="error",
                      body_key="forbidden")
    vault = vault_of(request)
    try:
        ports.set_consent(vault, purpose, choice == "on", form.get("notice_version", ""),
                          page.actor)
    except ports.NoticeChanged:
        # The notice changed since the page was shown: the choice must be made against the
        # current one, which is the version the consent will record.
        return render(request, "message.html", page.cookie, status=409, title_key="error",
                      body_key="notice_changed")
    except ConfidaError as exc:
        return error(request, page.cookie, exc)
    return see_other("/privacy/", flash="consent")


@router.post("/export")
async def export(request: Request, posted: SubjectForm) -> Response:
    page, _form = posted
    try:
        data = ports.access_export(vault_of(request), page.actor)
    except ConfidaError as exc:
        return error(request, page.cookie, exc)
    return Response(data, media_type="application/zip", headers={
        "Content-Disposition": 'attachment; filename="my-data.zip"',
        "Cache-Control": "no-store",
    })


@router.post("/request")
async def new_request(request: Request, posted: SubjectForm) -> Response:
    page, form = posted
    type_ = form.get("type", "")
    if type_ not in REQUEST_TYPES:
        return render(request, "message.html", page.cookie, status=403, title_key="error",
                      body_key="forbidden")
    purpose = form.get("purpose") or None if type_ == "objection" else None
    text = form.get("text", "") if type_ == "rectification" else ""
    try:
        sent = ports.submit_request(vault_of(request), type_, purpose=purpose,
                                    request_id=form.get("request_id") or None, actor=page.actor,
                                    text=text)
    except ConfidaError as exc:
        return error(request, page.cookie, exc)
    # The request's id (a random UUID, not personal data) lets the page say what became of it.
    return RedirectResponse(f"/privacy/?done=request&req={quote(sent.id)}", status_code=303)


@router.get("/delete")
def delete_page(request: Request, page: SubjectPage) -> Response:
    return render(request, "privacy/delete.html", page.cookie)


@router.post("/delete")
async def delete(request: Request, posted: SubjectForm) -> Response:
    page, form = posted
    if form.get("confirm") != "yes":
        return render(request, "privacy/delete.html", page.cookie, status=400,
                      missing_confirm=True)
    try:
        ports.erase(vault_of(request), page.actor)
    except ConfidaError as exc:
        return error(request, page.cookie, exc)
    return render(request, "message.html", None, title_key="deleted_title",
                  body_key="deleted_body")


@router.get("/notice")
def notice(request: Request) -> Response:
    body, version = ports.notice_html(vault_of(request), lang(request))
    return render(request, "privacy/notice.html", cookie_session(request),
                  notice_body=Markup(body), notice_version=version)  # noqa: S704


@router.post("/lang")
async def set_lang(request: Request, form: CheckedForm) -> Response:
    """The language switch: a cookie, then back to a fixed page (no open redirect)."""
    choice = form.get("lang", "")
    back = form.get("back", "")
    resp = RedirectResponse(back if back in SAFE_BACK else "/privacy/", status_code=303)
    if choice in i18n.LANGS:
        resp.set_cookie(i18n.COOKIE, choice, max_age=365 * 86400, path="/", secure=True,
                        httponly=True, samesite="strict")
    return resp


@router.post("/signout")
async def signout(request: Request, posted: SubjectForm) -> Response:
    page, _form = posted
    ports.sign_out(vault_of(request), page.server, page.actor)
    return render(request, "message.html", None, title_key="privacy_center",
                  body_key="session_over")
