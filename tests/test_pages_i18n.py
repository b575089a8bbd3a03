"""Every page in both languages: every message has an English and a German text, the register's
own texts (purposes, categories, recipients, transfers, addresses) come out in the page's
language, durations are written in it ("2 Jahre", "30 Tage"), and no page rendered in German
shows an English giveaway.

The tour of the pages (:func:`tour`) is shared with the browser test
(``test_pages_browser.py``), which visits the same pages in Chromium.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import ValidationError

from confida import consent, record
from confida.clock import utcnow
from confida.register.duration import Duration
from confida.register.loader import load_register
from confida.register.models import Localized, Purpose, Register, localized
from confida.server.app import create_app
from confida.transparency.i18n import period
from confida.transparency.notice import notice_version, render_notice
from confida.vault import Vault
from confida.web import i18n, ports
from tests.actors import ADMIN
from tests.web_support import SUBJECT, new_link, seed

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "chat-assistant.yaml"

#: Words and phrases that give an English page away. A German page may show data (ids,
#: pseudonyms, breach titles typed by staff, the core's English messages, which the page
#: marks ``lang="en"``), but none of its own words or the register's may be English.
GIVEAWAYS = re.compile(
    r"\b(the|and|of|your|Your|years?|days?|months?|hours?|Request|Requests|Received|"
    r"Completed|Overdue|Purpose|Sign in|Sign out|Download|Delete|Language|Kept for|"
    r"Recipients|provider|processor|Germany|United States|Standard contractual|team|None|"
    r"Yes|No|Search|Filter|Show all|Answer|due by|Extend|Complete|Reason|Months|Actions|"
    r"Passed|Failed|Active|Created|Breach|Keys|Register|Compliance check|privacy|Privacy|"
    r"To provide|To answer|To detect|To improve|To understand|To bill|Name and display name|"
    r"E-mail address|Your consent|carried out|This link|expired|not valid|unknown)\b"
)

#: Register texts that must come out German on the pages that show them.
GERMAN_REGISTER = {
    "privacy-overview": ["Um den Assistenten bereitzustellen", "Das Konto des Nutzers",
                         "2 Jahre", "Cloud-Hosting-Anbieter (Auftragsverarbeiter, Region EU)",
                         "Meine Gespräche zur Verbesserung der Modelle verwenden",
                         "Ihre Einwilligung ist ausgeschaltet"],
    "privacy-notice": ["Um die Nachrichten eines temporären Chats zu beantworten", "30 Tage",
                       "Vereinigte Staaten", "Standardvertragsklauseln",
                       "Musterstraße 1, 10115 Berlin, Deutschland", "Team für Produktanalyse",
                       "Den Dienst und seine Nutzer vor Missbrauch und Betrug schützen",
                       "1 Jahr 1 Monat", "10 Jahre"],
    "console-register": ["Um kostenpflichtige Tarife abzurechnen", "1 Jahr 1 Monat"],
}


# --- the text a reader sees ---------------------------------------------------------------


class _Visible(HTMLParser):
    """The text of ``<body>`` a reader sees in the page's language: without scripts, code
    (ids, pseudonyms, versions) and whatever is marked as English (``lang="en"``)."""

    SKIP = {"script", "style", "code", "title", "head"}
    VOID = {"br", "input", "img", "meta", "link", "hr", "col", "area", "base", "source", "wbr"}

    def __init__(self, page_lang: str) -> None:
        super().__init__()
        self.page_lang = page_lang
        self.stack: list[bool] = []
        self.out: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        a = dict(attrs)
        hidden = tag in self.SKIP or (a.get("lang") not in (None, self.page_lang)
                                      and tag != "html")
        self.stack.append(hidden)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not any(self.stack):
            self.out.append(data)


def visible_text(html: str, lang: str) -> str:
    p = _Visible(lang)
    p.feed(html)
    return " ".join(" ".join(p.out).split())


# --- the tour: every page of the privacy center and the console -----------------------------


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "every page carries a CSRF token"
    return m.group(1)


def seed_all(vault: Vault) -> dict[str, str]:
    """What every page needs to show something: the web tests' person (with a correction
    request in their own words, an objection carried out, and the training consent withdrawn
    so their training records read as no longer used), a staff key that may do everything,
    and one more person per language to delete their account."""
    from confida import credential, subject_token
    from confida.rights import rectification
    from confida.rights.objection import object_to

    seeded = seed(vault)
    rectification.request_correction(vault, SUBJECT, "Mein Anzeigename ist falsch geschrieben.",
                                     verified_by="test:session", actor=ADMIN)
    object_to(vault, SUBJECT, "analytics", verified_by="test:session", actor=ADMIN)
    consent.withdraw(vault, SUBJECT, "model_training", actor=ADMIN)
    seeded["admin_key"] = credential.create(vault, "admin", label="tour", actor=ADMIN).key
    for lang in i18n.LANGS:
        seeded[f"link_{lang}"] = new_link(vault, minutes=15)  # each link opens one session
        person = f"leaving-{lang}@example.test"
        record.collect(vault, person, "account", {"email": person}, "service", actor=ADMIN)
        seeded[f"leaving_{lang}"] = subject_token.issue(
            vault, person, minutes=15, use=subject_token.LINK, actor=ADMIN).token
    past = Vault(vault.config, clock=lambda: utcnow() - timedelta(hours=1))
    try:
        seeded["expired_link"] = new_link(past)
    finally:
        past.close()
    return seeded


def tour(client: TestClient, seeded: dict[str, str], lang: str) -> Iterator[tuple[str, str]]:
    """(page name, HTML) for every page, visited as a person and as staff, in ``lang``."""
    client.cookies.set(i18n.COOKIE, lang)
    r = client.get("/privacy/enter", params={"token": "cst_v1.forged.link"})
    yield "privacy-link-invalid", r.text
    r = client.get("/privacy/enter", params={"token": seeded["expired_link"]})
    yield "privacy-link-expired", r.text
    yield "privacy-session-over", client.get("/privacy/").text
    r = client.get("/privacy/enter", params={"token": seeded[f"link_{lang}"]})
    assert r.status_code == 200, r.text
    yield "privacy-overview", r.text
    r = client.get("/privacy/enter", params={"token": seeded[f"link_{lang}"]})
    yield "privacy-link-used", r.text
    yield "privacy-notice", client.get("/privacy/notice").text
    yield "privacy-delete", client.get("/privacy/delete").text
    r = client.get("/privacy/enter", params={"token": seeded[f"leaving_{lang}"]})
    r = client.post("/privacy/delete", data={"csrf": csrf_of(r.text), "confirm": "yes"})
    assert r.status_code == 200, r.text
    yield "privacy-deleted", r.text
    client.cookies.clear()
    client.cookies.set(i18n.COOKIE, lang)
    page = client.get("/console/login")
    yield "console-login", page.text
    r = client.post("/console/login", data={"api_key": "cfk_abcdefgh_" + "A" * 43,
                                            "csrf": csrf_of(page.text)})
    assert r.status_code == 401
    yield "console-login-failed", r.text
    r = client.post("/console/login", data={"api_key": seeded["admin_key"],
                                            "csrf": csrf_of(r.text)})
    assert r.status_code == 200, r.text
    yield "console-requests", r.text
    yield "console-requests-filtered", client.get(
        "/console/", params={"status": "open", "type": "rectification", "due": "30"}).text
    page = client.get("/console/compliance")
    yield "console-compliance", page.text
    yield "console-compliance-run", client.post("/console/compliance",
                                                data={"csrf": csrf_of(page.text)}).text
    page = client.get("/console/audit")
    yield "console-audit", page.text
    yield "console-audit-verified", client.post("/console/audit/verify",
                                                data={"csrf": csrf_of(page.text)}).text
    for name in ("register", "breaches", "keys", "webhooks"):
        r = client.get(f"/console/{name}")
        assert r.status_code == 200, (name, r.text)
        yield f"console-{name}", r.text


@pytest.fixture
def every_page(config, vault) -> Iterator[dict[str, dict[str, str]]]:
    """lang -> page name -> HTML, for both languages."""
    seeded = seed_all(vault)
    app = create_app(config)
    out: dict[str, dict[str, str]] = {}
    try:
        for lang in i18n.LANGS:
            with TestClient(app, base_url="https://testserver") as c:
                out[lang] = dict(tour(c, seeded, lang))
        yield out
    finally:
        app.state.web.close()


# --- the catalogs ------------------------------------------------------------------------


def test_every_message_has_an_english_and_a_german_text() -> None:
    assert set(i18n.EN) == set(i18n.DE)
    for key in i18n.EN:
        assert i18n.EN[key].strip() and i18n.DE[key].strip(), key
        # the same placeholders in both, so neither language drops a value
        assert set(re.findall(r"{(\w+)}", i18n.EN[key])) == \
            set(re.findall(r"{(\w+)}", i18n.DE[key])), key
    assert set(i18n.BASES_EN) == set(i18n.BASES_DE)


def test_every_german_page_is_german(every_page) -> None:
    """No English giveaway on any page rendered in German; the same pages in English do show
    them (the check can fail), and the register's texts come out German."""
    assert set(every_page["de"]) == set(every_page["en"])
    english_hits = 0
    for name, html in every_page["de"].items():
        assert '<html lang="de">' in html, name
        text = visible_text(html, "de")
        found = sorted(set(GIVEAWAYS.findall(re.sub(r"\S+@\S+", "", text))))  # no e-mails
        assert not found, f"{name} shows English: {found}\n{text}"
        for german in GERMAN_REGISTER.get(name, []):
            assert german in text, f"{name} lacks {german!r}\n{text}"
        english_hits += bool(GIVEAWAYS.search(visible_text(every_page["en"][name], "en")))
    assert english_hits == len(every_page["en"])  # a negative control on every page


