"""A fake OpenAI-compatible upstream and a served gateway, for the gateway's tests and bench.

The fake records every body it receives and answers by echoing the tokens it saw
(``<TOK_...>``), so a test can check both what left (no planted value) and what came back
(the values, restored). Streaming answers are cut into chunks of ``CHUNK`` characters, so tokens
are split across chunks. ``"tools"`` in a request makes the model call the first tool with the
tokens in its arguments. The model ``fail-400`` answers an OpenAI-style error.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from tests.serving_support import free_port

TOKEN = re.compile(r"<TOK_[A-Za-z0-9]{20,64}>")
CHUNK = 7


@dataclass
class FakeUpstream:
    bodies: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    delay: float = 0.0  # seconds before answering (the bench's model time)

    def seen(self) -> str:
        return b"\n".join(self.raw).decode("utf-8", "replace")

    # --- the ASGI app -----------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        headers = dict(scope["headers"])
        self.auth.append(headers.get(b"authorization", b"").decode())
        path = scope["path"]
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        if path.endswith("/models"):
            await _json(send, 200, {"object": "list", "data": [
                {"id": "fake-model", "object": "model", "created": 0, "owned_by": "test"}]})
            return
        self.raw.append(body)
        doc = json.loads(body)
        self.bodies.append(doc)
        if doc.get("model") == "fail-400":
            await _json(send, 400, {"error": {"message": "bad model", "type":
                                              "invalid_request_error", "code": "model_not_found",
                                              "param": "model"}})
            return
        tokens = TOKEN.findall(body.decode())
        text = "I saw: " + " ".join(tokens) if tokens else "I saw no token."
        tool = None
        if doc.get("tools"):
            t = doc["tools"][0]
            tool = t.get("function", t).get("name", "tool")
        args = json.dumps({"seen": tokens, "first": tokens[0] if tokens else ""})
        if path.endswith("/chat/completions"):
            if doc.get("stream"):
                await _sse(send, _chat_chunks(doc, text, tool, args))
            else:
                await _json(send, 200, _chat(doc, text, tool, args))
        elif path.endswith("/responses"):
            if doc.get("stream"):
                await _sse(send, _response_events(doc, text, tool, args))
            else:
                await _json(send, 200, _response(doc, text, tool, args))
        else:
            await _json(send, 404, {"error": {"message": "no such path", "type": "x",
                                              "code": None, "param": None}})


async def _json(send: Any, status: int, doc: Any) -> None:
    raw = json.dumps(doc).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(raw)).encode())]})
    await send({"type": "http.response.body", "body": raw})


async def _sse(send: Any, events: list[bytes]) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream")]})
    for ev in events:
        await send({"type": "http.response.body", "body": ev, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def _pieces(s: str) -> list[str]:
    return [s[i:i + CHUNK] for i in range(0, len(s), CHUNK)]


def _chat(doc: dict[str, Any], text: str, tool: str | None, args: str) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": text}
    finish = "stop"
    if tool:
        msg["tool_calls"] = [{"id": "call_1", "type": "function",
                              "function": {"name": tool, "arguments": args}}]
        finish = "tool_calls"
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
            "model": doc.get("model", "m"),
            "choices": [{"index": 0, "message": msg, "finish_reason": finish}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def _chat_chunks(doc: dict[str, Any], text: str, tool: str | None, args: str) -> list[bytes]:
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
            "model": doc.get("model", "m")}

    def ev(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return b"data: " + json.dumps(
            {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        ).encode() + b"\n\n"

    out = [ev({"role": "assistant", "content": ""})]
    out += [ev({"content": p}) for p in _pieces(text)]
    if tool:
        out.append(ev({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                       "function": {"name": tool, "arguments": ""}}]}))
        out += [ev({"tool_calls": [{"index": 0, "function": {"arguments": p}}]})
                for p in _pieces(args)]
    out.append(ev({}, "tool_calls" if tool else "stop"))
    out.append(b"data: [DONE]\n\n")
    return out


def _response(doc: dict[str, Any], text: str, tool: str | None, args: str) -> dict[str, Any]:
    output: list[dict[str, Any]] = [{
        "type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}]}]
    if tool:
        output.append({"type": "function_call", "id": "fc_1", "call_id": "call_1",
                       "name": tool, "arguments": args, "status": "completed"})
    return {"id": "resp_1", "object": "response", "created_at": 1, "status": "completed",
            "model": doc.get("model", "m"), "output": output, "parallel_tool_calls": True,
            "tool_choice": "auto", "tools": [], "error": None, "incomplete_details": None,
            "instructions": None, "metadata": {}, "temperature": 1.0, "top_p": 1.0}


def _response_events(doc: dict[str, Any], text: str, tool: str | None, args: str
                     ) -> list[bytes]:
    seq = iter(range(1000))
    full = _response(doc, text, tool, args)

    def ev(obj: dict[str, Any]) -> bytes:
        obj = {**obj, "sequence_number": next(seq)}
        return f"event: {obj['type']}\ndata: {json.dumps(obj)}\n\n".encode()

    created = {**full, "status": "in_progress", "output": []}
    msg = {**full["output"][0], "status": "in_progress", "content": []}
    out = [ev({"type": "response.created", "response": created}),
           ev({"type": "response.output_item.added", "output_index": 0, "item": msg}),
           ev({"type": "response.content_part.added", "item_id": "msg_1", "output_index": 0,
               "content_index": 0, "part": {"type": "output_text", "text": "",
                                            "annotations": []}})]
    out += [ev({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
                "content_index": 0, "delta": p, "logprobs": []}) for p in _pieces(text)]
    out.append(ev({"type": "response.output_text.done", "item_id": "msg_1", "output_index": 0,
                   "content_index": 0, "text": text, "logprobs": []}))
    out.append(ev({"type": "response.content_part.done", "item_id": "msg_1", "output_index": 0,
                   "content_index": 0, "part": full["output"][0]["content"][0]}))
    out.append(ev({"type": "response.output_item.done", "output_index": 0,
                   "item": full["output"][0]}))
    if tool:
        out.append(ev({"type": "response.output_item.added", "output_index": 1,
                       "item": {**full["output"][1], "arguments": "",
                                "status": "in_progress"}}))
        out += [ev({"type": "response.function_call_arguments.delta", "item_id": "fc_1",
                    "output_index": 1, "delta": p}) for p in _pieces(args)]
        out.append(ev({"type": "response.function_call_arguments.done", "item_id": "fc_1",
                       "output_index": 1, "arguments": args}))
        out.append(ev({"type": "response.output_item.done", "output_index": 1,
                       "item": full["output"][1]}))
    out.append(ev({"type": "response.completed", "response": full}))
    return out


# --- serving -----------------------------------------------------------------------------------


class Threaded:
    """A uvicorn server in a thread of this process (so that tests can monkeypatch it)."""

    def __init__(self, app: Any, port: int, **kw: Any) -> None:
        self.port = port
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                    log_level="warning", **kw))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Threaded:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.server.force_exit = True  # keep-alive connections of the clients: no waiting
        self.thread.join(10)


@contextmanager
def fake_upstream(**kw: Any) -> Iterator[tuple[FakeUpstream, str]]:
    fake = FakeUpstream(**kw)
    port = free_port()
    with Threaded(fake, port, lifespan="on"):
        yield fake, f"http://127.0.0.1:{port}/v1"


@contextmanager
def served_gateway(data_dir: Path, upstream_url: str, api_key: str = "sk-upstream-secret"
                   ) -> Iterator[int]:
    """The gateway app over TLS with the data dir's certificate; yields its port."""
    from confida.config import Config
    from confida.gateway.upstream import UpstreamSettings
    from confida.server.gateway_api import create_gateway_app

    cfg = Config.load(data_dir)
    app = create_gateway_app(cfg, UpstreamSettings(upstream_url, api_key, 30.0))
    port = free_port()
    with Threaded(app, port, ssl_certfile=str(cfg.tls_cert), ssl_keyfile=str(cfg.tls_key)):
        yield port


def tls_context(data_dir: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(data_dir / "tls" / "cert.pem")
    return ctx


def openai_client(data_dir: Path, port: int, key: str) -> Any:
    import openai

    return openai.OpenAI(base_url=f"https://127.0.0.1:{port}/v1", api_key=key, max_retries=0,
                         http_client=openai.DefaultHttpxClient(verify=tls_context(data_dir)))


def test_fake_upstream_echoes_tokens() -> None:
    import httpx

    with fake_upstream() as (fake, url):
        body = {"model": "m", "messages": [{"role": "user", "content": "<TOK_" + "a" * 24 + ">"}]}
        r = httpx.post(url + "/chat/completions", json=body)
        assert "<TOK_" + "a" * 24 + ">" in r.json()["choices"][0]["message"]["content"]
        assert fake.bodies == [body]
