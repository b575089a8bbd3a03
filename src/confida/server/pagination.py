"""Cursor pagination for the list endpoints: opaque cursors, the ``next`` field, a ``Link`` header.

Lists are paged by keyset (the sort key of the last item seen), not by offset, so a page never
skips or repeats an item while others are being written. The cursor is that key, base64url
encoded with the name of the list it belongs to: it carries ids and timestamps only, never a
personal value, and one list's cursor is refused by another. It is opaque to clients: they pass
back what ``next`` gave them.

``next`` is set when the page is full (``limit`` items): the following page may then be empty.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request, Response

from confida.errors import BadInput

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_CURSOR_CHARS = 512

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")]
Cursor = Annotated[str | None, Query(
    min_length=1, max_length=MAX_CURSOR_CHARS, pattern=r"^[A-Za-z0-9_-]+$",
    description="the `next` cursor of the previous page; omit for the first page")]


def encode(kind: str, *key: Any) -> str:
    parts = [kind, *(k.isoformat() if isinstance(k, datetime) else k for k in key)]
    raw = json.dumps(parts, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(kind: str, cursor: str, types: tuple[type, ...]) -> tuple[Any, ...]:
    """The key inside ``cursor``, each part checked against ``types``; BadInput otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadInput("cursor is not one this API gave (pass back `next` unchanged)") from None
    if (not isinstance(parts, list) or len(parts) != len(types) + 1 or parts[0] != kind):
        raise BadInput("cursor belongs to another list or is malformed")
    out: list[Any] = []
    for value, t in zip(parts[1:], types, strict=True):
        if t is datetime:
            try:
                value = datetime.fromisoformat(value)
            except (TypeError, ValueError):
                raise BadInput("cursor is malformed") from None
        elif t is int:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise BadInput("cursor is malformed")
        elif not isinstance(value, t):
            raise BadInput("cursor is malformed")
        out.append(value)
    return tuple(out)


def next_page(request: Request, response: Response, items: Sequence[T], limit: int,
              kind: str, key: Callable[[T], tuple[Any, ...]]) -> str | None:
    """The ``next`` cursor (``key`` of the last item) when the page is full, else None; a
    ``Link: <...>; rel="next"`` header (RFC 8288, same query, the new cursor) goes with it."""
    if len(items) < limit:
        return None
    next_cursor = encode(kind, *key(items[-1]))
    url = request.url.remove_query_params(["cursor", "since"]).include_query_params(
        cursor=next_cursor)
    response.headers["Link"] = f'<{url}>; rel="next"'
    return next_cursor
