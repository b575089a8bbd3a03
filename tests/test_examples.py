"""The example integrations (docs/examples.md) against a real ``confida serve`` over TLS.

One server for the module (SQLite, or PostgreSQL when CONFIDA_TEST_DATABASE_URL is set), an API
key of the sample register's ``service`` role, and the server's self-signed certificate as the
CA every client verifies against:

- ``examples/fastapi_chat``, in process (its TestClient; uvicorn on a loopback port for the
  webhook): a message is stored in Confida and readable there; the training consent it grants
  and withdraws is Confida's; its privacy link opens the privacy center; and once Confida erases
  a user, the app's own copy of their conversations is dropped after the next feed poll: by the
  poll endpoint, by the background poller, and on the signed ``erasure`` webhook; by a notice
  naming the app's reference when Confida knows it, by checking with Confida when not.
- ``examples/django_chat`` with Django's test client: the middleware's lazily created client
  stores, lists and reads messages, records consent and redirects to the privacy center.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from examples.fastapi_chat import app as chat
from fastapi.testclient import TestClient

from confida.client import Client
from confida.config import Config
from confida.errors import NotFound
from confida.tls import create_self_signed
from tests.apihelp import setup
from tests.conftest import cli, database
from tests.serving_support import free_port, serve

TEXT = "Hi, I am planning a trip. Mail me at ada@example.org please."


@dataclass
class Confida:
    cfg: Config
    url: str
    key: str
    cert: Path

    def browser(self) -> httpx.Client:
        """A browser-like client: cookies, and Confida's certificate as the only CA."""
        return httpx.Client(verify=ssl.create_default_context(cafile=str(self.cert)))

    def client(self) -> Client:
        return Client(self.url, self.key, verify=str(self.cert))

    def settings(self, **kw: Any) -> chat.Settings:
        return chat.Settings(self.url, self.key, ca=str(self.cert), **{"poll_seconds": 0, **kw})


@pytest.fixture(scope="module")
def confida(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Confida]:
    tmp = tmp_path_factory.mktemp("examples")
    with database(tmp) as url:
        cfg, keys = setup(tmp, url)
        create_self_signed(cfg.tls_cert, cfg.tls_key)
        with serve(cfg.data_dir, cert=cfg.tls_cert) as srv:
            yield Confida(cfg, f"https://127.0.0.1:{srv.port}", keys["service"], cfg.tls_cert)


@pytest.fixture(scope="module")
def api(confida: Confida) -> Iterator[Client]:
    with confida.client() as c:
        yield c


def _user(name: str) -> str:
    return f"{name}-{os.urandom(4).hex()}@example.org"


def _wait(cond: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds} s")
        time.sleep(0.1)


# --- the FastAPI chat --------------------------------------------------------------------------


@pytest.fixture
def app(confida: Confida) -> Iterator[TestClient]:
    with TestClient(chat.create_app(confida.settings(register_references=False))) as tc:
        yield tc


def _post(tc: TestClient | httpx.Client, user: str, text: str = TEXT, conv: str = "c1") -> str:
    r = tc.post("/messages", json={"conversation_id": conv, "text": text},
                headers={"X-User": user})
    assert r.status_code == 201, r.text
    return str(r.json()["record_id"])


def _local(tc: TestClient, user: str, conv: str = "c1") -> list[str]:
    r = tc.get(f"/conversations/{conv}", headers={"X-User": user})
    assert r.status_code == 200, r.text
    return [m["text"] for m in r.json()["messages"]]


def test_chat_stores_messages_in_confida(app: TestClient, api: Client) -> None:
    ada, bob = _user("ada"), _user("bob")
    rid = _post(app, ada)
    assert _local(app, ada) == [TEXT]
    got = app.get(f"/messages/{rid}", headers={"X-User": ada})
    assert got.status_code == 200 and got.json()["data"]["text"] == TEXT
    rec = api.get(rid, "service")  # Confida holds it, for the service purpose
    assert rec.kind == "conversation_message" and rec.data["text"] == TEXT
    assert rec.pii_summary.get("EMAIL") == 1
    assert [r.id for r in api.list_records(ada, "service")] == [rid]
    assert app.get(f"/messages/{rid}", headers={"X-User": bob}).status_code == 404
    assert app.post("/messages", json={"conversation_id": "c1", "text": TEXT}).status_code == 422


