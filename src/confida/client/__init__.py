"""The Python client of Confida's REST API::

    from confida.client import Client

    with Client("https://confida.internal:8443", "cfk_...", verify="tls/cert.pem") as c:
        rec = c.collect("user-42", "account", "service", {"email": "a@example.org"})
        c.get(rec.record_id, "service").data

:class:`Client` is synchronous, :class:`AsyncClient` the same API with ``await``. Answers are the
pydantic models of ``confida.api_models`` (the ones the server declares), refusals raise the
core's own error classes (``confida.errors``; the mapping is in ``confida.client.errors``), and
refused requests are retried when that is safe (docs/client.md).

This package imports httpx, pydantic, ``confida.api_models`` and ``confida.errors`` only: no
FastAPI, no web server, no store; a process that only calls the API loads none of them.
"""

from __future__ import annotations

from confida.client._base import AccessExport
from confida.client.aio import AsyncClient
from confida.client.errors import (
    ApiError,
    ConnectionFailed,
    ExportMismatch,
    ServerBusy,
    ServerError,
)
from confida.client.sync import Client

__all__ = [
    "AccessExport",
    "ApiError",
    "AsyncClient",
    "Client",
    "ConnectionFailed",
    "ExportMismatch",
    "ServerBusy",
    "ServerError",
]