def test_english_pages_show_the_english_texts(every_page) -> None:
    en = {name: visible_text(html, "en") for name, html in every_page["en"].items()}
    assert "To provide the assistant you signed up for" in en["privacy-overview"]
    assert "2 years" in en["privacy-overview"] and "2 Jahre" not in en["privacy-overview"]
    assert "United States" in en["privacy-notice"] and "30 days" in en["privacy-notice"]
    assert "1 year 1 month" in en["console-register"]


# --- the register's texts per language ------------------------------------------------------


def _purpose(**kw: object) -> Purpose:
    base = {"description": "x", "legal_basis": "contract", "categories": [], "kinds": [],
            "retention": "2 years"}
    return Purpose(**{**base, **kw})  # type: ignore[arg-type]


def test_a_register_text_is_a_string_or_one_per_language() -> None:
    plain = _purpose(description="To do it.")
    assert plain.description == "To do it." and localized(plain.description, "de") == "To do it."
    assert plain.model_dump(mode="json")["description"] == "To do it."  # stays a string
    both = _purpose(description={"en": "To do it.", "de": "Um es zu tun."},
                    recipients=["Auditor", {"en": "Tax advisor", "de": "Steuerberatung"}])
    assert str(both.description) == "To do it."  # every one-language reader gets English
    assert localized(both.description, "de") == "Um es zu tun."
    assert localized(both.description, "de-AT") == "Um es zu tun."
    assert localized(both.description, "fr") == "To do it."  # falls back to English
    assert [localized(r, "de") for r in both.recipients] == ["Auditor", "Steuerberatung"]
    assert both.model_dump(mode="json")["description"] == {"en": "To do it.",
                                                           "de": "Um es zu tun."}
    assert both != _purpose(description={"en": "To do it.", "de": "Anders."},
                            recipients=both.model_dump()["recipients"])
    for bad in ({"de": "Nur Deutsch"}, {"en": ""}, {"EN": "x"}, {"en": 3}, 42):
        with pytest.raises(ValidationError):
            _purpose(description=bad)


