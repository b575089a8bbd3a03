"""Putting token values back into what the upstream model answers, whole or streamed.

A token (``<TOK_`` + 20 to 64 letters or digits + ``>``, :data:`confida.pii.operators.TOKEN_RE`)
may arrive split across streamed chunks. :class:`StreamRestorer` holds back only the shortest
suffix of what it has seen that could still be the start of a token -- never more, so every other
character reaches the caller as soon as it arrived -- and restoring a text chunk by chunk gives
exactly what restoring it whole gives (``tests/test_gateway_restore.py`` checks every split).

Only the last ``<`` of the text can start such a suffix: a token holds no ``<`` after its first
character. So a match of the token pattern never spans the cut between what is emitted and
what is held back, and the pieces restore as the whole would.

Pure: no I/O; the lookup (token -> value or None) is passed in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from confida.pii.operators import TOKEN_RE

Lookup = Callable[[str], "str | None"]
#: How a value is written where its token stood: as is in text, JSON-escaped inside the JSON
#: string literals of tool-call arguments (the restored arguments stay valid JSON).
Escape = Callable[[str], str]

_START = "<TOK_"
_MAX_BODY = 64  # the most letters and digits a token holds (TOKEN_RE)
_BODY = re.compile(r"[A-Za-z0-9]*")


def plain(value: str) -> str:
    return value


def json_escape(value: str) -> str:
    """``value`` as it is written inside a JSON string literal (without the quotes)."""
    return json.dumps(value, ensure_ascii=False)[1:-1]


def could_start_token(s: str) -> bool:
    """Whether ``s`` (beginning with ``<``) could be the beginning of a token."""
    if len(s) <= len(_START):
        return _START.startswith(s)
    if not s.startswith(_START):
        return False
    body = s[len(_START):]
    return len(body) <= _MAX_BODY and _BODY.fullmatch(body) is not None


def restore(text: str, lookup: Lookup, escape: Escape = plain) -> str:
    """``text`` with every token ``lookup`` knows replaced by its (escaped) value; unknown
    tokens (another subject's, an erased subject's, made up) stay as they are."""
    if _START not in text:
        return text

    def back(m: re.Match[str]) -> str:
        value = lookup(m.group())
        return m.group() if value is None else escape(value)

    return TOKEN_RE.sub(back, text)


class StreamRestorer:
    """Restores one streamed text (a message's content, one tool call's arguments)."""

    __slots__ = ("_escape", "_held", "_lookup")

    def __init__(self, lookup: Lookup, escape: Escape = plain) -> None:
        self._lookup = lookup
        self._escape = escape
        self._held = ""

    @property
    def held(self) -> str:
        """What is held back now (at most ``<TOK_`` and 64 letters or digits)."""
        return self._held

    def feed(self, chunk: str) -> str:
        """The restored text that can be released now that ``chunk`` arrived."""
        buf = self._held + chunk if self._held else chunk
        cut = buf.rfind("<")
        if cut >= 0 and could_start_token(buf[cut:]):
            self._held = buf[cut:]
            buf = buf[:cut]
        else:
            self._held = ""
        return restore(buf, self._lookup, self._escape)

    def flush(self) -> str:
        """The end of the stream: what was held back, which is no token (it never ended)."""
        out, self._held = self._held, ""
        return out


def restore_json(obj: object, lookup: Lookup) -> object:
    """Every string of a decoded JSON document restored; ``arguments`` strings (tool calls
    hold JSON text) restored with JSON escaping so that they stay valid JSON."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k == "arguments" and isinstance(v, str):
                out[k] = restore(v, lookup, json_escape)
            else:
                out[k] = restore_json(v, lookup)
        return out
    if isinstance(obj, list):
        return [restore_json(v, lookup) for v in obj]
    if isinstance(obj, str):
        return restore(obj, lookup)
    return obj
