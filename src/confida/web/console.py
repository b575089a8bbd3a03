"""The staff console (``/console``): requests and their deadlines, audit, compliance, breaches,
the register and the keys.

Every page depends on :func:`confida.web.pages.staff_page` (a live server-side staff session, or
a redirect to sign in) and makes one core call as that staff member; the core's ``authorise``
decides what their role may see, and a refusal is shown as a page.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from confida.errors import BadInput, ConfidaError, Refused, Unauthenticated
from confida.web import ports
from confida.web.pages import (
    FLASHES,
    CheckedForm,
    StaffForm,
    StaffPage,
    cookie_session,
    error,
    lang,
    render,
    see_other,
    start,
    vault_of,
    web,
)

router = APIRouter(prefix="/console", include_in_schema=False)
NAV = ("requests_staff", "compliance", "audit", "register", "breaches", "keys", "webhooks")


@router.get("/login")
def login_page(request: Request) -> Response:
    return render(request, "console/login.html", cookie_session(request))


@router.post("/login")
async def login(request: Request, form: CheckedForm) -> Response:
    vault = vault_of(request)
    try:
        server, role = ports.sign_in(vault, form.get("api_key", "").strip()[:8192],
                                     web(request).oidc())
    except (Unauthenticated, Refused) as exc:
        return render(request, "console/login.html", cookie_session(request), status=401,
                      failed=True, reason=ports.sign_in_failure(exc))
    return start(RedirectResponse("/console/", status_code=303), request, server, role)


@router.get("/")
def requests_page(request: Request, page: StaffPage, done: str = "", q: str = "",
                  status: str = "", type: str = "", due: str = "") -> Response:  # noqa: A002
    """Requests, searched (request id or pseudonym) and filtered by status, type and due date
    through the query string, on the server (a plain GET form: no script)."""
    vault = vault_of(request)
    flt = ports.RequestFilter.of(q, status, type, due)
    try:
        view = ports.staff_request_view(vault, page.actor, flt)
    except ConfidaError as exc:
        return error(request, page.cookie, exc)
    purposes = {n: ports.in_lang(p.description, lang(request))
                for n, p in vault.register.purposes.items()}
    return render(request, "console/requests.html", page.cookie, requests=view.rows,
                  total=view.total, notes=view.notes, flt=flt, purposes=purposes,
                  statuses=ports.STATUS_FILTERS, types=ports.TYPE_FILTERS,
                  due_filters=tuple(ports.DUE_FILTERS), nav=NAV, current="requests_staff",
                  chart=chart(view.all, vault.clock()), flash=FLASHES.get(done))


@router.post("/requests/complete")
async def complete(request: Request, page: StaffPage, form: StaffForm) -> Response:
    try:
        ports.complete_request(vault_of(request), form.get("request_id", ""), page.actor)
    except ConfidaError as exc:
        return error(request, page.cookie, exc)
    return see_other("/console/", flash="done")


@router.post("/requests/extend")
async def extend(request: Request, page: StaffPage, form: StaffForm) -> Response:
    try:
        months = int(form.get("months", "0"))
        ports.extend_request(vault_of(request), form.get("request_id", ""), months,
                             form.get("reason", ""), page.actor)
    except ValueError:
        return error(request, page.cookie, BadInput("an extension is 1 or 2 months"))
    except ConfidaError as exc:
        return error(request, page.cookie, exc)
    return see_other("/console/", flash="done")


@router.get("/audit")
def audit_page(request: Request, page: StaffPage) -> Response:
    try:
        status = ports.audit_status(vault_of(request), page.actor)
    except ConfidaError as exc:
        return error(request, page.cookie, exc)
    return render(request, "console/audit.html", page.cookie, nav=NAV, current="audit",
                  audit=status)


@router.post("/audit/verify")
async def audit_verify(request: Request, page: StaffPage, form: StaffForm) -> Response:
    try:
        status = ports.audit_status(vault_of(request), page.actor, verify=True)
    except ConfidaError as exc:
        return error(request, page.cookie, exc)
    return render(request, "console/audit.html", page.cookie, nav=NAV, current="audit",
                  audit=status)


@router.get("/compliance")
def compliance_page(request: Request, page: StaffPage) -> Response:
    return render(request, "console/compliance.html", page.cookie, nav=NAV,
                  current="compliance")


@router.post("/compliance")
async def compliance_run(request: Request, page: StaffPage, form: StaffForm) -> Response:
    """Running the checks reads the whole store, so it is an explicit POST, not a page view."""
    try:
        report = ports.compliance_report(vault_of(request), page.actor)
    except ConfidaError as exc:
        return error(request, page.cookie, exc)
    return render(request, "console/compliance.html", page.cookie, nav=NAV,
                  current="compliance", report=report)


@router.get("/breaches")
def breaches_page(request: Request, page: StaffPage) -> Response:
    try:
        rows = ports.breaches(vault_of(request), page.actor)
    except ConfidaError as exc:
        return error(request, page.cookie, exc)
    return render(request, "console/breaches.html", page.cookie, nav=NAV, current="breaches",
                  breaches=rows)


@router.get("/register")
def register_page(request: Request, page: StaffPage) -> Response:
    try:
        view = ports.register(vault_of(request), page.actor, lang(request))
    except ConfidaError as exc:
        return error(request, page.cookie, exc)
    return render(request, "console/register.html", page.cookie, nav=NAV, current="register",
                  **view)


@router.get("/keys")
def keys_page(request: Request, page: StaffPage) -> Response:
    try:
        keys = ports.key_status(vault_of(request), page.actor)
    except ConfidaError as exc:
        return error(request, page.cookie, exc)
    return render(request, "console/keys.html", page.cookie, nav=NAV, current="keys", keys=keys)


# --- webhooks: endpoints and dead letters, read-only (managed with `confida webhooks`)
@router.get("/webhooks")
def webhooks_page(request: Request, page: StaffPage) -> Response:
    from confida import webhooks

    try:
        view = webhooks.overview(vault_of(request), actor=page.actor)
    except ConfidaError as exc:
        return error(request, page.cookie, exc)
    return render(request, "console/webhooks.html", page.cookie, nav=NAV, current="webhooks",
                  endpoints=view.endpoints, dead=view.dead)
# --- end webhooks


@router.post("/signout")
async def staff_signout(request: Request, page: StaffPage, form: StaffForm) -> Response:
    ports.sign_out(vault_of(request), page.server, page.actor)
    return render(request, "console/login.html", None)


def chart(reqs: list[Any], now: datetime, weeks: int = 8) -> dict[str, Any]:
    """Requests received per week for the last ``weeks`` weeks, and median days to close.

    Drawn as inline SVG by the template: no script, with a title and description for screen
    readers and the numbers repeated in a table.
    """
    start_of_week = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0,
                                                                  microsecond=0)
    starts = [start_of_week - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
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