def test_translations_leave_the_english_notice_and_its_version_alone() -> None:
    """The notice version is the hash of the English text: adding German changes nothing a
    reader of the English notice sees, so it does not ask anyone to consent again."""
    reg = load_register(SAMPLE)
    doc = yaml.safe_load(SAMPLE.read_text())

    def english(v: object) -> object:
        if isinstance(v, dict):
            if set(v) <= {"en", "de"} and "en" in v and all(isinstance(x, str)
                                                             for x in v.values()):
                return v["en"]
            return {k: english(x) for k, x in v.items()}
        if isinstance(v, list):
            return [english(x) for x in v]
        return v

    plain = Register.model_validate(english(doc))
    assert notice_version(plain) == notice_version(reg)
    assert render_notice(plain, "md", "en").text == render_notice(reg, "md", "en").text
    assert render_notice(plain, "md", "de").text != render_notice(reg, "md", "de").text


def test_the_sample_register_is_complete_in_english_and_german() -> None:
    """Every text a person reads in the sample register has a German version."""
    reg = load_register(SAMPLE)
    texts: list[tuple[str, object]] = []
    c = reg.controller
    texts += [("controller.address", c.address)]
    for who in ("dpo", "supervisory_authority"):
        contact = getattr(c, who)
        texts += [(f"controller.{who}.address", contact.address)] if contact.address else []
    texts += [(f"categories.{n}", cat.description) for n, cat in reg.categories.items()]
    texts += [(f"kinds.{n}", k.description) for n, k in reg.kinds.items()]
    for n, p in reg.purposes.items():
        texts += [(f"purposes.{n}.description", p.description)]
        texts += [(f"purposes.{n}.recipients", r) for r in p.recipients]
        if p.consent_prompt:
            texts.append((f"purposes.{n}.consent_prompt", p.consent_prompt))
        if p.legitimate_interest:
            texts.append((f"purposes.{n}.legitimate_interest", p.legitimate_interest))
        for tr in p.transfers:
            texts += [(f"purposes.{n}.transfers", v) for v in (tr.country, tr.recipient,
                                                               tr.safeguard)]
    missing = [where for where, v in texts
               if not (isinstance(v, Localized) and {"en", "de"} <= set(v.translations))]
    assert missing == []


@pytest.mark.parametrize("text,en,de", [
    ("2 years", "2 years", "2 Jahre"), ("30 days", "30 days", "30 Tage"),
    ("P1Y", "1 year", "1 Jahr"), ("13 months", "1 year 1 month", "1 Jahr 1 Monat"),
    ("1 day", "1 day", "1 Tag"), ("PT12H", "12 hours", "12 Stunden"),
])
def test_durations_in_the_page_language(text: str, en: str, de: str) -> None:
    d = Duration.parse(text)
    assert ports.duration(d, "en") == period(d, "en") == en
    assert ports.duration(d, "de") == de
