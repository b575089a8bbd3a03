"""The privacy gateway, served for real (TLS, the official ``openai`` client) in front of a fake
upstream that records every body and echoes the tokens it saw.

What must hold: no planted value ever reaches the upstream (chat, responses, streaming, tool
calls, multi-turn); the caller gets the values back; erasure makes old tokens unresolvable;
a failing detector or key store blocks the call before anything is sent; secrets are refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from sqlalchemy import select

from confida import credential, rights, token_map
from confida.config import Config
from confida.store.schema import record as record_t
from confida.vault import Vault
from tests.actors import ADMIN
from tests.test_gateway_fakes import FakeUpstream, fake_upstream, openai_client, served_gateway

NAME = "Margarethe Vollmer"
EMAIL = "margarethe.vollmer@example.org"
IBAN = "DE89 3704 0044 0532 0130 00"
NINO = "QQ 12 34 56 C"
PHONE = "+44 20 7946 0958"
PLANTED = (NAME, EMAIL, IBAN, NINO, PHONE, "Vollmer", "3704 0044", "12 34 56")
PROMPT = (f"Hello, I am {NAME}, e-mail {EMAIL}. My IBAN is {IBAN} and my national insurance "
          f"number is {NINO}; call me on {PHONE}.")
SUBJECT = "user-4711"
TOOLS = [{"type": "function", "function": {
    "name": "send_mail", "description": "send an e-mail",
    "parameters": {"type": "object", "properties": {"to": {"type": "string"}}}}}]


@dataclass
class Gw:
    client: Any
    fake: FakeUpstream
    vault: Vault
    data_dir: Path
    key: str


@pytest.fixture
def gw(data_dir: Path) -> Iterator[Gw]:
    vault = Vault.open(Config.load(data_dir))
    key = credential.create(vault, "service", actor=ADMIN).key
    try:
        with fake_upstream() as (fake, url), served_gateway(data_dir, url) as port:
            yield Gw(openai_client(data_dir, port, key), fake, vault, data_dir, key)
    finally:
        vault.close()


def assert_clean(fake: FakeUpstream) -> None:
    seen = fake.seen()
    assert fake.bodies, "the upstream received nothing"
    for value in PLANTED:
        assert value not in seen, f"a planted value left: {value[:4]}..."
    for body in fake.bodies:
        assert "user" not in body  # the end user's id never leaves


def all_values_in(text: str) -> bool:
    return all(v in text for v in (NAME, EMAIL, IBAN, NINO, PHONE))


def audit_entries(vault: Vault, action: str) -> list[dict[str, Any]]:
    from confida.audit.reads import entries

    with vault.engine.connect() as conn:
        return [e for e in entries(conn) if e["action"] == action]


# --- chat completions ----------------------------------------------------------------------------


def test_chat_tokenises_out_and_restores_back(gw: Gw) -> None:
    r = gw.client.chat.completions.create(
        model="fake-model", user=SUBJECT,
        messages=[{"role": "system", "content": f"You help {NAME}."},
                  {"role": "user", "content": PROMPT}])
    assert_clean(gw.fake)
    sent = gw.fake.bodies[0]["messages"][1]["content"]
    assert "<TOK_" in sent
    answer = r.choices[0].message.content
    assert all_values_in(answer)  # every token the upstream echoed came back as its value
    assert "<TOK_" not in answer
    assert gw.fake.auth[0] == "Bearer sk-upstream-secret"  # the gateway's key, not the caller's


def test_chat_streaming_restores_tokens_split_across_chunks(gw: Gw) -> None:
    stream = gw.client.chat.completions.create(
        model="fake-model", user=SUBJECT, stream=True,
        messages=[{"role": "user", "content": PROMPT}])
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert_clean(gw.fake)
    assert all_values_in(text) and "<TOK_" not in text


def test_tool_calls_out_and_back(gw: Gw) -> None:
    msgs = [
        {"role": "user", "content": f"Mail {NAME}."},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_0", "type": "function", "function": {
                "name": "send_mail",
                "arguments": json.dumps({"to": EMAIL, "iban": IBAN, "n": 3})}}]},
        {"role": "tool", "tool_call_id": "call_0",
         "content": json.dumps({"ok": True, "recipient": NAME, "phone": PHONE})},
        {"role": "user", "content": f"And my national insurance number is {NINO}."},
    ]
    r = gw.client.chat.completions.create(model="fake-model", user=SUBJECT, messages=msgs,
                                          tools=TOOLS)
    assert_clean(gw.fake)
    sent = gw.fake.bodies[0]["messages"]
    args = json.loads(sent[1]["tool_calls"][0]["function"]["arguments"])  # still valid JSON
    assert args["to"].startswith("<TOK_") and args["n"] == 3
    assert json.loads(sent[2]["content"])["ok"] is True
    call = r.choices[0].message.tool_calls[0]
    back = json.loads(call.function.arguments)  # restored arguments are valid JSON
    assert set(back["seen"]) >= {EMAIL, IBAN, NAME, PHONE, NINO}
    # streamed tool-call arguments too
    stream = gw.client.chat.completions.create(model="fake-model", user=SUBJECT,
                                               messages=msgs, tools=TOOLS, stream=True)
    args_text = "".join(tc.function.arguments or "" for c in stream if c.choices
                        for tc in (c.choices[0].delta.tool_calls or []))
    assert set(json.loads(args_text)["seen"]) >= {EMAIL, IBAN, NAME, PHONE, NINO}
    assert_clean(gw.fake)


def test_multi_turn_uses_the_same_tokens(gw: Gw) -> None:
    first = gw.client.chat.completions.create(
        model="fake-model", user=SUBJECT, messages=[{"role": "user", "content": PROMPT}])
    answer = first.choices[0].message.content
    assert all_values_in(answer)
    gw.client.chat.completions.create(
        model="fake-model", user=SUBJECT,
        messages=[{"role": "user", "content": PROMPT},
                  {"role": "assistant", "content": answer},
                  {"role": "user", "content": f"Thanks, {NAME}."}])
    assert_clean(gw.fake)
    t1 = set(json.dumps(gw.fake.bodies[0]).split("<TOK_")[1:])
    t2 = json.dumps(gw.fake.bodies[1])
    assert all("<TOK_" + t.split(">")[0] + ">" in t2 for t in t1)  # consistent for the model
    # another person's same name gets other tokens
    gw.client.chat.completions.create(
        model="fake-model", user="someone-else", messages=[{"role": "user", "content": PROMPT}])
    other = json.dumps(gw.fake.bodies[2])
    assert not any("<TOK_" + t.split(">")[0] + ">" in other for t in t1)


# --- responses -----------------------------------------------------------------------------------


def test_responses_string_items_instructions_and_stream(gw: Gw) -> None:
    r = gw.client.responses.create(model="fake-model", input=PROMPT, user=SUBJECT,
                                   instructions=f"Be kind to {NAME}.")
    assert all_values_in(r.output_text)
    r = gw.client.responses.create(
        model="fake-model", user=SUBJECT, tools=[{"type": "function", "name": "send_mail",
                                                  "parameters": {"type": "object"}}],
        input=[{"role": "user", "content": [{"type": "input_text", "text": PROMPT}]},
               {"type": "function_call", "call_id": "c1", "name": "send_mail",
                "arguments": json.dumps({"to": EMAIL})},
               {"type": "function_call_output", "call_id": "c1",
                "output": json.dumps({"sent_to": NAME})}])
    assert all_values_in(r.output_text)
    fc = [o for o in r.output if o.type == "function_call"][0]
    assert EMAIL in json.loads(fc.arguments)["seen"]
    deltas, args, final = [], [], None
    with gw.client.responses.stream(model="fake-model", input=PROMPT, user=SUBJECT,
                                    tools=[{"type": "function", "name": "send_mail",
                                            "parameters": {"type": "object"}}]) as s:
        for ev in s:
            if ev.type == "response.output_text.delta":
                deltas.append(ev.delta)
            if ev.type == "response.function_call_arguments.delta":
                args.append(ev.delta)
        final = s.get_final_response()
    assert all_values_in("".join(deltas)) and all_values_in(final.output_text)
    assert NAME in json.loads("".join(args))["seen"]
    assert_clean(gw.fake)


def test_models_pass_through(gw: Gw) -> None:
    assert [m.id for m in gw.client.models.list()] == ["fake-model"]


# --- refusals and failures -----------------------------------------------------------------------


def test_secrets_are_refused_and_never_sent(gw: Gw) -> None:
    for text in ("my key is sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123456789",
                 "login with password: hunter2xyz"):
        with pytest.raises(openai.BadRequestError) as e:
            gw.client.chat.completions.create(model="fake-model", user=SUBJECT,
                                              messages=[{"role": "user", "content": text}])
        assert e.value.body["code"] == "secret-in-prompt"
        assert "hunter2" not in str(e.value.body)
    assert gw.fake.bodies == []


def test_restricted_subject_is_refused(gw: Gw) -> None:
    gw.client.chat.completions.create(model="fake-model", user=SUBJECT,
                                      messages=[{"role": "user", "content": "hi"}])
    rights.restrict(gw.vault, SUBJECT, verified_by="test", actor=ADMIN)
    with pytest.raises(openai.ConflictError) as e:
        gw.client.chat.completions.create(model="fake-model", user=SUBJECT,
                                          messages=[{"role": "user", "content": PROMPT}])
    assert e.value.body["code"] == "subject-restricted" and e.value.body["type"]
    assert len(gw.fake.bodies) == 1


def test_no_subject_or_bad_key_is_refused(gw: Gw) -> None:
    with pytest.raises(openai.BadRequestError):
        gw.client.chat.completions.create(model="fake-model",
                                          messages=[{"role": "user", "content": "hi"}])
    assert gw.fake.bodies == []
    r = gw.client.chat.completions.create(  # the subject named in a header instead
        model="fake-model", extra_headers={"Confida-Subject": SUBJECT},
        messages=[{"role": "user", "content": PROMPT}])
    assert all_values_in(r.choices[0].message.content)
    gw.fake.bodies.clear()
    bad = openai_client(gw.data_dir, gw.client.base_url.port, "cfk_aaaaaaaa_" + "x" * 43)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="fake-model", user=SUBJECT,
                                    messages=[{"role": "user", "content": "hi"}])
    assert gw.fake.bodies == []


def test_failing_detector_blocks_the_call(gw: Gw, monkeypatch: pytest.MonkeyPatch) -> None:
    from confida.gateway import core

    def broken(_text: str) -> list[Any]:
        raise RuntimeError("detector down")

    monkeypatch.setattr(core, "detect", broken)
    with pytest.raises(openai.InternalServerError) as e:
        gw.client.chat.completions.create(model="fake-model", user=SUBJECT,
                                          messages=[{"role": "user", "content": PROMPT}])
    assert e.value.status_code == 503 and e.value.body["code"] == "gateway-unavailable"
    assert gw.fake.bodies == []


def test_unavailable_key_store_blocks_the_call(gw: Gw, monkeypatch: pytest.MonkeyPatch) -> None:
    from confida.crypto.keystore import KeyStore
    from confida.errors import KeyUnavailable

    real = KeyStore.get_key

    def get_key(self: KeyStore, key_id: str) -> bytes:
        if key_id.startswith("system:") or key_id == "index":
            return real(self, key_id)
        raise KeyUnavailable("the key store is unavailable")

    monkeypatch.setattr(KeyStore, "get_key", get_key)
    with pytest.raises(openai.InternalServerError) as e:
        gw.client.chat.completions.create(model="fake-model", user=SUBJECT,
                                          messages=[{"role": "user", "content": PROMPT}])
    assert e.value.status_code == 503
    assert gw.fake.bodies == []


def test_upstream_errors_pass_through(gw: Gw) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        gw.client.chat.completions.create(model="fail-400", user=SUBJECT,
                                          messages=[{"role": "user", "content": "hi"}])
    assert e.value.body["code"] == "model_not_found"


# --- records, audit, erasure ---------------------------------------------------------------------


def test_records_audit_and_erasure(gw: Gw) -> None:
    r = gw.client.chat.completions.create(
        model="fake-model", user=SUBJECT, messages=[{"role": "user", "content": PROMPT}])
    answer = r.choices[0].message.content
    import time

    deadline = time.monotonic() + 10
    while True:  # the answer is stored after it was sent
        with gw.vault.engine.connect() as conn:
            rows = conn.execute(select(record_t)).all()
        if len(rows) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert {(row.kind, row.purpose) for row in rows} == {("conversation_message", "service")}
    assert rows[0].pii_summary and all(IBAN.encode() not in row.ciphertext for row in rows)
    # the audit entry: pseudonym, purpose, host, counts; never a value
    calls = audit_entries(gw.vault, "gateway.call")
    assert len(calls) == 1  # one entry per call
    e = calls[0]
    assert e["purpose"] == "service" and e["subjects"] and e["outcome"] == "allowed"
    assert e["details"]["upstream_host"].startswith("127.0.0.1")
    assert e["details"]["tokenized"]["IBAN"] == 1
    assert len(e["object_ids"]) == 2  # the prompt's record and the answer's
    raw = json.dumps(calls)
    for value in (NAME, EMAIL, IBAN, SUBJECT, "Vollmer"):
        assert value not in raw
    # the tokens the upstream saw resolve now, and never again once the subject is erased
    sent = gw.fake.bodies[0]["messages"][0]["content"]
    assert token_map.detokenize(gw.vault, SUBJECT, sent, "service", actor=ADMIN).texts[0] \
        == PROMPT
    rights.erase(gw.vault, SUBJECT, verified_by="test", actor=ADMIN)
    res = token_map.detokenize(gw.vault, SUBJECT, sent, "service", actor=ADMIN)
    assert res.restored == 0 and res.texts[0] == sent
    assert answer  # the caller had it


def test_temporary_chat_is_kept_apart(gw: Gw) -> None:
    gw.client.chat.completions.create(
        model="fake-model", user=SUBJECT, extra_headers={"Confida-Temporary": "true"},
        messages=[{"role": "user", "content": PROMPT}])
    assert_clean(gw.fake)
    with gw.vault.engine.connect() as conn:
        rows = conn.execute(select(record_t)).all()
    assert rows and {(r.kind, r.purpose) for r in rows} == {("temporary_chat", "temporary_chat")}
    reg = gw.vault.register
    assert reg.purposes["temporary_chat"].retention.approx_days() <= 31
    assert "temporary_chat" not in reg.purposes["model_training"].kinds  # never for training
    assert "temporary_chat" not in reg.purposes["model_training"].compatible_with
    # using the gateway is not consent to training
    from confida.store.schema import consent_event

    with gw.vault.engine.connect() as conn:
        assert conn.execute(select(consent_event)).all() == []
    with pytest.raises(openai.BadRequestError):
        gw.client.chat.completions.create(
            model="fake-model", user=SUBJECT,
            extra_headers={"Confida-Temporary": "true", "Confida-Purpose": "service"},
            messages=[{"role": "user", "content": "hi"}])


def test_mounted_in_serve_under_gateway(data_dir: Path) -> None:
    from starlette.testclient import TestClient

    from confida.server.app import create_app

    with fake_upstream() as (fake, url):
        (data_dir / "gateway.toml").write_text(f'[gateway]\nupstream = "{url}"\n')
        cfg = Config.load(data_dir)
        with Vault.open(cfg) as v:
            key = credential.create(v, "service", actor=ADMIN).key
        with TestClient(create_app(cfg), base_url="https://testserver") as c:
            auth = {"Authorization": f"Bearer {key}"}
            r = c.post("/gateway/v1/chat/completions", headers=auth, json={
                "model": "m", "user": SUBJECT, "messages": [{"role": "user", "content": PROMPT}]})
            assert r.status_code == 200, r.text
            assert all_values_in(r.json()["choices"][0]["message"]["content"])
            assert c.get("/gateway/v1/models").status_code == 401
        assert_clean(fake)


def test_no_personal_value_or_upstream_key_in_logs(gw: Gw, caplog: pytest.LogCaptureFixture
                                                   ) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    gw.client.chat.completions.create(model="fake-model", user=SUBJECT,
                                      messages=[{"role": "user", "content": PROMPT}])
    with pytest.raises(openai.BadRequestError):
        gw.client.chat.completions.create(
            model="fake-model", user=SUBJECT,
            messages=[{"role": "user", "content": f"{PROMPT} password: hunter2xyz"}])
    text = caplog.text
    for value in (*PLANTED, SUBJECT, "hunter2xyz", "sk-upstream-secret", "<TOK_"):
        assert value not in text
