"""Errors of the Python client: every refusal raises the same class as the core would.

A non-2xx answer of Confida is an RFC 9457 problem (``application/problem+json``) whose ``type``
is ``https://confida.dev/problems/<code>``, ``<code>`` being the core error's ``code``. The
client raises the :class:`~confida.errors.ConfidaError` subclass of ``confida.errors`` with that
code, so ``except confida.errors.ConsentRequired`` catches the same refusal in a process that
uses the vault in-process and in one that calls the API. Every raised error carries:

- ``str(exc)`` / ``exc.message``: the problem's ``detail`` (by the core's rule it names purposes,
  kinds and ids, never a personal value);
- ``exc.status``: the HTTP status (``None`` when no answer came);
- ``exc.problem``: the parsed problem body (``None`` when the answer was not a problem);
- ``exc.code``: the problem's code.

The codes the server sends, and the class each raises:

=====================================  ===================================================
code (status)                          class
=====================================  ===================================================
a code of a ``confida.errors`` class   that class: ``bad-input`` BadInput, ``unknown-kind``
                                       UnknownKind, ``consent-required`` ConsentRequired,
                                       ``access-denied`` AccessDenied, ``subject-erased``
                                       SubjectErased, ``rate-limited`` RateLimited (with
                                       ``retry_after``), ``not-found`` NotFound (also for
                                       unknown paths), ``payload-too-large``,
                                       ``store-unavailable``, ``key-unavailable``, ...
``invalid-request`` (422), ``invalid-  :class:`~confida.errors.BadInput` (``problem["errors"]``
json`` (400)                           says where the body is wrong)
``overloaded`` (503), ``timeout``      :class:`ServerBusy` (the request timed out on the
(503), ``not-ready`` (503)             server: it may still have taken effect)
``internal-error`` (500)               :class:`ServerError`
any other code (``method-not-          :class:`ApiError`, ``code`` set to the problem's code
allowed``, a code of a newer server,
a core class outside ``confida.errors``
such as ``unsafe-permissions``)
=====================================  ===================================================

Core errors defined outside ``confida.errors`` (``confida.permissions.UnsafePermissions``,
``confida.backup.BackupInvalid``, ``confida.crypto.keystore.KeyRefused``, ...) are not imported:
their modules load the store, which the client must not, and the API never sends their codes
(they refuse server start-up, backups or CLI key commands). They arrive as :class:`ApiError`.

An error answer that is not a Confida problem (the HTML page of a proxy, an empty body) raises,
by status: 429 :class:`~confida.errors.RateLimited`, 502/503/504 :class:`ServerBusy`, another
5xx :class:`ServerError`, anything else :class:`ApiError`; its message names the status only,
never the body. No answer at all (connection refused, TLS failure, a read timeout) raises
:class:`ConnectionFailed`, the httpx exception as its ``__cause__``. An access export whose
bytes do not match their ``Confida-Sha256`` header raises :class:`ExportMismatch`.
"""

from __future__ import annotations

from typing import Any

from confida import errors as core
from confida.errors import BadInput, ConfidaError, RateLimited

PROBLEM_BASE = "https://confida.dev/problems/"

__all__ = [
    "PROBLEM_BASE",
    "ApiError",
    "ConnectionFailed",
    "ExportMismatch",
    "ServerBusy",
    "ServerError",
    "class_for_code",
    "error_from_answer",
]


class ApiError(ConfidaError):
    """An error answer with no more precise class: ``code`` is the problem's code, or
    ``http-<status>`` when the answer was not a problem."""

    code = "api-error"
    http_status = 500


class ServerBusy(ConfidaError):
    """The server refused for now (overloaded, not ready) or gave up on a slow request
    (``timeout``: that request may still have committed). Retry later."""

    code = "overloaded"
    http_status = 503


class ServerError(ConfidaError):
    """An unexpected error on the server (500); it logged the cause, the answer holds none."""

    code = "internal-error"
    http_status = 500


class ConnectionFailed(ConfidaError):
    """No answer: the connection could not be made or broke, or the client's timeout ran out."""

    code = "connection-failed"
    http_status = 503


class ExportMismatch(ConfidaError):
    """The access export's bytes do not hash to the ``Confida-Sha256`` the server sent."""

    code = "export-mismatch"
    http_status = 502


def _core_classes() -> dict[str, type[ConfidaError]]:
    """code -> class, for ``ConfidaError`` and its subclasses defined in ``confida.errors``."""
    out: dict[str, type[ConfidaError]] = {}
    todo: list[type[ConfidaError]] = [ConfidaError]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__ != core.__name__:
            continue
        if cls.code in out and out[cls.code] is not cls:
            raise RuntimeError(f"two core errors share the code {cls.code!r}")
        out[cls.code] = cls
    return out


_BY_CODE: dict[str, type[ConfidaError]] = {
    **_core_classes(),
    "invalid-request": BadInput,
    "invalid-json": BadInput,
    "overloaded": ServerBusy,
    "timeout": ServerBusy,
    "not-ready": ServerBusy,
    "internal-error": ServerError,
}


def class_for_code(code: str) -> type[ConfidaError]:
    """The class the client raises for a problem ``code`` (:class:`ApiError` if unknown)."""
    return _BY_CODE.get(code, ApiError)


def make_error(cls: type[ConfidaError], message: str, *, code: str, status: int | None,
               problem: dict[str, Any] | None, retry_after: float | None = None,
               ) -> ConfidaError:
    """An instance of ``cls`` with the answer's facts, whatever ``cls.__init__`` takes."""
    exc = cls.__new__(cls)
    ConfidaError.__init__(exc, message)
    exc.code = code  # type: ignore[misc]  # the instance keeps the code it was sent
    exc.status = status  # type: ignore[attr-defined]
    exc.problem = problem  # type: ignore[attr-defined]
    if isinstance(exc, RateLimited):
        exc.retry_after = max(0, int(retry_after if retry_after is not None else 1))
    return exc


def problem_code(body: Any) -> str | None:
    """The code of a Confida problem body, or None when ``body`` is not one."""
    if not isinstance(body, dict):
        return None
    t = body.get("type")
    if not isinstance(t, str) or not t.startswith(PROBLEM_BASE):
        return None
    code = t[len(PROBLEM_BASE):]
    return code if code and len(code) <= 64 and "/" not in code else None


def error_from_answer(status: int, content_type: str, body: Any,
                      retry_after: float | None = None) -> ConfidaError:
    """The error for a non-2xx answer: ``body`` is the parsed JSON (or None when the answer
    was not JSON); only a Confida problem's ``detail`` ever reaches the message."""
    code = problem_code(body) if "json" in content_type.lower() else None
    if code is not None and isinstance(body, dict):
        detail = body.get("detail")
        title = body.get("title")
        message = (detail if isinstance(detail, str) and detail
                   else title if isinstance(title, str) and title else f"HTTP {status}")
        return make_error(class_for_code(code), message, code=code, status=status,
                          problem=body, retry_after=retry_after)
    cls: type[ConfidaError]
    if status == 429:
        cls, code = RateLimited, RateLimited.code
    elif status in (502, 503, 504):
        cls, code = ServerBusy, f"http-{status}"
    elif status >= 500:
        cls, code = ServerError, f"http-{status}"
    else:
        cls, code = ApiError, f"http-{status}"
    return make_error(cls, f"HTTP {status} with a body that is not a Confida problem",
                      code=code, status=status, problem=None, retry_after=retry_after)
