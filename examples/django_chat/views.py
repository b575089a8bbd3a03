"""Views that keep chat messages in Confida, through ``request.confida`` (the middleware).

The user is named by an ``X-User`` header: a stand-in for ``request.user`` of Django's own
authentication, which a real project uses instead.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    JsonResponse,
)
from django.views.decorators.http import require_GET, require_http_methods

# As the register (examples/chat-assistant.yaml) declares them.
KIND, PURPOSE, TRAINING = "conversation_message", "service", "model_training"


def _user(request: HttpRequest) -> str | None:
    user = request.headers.get("X-User", "")
    return user if 0 < len(user) <= 200 else None


def _body(request: HttpRequest) -> dict[str, Any] | None:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


@require_http_methods(["GET", "POST"])
def messages(request: HttpRequest) -> HttpResponse:
    """POST ``{"conversation_id", "text"}``: store a message; GET: the user's messages
    (metadata only: ids, times, what kinds of personal data were found; no text)."""
    user = _user(request)
    if user is None:
        return JsonResponse({"error": "login required"}, status=401)
    confida = request.confida  # type: ignore[attr-defined]
    if request.method == "GET":
        return JsonResponse({"messages": [
            {"record_id": r.id, "created_at": r.created_at.isoformat(),
             "pii_found": r.pii_summary}
            for r in confida.list_records(user, PURPOSE, kind=KIND)]})
    body = _body(request)
    if body is None or not isinstance(body.get("text"), str) \
            or not isinstance(body.get("conversation_id"), str):
        return HttpResponseBadRequest("conversation_id and text are required")
    stored = confida.collect(user, KIND, PURPOSE, {
        "conversation_id": body["conversation_id"], "role": "user", "text": body["text"],
        "created_at": datetime.now(UTC).isoformat(),
    })
    return JsonResponse({"record_id": stored.record_id, "pii_found": stored.pii_summary},
                        status=201)


@require_GET
def message(request: HttpRequest, record_id: str) -> HttpResponse:
    """One of the user's messages, read back from Confida for the service purpose."""
    user = _user(request)
    if user is None:
        return JsonResponse({"error": "login required"}, status=401)
    confida = request.confida  # type: ignore[attr-defined]
    # The API key may read any user's records: check that this one is the caller's own.
    if not any(r.id == record_id for r in confida.list_records(user, PURPOSE, kind=KIND)):
        return JsonResponse({"error": "not-found"}, status=404)
    rec = confida.get(record_id, PURPOSE)
    return JsonResponse({"record_id": rec.id, "data": rec.data})


@require_http_methods(["GET", "POST"])
def training_consent(request: HttpRequest) -> HttpResponse:
    """GET: whether the user allows training on their conversations; POST ``{"granted":
    true|false}``: grant or withdraw (Confida's ledger, effective at once)."""
    user = _user(request)
    if user is None:
        return JsonResponse({"error": "login required"}, status=401)
    confida = request.confida  # type: ignore[attr-defined]
    if request.method == "POST":
        body = _body(request)
        if body is None or not isinstance(body.get("granted"), bool) \
                or not isinstance(body.get("notice_version", ""), str):
            return HttpResponseBadRequest("granted (true or false) is required")
        if body["granted"]:
            confida.grant_consent(user, TRAINING, notice_version=body.get("notice_version"))
        else:
            confida.withdraw_consent(user, TRAINING)
    now = confida.consents(user, PURPOSE).current.get(TRAINING)
    return JsonResponse({"purpose": TRAINING, "granted": bool(now and now.granted)})


@require_GET
def privacy(request: HttpRequest) -> HttpResponse:
    """Send the user to Confida's privacy center with a single-use link."""
    user = _user(request)
    if user is None:
        return JsonResponse({"error": "login required"}, status=401)
    link = request.confida.privacy_link(user)  # type: ignore[attr-defined]
    response = HttpResponseRedirect(link.url)
    response["Cache-Control"] = "no-store"  # the URL holds a token
    response["Referrer-Policy"] = "no-referrer"
    return response
