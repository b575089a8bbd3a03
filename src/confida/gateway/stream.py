"""Server-sent events from the upstream, restored event by event (chat completions and
responses). Pure: bytes in, bytes out; the lookup of token values is passed in.

Chat completions: ``choices[i].delta.content`` / ``refusal`` and each tool call's
``function.arguments`` are streamed texts, restored by one :class:`StreamRestorer` each; what
a restorer still holds when its choice finishes goes out with the finishing chunk. Responses:
``response.output_text.delta``, ``response.refusal.delta`` and
``response.function_call_arguments.delta`` are streamed texts; what is held back goes out as one
more delta event just before the matching ``.done``. Every other string of every event (a
``.done`` text, the final ``response.completed`` object) is restored whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from confida.gateway.restore import (
    Lookup,
    StreamRestorer,
    json_escape,
    plain,
    restore,
    restore_json,
)

_SEP = (b"\r\n\r\n", b"\n\n", b"\r\r")


class SseParser:
    """Splits a byte stream into raw events (the bytes between blank lines)."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while True:
            best = -1
            size = 0
            for sep in _SEP:
                i = self._buf.find(sep)
                if i >= 0 and (best < 0 or i < best):
                    best, size = i, len(sep)
            if best < 0:
                return out
            out.append(self._buf[:best])
            self._buf = self._buf[best + size:]

    def rest(self) -> bytes:
        out, self._buf = self._buf, b""
        return out


def _split(raw: bytes) -> tuple[list[str], str | None]:
    """(the non-data lines, the joined data) of one event."""
    other: list[str] = []
    data: list[str] = []
    for line in raw.decode("utf-8", errors="replace").splitlines():
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        else:
            other.append(line)
    return other, ("\n".join(data) if data else None)


def _encode(other: list[str], data: str) -> bytes:
    return ("\n".join([*other, f"data: {data}"]) + "\n\n").encode("utf-8")


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class _Restorers:
    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self.by_key: dict[tuple[Any, ...], StreamRestorer] = {}

    def get(self, key: tuple[Any, ...], escape: Callable[[str], str] = plain) -> StreamRestorer:
        r = self.by_key.get(key)
        if r is None:
            r = self.by_key[key] = StreamRestorer(self.lookup, escape)
        return r

    def flush(self, key: tuple[Any, ...]) -> str:
        r = self.by_key.pop(key, None)
        return r.flush() if r is not None else ""


