"""Every text of an OpenAI-style request that the upstream would see, rewritten by one function.

Chat completions: each message's ``content`` (a string or text parts), the ``arguments`` of
its tool calls (JSON text: the string values inside are rewritten and the JSON stays valid) and
tool results (JSON when they parse as JSON, else text). Responses: ``instructions``, and
``input`` as a string or as items (messages with string or part content, ``function_call``
arguments, ``function_call_output`` outputs).

What is not text is sent as it is (images, files, audio parts: documented in docs/gateway.md);
the ``user`` field names the end user (the subject), so it never leaves; the ``name`` of a
message is often a person's name, and must match a pattern a token does not, so it is dropped.

Pure: the rewrite (``fn``) and the decision what to do with each finding live in the caller.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from confida.errors import BadInput

#: The caller's rewrite of one text.
Rewrite = Callable[[str], str]

_TEXT_PARTS = frozenset({"text", "input_text", "output_text"})
#: Fields of the request that name the end user or may carry identifiers: never forwarded.
DROPPED_FIELDS = ("user",)
MAX_JSON_DEPTH = 64


def json_text(s: str, fn: Rewrite) -> str:
    """Rewrite the string values inside a JSON text; text that is not JSON is rewritten whole."""
    try:
        doc = json.loads(s)
    except ValueError:
        return fn(s)
    if not isinstance(doc, dict | list):
        return fn(s)
    return json.dumps(_walk(doc, fn, 0), ensure_ascii=False)


def _walk(doc: Any, fn: Rewrite, depth: int) -> Any:
    if depth > MAX_JSON_DEPTH:
        raise BadInput("tool-call arguments are nested too deeply")
    if isinstance(doc, dict):
        return {k: _walk(v, fn, depth + 1) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_walk(v, fn, depth + 1) for v in doc]
    if isinstance(doc, str):
        return fn(doc)
    return doc


def _parts(content: Any, fn: Rewrite, where: str) -> Any:
    if isinstance(content, str):
        return fn(content)
    if content is None:
        return None
    if not isinstance(content, list):
        raise BadInput(f"{where}: content must be a string or a list of parts")
    out = []
    for part in content:
        if isinstance(part, dict):
            part = dict(part)
            if part.get("type") in _TEXT_PARTS and isinstance(part.get("text"), str):
                part["text"] = fn(part["text"])
            if part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
                part["refusal"] = fn(part["refusal"])
        elif isinstance(part, str):
            part = fn(part)
        out.append(part)
    return out


def _tool_calls(calls: Any, fn: Rewrite) -> Any:
    if not isinstance(calls, list):
        return calls
    out = []
    for tc in calls:
        if isinstance(tc, dict) and isinstance(tc.get("function"), dict):
            f = dict(tc["function"])
            if isinstance(f.get("arguments"), str):
                f["arguments"] = json_text(f["arguments"], fn)
            tc = {**tc, "function": f}
        out.append(tc)
    return out


def chat_request(body: dict[str, Any], fn: Rewrite) -> dict[str, Any]:
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise BadInput("messages must be a non-empty list")
    new_msgs = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            raise BadInput(f"messages[{i}] must be an object")
        m = dict(m)
        if m.get("role") == "tool" and isinstance(m.get("content"), str):
            m["content"] = json_text(m["content"], fn)
        else:
            m["content"] = _parts(m.get("content"), fn, f"messages[{i}]")
        if "tool_calls" in m:
            m["tool_calls"] = _tool_calls(m["tool_calls"], fn)
        if isinstance(m.get("function_call"), dict):  # the legacy form
            fc = dict(m["function_call"])
            if isinstance(fc.get("arguments"), str):
                fc["arguments"] = json_text(fc["arguments"], fn)
            m["function_call"] = fc
        if m.get("role") in ("user", "system", "developer", "assistant"):
            m.pop("name", None)
        new_msgs.append(m)
    out = {k: v for k, v in body.items() if k not in DROPPED_FIELDS}
    out["messages"] = new_msgs
    return out


def responses_request(body: dict[str, Any], fn: Rewrite) -> dict[str, Any]:
    out = {k: v for k, v in body.items() if k not in DROPPED_FIELDS}
    if isinstance(body.get("instructions"), str):
        out["instructions"] = fn(body["instructions"])
    inp = body.get("input")
    if isinstance(inp, str):
        out["input"] = fn(inp)
    elif isinstance(inp, list):
        items = []
        for i, item in enumerate(inp):
            if not isinstance(item, dict):
                raise BadInput(f"input[{i}] must be an object")
            item = dict(item)
            kind = item.get("type", "message")
            if kind == "message" or "role" in item:
                item["content"] = _parts(item.get("content"), fn, f"input[{i}]")
            elif kind == "function_call" and isinstance(item.get("arguments"), str):
                item["arguments"] = json_text(item["arguments"], fn)
            elif kind == "function_call_output" and isinstance(item.get("output"), str):
                item["output"] = json_text(item["output"], fn)
            elif kind == "function_call_output" and isinstance(item.get("output"), list):
                item["output"] = _parts(item["output"], fn, f"input[{i}]")
            items.append(item)
        out["input"] = items
    elif inp is not None:
        raise BadInput("input must be a string or a list of items")
    return out


def rewrite(endpoint: str, body: dict[str, Any], fn: Rewrite) -> dict[str, Any]:
    """The request ``body`` of ``endpoint`` (``chat`` or ``responses``) with every text that
    the upstream sees passed through ``fn``."""
    if endpoint == "chat":
        return chat_request(body, fn)
    return responses_request(body, fn)


# --- what is stored: the new turn ------------------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, dict):
                t = part.get("text") if part.get("type") in _TEXT_PARTS else None
                if isinstance(t, str):
                    texts.append(t)
            elif isinstance(part, str):
                texts.append(part)
        return "\n".join(texts)
    return ""


def new_turn(endpoint: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of the messages after the last answer of the model: what the caller says
    now (earlier turns were stored when they were new)."""
    if endpoint == "chat":
        msgs = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    else:
        inp = body.get("input")
        out: list[tuple[str, str]] = []
        if isinstance(body.get("instructions"), str) and body["instructions"]:
            out.append(("system", body["instructions"]))
        if isinstance(inp, str):
            return [*out, ("user", inp)]
        msgs = []
        for item in inp or []:
            if not isinstance(item, dict):
                continue
            kind = item.get("type", "message")
            if kind == "function_call_output":
                msgs.append({"role": "tool", "content": item.get("output")})
            elif kind == "function_call":
                msgs.append({"role": "assistant", "content": None})
            else:
                msgs.append(item)
        if out and any(m.get("role") == "assistant" for m in msgs):
            out = []  # the instructions were stored with the first turn
        msgs_turn = _after_last_answer(msgs)
        return out + [(str(m.get("role", "user")), t) for m in msgs_turn
                      if (t := _text_of(m.get("content")))]
    return [(str(m.get("role", "user")), t) for m in _after_last_answer(msgs)
            if (t := _tool_or_text(m))]


def _tool_or_text(m: dict[str, Any]) -> str:
    return _text_of(m.get("content"))


def _after_last_answer(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    last = -1
    for i, m in enumerate(msgs):
        if m.get("role") == "assistant":
            last = i
    return msgs[last + 1:]
