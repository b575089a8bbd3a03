"""One subject token: the privacy center opens with a ``cst_`` link token, exactly once.

Covers the token's verification order (the tag before the payload), its lifetime, its binding
to one installation and one use, the single-use exchange, and the API endpoint that hands
out privacy-center links.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from confida import credential, record, subject_token
from confida.clock import utcnow
from confida.errors import BadInput, Unauthenticated
from confida.store.schema import audit_tables
from confida.vault import Vault
from tests.actors import ADMIN
from tests.conftest import database, make_config
from tests.web_support import https_client

SUBJECT = "link-person@example.test"


@pytest.fixture
def seeded(vault: Vault) -> Vault:
    record.collect(vault, SUBJECT, "account", {"email": SUBJECT}, "service", actor=ADMIN)
    return vault


@pytest.fixture
def client(config, seeded):
    with https_client(config) as c:
        yield c


def _link(vault: Vault, minutes: int = 5) -> str:
    return subject_token.issue(vault, SUBJECT, minutes=minutes, use=subject_token.LINK,
                               actor=ADMIN).token


def _enter(client: TestClient, token: str) -> int:
    r = client.get("/privacy/enter", params={"token": token}, follow_redirects=False)
    return r.status_code


def _entries(vault: Vault) -> list[dict]:
    with vault.engine.connect() as conn:
        rows = conn.execute(select(audit_tables.entry.c.entry)
                            .order_by(audit_tables.entry.c.idx)).scalars()
        return [json.loads(r) for r in rows]


def test_a_link_opens_the_privacy_center_once(client, seeded):
    token = _link(seeded)
    r = client.get("/privacy/enter", params={"token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/privacy/"
    assert client.get("/privacy/").status_code == 200
    client.cookies.clear()
    assert _enter(client, token) == 401  # the same link again: refused
    assert client.get("/privacy/").status_code == 401


def test_the_link_may_be_posted_instead(client, seeded):
    r = client.post("/privacy/enter", data={"token": _link(seeded)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/privacy/"


def test_an_expired_link_is_refused(client, config, seeded):
    past = Vault.open(config, clock=lambda: utcnow() - timedelta(minutes=20))
    try:
        token = subject_token.issue(past, SUBJECT, minutes=15, use=subject_token.LINK,
                                    actor=ADMIN).token
    finally:
        past.close()
    assert _enter(client, token) == 401
    with pytest.raises(Unauthenticated, match="expired"):
        subject_token.verify(seeded, token, use=subject_token.LINK)


def test_lifetime_is_at_most_fifteen_minutes(seeded):
    with pytest.raises(BadInput):
        subject_token.issue(seeded, SUBJECT, minutes=16, actor=ADMIN)
    t = subject_token.issue(seeded, SUBJECT, actor=ADMIN)
    assert t.expires_at - seeded.clock() <= timedelta(minutes=15)


def test_a_link_of_another_installation_is_invalid(client, seeded, tmp_path):
    with database(tmp_path / "other") as url:
        other = Vault.open(make_config(tmp_path / "other" / "data", url))
        try:
            record.collect(other, SUBJECT, "account", {"email": SUBJECT}, "service", actor=ADMIN)
            foreign = subject_token.issue(other, SUBJECT, use=subject_token.LINK,
                                          actor=ADMIN).token
        finally:
            other.close()
    with pytest.raises(Unauthenticated, match="invalid"):
        subject_token.verify(seeded, foreign, use=subject_token.LINK)
    assert _enter(client, foreign) == 401


def test_a_well_formed_token_with_a_wrong_tag_is_invalid_not_malformed(seeded):
    token = _link(seeded)
    head, payload, tag = token.split(".")
    wrong = tag[:-2] + ("AA" if not tag.endswith("AA") else "BB")
    with pytest.raises(Unauthenticated, match="invalid"):
        subject_token.verify(seeded, f"{head}.{payload}.{wrong}", use=subject_token.LINK)
    # A payload that is not even JSON, with a wrong tag: still "invalid" (the tag is checked
    # first, so the parser never sees unsigned bytes).
    junk = base64.urlsafe_b64encode(b"not json").decode().rstrip("=")
    with pytest.raises(Unauthenticated, match="invalid"):
        subject_token.verify(seeded, f"{head}.{junk}.{tag}", use=subject_token.LINK)
    with pytest.raises(Unauthenticated, match="malformed"):
        subject_token.verify(seeded, "cst_nothing", use=subject_token.LINK)


def test_an_api_token_does_not_open_the_privacy_center_nor_a_link_the_api(client, seeded):
    api = subject_token.issue(seeded, SUBJECT, use=subject_token.API, actor=ADMIN).token
    assert _enter(client, api) == 401
    link = _link(seeded)
    r = client.get("/v1/me/records", headers={"Authorization": f"Bearer {link}"})
    assert r.status_code == 401
    r = client.get("/v1/me/records", headers={"Authorization": f"Bearer {api}"})
    assert r.status_code == 200 and len(r.json()["items"]) == 1


def test_privacy_link_endpoint_gives_a_url_that_opens_once(client, seeded):
    dpo = credential.create(seeded, "dpo", label="host backend", actor=ADMIN).key
    r = client.post(f"/v1/subjects/{SUBJECT}/privacy-link",
                    headers={"Authorization": f"Bearer {dpo}"})
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    assert url.startswith("https://testserver/privacy/enter?token=cst_")
    assert SUBJECT not in url
    token = re.search(r"token=(cst_[^&]+)", url).group(1)
    assert _enter(client, token) == 303
    client.cookies.clear()
    assert _enter(client, token) == 401


def test_privacy_link_endpoint_denies_a_role_without_rights_and_audits_it(client, seeded):
    support = credential.create(seeded, "support", label="help desk", actor=ADMIN).key
    r = client.post(f"/v1/subjects/{SUBJECT}/privacy-link",
                    headers={"Authorization": f"Bearer {support}"})
    assert r.status_code == 403
    denied = [e for e in _entries(seeded) if e["action"] == "subject_token.issue.link"]
    assert denied and denied[-1]["outcome"] == "denied"
    assert denied[-1]["role"] == "support"
    assert denied[-1]["details"]["authz"]["decision"] == "denied"


def test_confida_link_prints_a_single_use_link(client, seeded, config):
    from tests.conftest import cli

    r = cli(config.data_dir, "--json", "link", SUBJECT, "--minutes", "5")
    assert r.exit_code == 0, r.output
    url = json.loads(r.stdout)["url"]
    assert url.startswith("https://127.0.0.1:8443/privacy/enter?token=cst_v")
    token = url.split("token=", 1)[1]
    assert _enter(client, token) == 303
    client.cookies.clear()
    assert _enter(client, token) == 401
