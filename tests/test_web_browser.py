"""End-to-end: the real server (uvicorn, TLS) driven by Debian's headless Chromium.

Playwright's Python package drives ``/usr/bin/chromium`` (no downloaded browser); axe-core
(from ``axe-playwright-python``) checks every page against WCAG 2.1 A/AA. Screenshots of each
page go to ``test-artifacts/screenshots/``. Skipped only when Chromium is not installed (CI
installs it through ``.ci/run``).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from confida.vault import Vault
from tests.browser_support import served_in_thread
from tests.test_web import _subject_id, assert_erased
from tests.web_support import SECRET_TEXT, SUBJECT, in_next_training_export, seed

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)

playwright_api = pytest.importorskip("playwright.sync_api")
axe_mod = pytest.importorskip("axe_playwright_python.sync_playwright")

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-artifacts" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
        "resultTypes": ["violations"]}



@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def server(config) -> Iterator[str]:
    """``confida serve``'s server config (TLS 1.2+) on a free loopback port, in a thread."""
    with served_in_thread(config) as url:
        yield url


@pytest.fixture
def seeded(vault: Vault) -> dict[str, str]:
    return seed(vault)


@pytest.fixture
def page(browser) -> Iterator[object]:
    ctx = browser.new_context(ignore_https_errors=True, locale="en-GB", accept_downloads=True)
    pg = ctx.new_page()
    pg.csp_errors = []  # type: ignore[attr-defined]
    pg.on("console", lambda m: "Content Security Policy" in m.text
          and pg.csp_errors.append(m.text))  # type: ignore[attr-defined]
    try:
        yield pg
    finally:
        ctx.close()


