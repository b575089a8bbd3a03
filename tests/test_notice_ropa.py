"""The privacy notice and the record of processing, field by field against the sample register."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from confida.errors import BadInput
from confida.register import load_register
from confida.transparency.notice import notice_context, notice_version, render_notice
from confida.transparency.ropa import activities, render_ropa
from tests.actors import ADMIN
from tests.tr_support import SAMPLE, register_from, sample_doc

REG = load_register(SAMPLE)
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "source", "wbr"}


class Balanced(HTMLParser):
    """Parses a page and fails on unbalanced tags; collects text, scripts and heading ids."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.text: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}> in {self.stack}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(page: str) -> Balanced:
    assert page.lstrip().lower().startswith("<!doctype html>")
    p = Balanced()
    p.feed(page)
    p.close()
    assert p.stack == [], p.stack
    names = [t for t, _ in p.tags]
    assert "script" not in names
    assert not any(k.startswith("on") for _, a in p.tags for k in a)  # no inline handlers
    assert not any(t == "link" or (t == "img" and "src" in a) for t, a in p.tags)  # no fetches
    return p


def test_notice_states_every_required_item_of_the_sample_register() -> None:
    text = render_notice(REG, "md", "en").text
    c = REG.controller
    for value in (c.name, c.address, c.email, c.dpo.email, c.supervisory_authority.name,
                  c.supervisory_authority.email):
        assert value in text
    for name, p in REG.purposes.items():
        assert " ".join(p.description.split()) in text, name
        assert p.legal_basis.article in text
        if p.legitimate_interest:
            assert p.legitimate_interest in text
        for r in p.recipients:
            assert r in text
        for tr in p.transfers:
            assert tr.country in text and tr.safeguard in text
        for cat in p.categories:
            if REG.categories[cat].personal:
                assert REG.categories[cat].description.replace("(", "(") in text
    ctx = notice_context(REG)
    by = {p["name"]: p for p in ctx["purposes"]}
    assert by["service"]["retention"] == "2 years"
    assert by["analytics"]["retention"] == "1 year 1 month"
    assert by["service"]["kind_caps"] == [
        {"kind": "temporary_chat", "description": REG.kinds["temporary_chat"].description,
         "retention": "30 days"}]
    assert by["model_training"]["consent"] is True
    assert by["model_training"]["consent_prompt"] == REG.purposes["model_training"].consent_prompt
    assert [x["name"] for x in by["service"]["categories"]] == [
        c for c in REG.purposes["service"].categories if REG.categories[c].personal]
    assert any(x["special"] for x in by["service"]["categories"])  # health data flagged
    assert "content.metadata" not in [x["name"] for x in by["safety"]["categories"]]
    for art in ("Art. 15", "Art. 16", "Art. 17", "Art. 18", "Art. 20", "Art. 21"):
        assert art in text
    assert "Art. 7(3)" in text  # withdrawing consent
    assert "Art. 77" in text  # complaint to a supervisory authority
    assert "special category" in text
    assert f"Notice version: `{notice_version(REG)}`" in text


def test_notice_version_is_a_content_hash() -> None:
    v = notice_version(REG)
    assert v == notice_version(load_register(SAMPLE)) and len(v) == 16
    doc = sample_doc()
    doc["purposes"]["analytics"]["retention"] = "14 months"
    assert notice_version(register_from(doc)) != v
    doc = sample_doc()
    doc["roles"]["support"]["description"] = "changed, but not shown in the notice"
    assert notice_version(register_from(doc)) == v
    assert render_notice(REG, "html", "de").version == v


def test_vault_and_consent_record_the_notice_version(vault) -> None:
    from confida import consent

    assert vault.notice_version() == notice_version(vault.register)
    ev = consent.grant(vault, "u-1", "model_training", actor=ADMIN)
    assert ev.notice_version == notice_version(vault.register)


def test_notice_html_is_complete_accessible_and_self_contained() -> None:
    page = render_notice(REG, "html", "en").text
    p = parse_html(page)
    tags = dict(p.tags)
    assert tags["html"]["lang"] == "en"
    assert ("meta", {"charset": "utf-8"}) in p.tags
    assert "title" in tags and "main" in tags
    text = "".join(p.text)
    assert REG.purposes["model_training"].transfers[0].safeguard in text


def test_notice_html_escapes_register_text() -> None:
    doc = sample_doc()
    doc["purposes"]["safety"]["description"] = "<script>alert(1)</script> & more"
    page = render_notice(register_from(doc), "html").text
    parse_html(page)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    md = render_notice(register_from(doc), "md").text
    assert "\\<script\\>" in md


def test_notice_in_german() -> None:
    text = render_notice(REG, "md", "de").text
    assert text.startswith("# Datenschutzhinweise")
    assert "Art. 6(1)(b) DSGVO" in text and "2 Jahre" in text and "Art. 77 DSGVO" in text
    parse_html(render_notice(REG, "html", "de").text)


@pytest.mark.parametrize("fmt,lang", [("pdf", "en"), ("md", "fr")])
def test_notice_rejects_unknown_format_or_language(fmt: str, lang: str) -> None:
    with pytest.raises(BadInput):
        render_notice(REG, fmt, lang)


