"""Restoring tokens in streamed answers, the egress policy and the request rewrite: pure parts of
the gateway, tested without a server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from confida.gateway import scrub
from confida.gateway.core import Scrubber, egress_action
from confida.gateway.restore import (
    StreamRestorer,
    could_start_token,
    json_escape,
    restore,
    restore_json,
)
from confida.gateway.stream import EventRewriter, SseParser
from confida.register.models import Purpose

T1 = "<TOK_" + "A1b2C3d4E5f6G7h8I9j0K1l2" + ">"
T2 = "<TOK_" + "z" * 64 + ">"
VALUES = {T1: "Margarethe Vollmer", T2: 'He said "hi" \\ bye'}
lookup = VALUES.get


def stream(chunks: list[str], escape: Any = None) -> str:
    r = StreamRestorer(lookup, escape) if escape else StreamRestorer(lookup)
    return "".join(r.feed(c) for c in chunks) + r.flush()


def test_a_token_split_at_every_position_is_restored() -> None:
    text = f"Dear {T1}, and {T2}."
    want = restore(text, lookup)
    assert want == f"Dear {VALUES[T1]}, and {VALUES[T2]}."
    for i in range(len(text) + 1):
        assert stream([text[:i], text[i:]]) == want, i
        for j in range(i, len(text) + 1):
            assert stream([text[:i], text[i:j], text[j:]]) == want, (i, j)
    assert stream(list(text)) == want  # one character at a time


def test_only_the_shortest_possible_start_is_held_back() -> None:
    r = StreamRestorer(lookup)
    assert r.feed("abc <") == "abc " and r.held == "<"
    assert r.feed("b") == "<b" and r.held == ""  # "<b" starts no token: released at once
    assert r.feed("x <TO") == "x " and r.held == "<TO"
    assert r.feed("K_abc") == "" and r.held == "<TOK_abc"
    assert r.feed(" ") == "<TOK_abc " and r.held == ""
    assert r.feed("<TOK_" + "a" * 64) == "" and r.feed("a") == "<TOK_" + "a" * 65
    assert r.feed("1 < 2") == "1 < 2"  # "< 2" cannot be a token
    assert r.feed("a<<TOK_") == "a<" and r.held == "<TOK_"
    assert r.flush() == "<TOK_"


def test_could_start_token() -> None:
    for s in ("<", "<T", "<TOK", "<TOK_", "<TOK_a", "<TOK_" + "9" * 64):
        assert could_start_token(s)
    for s in ("<t", "<TOKX", "<TOK_a-", "<TOK_" + "9" * 65, "<TOK_é", T1):
        assert not could_start_token(s)


def test_unknown_tokens_stay_and_json_arguments_stay_valid() -> None:
    other = "<TOK_" + "Q" * 24 + ">"
    assert restore(f"x {other}", lookup) == f"x {other}"
    args = json.dumps({"to": T2, "n": 1})
    back = stream([args[:9], args[9:30], args[30:]], json_escape)
    assert json.loads(back) == {"to": VALUES[T2], "n": 1}
    doc = restore_json({"a": [T1], "arguments": args, "n": 1}, lookup)
    assert doc == {"a": [VALUES[T1]], "arguments": back, "n": 1}


_piece = st.sampled_from([T1, T2, "<", "<TOK_", "<TOK_abc", ">", " ", "a", "é", "\n", "<TO",
                          "<TOK_" + "x" * 70 + ">", "<TOK_" + "y" * 19 + ">"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_piece, st.text(max_size=6)), max_size=20), st.data())
def test_random_chunkings_restore_like_the_whole(pieces: list[str], data: Any) -> None:
    text = "".join(pieces)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=12)))
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert stream(chunks) == restore(text, lookup)
    assert stream(chunks, json_escape) == restore(text, lookup, json_escape)


# --- the SSE rewrite -----------------------------------------------------------------------------


def _chat_events(text: str, size: int) -> bytes:
    out = b""
    for i in range(0, len(text), size):
        doc = {"id": "c", "choices": [{"index": 0, "delta": {"content": text[i:i + size]},
                                       "finish_reason": None}]}
        out += b"data: " + json.dumps(doc).encode() + b"\n\n"
    out += b'data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    return out + b"data: [DONE]\n\n"


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 100])
@pytest.mark.parametrize("byte_split", [1, 7, 64, 10_000])
def test_sse_chat_stream_restored(size: int, byte_split: int) -> None:
    text = f"Hi {T1}! Bye {T2} <TOK_"
    raw = _chat_events(text, size)
    rw, parser, out = EventRewriter("chat", lookup), SseParser(), b""
    for i in range(0, len(raw), byte_split):
        for ev in parser.feed(raw[i:i + byte_split]):
            out += rw.event(ev)
    out += rw.flush_all()
    got = ""
    for block in out.decode().split("\n\n"):
        if block.startswith("data: {"):
            for ch in json.loads(block[6:])["choices"]:
                got += ch["delta"].get("content") or ""
    assert got == restore(text, lookup) == "".join(rw.answer)
    assert out.decode().rstrip().endswith("data: [DONE]")


# --- egress policy and the request rewrite --------------------------------------------------------


def test_egress_policy() -> None:
    assert egress_action({}, "PERSON") == "tokenize"
    assert egress_action({"default": "allow"}, "URL") == "allow"
    assert egress_action({"default": "allow", "EMAIL": "redact"}, "EMAIL") == "redact"
    assert egress_action({"default": "allow"}, "SECRET") == "block"
    base = {"description": "d", "legal_basis": "contract", "categories": [], "kinds": [],
            "retention": "1 day"}
    assert Purpose(**base, egress={"PERSON": "redact"}).egress == {"PERSON": "redact"}
    for bad in ({"SECRET": "allow"}, {"PERSON": "keep"}, {"person": "allow"}):
        with pytest.raises(ValidationError):
            Purpose(**base, egress=bad)


def test_scrubber_applies_the_policy() -> None:
    text = "Mail margarethe.vollmer@example.org, see https://example.org/x, Margarethe Vollmer"
    s = Scrubber(b"k" * 32, {"URL": "allow", "EMAIL": "redact"})
    out = s(text)
    assert "<EMAIL>" in out and "https://example.org/x" in out and "Vollmer" not in out
    assert s.summary() == {"tokenized": {"PERSON": 1}, "redacted": {"EMAIL": 1},
                           "allowed": {"URL": 1}}
    tok = s.token_for("Margarethe Vollmer")
    assert tok in out and Scrubber(b"k" * 32, {}).token_for("Margarethe Vollmer") == tok
    assert Scrubber(b"j" * 32, {}).token_for("Margarethe Vollmer") != tok  # another subject
    known = Scrubber(b"k" * 32, {}, known=["QQ 12 34 56 C"])
    assert "QQ 12" not in known("my number: QQ 12 34 56 C, you know")
    jan = Scrubber(b"k" * 32, {}, known=["Jan"], detector=lambda _t: [])
    assert jan("January, and Jan.").startswith("January, and <TOK_")


def test_every_text_of_a_request_is_rewritten() -> None:
    seen: list[str] = []

    def fn(s: str) -> str:
        seen.append(s)
        return "X"

    body = {"model": "m", "user": "u1", "messages": [
        {"role": "system", "content": "s", "name": "Jane"},
        {"role": "user", "content": [{"type": "text", "text": "p"},
                                     {"type": "image_url", "image_url": {"url": "data:"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "1", "type": "function", "function": {"name": "f",
                                                         "arguments": '{"a": "v", "b": [2]}'}}]},
        {"role": "tool", "tool_call_id": "1", "content": '{"r": "res"}'},
        {"role": "tool", "tool_call_id": "2", "content": "plain result"}]}
    out = scrub.rewrite("chat", body, fn)
    assert sorted(seen) == sorted(["s", "p", "v", "res", "plain result"])
    assert "user" not in out and "name" not in out["messages"][0]
    assert json.loads(out["messages"][2]["tool_calls"][0]["function"]["arguments"]) == \
        {"a": "X", "b": [2]}
    seen.clear()
    out = scrub.rewrite("responses", {"instructions": "i", "input": [
        {"role": "user", "content": "u"},
        {"type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "o"}]},
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": '{"x": "y"}'},
        {"type": "function_call_output", "call_id": "c", "output": "out"}]}, fn)
    assert sorted(seen) == sorted(["i", "u", "o", "y", "out"])
    seen.clear()
    scrub.rewrite("responses", {"input": "just text"}, fn)
    assert seen == ["just text"]