def check(page, name: str) -> None:
    """Screenshot the page, then assert axe finds no WCAG 2.1 A/AA violation and CSP held."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    results = axe_mod.Axe().run(page, options=WCAG)
    assert results.violations_count == 0, results.generate_report()
    assert page.csp_errors == [], page.csp_errors


def test_opt_out_of_training_excludes_the_person_from_the_next_export(
    page, server, seeded, vault, tmp_path
):
    assert in_next_training_export(vault, seeded["subject_id"], tmp_path)
    resp = page.goto(f"{server}/privacy/enter?token={seeded['link']}")
    assert page.url == f"{server}/privacy/"  # the token left the address bar
    assert "content-security-policy" in resp.headers
    check(page, "privacy-overview")
    state = page.get_by_test_id("consent-model_training-state")
    assert state.inner_text() == "On"
    page.get_by_test_id("consent-model_training-toggle").click()
    page.wait_for_url(f"{server}/privacy/?done=consent")
    assert page.get_by_test_id("consent-model_training-state").inner_text() == "Off"
    assert page.get_by_role("status").inner_text() == "Your choice was saved."
    check(page, "privacy-consent-saved")
    assert not in_next_training_export(vault, seeded["subject_id"], tmp_path)


def test_download_zip_contains_their_records(page, server, seeded, tmp_path):
    page.goto(f"{server}/privacy/enter?token={seeded['link']}")
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download my data").click()
    path = tmp_path / "my-data.zip"
    dl.value.save_as(path)
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as z:
        records = "".join(z.read(n).decode() for n in z.namelist()
                          if n.startswith("records/") and n.endswith(".json"))
    assert SECRET_TEXT in records and SUBJECT in records


def test_delete_account_then_nothing_is_readable(page, server, seeded, config, vault):
    sid = _subject_id(vault)
    page.goto(f"{server}/privacy/enter?token={seeded['link']}")
    page.get_by_role("link", name="Delete my account…").click()
    page.wait_for_url(f"{server}/privacy/delete")
    check(page, "privacy-delete-confirm")
    page.get_by_label("I understand that all my data will be erased").check()
    page.get_by_role("button", name="Delete my account now").click()
    page.get_by_role("heading", name="Your account has been deleted").wait_for()
    assert "Nothing of yours can be read any more" in page.inner_text("main")
    check(page, "privacy-deleted")
    assert_erased(config, sid)


def test_staff_completes_an_overdue_request(page, server, seeded, vault):
    from confida.operation import Actor
    from confida.web import ports

    page.goto(f"{server}/console/login")
    check(page, "console-login")
    page.get_by_label("API key").fill(seeded["staff_key"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server}/console/")
    check(page, "console-requests")
    first = page.locator("tbody tr").first
    assert first.get_attribute("data-request-id") == seeded["overdue_request"]
    assert "Overdue" in first.inner_text()
    first.get_by_role("button", name="Complete").click()
    page.wait_for_url(f"{server}/console/?done=done")
    check(page, "console-request-completed")
    dpo = Actor(id="test-dpo", role="dpo", source="web")
    done = {r.id: r for r in ports.staff_requests(vault, dpo)}[seeded["overdue_request"]]
    assert done.status == "completed" and done.closed_at is not None
    for name in ("register", "breaches"):  # the key inventory needs `keys`, which a DPO lacks
        page.goto(f"{server}/console/{name}")
        check(page, f"console-{name}")
    page.goto(f"{server}/console/audit")
    page.get_by_role("button", name="Run verification").click()
    assert page.get_by_role("status").inner_text().startswith("Verified:")
    check(page, "console-audit")
    page.goto(f"{server}/console/compliance")
    page.get_by_role("button", name="Run the compliance check").click()
    page.get_by_role("status").wait_for()
    check(page, "console-compliance")


def test_cookie_flags_csp_and_csrf(page, server, seeded):
    resp = page.goto(f"{server}/privacy/enter?token={seeded['link']}")
    csp = resp.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    cookies = {c["name"]: c for c in page.context.cookies()}
    c = cookies["__Host-confida-session"]
    assert c["httpOnly"] and c["secure"] and c["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # HttpOnly: invisible to scripts
    r = page.request.post(f"{server}/privacy/consent",
                          form={"purpose": "model_training", "choice": "off"})
    assert r.status == 403
    page.goto(f"{server}/privacy/notice")
    check(page, "privacy-notice")


def test_expired_link_is_refused(page, server, config):
    from datetime import timedelta

    from confida.clock import utcnow
    from tests.web_support import new_link

    past = Vault.open(config, clock=lambda: utcnow() - timedelta(minutes=30))
    try:
        seed(past)
        token = new_link(past, SUBJECT, 15)
    finally:
        past.close()
    resp = page.goto(f"{server}/privacy/enter?token={token}")
    assert resp.status == 401
    assert page.get_by_role("heading").first.inner_text() == "This link has expired"
    check(page, "privacy-link-expired")


def test_german_from_accept_language(browser, server, seeded):
    ctx = browser.new_context(ignore_https_errors=True, locale="de-DE")
    try:
        pg = ctx.new_page()
        pg.csp_errors = []
        pg.goto(f"{server}/privacy/enter?token={seeded['link']}")
        assert pg.get_by_role("heading", level=1).inner_text() == "Ihre Daten"
        assert pg.locator("html").get_attribute("lang") == "de"
        check(pg, "privacy-overview-de")
        pg.get_by_label("Sprache").select_option("en")  # the switch (auto-submits with JS)
        pg.wait_for_url(f"{server}/privacy/")
        pg.get_by_role("heading", name="Your data", level=1).wait_for()
    finally:
        ctx.close()


def test_axe_check_would_catch_a_violation(browser):
    """Negative control: the same axe options flag an unlabelled field and low contrast."""
    ctx = browser.new_context()
    try:
        pg = ctx.new_page()
        pg.set_content('<html lang="en"><head><title>x</title></head><body><main>'
                       '<input type="text"><p style="color:#bbb;background:#fff">faint</p>'
                       '</main></body></html>')
        ids = {v["id"] for v in axe_mod.Axe().run(pg, options=WCAG).response["violations"]}
        assert {"label", "color-contrast"} <= ids
    finally:
        ctx.close()
