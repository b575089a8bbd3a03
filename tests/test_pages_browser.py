"""Every page of the privacy center and the console, in English and in German, in Chromium
against the real server (uvicorn with TLS on a loopback port): each page is screenshotted and
checked with axe-core, which must find no violation at all.

Screenshots go to ``$CONFIDA_TEST_ARTIFACTS/pages/`` when that is set, else to the test's own
``tmp_path/artifacts/``; the test prints where. Skipped only when Debian's ``/usr/bin/chromium``
is not installed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from confida.vault import Vault
from tests.browser_support import served_in_thread
from tests.test_pages_i18n import seed_all

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)

playwright_api = pytest.importorskip("playwright.sync_api")
axe_mod = pytest.importorskip("axe_playwright_python.sync_playwright")

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: Every axe rule of WCAG 2.0/2.1 A and AA, and axe's best practices: any violation fails.
AXE = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                             "best-practice"]},
       "resultTypes": ["violations"]}
LOCALES = {"en": "en-GB", "de": "de-DE"}



@pytest.fixture
def server(config) -> Iterator[str]:
    """``confida serve``'s server config (TLS 1.2+) on a free loopback port, in a thread."""
    with served_in_thread(config) as url:
        yield url


@pytest.fixture
def artifacts(tmp_path: Path, capsys) -> Path:
    root = os.environ.get("CONFIDA_TEST_ARTIFACTS")
    where = Path(root) / "pages" if root else tmp_path / "artifacts"
    where.mkdir(parents=True, exist_ok=True)
    with capsys.disabled():
        print(f"\n[test_pages_browser] screenshots of every page: {where}")
    return where


def _tour(pg: Any, base: str, seeded: dict[str, str], lang: str) -> Iterator[str]:
    """Walk every page as a visitor would; yield each page's name once it is shown."""

    def go(path: str, status: int = 200) -> None:
        resp = pg.goto(base + path)
        assert resp.status == status, (path, resp.status)

    def submit(form_action: str) -> None:
        with pg.expect_navigation():
            pg.locator(f'form[action="{form_action}"] button[type="submit"]').first.click()

    go("/privacy/enter?token=cst_v1.forged.link", 401)
    yield "privacy-link-invalid"
    go(f"/privacy/enter?token={seeded['expired_link']}", 401)
    yield "privacy-link-expired"
    go("/privacy/", 401)
    yield "privacy-session-over"
    go(f"/privacy/enter?token={seeded[f'link_{lang}']}")
    assert pg.url == f"{base}/privacy/"  # the token left the address bar
    yield "privacy-overview"
    go("/privacy/notice")
    yield "privacy-notice"
    go("/privacy/delete")
    yield "privacy-delete"
    go(f"/privacy/enter?token={seeded[f'link_{lang}']}", 401)
    yield "privacy-link-used"
    go(f"/privacy/enter?token={seeded[f'leaving_{lang}']}")
    go("/privacy/delete")
    pg.locator("#confirm").check()
    submit("/privacy/delete")
    yield "privacy-deleted"
    go("/console/login")
    yield "console-login"
    pg.locator("#api-key").fill("cfk_abcdefgh_" + "A" * 43)
    submit("/console/login")
    assert pg.get_by_role("alert").is_visible()
    yield "console-login-failed"
    pg.locator("#api-key").fill(seeded["admin_key"])
    submit("/console/login")
    assert pg.url == f"{base}/console/"
    yield "console-requests"
    pg.locator("#f-status").select_option("open")
    pg.locator("#f-type").select_option("rectification")
    submit("/console/")
    assert "status=open" in pg.url and "type=rectification" in pg.url
    yield "console-requests-filtered"
    go("/console/compliance")
    yield "console-compliance"
    submit("/console/compliance")
    pg.get_by_role("status").wait_for()
    yield "console-compliance-run"
    go("/console/audit")
    yield "console-audit"
    submit("/console/audit/verify")
    pg.get_by_role("status").wait_for()
    yield "console-audit-verified"
    for name in ("register", "breaches", "keys", "webhooks"):
        go(f"/console/{name}")
        yield f"console-{name}"


def test_every_page_in_both_languages_passes_axe(config, vault: Vault, server, artifacts):
    seeded = seed_all(vault)
    started = time.monotonic()
    shots: list[str] = []
    problems: list[str] = []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        axe = axe_mod.Axe()
        try:
            for lang, locale in LOCALES.items():
                ctx = browser.new_context(ignore_https_errors=True, locale=locale)
                pg = ctx.new_page()
                csp: list[str] = []
                pg.on("console", lambda m, csp=csp: "Content Security Policy" in m.text
                      and csp.append(m.text))
                try:
                    for name in _tour(pg, server, seeded, lang):
                        assert pg.locator("html").get_attribute("lang") == lang, name
                        assert pg.locator("h1").first.inner_text().strip(), name
                        shot = artifacts / f"{name}-{lang}.png"
                        pg.screenshot(path=str(shot), full_page=True)
                        shots.append(shot.name)
                        result = axe.run(pg, options=AXE)
                        if result.violations_count:
                            problems.append(f"{name} ({lang}):\n{result.generate_report()}")
                        if csp:
                            problems.append(f"{name} ({lang}): CSP violations {csp}")
                            csp.clear()
                finally:
                    ctx.close()
        finally:
            browser.close()
    assert problems == [], "\n\n".join(problems)
    assert len(shots) == 2 * 20 and all((artifacts / s).stat().st_size > 1000 for s in shots)
    assert time.monotonic() - started < 90, "the tour should stay well under 90 s"


def test_axe_options_catch_a_violation(browser_factory: Callable[[], Any] | None = None):
    """Negative control: the same options flag an unlabelled field and low contrast."""
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            pg = browser.new_page()
            pg.set_content('<html lang="en"><head><title>x</title></head><body><main>'
                           '<h1>x</h1><input type="text"><p style="color:#bbb;background:#fff">'
                           'faint</p></main></body></html>')
            ids = {v["id"] for v in axe_mod.Axe().run(pg, options=AXE).response["violations"]}
            assert {"label", "color-contrast"} <= ids
        finally:
            browser.close()
