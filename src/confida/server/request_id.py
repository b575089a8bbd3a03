"""One id per request: in the response, in every log line and in every audit entry it causes.

``X-Request-Id`` from the client is kept when it is a short opaque token (``[A-Za-z0-9._:-]``,
at most 128 characters, e.g. a UUID or a proxy's id); anything else is replaced by a fresh
random one (a UUID4 in hex), so a client cannot put free text into the logs this way. The id is
echoed in the response's ``X-Request-Id`` and set in the core's context variable
:data:`confida.operation.request_id` for the duration of the request: every operation created
while serving it copies the id into its audit entry (``details.request_id``), the JSON log
formatter (``confida.server.logging``) writes it on each line, and the tracing middleware puts
it on the span. FastAPI runs synchronous routes in worker threads with a copy of the context,
so the id reaches them.

The audit log can never be edited: a client that sends its own ids must send opaque ones,
never a user's identifier.

The route is known here too, once the router has matched it (:func:`route_template`): the
access log line of the request names its path by the route's template, each path parameter as
``[name]`` (``/v1/subjects/[subject]/records``, ``/v1/records/[record]``), and a path no route
matched as ``[unmatched]``: a concrete path can hold anything a client put in it.
"""

from __future__ import annotations

import re
import uuid

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from confida.operation import request_id
from confida.server.logging import access_path

HEADER = b"x-request-id"
PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
SCOPE_KEY = "confida.request_id"
UNMATCHED = "unmatched"
#: Methods kept as they are in labels; anything else (a client can send any token) is ``other``.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def route_template(scope: Scope) -> str:
    """The matched route's template (path parameters as ``{name}``), or ``unmatched``.

    Known once the router has matched: it leaves the route in ``scope["route"]``; a mounted
    app (``/static``) is found by the endpoint it left."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) if route is not None else _mount(scope)
    return path if isinstance(path, str) and path.startswith("/") else UNMATCHED


def _mount(scope: Scope) -> str | None:
    endpoint, app = scope.get("endpoint"), scope.get("app")
    if endpoint is None or app is None:
        return None
    for r in getattr(app, "routes", ()):
        if isinstance(r, Mount) and r.app is endpoint:
            return r.path_format
    return None


def method_label(scope: Scope) -> str:
    method = scope.get("method", "")
    return method if method in METHODS else "other"


def logged_path(scope: Scope) -> str:
    """The path as the access log shows it: the template, each parameter as ``[name]``."""
    template = route_template(scope)
    if template == UNMATCHED:
        path = "[unmatched]"
    else:
        path = _PARAM.sub(lambda m: f"[{m.group(1).removesuffix('_id')}]", template)
    return path + ("?[query]" if scope.get("query_string") else "")


def accepted(value: bytes | str | None) -> str | None:
    """The client's id if it is acceptable as is, else None."""
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    return value if PATTERN.fullmatch(value) else None


def new_id() -> str:
    return uuid.uuid4().hex


def of_scope(scope: Scope) -> str | None:
    """The id of the request ``scope`` describes, once the middleware has seen it."""
    value = scope.get(SCOPE_KEY)
    return value if isinstance(value, str) else None


class RequestId:
    """Pure ASGI middleware: picks the id, echoes it, and sets it for the core and the logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        sent = next((v for k, v in scope.get("headers", ()) if k.lower() == HEADER), None)
        rid = accepted(sent) or new_id()
        scope[SCOPE_KEY] = rid
        raw = rid.encode("ascii")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != HEADER]
                headers.append((HEADER, raw))
                message["headers"] = headers
                if scope["type"] == "http":  # the server writes its access line in this send
                    access_path.set(logged_path(scope))
            await send(message)

        token = request_id.set(rid)
        path_token = access_path.set(None)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access_path.reset(path_token)
            request_id.reset(token)
