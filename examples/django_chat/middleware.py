"""``request.confida``: a Confida client for every view, created on first use.

Add ``"<your package>.middleware.ConfidaMiddleware"`` to ``MIDDLEWARE``. The middleware holds one
``confida.client.Client`` per process (made when a view first touches ``request.confida``, so
requests that never use it cost nothing, and shared by every request and thread: one connection
pool, one TLS session). It also answers Confida's refusals: those a user may see keep their status
(404 not found, 410 erased, 409 restricted, 403 consent required, 422 invalid), anything else (a
bad API key, Confida unreachable) is a 502 with an error code and no detail.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.functional import SimpleLazyObject

from confida.client import Client
from confida.errors import (
    ConfidaError,
    ConsentRequired,
    InvalidRecord,
    NotFound,
    SubjectErased,
    SubjectRestricted,
)

log = logging.getLogger(__name__)

USER_FACING = (NotFound, SubjectErased, SubjectRestricted, ConsentRequired, InvalidRecord)


class ConfidaMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._client: Client | None = None
        self._lock = threading.Lock()

    def client(self) -> Client:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    if not settings.CONFIDA_API_KEY:
                        raise ImproperlyConfigured("set CONFIDA_API_KEY")
                    self._client = Client(settings.CONFIDA_URL,
                                          api_key=settings.CONFIDA_API_KEY,
                                          verify=settings.CONFIDA_CA or True)
        return self._client

    def close(self) -> None:
        """Close the client (its connections); the next use makes a new one."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.confida = SimpleLazyObject(self.client)  # type: ignore[attr-defined]
        return self.get_response(request)

    def process_exception(self, request: HttpRequest,
                          exception: Exception) -> HttpResponse | None:
        if isinstance(exception, USER_FACING):
            return JsonResponse({"error": exception.code}, status=exception.http_status)
        if isinstance(exception, ConfidaError):
            log.error("Confida refused or failed: %s", exception.code)  # a code, never a value
            return JsonResponse({"error": "privacy-vault-unavailable"}, status=502)
        return None