class EventRewriter:
    """Restores one upstream SSE stream; ``answer`` collects the restored text (choice 0, or
    the response's output text) to be stored as the answer record."""

    def __init__(self, endpoint: str, lookup: Lookup) -> None:
        self.endpoint = endpoint
        self.lookup = lookup
        self.r = _Restorers(lookup)
        self.answer: list[str] = []
        self._last: dict[str, Any] = {}

    # --- the stream -------------------------------------------------------------------------
    def event(self, raw: bytes) -> bytes:
        other, data = _split(raw)
        if data is None or data == "[DONE]":
            tail = self.flush_all() if data == "[DONE]" else b""
            return tail + raw + b"\n\n"
        try:
            obj = json.loads(data)
        except ValueError:
            return _encode(other, restore(data, self.lookup))
        if not isinstance(obj, dict):
            return _encode(other, _dump(restore_json(obj, self.lookup)))
        if self.endpoint == "chat":
            return _encode(other, _dump(self._chat(obj)))
        return b"".join(_encode(o, _dump(e)) for o, e in self._responses(other, obj))

    def flush_all(self) -> bytes:
        """Anything still held when the stream ends (no finish seen): one more event."""
        if not self.r.by_key:
            return b""
        if self.endpoint == "chat":
            choices: dict[int, dict[str, Any]] = {}
            for key in list(self.r.by_key):
                text = self.r.flush(key)
                if not text:
                    continue
                d = choices.setdefault(key[1], {})
                if key[0] == "t":
                    d.setdefault("tool_calls", []).append(
                        {"index": key[2], "function": {"arguments": text}})
                else:
                    d[key[0]] = d.get(key[0], "") + text
                    if key[0] == "content" and key[1] == 0:
                        self.answer.append(text)
            if not choices:
                return b""
            chunk = {k: self._last[k] for k in ("id", "object", "created", "model")
                     if k in self._last}
            chunk["choices"] = [{"index": i, "delta": d, "finish_reason": None}
                                for i, d in sorted(choices.items())]
            return _encode([], _dump(chunk))
        out = b""
        for key in list(self.r.by_key):
            text = self.r.flush(key)
            if text:
                out += _encode(["event: " + _DELTA[key[0]]],
                               _dump(_delta_event(key, text, {})))
        return out

    # --- chat completions ---------------------------------------------------------------------
    def _chat(self, obj: dict[str, Any]) -> dict[str, Any]:
        self._last = obj
        choices = obj.get("choices")
        if not isinstance(choices, list):
            return restore_json(obj, self.lookup)  # type: ignore[return-value]
        for ch in choices:
            if not isinstance(ch, dict):
                continue
            idx = ch.get("index", 0)
            d = ch.get("delta")
            if not isinstance(d, dict):
                continue
            for field in ("content", "refusal"):
                if isinstance(d.get(field), str):
                    d[field] = self.r.get((field, idx)).feed(d[field])
            calls = d.get("tool_calls")
            if isinstance(calls, list):
                for tc in calls:
                    f = tc.get("function") if isinstance(tc, dict) else None
                    if isinstance(f, dict) and isinstance(f.get("arguments"), str):
                        key = ("t", idx, tc.get("index", 0))
                        f["arguments"] = self.r.get(key, json_escape).feed(f["arguments"])
            if ch.get("finish_reason") is not None:
                for key in [k for k in self.r.by_key if k[1] == idx]:
                    text = self.r.flush(key)
                    if not text:
                        continue
                    if key[0] == "t":
                        d.setdefault("tool_calls", []).append(
                            {"index": key[2], "function": {"arguments": text}})
                    else:
                        d[key[0]] = (d.get(key[0]) or "") + text
            if idx == 0 and isinstance(d.get("content"), str):
                self.answer.append(d["content"])
        return obj

    # --- responses ----------------------------------------------------------------------------
    def _responses(self, other: list[str], obj: dict[str, Any]
                   ) -> list[tuple[list[str], dict[str, Any]]]:
        kind = obj.get("type")
        key = _stream_key(obj)
        if kind in _DELTA_KINDS and isinstance(obj.get("delta"), str) and key is not None:
            escape = json_escape if key[0] == "f" else plain
            obj["delta"] = self.r.get(key, escape).feed(obj["delta"])
            if key[0] == "t":
                self.answer.append(obj["delta"])
            return [(other, obj)]
        out: list[tuple[list[str], dict[str, Any]]] = []
        if kind in _DONE_KINDS and key is not None:
            held = self.r.flush(key)
            if held:
                if key[0] == "t":
                    self.answer.append(held)
                out.append((["event: " + _DELTA[key[0]]], _delta_event(key, held, obj)))
        out.append((other, restore_json(obj, self.lookup)))  # type: ignore[arg-type]
        return out


_DELTA = {"t": "response.output_text.delta", "r": "response.refusal.delta",
          "f": "response.function_call_arguments.delta"}
_DELTA_KINDS = frozenset(_DELTA.values())
_DONE_KINDS = frozenset({"response.output_text.done", "response.refusal.done",
                         "response.function_call_arguments.done"})


def _stream_key(obj: dict[str, Any]) -> tuple[Any, ...] | None:
    kind = str(obj.get("type", ""))
    if kind.startswith("response.output_text."):
        return ("t", obj.get("output_index", 0), obj.get("content_index", 0))
    if kind.startswith("response.refusal."):
        return ("r", obj.get("output_index", 0), obj.get("content_index", 0))
    if kind.startswith("response.function_call_arguments."):
        return ("f", obj.get("output_index", 0))
    return None


def _delta_event(key: tuple[Any, ...], text: str, done: dict[str, Any]) -> dict[str, Any]:
    ev: dict[str, Any] = {"type": _DELTA[key[0]], "output_index": key[1], "delta": text}
    if key[0] != "f":
        ev["content_index"] = key[2]
    for k in ("item_id", "sequence_number"):
        if k in done:
            ev[k] = done[k]
    if key[0] == "t":
        ev.setdefault("logprobs", [])
    return ev