def test_chat_training_consent_is_confidas(app: TestClient, api: Client) -> None:
    ada = _user("ada")
    h = {"X-User": ada}
    _post(app, ada)
    assert app.get("/training-consent", headers=h).json()["granted"] is False
    r = app.put("/training-consent", json={"granted": True, "notice_version": "v3"}, headers=h)
    assert r.status_code == 200 and r.json()["granted"] is True
    state = api.consents(ada, "service").current["model_training"]
    assert state.granted and state.notice_version == "v3"
    assert app.put("/training-consent", json={"granted": False}, headers=h).json()[
        "granted"] is False
    assert api.consents(ada, "service").current["model_training"].granted is False
    assert app.get("/training-consent", headers=h).json()["granted"] is False


def test_chat_privacy_link_opens_the_privacy_center(app: TestClient, confida: Confida) -> None:
    ada = _user("ada")
    _post(app, ada)
    link = app.get("/privacy", headers={"X-User": ada}).json()
    assert link["url"].startswith(f"{confida.url}/privacy/enter?token=cst_")
    with confida.browser() as browser:
        r = browser.get(link["url"])
        assert r.status_code == 303 and r.headers["location"] == "/privacy/"
        assert browser.get(f"{confida.url}/privacy/").status_code == 200
        assert browser.get(link["url"]).status_code == 401  # single use
    assert app.get("/privacy", headers={"X-User": _user("nobody")}).status_code == 404


def test_chat_drops_erased_users_after_the_feed_poll(app: TestClient, api: Client) -> None:
    """No reference registered with Confida (``register_references`` off): the notice names no
    chat user, so the app checks its users with Confida. A user erased and back before the
    poll keeps only what they wrote since."""
    ada, eve, dan = _user("ada"), _user("eve"), _user("dan")
    for u in (ada, eve, dan):
        _post(app, u)
    app.post("/erasure-feed/sync").raise_for_status()  # cursor at the newest notice
    api.erase(eve, verified_by="test:examples")
    api.erase(dan, verified_by="test:examples")
    _post(app, dan, "back again")  # a new subject in Confida
    assert _local(app, eve) == [TEXT]  # not before the poll
    r = app.post("/erasure-feed/sync").json()
    assert r["notices"] == 2 and r["by_check"] == 1 and r["by_reference"] == 0
    assert r["messages_dropped"] == 2
    assert _local(app, eve) == [] and _local(app, dan) == ["back again"]
    assert _local(app, ada) == [TEXT]
    assert app.post("/erasure-feed/sync").json()["notices"] == 0


def test_chat_drops_the_user_its_reference_names(confida: Confida, api: Client) -> None:
    """The app records its reference for each user with Confida (the default:
    ``POST /v1/subjects/{id}/references``), so the notice names it and nothing is checked."""
    ada, eve = _user("ada"), _user("eve")
    with TestClient(chat.create_app(confida.settings())) as tc:
        _post(tc, ada)
        _post(tc, eve)
        _post(tc, eve, "second")
        given = tc.app.state.chat.index.users[eve].reference  # type: ignore[attr-defined]
        assert given.startswith("u_") and eve not in given
        since = tc.post("/erasure-feed/sync").json()["cursor"]
        out = api.erase(eve, verified_by="test:examples")
        notice = next(n for n in api.erasure_notices(since) if n.id == out.notice_id)
        assert notice.references == [{"system": "chat-app", "reference": given}]
        r = tc.post("/erasure-feed/sync").json()
        assert r["by_reference"] == 1 and r["by_check"] == 0 and r["messages_dropped"] == 2
        assert _local(tc, eve) == [] and _local(tc, ada) == [TEXT]