def test_ropa_has_article_30_fields_for_every_purpose() -> None:
    acts = {a.purpose: a for a in activities(REG)}
    assert list(acts) == list(REG.purposes)
    c = REG.controller
    for name, a in acts.items():
        p = REG.purposes[name]
        assert c.name in a.controller and c.email in a.controller  # (a)
        assert c.dpo.email in a.dpo  # (a)
        assert a.purpose_description == " ".join(p.description.split())  # (b)
        assert p.legal_basis.article in a.legal_basis
        assert a.data_subjects  # (c)
        assert [x.split(":")[0] for x in a.personal_data] == [
            x for x in p.categories if REG.categories[x].personal]  # (c)
        assert a.special_categories == [x for x in p.categories if REG.categories[x].special]
        for r in p.recipients:  # (d)
            assert r in a.recipients
        assert len(a.transfers) == len(p.transfers)  # (e)
        assert a.erasure_time_limit.startswith(f"{p.retention} after collection")  # (f)
        assert any("AES-256-GCM" in m for m in a.security_measures)  # (g)
    assert acts["model_training"].transfers == [
        "United States: GPU compute provider (processor); safeguard: Standard contractual "
        "clauses (Commission Implementing Decision (EU) 2021/914)"]
    assert "GPU compute provider (processor) (United States)" in acts["model_training"].recipients
    assert acts["service"].erasure_time_limit == "2 years after collection; temporary_chat: 30 days"
    assert acts["service"].special_categories == ["health.data"]
    assert acts["billing"].transfers == []


def test_ropa_measures_follow_the_installation(config) -> None:
    m = activities(REG, config)[0].security_measures
    assert any("file readable by the service owner only" in x for x in m)
    assert any(f"every {config.key_rotation_days} days" in x for x in m)


def test_ropa_formats_round_trip() -> None:
    doc = json.loads(render_ropa(REG, "json"))
    assert [a["purpose"] for a in doc["activities"]] == list(REG.purposes)
    assert doc["register_version"] == REG.content_hash()
    rows = list(csv.DictReader(io.StringIO(render_ropa(REG, "csv"))))
    assert [r["purpose"] for r in rows] == list(REG.purposes)
    assert rows[0]["dpo"].endswith(REG.controller.dpo.email)
    md = render_ropa(REG, "md")
    for key in ("(a) Controller", "(b) Purpose", "(c) Categories of data subjects",
                "(d) Categories of recipients", "(e) Transfers", "(f) Time limits",
                "(g) Technical and organisational"):
        assert md.count(key) == len(REG.purposes)
    with pytest.raises(BadInput):
        render_ropa(REG, "xlsx")


def test_ropa_csv_neutralises_formulas() -> None:
    doc = sample_doc()
    doc["purposes"]["billing"]["recipients"] = ["=HYPERLINK(\"http://x\")"]
    rows = list(csv.DictReader(io.StringIO(render_ropa(register_from(doc), "csv"))))
    assert rows[-1]["recipients"].startswith("'=")


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1,
               max_size=80).filter(lambda s: s.strip()))
@settings(max_examples=60, deadline=None)
def test_any_register_text_stays_text_in_the_html_notice(text: str) -> None:
    doc = sample_doc()
    doc["purposes"]["safety"]["description"] = text
    doc["controller"]["name"] = text
    page = render_notice(register_from(doc), "html").text
    p = parse_html(page)
    assert " ".join(text.split()) in " ".join("".join(p.text).split())


def test_notice_and_ropa_state_the_art_9_2_condition() -> None:
    by = {p["name"]: p for p in notice_context(REG)["purposes"]}
    assert by["service"]["special_condition"] == "your explicit consent"
    assert by["service"]["special_article"] == "Art. 9(2)(a) GDPR"
    assert by["billing"]["special_condition"] is None  # no special category, nothing to say
    md = render_notice(REG, "md", "en").text
    assert "- Special categories processed on the basis of: your explicit consent " \
           "(Art. 9(2)(a) GDPR)" in md
    assert md.count("Special categories processed on the basis of") == 1
    assert "Ihrer ausdrücklichen Einwilligung (Art. 9(2)(a) DSGVO)" in render_notice(
        REG, "md", "de").text
    html = render_notice(REG, "html", "en").text
    parse_html(html)
    assert "your explicit consent (Art. 9(2)(a) GDPR)" in html
    acts = {a.purpose: a for a in activities(REG)}
    assert acts["service"].special_category_condition == "Art. 9(2)(a) GDPR: explicit consent"
    assert acts["billing"].special_category_condition.startswith("not applicable")
    assert "(c) Condition for special categories (Art. 9(2))**: Art. 9(2)(a) GDPR" in \
        render_ropa(REG, "md")
    rows = {r["purpose"]: r for r in csv.DictReader(io.StringIO(render_ropa(REG, "csv")))}
    assert rows["service"]["special_category_condition"].startswith("Art. 9(2)(a)")
    doc = json.loads(render_ropa(REG, "json"))
    assert doc["activities"][0]["special_category_condition"].startswith("Art. 9(2)(a)")
    # without a condition the record says so
    d = sample_doc()
    del d["purposes"]["service"]["special_category_condition"]
    acts = {a.purpose: a for a in activities(register_from(d))}
    assert acts["service"].special_category_condition.startswith("none declared")
    assert "Special categories processed" not in render_notice(register_from(d)).text
