"""Where people meet Confida, item by item (HTTP level, the real app and store, SQLite or
PostgreSQL): the compliance summary counts, consent listings that follow the consent state,
completed requests shown as completed, correction requests in the person's own words (sealed,
shown to the staff who may carry them out, gone with erasure, never logged or audited), the
console's request search and filters, the keys page, and why a sign-in failed.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, select

from confida import credential, request
from confida.clock import utcnow
from confida.errors import AccessDenied, BadInput
from confida.operation import Actor
from confida.rights import rectification
from confida.server.app import create_app
from confida.store.schema import audit_tables, request_note
from confida.vault import Vault
from confida.web import ports
from tests.actors import ADMIN
from tests.test_pages_i18n import csrf_of, visible_text
from tests.web_support import SUBJECT, new_link, seed

FIX = "My display name is Ada Exampel; it should read Ada Example (Zeile 2)."


@pytest.fixture
def seeded(vault: Vault) -> dict[str, str]:
    return seed(vault)


@pytest.fixture
def app(config):
    a = create_app(config)
    yield a
    a.state.web.close()


@pytest.fixture
def client(app, seeded) -> TestClient:
    with TestClient(app, base_url="https://testserver") as c:
        yield c


def _enter(client: TestClient, link: str) -> str:
    r = client.get("/privacy/enter", params={"token": link})
    assert r.status_code == 200, r.text
    return csrf_of(r.text)


def _staff(client: TestClient, key: str) -> str:
    page = client.get("/console/login")
    r = client.post("/console/login", data={"api_key": key, "csrf": csrf_of(page.text)},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/console/").text)


def _text(r) -> str:  # type: ignore[no-untyped-def]
    return visible_text(r.text, "de" if '<html lang="de">' in r.text else "en")


# --- the compliance summary -------------------------------------------------------------------


def test_compliance_summary_counts_passed_failed_and_not_applicable(client, seeded):
    token = _staff(client, seeded["staff_key"])
    r = client.post("/console/compliance", data={"csrf": token})
    assert r.status_code == 200
    m = re.search(r"(\d+) passed, (\d+) failed, (\d+) not applicable\.", r.text)
    assert m, _text(r)
    statuses = re.findall(r'<tr class="check-([a-z-]+)"', r.text)
    assert [int(x) for x in m.groups()] == [statuses.count("pass"), statuses.count("fail"),
                                           statuses.count("not-applicable")]
    assert sum(int(x) for x in m.groups()) == len(statuses) > 5
    assert "False passed" not in r.text and "True passed" not in r.text and "[" not in m[0]
    client.cookies.set("confida-lang", "de")
    r = client.post("/console/compliance", data={"csrf": token})
    assert re.search(r"\d+ bestanden, \d+ nicht bestanden, \d+ nicht anwendbar\.", r.text)


# --- consent state ----------------------------------------------------------------------------


def test_what_the_page_lists_under_consent_follows_the_consent_state(client, seeded):
    token = _enter(client, seeded["link"])
    row = re.compile(r'<tr data-testid="held-conversation_message-model_training"[^>]*>.*?</tr>',
                     re.S)
    page = client.get("/privacy/").text
    assert "Your consent (Art. 6(1)(a) GDPR)" in row.search(page)[0]
    r = client.post("/privacy/consent", data={"purpose": "model_training", "choice": "off",
                                              "notice_version": re.search(
                                                  r'name="notice_version" value="([^"]+)"',
                                                  page)[1], "csrf": token})
    assert r.status_code == 200
    held = row.search(r.text)[0]
    assert "Your consent (Art. 6(1)(a)" not in held  # no longer listed as consented
    assert "Your consent is off: no longer used for this purpose" in held
    assert 'data-testid="consent-model_training-state">Off<' in r.text
    # records held for a purpose on another basis stay listed under it
    service = re.search(r'<tr data-testid="held-conversation_message-service".*?</tr>', r.text,
                        re.S)[0]
    assert "Needed for our contract with you" in service
    r = client.post("/privacy/consent", data={"purpose": "model_training", "choice": "on",
                                              "notice_version": re.search(
                                                  r'name="notice_version" value="([^"]+)"',
                                                  r.text)[1], "csrf": token})
    assert "Your consent (Art. 6(1)(a) GDPR)" in row.search(r.text)[0]


# --- completed requests -----------------------------------------------------------------------


def test_a_completed_request_shows_its_completion_not_a_deadline(client, seeded):
    token = _enter(client, seeded["link"])
    r = client.post("/privacy/request", data={"type": "restriction", "csrf": token})
    assert r.status_code == 200
    text = _text(r)
    assert re.search(r"Your request was carried out on \d{4}-\d{2}-\d{2}\.", text), text
    assert "We answer by" not in text
    row = re.search(r'<tr data-request-id="[^"]+"><td>Restriction of processing</td>.*?</tr>',
                    r.text, re.S)[0]
    assert "completed on" in row and "due by" not in row
    # an open request still shows its deadline
    r = client.post("/privacy/request", data={"type": "rectification", "csrf": token,
                                              "text": FIX, "request_id": "web-open-one"})
    mine = {m.type: m for m in ports.my_requests(client.app.state.web.vault,
                                                 _person(seeded))}
    assert f"We answer by {mine['rectification'].due_at:%Y-%m-%d}" in _text(r)
    row = re.search(r'<tr data-request-id="[^"]+"><td>Correction</td>.*?</tr>', r.text, re.S)[0]
    assert f"due by {mine['rectification'].due_at:%Y-%m-%d}" in row


def _person(seeded: dict[str, str]) -> Actor:
    from confida.operation import subject_actor

    return subject_actor(seeded["subject_id"], "test")


# --- correction requests in the person's own words --------------------------------------------


def _every_stored_value(vault: Vault) -> str:
    """Every value of every table of the store, as text (what a dump of it would show)."""
    md = MetaData()
    md.reflect(vault.engine)
    out = []
    with vault.engine.connect() as conn:
        for table in md.sorted_tables:
            for row in conn.execute(select(table)):
                for v in row:
                    out.append(v.decode("latin-1") if isinstance(v, bytes) else str(v))
    return "\n".join(out)


def test_correction_text_is_sealed_shown_to_staff_who_may_act_and_gone_with_erasure(
    app, client, seeded, vault, config, caplog, capfd
):
    caplog.set_level(logging.DEBUG)
    token = _enter(client, seeded["link"])
    r = client.post("/privacy/request", data={"type": "rectification", "csrf": token,
                                              "request_id": "web-fix-1", "text": FIX})
    assert r.status_code == 200 and "We answer by" in r.text
    [req] = [m for m in ports.my_requests(vault, _person(seeded)) if m.type == "rectification"]
    assert req.details == {"note": True} and req.status == request.RECEIVED

    # sealed: nowhere in the store in clear, not in the request row, not in the audit log
    stored = _every_stored_value(vault)
    assert FIX not in stored and "Ada Exampel" not in stored
    with vault.engine.connect() as conn:
        sealed = conn.execute(select(request_note.c.ciphertext)
                              .where(request_note.c.request_id == req.id)).scalar_one()
        entries = [e for (e,) in conn.execute(select(audit_tables.entry.c.entry))]
    assert b"Ada" not in sealed and len(sealed) > len(FIX)
    assert any('"rights.request_correction"' in e for e in entries)

    # the staff who may carry it out read it; a role that only handles requests does not
    dpo = TestClient(app, base_url="https://testserver")
    _staff(dpo, seeded["staff_key"])
    page = dpo.get("/console/")
    cell = re.search(rf'<tr[^>]*data-request-id="{req.id}">.*?</tr>', page.text, re.S)[0]
    assert FIX in cell and "Correction" in cell
    support = TestClient(app, base_url="https://testserver")
    _staff(support, credential.create(vault, "support", actor=ADMIN).key)
    page = support.get("/console/")
    cell = re.search(rf'<tr[^>]*data-request-id="{req.id}">.*?</tr>', page.text, re.S)[0]
    assert FIX not in page.text
    assert "shown only to roles that may carry out rights" in cell
    # the core decides, and refuses the support role outright
    with pytest.raises(AccessDenied, match="may not rights"):
        rectification.correction_notes(vault, [req.id],
                                       actor=Actor(id="s", role="support", source="web"))
    assert rectification.correction_notes(vault, [req.id], actor=ADMIN) == {req.id: FIX}

    # never in the logs or the audit entries (the reads included)
    with vault.engine.connect() as conn:
        entries = [e for (e,) in conn.execute(select(audit_tables.entry.c.entry))]
    assert any('"rights.correction_notes"' in e for e in entries)
    assert not [e for e in entries if "Ada Exampel" in e]
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    assert "Ada Exampel" not in logged and "Exampel" not in logged
    for path in config.data_dir.rglob("*"):
        if path.is_file() and path.suffix in (".log", ".jsonl", ".json", ".txt"):
            assert b"Exampel" not in path.read_bytes(), path

    # erasure takes the text with the person's key
    r = client.post("/privacy/delete", data={"csrf": token, "confirm": "yes"})
    assert r.status_code == 200
    page = dpo.get("/console/")
    cell = re.search(rf'<tr[^>]*data-request-id="{req.id}">.*?</tr>', page.text, re.S)[0]
    assert FIX not in page.text and "gone: their data was erased" in cell
    assert rectification.correction_notes(vault, [req.id], actor=ADMIN) == {}
    fresh = Vault.open(config)
    try:
        assert not fresh.keys.has_key(seeded["subject_id"])
    finally:
        fresh.close()
    dpo.close()
    support.close()


def test_correction_requests_are_checked_and_idempotent(vault, seeded):
    me = _person(seeded)
    kw = {"verified_by": "test:session", "subject_id": seeded["subject_id"], "actor": me}
    for bad in ("", "   ", "x" * (rectification.MAX_NOTE + 1), "bell\x07"):
        with pytest.raises(BadInput, match="correction|what is wrong|plain text"):
            rectification.request_correction(vault, "", bad, **kw)
    a = rectification.request_correction(vault, "", FIX, request_id="host-1", **kw)
    b = rectification.request_correction(vault, "", "something else", request_id="host-1",
                                         **kw)
    assert a.id == b.id
    assert rectification.correction_notes(vault, [a.id, "not-an-id"], actor=me) == {a.id: FIX}
    # a person reads their own only: another person's request reads as having no note
    from confida.operation import subject_actor

    other = subject_actor("00000000-0000-4000-8000-000000000000", "test")
    assert rectification.correction_notes(vault, [a.id], actor=other) == {}


# --- the console's requests: what they ask for, search, filters --------------------------------


def test_requests_page_shows_what_each_asks_for_with_search_and_filters(client, seeded, vault):
    token = _enter(client, seeded["link"])
    client.post("/privacy/request", data={"type": "rectification", "csrf": token,
                                          "request_id": "web-fix-2", "text": FIX})
    client.post("/privacy/request", data={"type": "objection", "purpose": "analytics",
                                          "csrf": token})
    client.cookies.clear()
    _staff(client, seeded["staff_key"])
    reqs = {r.type + ("-overdue" if r.overdue else ""): r
            for r in ports.staff_requests(vault, Actor(id="t", role="dpo", source="web"))}
    overdue, fix, objection = (reqs["rectification-overdue"], reqs["rectification"],
                               reqs["objection"])

    def rows(**params: str) -> list[str]:
        r = client.get("/console/", params=params)
        assert r.status_code == 200
        assert re.search(r"<script(?![^>]*\bsrc=)", r.text) is None  # CSP: no inline script
        return re.findall(r'data-request-id="([^"]+)"', r.text)

    page = client.get("/console/").text
    row = re.search(rf'<tr[^>]*data-request-id="{objection.id}">.*?</tr>', page, re.S)[0]
    assert "Purpose: To understand how the product is used" in row
    assert "completed on" in row and objection.subject in row
    row = re.search(rf'<tr[^>]*data-request-id="{fix.id}">.*?</tr>', page, re.S)[0]
    assert FIX in row and f"due by {fix.due_at:%Y-%m-%d}" in row
    assert "3 of 3 requests shown." in visible_text(page, "en")

    assert set(rows()) == {overdue.id, fix.id, objection.id}
    assert rows(q=objection.id[:8]) == [objection.id]
    assert rows(q=objection.id.upper()) == [objection.id]
    assert set(rows(q=overdue.subject[:10])) == {overdue.id}
    assert set(rows(q=fix.subject)) == {fix.id, objection.id}
    assert rows(status="completed") == [objection.id]
    assert set(rows(status="open")) == {overdue.id, fix.id}
    assert rows(type="objection") == [objection.id]
    assert set(rows(type="rectification")) == {overdue.id, fix.id}
    assert rows(due="overdue") == [overdue.id]
    assert overdue.id in rows(due="7") and objection.id not in rows(due="7")
    assert rows(status="open", type="rectification", due="overdue") == [overdue.id]
    assert rows(q="no-such-thing") == []
    # unknown values are no filter at all (never an error page, never echoed)
    assert set(rows(status="bogus", type="<x>", due="99")) == {overdue.id, fix.id, objection.id}
    r = client.get("/console/", params={"q": "<script>alert(1)</script>"})
    assert "<script>alert(1)" not in r.text and "&lt;script&gt;" in r.text
    r = client.get("/console/", params={"status": "completed"})
    assert "1 of 3 requests shown." in visible_text(r.text, "en")
    assert '<option value="completed" selected>' in r.text


# --- the keys page ----------------------------------------------------------------------------


def test_keys_page_has_human_labels_and_times_to_the_minute(client, vault):
    _staff(client, credential.create(vault, "admin", actor=ADMIN).key)
    for lang, labels in (("en", ["Version", "State", "Created (UTC)", "Active"]),
                         ("de", ["Zustand", "Erstellt (UTC)", "Aktiv"])):
        client.cookies.set("confida-lang", lang)
        r = client.get("/console/keys")
        assert r.status_code == 200
        text = visible_text(r.text, lang)
        for label in labels:
            assert label in text, (lang, label, text)
        for raw in ("created_at", "retired_since", "destroyable_at", "destroyed_at", "None"):
            assert raw not in text, raw
        assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", text)
        assert not re.search(r"\d{2}:\d{2}:\d{2}", text)  # no seconds, no microseconds


# --- why a sign-in failed ---------------------------------------------------------------------


def _login(client: TestClient, secret: str) -> tuple[int, str]:
    page = client.get("/console/login")
    r = client.post("/console/login", data={"api_key": secret, "csrf": csrf_of(page.text)},
                    follow_redirects=False)
    m = re.search(r'data-testid="login-error">([^<]*)<', r.text)
    return r.status_code, m[1] if m else ""


def test_sign_in_failure_says_why_without_saying_more_than_the_api(client, vault, config):
    good = credential.create(vault, "dpo", actor=ADMIN)
    revoked = credential.create(vault, "dpo", actor=ADMIN)
    credential.revoke(vault, revoked.info.id, actor=ADMIN)
    past = Vault.open(config, clock=lambda: utcnow() - timedelta(hours=2))
    try:
        expired = credential.create(past, "dpo", expires_at=past.clock() + timedelta(hours=1),
                                    actor=ADMIN)
    finally:
        past.close()
    analyst = credential.create(vault, "analyst", actor=ADMIN)
    prefix = good.key.split("_")[1]
    wrong_secret = f"cfk_{prefix}_" + "A" * 43
    unknown = "cfk_abcdefgh_" + "A" * 43
    cases = {
        unknown: "Sign-in failed: unknown API key.",
        wrong_secret: "Sign-in failed: unknown API key.",  # an existing prefix reads the same
        revoked.key: "Sign-in failed: this API key has been revoked.",
        expired.key: "Sign-in failed: this API key has expired.",
        analyst.key: "Sign-in failed: this role may not use the console",
        "hello": "Sign-in failed: this is neither an API key",
    }
    for secret, says in cases.items():
        status, message = _login(client, secret)
        assert status == 401 and message.startswith(says), (secret, message)
    # the API's own 401 tells a key holder as much (revoked / expired), and no more for others
    for secret, word in ((revoked.key, "revoked"), (expired.key, "expired"),
                         (unknown, "invalid"), (wrong_secret, "invalid")):
        r = client.get("/v1/register", headers={"Authorization": f"Bearer {secret}"})
        assert r.status_code == 401 and word in r.text.lower(), (secret, r.text)
    assert _login(client, good.key)[0] == 303
    client.cookies.set("confida-lang", "de")
    client.post("/console/signout", data={"csrf": csrf_of(client.get("/console/").text)})
    assert _login(client, revoked.key)[1] == \
        "Anmeldung fehlgeschlagen: Dieser API-Schlüssel wurde widerrufen."


def test_privacy_link_messages_in_german(client, seeded, config):
    client.cookies.set("confida-lang", "de")
    past = Vault.open(config, clock=lambda: utcnow() - timedelta(hours=1))
    try:
        expired = new_link(past)
    finally:
        past.close()
    r = client.get("/privacy/enter", params={"token": expired})
    assert r.status_code == 401 and "Dieser Link ist abgelaufen" in r.text
    r = client.get("/privacy/enter", params={"token": seeded["link"][:-2] + "xx"})
    assert r.status_code == 401 and "Dieser Link ist ungültig" in r.text
    assert "abgelaufen" not in r.text
    assert SUBJECT not in r.text