def test_chat_background_poller_drops_an_erased_user(confida: Confida, api: Client) -> None:
    with TestClient(chat.create_app(confida.settings(poll_seconds=0.2))) as tc:
        eve = _user("eve")
        rid = _post(tc, eve)
        api.erase(eve, verified_by="test:examples")
        with pytest.raises(NotFound):
            api.get(rid, "service")
        _wait(lambda: _local(tc, eve) == [], 10, "the poller dropping an erased user")


def test_chat_drops_an_erased_user_on_the_signed_webhook(confida: Confida, api: Client) -> None:
    """Confida pushes the erasure to the app over HTTP (loopback); the app verifies the
    Standard Webhooks signature and polls. No background poller: the webhook does it."""
    port = free_port()
    added = cli(confida.cfg.data_dir, "--json", "webhooks", "add",
                f"http://127.0.0.1:{port}/webhooks/confida", "--events", "erasure")
    assert added.exit_code == 0, added.output
    hook = json.loads(added.output)
    app = chat.create_app(confida.settings(webhook_secret=hook["secret"]))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        _wait(lambda: server.started, 10, "the example app starting")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as web:
            eve = _user("eve")
            _post(web, eve)
            state = app.state.chat
            assert eve in state.index.users
            forged = web.post("/webhooks/confida", content=b"{}", headers={
                "webhook-id": "msg_x", "webhook-timestamp": str(int(time.time())),
                "webhook-signature": "v1,AAAA"})
            assert forged.status_code == 401
            api.erase(eve, verified_by="test:examples")
            _wait(lambda: eve not in state.index.users, 20, "the webhook dropping the user")
    finally:
        server.should_exit = True
        thread.join(10)
        removed = cli(confida.cfg.data_dir, "webhooks", "remove", hook["id"])
        assert removed.exit_code == 0, removed.output


# --- the Django middleware and views ---------------------------------------------------------


@pytest.fixture(scope="module")
def django_env(confida: Confida) -> Iterator[None]:
    import django
    from django.test.utils import (
        override_settings,
        setup_test_environment,
        teardown_test_environment,
    )

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_SETTINGS_MODULE", "examples.django_chat.settings")
        django.setup()
        setup_test_environment()
        try:
            with override_settings(CONFIDA_URL=confida.url, CONFIDA_API_KEY=confida.key,
                                   CONFIDA_CA=str(confida.cert)):
                yield
        finally:
            teardown_test_environment()


def test_django_view_stores_and_reads_through_the_middleware_client(
    django_env: None, confida: Confida, api: Client,
) -> None:
    from django.test import Client as DjangoClient

    web, ada, bob = DjangoClient(), _user("ada"), _user("bob")
    h = {"X-User": ada}
    r = web.post("/messages", {"conversation_id": "c1", "text": TEXT},
                 content_type="application/json", headers=h)
    assert r.status_code == 201, r.content
    rid = r.json()["record_id"]
    assert api.get(rid, "service").data["text"] == TEXT
    assert [m["record_id"] for m in web.get("/messages", headers=h).json()["messages"]] == [rid]
    assert web.get(f"/messages/{rid}", headers=h).json()["data"]["text"] == TEXT
    assert web.get(f"/messages/{rid}", headers={"X-User": bob}).status_code == 404
    assert web.get("/messages").status_code == 401

    r = web.post("/training-consent", {"granted": True}, content_type="application/json",
                 headers=h)
    assert r.json()["granted"] is True
    assert api.consents(ada, "service").current["model_training"].granted
    web.post("/training-consent", {"granted": False}, content_type="application/json",
             headers=h)
    assert web.get("/training-consent", headers=h).json()["granted"] is False

    r = web.get("/privacy", headers=h)
    assert r.status_code == 302 and r["Cache-Control"] == "no-store"
    with confida.browser() as browser:
        assert browser.get(r["Location"]).status_code == 303

    api.erase(ada, verified_by="test:examples")
    assert web.get(f"/messages/{rid}", headers=h).status_code == 404
    assert web.get("/messages", headers=h).json()["messages"] == []
    assert web.get("/privacy", headers=h).status_code == 404  # Confida forgot the person
