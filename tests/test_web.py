"""The privacy center and console over HTTP (the real app, the real store; no browser).

The browser flows are in ``test_web_browser.py``; these cover the security properties one
request at a time: CSRF, cookie flags, CSP, link expiry and forgery, role checks, erasure.
"""

from __future__ import annotations

import base64
import io
import re
import time
import zipfile
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from confida import credential, record, subject_token, web_sessions
from confida.clock import utcnow
from confida.errors import NotFound, SubjectErased, Unauthenticated
from confida.operation import Actor, subject_actor
from confida.server.app import create_app
from confida.vault import Vault
from confida.web import csrf, i18n, ports
from confida.web import session as sessions
from tests.actors import ADMIN
from tests.web_support import SECRET_TEXT, SUBJECT, in_next_training_export, new_link, seed


@pytest.fixture
def seeded(vault: Vault) -> dict[str, str]:
    return seed(vault)


@pytest.fixture
def client(config, seeded) -> TestClient:
    app = create_app(config)
    with TestClient(app, base_url="https://testserver") as c:
        yield c
    app.state.web.close()


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "every page carries a CSRF token"
    return m.group(1)


def _enter(client: TestClient, link: str) -> str:
    r = client.get("/privacy/enter", params={"token": link}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/privacy/"
    page = client.get("/privacy/")
    assert page.status_code == 200
    return _csrf(page.text)


def test_link_is_exchanged_for_a_hardened_cookie(client, seeded):
    r = client.get("/privacy/enter", params={"token": seeded["link"]}, follow_redirects=False)
    assert r.status_code == 303
    assert "token" not in r.headers["location"]
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(sessions.COOKIE + "=")
    low = cookie.lower()
    assert "httponly" in low and "secure" in low and "samesite=strict" in low and "path=/" in low
    assert r.headers["referrer-policy"] == "no-referrer"
    # Neither the link nor the cookie reveals the person's id.
    payload = seeded["link"].split(".")[1]
    sealed = cookie.split(";")[0].split("=", 1)[1].split(".", 1)[1]
    for value in (payload, sealed):
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        assert SUBJECT.encode() not in raw and b"user-4711" not in raw


def test_security_headers_on_every_page(client, seeded):
    _enter(client, seeded["link"])
    for path in ("/privacy/", "/privacy/notice", "/privacy/delete", "/console/login"):
        h = client.get(path).headers
        csp = h["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "default-src 'self'" in csp
        assert h["x-frame-options"] == "DENY" and h["cache-control"] == "no-store"


def test_pages_have_no_inline_script_or_style(client, seeded):
    _enter(client, seeded["link"])
    for path in ("/privacy/", "/privacy/notice", "/privacy/delete", "/console/login"):
        html = client.get(path).text
        assert "<style" not in html and " style=" not in html
        assert re.search(r"<script(?![^>]*\bsrc=)", html) is None


def test_post_without_or_with_wrong_csrf_is_refused(client, seeded, vault, tmp_path):
    token = _enter(client, seeded["link"])
    for data in ({"purpose": "model_training", "choice": "off"},
                 {"purpose": "model_training", "choice": "off", "csrf": "x" * 43},
                 {"purpose": "model_training", "choice": "off", "csrf": token[:-1]}):
        r = client.post("/privacy/consent", data=data, follow_redirects=False)
        assert r.status_code == 403
    # Nothing changed: the training consent is still in force.
    assert in_next_training_export(vault, seeded["subject_id"], tmp_path)
    for path in ("/privacy/export", "/privacy/delete", "/privacy/request", "/console/login"):
        assert client.post(path, data={}, follow_redirects=False).status_code == 403


def test_csrf_token_of_another_session_is_refused(config, seeded, client, vault):
    other_token = _enter(client, seeded["link"])
    with TestClient(create_app(config), base_url="https://testserver") as other:
        _enter(other, new_link(vault))
        r = other.post("/privacy/consent", data={"purpose": "model_training", "choice": "off",
                                                 "csrf": other_token + "A"})
        assert r.status_code == 403


def test_expired_forged_and_missing_links(client, config, seeded):
    past = Vault.open(config, clock=lambda: utcnow() - timedelta(hours=2))
    expired = new_link(past)
    past.close()
    forged = seeded["link"][:-3] + ("AAA" if not seeded["link"].endswith("AAA") else "BBB")
    # an expired link with its signature altered is a forgery, not an expired link
    forged_expired = expired[:-3] + ("AAA" if not expired.endswith("AAA") else "BBB")
    for token, says in ((expired, "This link has expired"),
                        (forged, "This link is not valid"),
                        (forged_expired, "This link is not valid"),
                        ("", "This link is not valid"), ("cst_", "This link is not valid"),
                        ("x" * 5000, "This link is not valid")):
        r = client.get("/privacy/enter", params={"token": token}, follow_redirects=False)
        assert r.status_code == 401
        assert says in r.text
        if "not valid" in says:
            assert "expired" not in r.text
        assert sessions.COOKIE + "=" not in r.headers.get("set-cookie", "") or \
            client.get("/privacy/").status_code == 401
    # a genuine link works once; the second time it says so
    assert client.get("/privacy/enter", params={"token": seeded["link"]},
                      follow_redirects=False).status_code == 303
    r = client.get("/privacy/enter", params={"token": seeded["link"]}, follow_redirects=False)
    assert r.status_code == 401 and "This link was already used" in r.text


def test_subject_token_verify_rejects_tampering(vault, seeded):
    link = subject_token.LINK
    assert subject_token.verify(vault, seeded["link"], use=link).subject_id == \
        seeded["subject_id"]
    with pytest.raises(Unauthenticated):
        subject_token.verify(vault, "cst_" + "A" * 80, use=link)
    with pytest.raises(Unauthenticated):
        subject_token.verify(vault, seeded["link"].replace("cst_", "csl_"), use=link)


def test_tampered_session_cookie_is_no_session(client, seeded):
    _enter(client, seeded["link"])
    value = client.cookies.get(sessions.COOKIE)
    flipped = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
    client.cookies.set(sessions.COOKIE, flipped, domain="testserver.local")
    client.cookies.clear()
    client.cookies.set(sessions.COOKIE, flipped)
    assert client.get("/privacy/").status_code == 401


def test_session_cookie_expires(vault):
    now = time.time()
    s = sessions.anonymous(now, csrf="t", key_version=web_sessions.current_key_version(vault))
    sealed = sessions.seal(vault, s)
    assert sessions.open_cookie(vault, sealed, now) == s
    assert sessions.open_cookie(vault, sealed, now + sessions.ANON_SECONDS + 1) is None
    assert sessions.open_cookie(vault, sealed[:-4], now) is None
    assert sessions.open_cookie(vault, "x" * 5000, now) is None


def test_german_from_accept_language_and_switch(client, seeded):
    _enter(client, seeded["link"])
    r = client.get("/privacy/", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert '<html lang="de">' in r.text and "Ihre Daten" in r.text
    token = _csrf(r.text)
    r = client.post("/privacy/lang", data={"lang": "de", "back": "https://evil.test/",
                                           "csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/privacy/"
    r = client.get("/privacy/", headers={"Accept-Language": "en"})
    assert "Ihre Einwilligungen" in r.text


@given(st.text(max_size=200))
def test_negotiate_always_answers_a_supported_language(header):
    assert i18n.negotiate(header) in i18n.LANGS


def test_negotiate_prefers_quality():
    assert i18n.negotiate("fr, de;q=0.8, en;q=0.7") == "de"
    assert i18n.negotiate("en;q=0.2, de;q=0.9") == "de"
    assert i18n.negotiate("fr") == "en"
    assert i18n.negotiate("de", cookie="en") == "en"


def test_csrf_valid_is_strict():
    assert csrf.valid("abc", "abc")
    assert not csrf.valid("abc", "abd") and not csrf.valid(None, "abc")
    assert not csrf.valid("abc", None) and not csrf.valid("", "")


def test_consent_switch_is_recorded_with_notice_version(client, seeded, vault, tmp_path):
    token = _enter(client, seeded["link"])
    assert in_next_training_export(vault, seeded["subject_id"], tmp_path)
    version = vault.notice_version()
    # A choice made against an older notice is not recorded.
    r = client.post("/privacy/consent", data={"purpose": "model_training", "choice": "off",
                                              "csrf": token, "notice_version": "0" * 16})
    assert r.status_code == 409
    assert in_next_training_export(vault, seeded["subject_id"], tmp_path)
    r = client.post("/privacy/consent", data={"purpose": "model_training", "choice": "off",
                                              "csrf": token, "notice_version": version})
    assert r.status_code == 200 and "Your choice was saved" in r.text
    assert not in_next_training_export(vault, seeded["subject_id"], tmp_path)
    from confida import consent

    last = consent.show(vault, SUBJECT, actor=ADMIN)[1][-1]
    assert (last.action, last.source, last.notice_version) == (
        "withdraw", "web", vault.notice_version())
    # A purpose that is not consent-based cannot be switched: the core refuses.
    r = client.post("/privacy/consent", data={"purpose": "service", "choice": "off",
                                              "csrf": token, "notice_version": version})
    assert r.status_code == 400


def test_download_contains_the_persons_records(client, seeded):
    token = _enter(client, seeded["link"])
    r = client.post("/privacy/export", data={"csrf": token})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        records = "".join(z.read(n).decode() for n in z.namelist()
                          if n.startswith("records/") and n.endswith(".json"))
    assert SECRET_TEXT in records and "user-4711@example.test" in records
    assert "other-person" not in records


def test_request_and_its_deadline(client, seeded, vault):
    token = _enter(client, seeded["link"])
    fix = "My display name is Ada Example, not Ada Exemple."
    r = client.post("/privacy/request", data={"type": "rectification", "csrf": token,
                                              "request_id": "web-abc123", "text": fix})
    assert r.status_code == 200 and "We answer by" in r.text
    mine = ports.my_requests(vault, _me(seeded))
    assert [(m.type, m.status) for m in mine] == [("rectification", "received")]
    assert mine[0].due_at > mine[0].received_at + timedelta(days=27)
    assert f"We answer by {mine[0].due_at:%Y-%m-%d}" in r.text
    # The same form sent twice is one request (the core's idempotency by request id).
    client.post("/privacy/request", data={"type": "rectification", "csrf": token,
                                          "request_id": "web-abc123", "text": fix})
    assert len(ports.my_requests(vault, _me(seeded))) == 1
    # A correction says what to correct.
    r = client.post("/privacy/request", data={"type": "rectification", "csrf": token,
                                              "request_id": "web-empty", "text": "  "})
    assert r.status_code == 400 and "what is wrong" in r.text
    # An objection takes effect at once: analytics stops for this person, and the page says it
    # was carried out rather than naming a deadline.
    r = client.post("/privacy/request", data={"type": "objection", "purpose": "analytics",
                                              "csrf": token})
    assert r.status_code == 200
    assert "Your request was carried out on" in r.text and "We answer by" not in r.text
    assert ("objection", "completed") in {(m.type, m.status) for m in
                                          ports.my_requests(vault, _me(seeded))}
    # Objecting to a contract purpose is refused by the core (Art. 21 does not apply).
    r = client.post("/privacy/request", data={"type": "objection", "purpose": "service",
                                              "csrf": token})
    assert r.status_code == 400
    # A malformed request id is refused by the core, not silently accepted.
    r = client.post("/privacy/request", data={"type": "rectification", "csrf": token,
                                              "request_id": "bad id with spaces",
                                              "text": fix})
    assert r.status_code == 400


def test_restriction_applies_at_once(client, seeded, vault):
    from confida.errors import SubjectRestricted

    token = _enter(client, seeded["link"])
    r = client.post("/privacy/request", data={"type": "restriction", "csrf": token})
    assert r.status_code == 200
    with pytest.raises(SubjectRestricted):
        record.collect(vault, SUBJECT, "usage_event", {"event": "x"}, "analytics", actor=ADMIN)


def _me(seeded: dict[str, str]) -> Actor:
    """The person, as the privacy center acts for them."""
    return subject_actor(seeded["subject_id"], "test")


def _subject_id(vault: Vault) -> str:
    from confida import subject as subjects

    with vault.engine.connect() as conn:
        return subjects.require(vault, conn, SUBJECT).id


def assert_erased(config, subject_id: str) -> None:
    """Seen from a fresh process: no key, no records, no consents, no way to find the person.

    (A fresh vault, because the test's own vault still caches the key it used while seeding:
    key caches are per process, see the report.)"""
    from sqlalchemy import func, select

    from confida.store.schema import consent_event, record

    fresh = Vault.open(config)
    try:
        assert not fresh.keys.has_key(subject_id)
        with fresh.engine.connect() as conn:
            for t in (record, consent_event):
                n = conn.execute(select(func.count()).select_from(t)
                                 .where(t.c.subject_id == subject_id)).scalar_one()
                assert n == 0
        assert ports.is_erased(fresh, subject_actor(subject_id, "test"))
    finally:
        fresh.close()


def test_delete_needs_confirmation_then_nothing_is_readable(client, seeded, vault, config):
    sid = _subject_id(vault)
    token = _enter(client, seeded["link"])
    r = client.post("/privacy/delete", data={"csrf": token})
    assert r.status_code == 400
    assert not ports.is_erased(vault, subject_actor(sid, "test"))
    r = client.post("/privacy/delete", data={"csrf": token, "confirm": "yes"})
    assert r.status_code == 200 and "has been deleted" in r.text
    assert_erased(config, sid)
    with pytest.raises((SubjectErased, NotFound)):  # the person is no longer findable
        ports.access_export(vault, subject_actor(sid, "test"))
    # The session ended with the erasure, and the link was single-use anyway.
    assert client.get("/privacy/").status_code == 401
    assert client.get("/privacy/enter", params={"token": seeded["link"]},
                      follow_redirects=False).status_code == 401


def _staff(client: TestClient, key: str) -> str:
    page = client.get("/console/login")
    r = client.post("/console/login", data={"api_key": key, "csrf": _csrf(page.text)},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return _csrf(client.get("/console/").text)


def test_console_requires_a_staff_login(client, seeded, vault):
    assert client.get("/console/", follow_redirects=False).headers["location"] == "/console/login"
    _enter(client, seeded["link"])  # a subject session is not a staff session
    assert client.get("/console/", follow_redirects=False).status_code == 303
    page = client.get("/console/login")
    bad = client.post("/console/login", data={"api_key": "cfk_aaaaaaaa_" + "A" * 43,
                                              "csrf": _csrf(page.text)})
    assert bad.status_code == 401
    from confida import credential

    ml = credential.create(vault, "ml_engineer", actor=ADMIN).key  # no "requests" action: denied
    assert client.post("/console/login", data={"api_key": ml, "csrf": _csrf(page.text)}
                       ).status_code == 401


def test_revoked_key_ends_the_console_session(client, seeded, vault):
    from confida import credential

    _staff(client, seeded["staff_key"])
    assert client.get("/console/").status_code == 200
    credential.revoke(vault, seeded["staff_key"].split("_")[1], actor=ADMIN)
    assert client.get("/console/", follow_redirects=False).status_code == 303


def test_staff_completes_an_overdue_request(client, seeded, vault):
    token = _staff(client, seeded["staff_key"])
    page = client.get("/console/").text
    assert "Overdue" in page and "<svg" in page and "<title id=\"chart-t\">" in page
    assert "other-person" not in page
    r = client.post("/console/requests/complete", data={
        "request_id": seeded["overdue_request"], "csrf": token})
    assert r.status_code == 200
    done = [x for x in ports.staff_requests(vault, Actor(
        "test-dpo", "dpo", "web")) if x.id == seeded["overdue_request"]][0]
    assert done.status == "completed" and not done.overdue
    for path in ("/console/register", "/console/compliance", "/console/audit",
                 "/console/breaches"):
        assert client.get(path).status_code == 200
    # the key inventory is for roles with `keys` (the DPO has none): decided in the core
    assert client.get("/console/keys").status_code == 403


def test_extend_once_with_reason(client, seeded, vault):
    token = _staff(client, seeded["staff_key"])
    data = {"request_id": seeded["overdue_request"], "months": "2", "reason": "complex case",
            "csrf": token}
    assert client.post("/console/requests/extend", data=data).status_code == 200
    assert client.post("/console/requests/extend", data=data).status_code == 409
    assert client.post("/console/requests/extend", data={**data, "months": "3"}
                       ).status_code == 400


def test_notice_compliance_and_breaches(client, seeded, vault):
    r = client.get("/privacy/notice", headers={"Accept-Language": "de"})
    assert r.status_code == 200 and "Example AI GmbH" in r.text
    assert r.text.count(vault.notice_version()) == 1 and "<style" not in r.text
    assert r.text.count("<main") == 1
    token = _staff(client, seeded["staff_key"])
    assert "Run the compliance check" in client.get("/console/compliance").text
    assert client.post("/console/compliance", data={}).status_code == 403
    r = client.post("/console/compliance", data={"csrf": token})
    assert r.status_code == 200 and "passed" in r.text and "Art." in r.text
    page = client.get("/console/breaches").text
    assert "Lost laptop" in page and "Overdue" in page  # discovered 80 hours ago
    assert "hours left" in page  # the one discovered 10 hours ago: about 62 hours left


def test_console_pages_refuse_a_role_without_the_action(client, seeded, vault):
    from confida import credential

    support = credential.create(vault, "support", actor=ADMIN).key  # may handle requests, not breaches
    _staff(client, support)
    assert client.get("/console/").status_code == 200
    assert client.get("/console/breaches").status_code == 403


def test_chart_counts_requests_per_week_and_median_time():
    from types import SimpleNamespace

    from confida.web.console import chart as _chart

    now = utcnow()
    reqs = [SimpleNamespace(received_at=now - timedelta(days=d), closed_at=c)
            for d, c in ((0, None), (1, None), (15, now - timedelta(days=13)),
                         (15, now - timedelta(days=5)), (400, None))]
    chart = _chart(reqs, now, weeks=8)
    counts = [b["count"] for b in chart["bars"]]
    assert sum(counts) == 4  # the one from 400 days ago is outside the window
    assert counts[-1] + counts[-2] == 2 and max(counts) == 2
    assert chart["median"] == 6.0  # 2 and 10 days to completion
    assert all(0 <= b["h"] <= 100 for b in chart["bars"])


def test_oidc_login_to_the_console(config, seeded, tmp_path):
    import dataclasses
    import json

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from confida.config import OidcSettings

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "k1", "use": "sig", "alg": "RS256"})
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    cfg = dataclasses.replace(config, oidc=OidcSettings(
        issuer="https://idp.test", audience="confida-console",
        jwks_file=str(tmp_path / "jwks.json")))

    def token(role: str, exp_in: int = 600, aud: str = "confida-console") -> str:
        now = int(time.time())
        return jwt.encode({"iss": "https://idp.test", "aud": aud, "sub": "staff-1",
                           "exp": now + exp_in, "iat": now, "confida_role": role},
                          key, algorithm="RS256", headers={"kid": "k1"})

    app = create_app(cfg)
    with TestClient(app, base_url="https://testserver") as c:
        def login(tok: str) -> int:
            page = c.get("/console/login")
            return c.post("/console/login", data={"api_key": tok, "csrf": _csrf(page.text)},
                          follow_redirects=False).status_code

        assert login(token("dpo", exp_in=-120)) == 401  # expired
        assert login(token("dpo", aud="other-app")) == 401  # not for us
        assert login(token("ml_engineer")) == 401  # a role without "requests"
        # and the page says which (what the API's 401 and 403 say too)
        for tok, says in ((token("dpo", exp_in=-120), "the ID token has expired"),
                          (token("dpo", aud="other-app"), "not valid for this service"),
                          (token("ml_engineer"), "this role may not use the console")):
            page = c.get("/console/login")
            r = c.post("/console/login", data={"api_key": tok, "csrf": _csrf(page.text)})
            assert says in r.text, says
        assert login(token("dpo")) == 303
        assert c.get("/console/").status_code == 200


def test_audit_status_verify_and_tamper_detection(config, seeded, client, vault):
    from sqlalchemy import update

    from confida.audit.sink import init_signing_key
    from confida.store.schema import audit_tables

    init_signing_key(config)
    token = _staff(client, seeded["staff_key"])
    page = client.get("/console/audit")
    assert page.status_code == 200 and "Entries" in page.text
    assert client.post("/console/audit/verify", data={}).status_code == 403
    r = client.post("/console/audit/verify", data={"csrf": token})
    assert r.status_code == 200 and "Verified:" in r.text
    # Rewrite one entry behind the log's back: verification must say so.
    with vault.engine.begin() as conn:
        conn.execute(update(audit_tables.entry).where(audit_tables.entry.c.idx == 1)
                     .values(entry='{"forged":true}'))
    r = client.post("/console/audit/verify", data={"csrf": token})
    assert r.status_code == 200 and "FAILED" in r.text


def test_key_inventory_page_for_a_role_with_keys(client, vault):
    """The keys page shows the provider, the current version and every version's state, read
    through the same audited core call as `confida keys status`."""
    _staff(client, credential.create(vault, "admin", actor=ADMIN).key)
    r = client.get("/console/keys")
    assert r.status_code == 200
    current = vault.keys.current_version()
    assert f"<code>{current}</code>" in r.text and "file" in r.text and "Active" in r.text
