"""Web sessions live on the server: a cookie is only as good as its row.

Signing out, the person's erasure and revoking the staff key each end the session for every
copy of the cookie; the cookie key rotates, and only the current and the previous version open.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from confida import credential, record, rights, subject_token, web_sessions
from confida.errors import NotFound
from confida.vault import Vault
from confida.web import session as sessions
from tests.actors import ADMIN
from tests.web_support import https_client

SUBJECT = "session-person@example.test"


@pytest.fixture
def seeded(vault: Vault) -> Vault:
    record.collect(vault, SUBJECT, "account", {"email": SUBJECT}, "service", actor=ADMIN)
    return vault


@pytest.fixture
def client(config, seeded):
    with https_client(config) as c:
        yield c


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m
    return m.group(1)


def _enter(client: TestClient, vault: Vault) -> str:
    token = subject_token.issue(vault, SUBJECT, use=subject_token.LINK, actor=ADMIN).token
    client.cookies.clear()
    r = client.get("/privacy/enter", params={"token": token}, follow_redirects=False)
    assert r.status_code == 303
    return r.cookies[sessions.COOKIE]


def _with_cookie(client: TestClient, value: str) -> None:
    client.cookies.clear()
    client.cookies.set(sessions.COOKIE, value)


def _staff(client: TestClient, key: str) -> str:
    page = client.get("/console/login")
    r = client.post("/console/login", data={"api_key": key, "csrf": _csrf(page.text)},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.cookies[sessions.COOKIE]


def test_sign_out_ends_the_session_for_a_replayed_cookie(client, seeded):
    cookie = _enter(client, seeded)
    page = client.get("/privacy/")
    assert page.status_code == 200
    r = client.post("/privacy/signout", data={"csrf": _csrf(page.text)})
    assert r.status_code == 200
    _with_cookie(client, cookie)  # the old cookie, as a thief who copied it would send it
    assert client.get("/privacy/").status_code == 401


def test_console_sign_out_ends_the_session(client, seeded):
    key = credential.create(seeded, "dpo", label="console", actor=ADMIN).key
    cookie = _staff(client, key)
    page = client.get("/console/register")
    assert page.status_code == 200
    client.post("/console/signout", data={"csrf": _csrf(page.text)})
    _with_cookie(client, cookie)
    assert client.get("/console/", follow_redirects=False).headers["location"] == \
        "/console/login"


def test_erasure_ends_the_persons_sessions(client, seeded):
    cookie = _enter(client, seeded)
    assert client.get("/privacy/").status_code == 200
    rights.erase(seeded, SUBJECT, verified_by="test:support-desk", actor=ADMIN)
    _with_cookie(client, cookie)
    assert client.get("/privacy/").status_code == 401


def test_revoking_the_api_key_ends_its_console_sessions(client, seeded):
    info = credential.create(seeded, "dpo", label="console", actor=ADMIN)
    _staff(client, info.key)
    assert client.get("/console/register").status_code == 200
    credential.revoke(seeded, info.info.id, actor=ADMIN)
    assert client.get("/console/register", follow_redirects=False).status_code == 303


def test_session_key_rotation_keeps_the_previous_version_only(client, seeded):
    old = _enter(client, seeded)
    v1 = int(old.split(".")[0][1:])
    assert web_sessions.rotate_session_key(seeded, actor=ADMIN) == v1 + 1
    _with_cookie(client, old)
    assert client.get("/privacy/").status_code == 200  # the previous version still opens
    new = _enter(client, seeded)
    assert new.startswith(f"v{v1 + 1}.")  # new sessions use the new key
    web_sessions.rotate_session_key(seeded, actor=ADMIN)
    _with_cookie(client, old)
    assert client.get("/privacy/").status_code == 401  # two versions back: refused
    _with_cookie(client, new)
    assert client.get("/privacy/").status_code == 200


def test_an_unknown_key_version_is_refused(client, seeded):
    cookie = _enter(client, seeded)
    body = cookie.split(".", 1)[1]
    for value in (f"v99.{body}", f"v0.{body}", f"x1.{body}", body):
        _with_cookie(client, value)
        assert client.get("/privacy/").status_code == 401
    with pytest.raises(NotFound):  # a cookie naming a version makes no key for it
        seeded.keys.get_key("system:web-session-v99")


def test_rotation_by_age_at_sign_in(seeded, config):
    first = web_sessions.current_key_version(seeded)
    assert web_sessions.current_key_version(seeded) == first  # fresh: kept
    later = Vault.open(config, clock=lambda: seeded.clock() + timedelta(days=2))
    try:
        assert web_sessions.current_key_version(later) == first + 1
    finally:
        later.close()
    assert web_sessions.key_versions(seeded) == (first + 1, first)


def test_rotation_needs_the_keys_action(seeded):
    from confida.errors import AccessDenied
    from confida.operation import Actor

    with pytest.raises(AccessDenied):
        web_sessions.rotate_session_key(seeded, actor=Actor("support-1", "support", "cli"))
