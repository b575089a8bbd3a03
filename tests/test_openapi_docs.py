"""``/docs``: Swagger UI from the package, under a strict CSP, working in a real browser.

The HTTP-level checks run everywhere. The browser test serves the real app (``confida serve``'s
TLS server config, in a thread) and opens ``/docs`` in Debian's headless Chromium through
Playwright: the operations must render, with their examples, and the page must log no console
error, throw nothing and trigger no CSP violation. It is skipped only when ``/usr/bin/chromium``
is absent (CI installs it through ``.ci/run``).
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from confida.config import Config
from confida.server import docs_page
from confida.server.app import create_app
from tests.browser_support import served_in_thread

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "test-artifacts" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    # no lifespan: the page and its files need no store
    yield TestClient(create_app(Config(data_dir=Path("/nonexistent"))))


def _csp(value: str) -> dict[str, str]:
    return {d.split()[0]: " ".join(d.split()[1:]) for d in value.split(";") if d.strip()}


def test_docs_page_has_a_strict_csp_and_no_inline_code(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = _csp(r.headers["content-security-policy"])
    assert csp == {"default-src": "'none'", "script-src": "'self'", "style-src": "'self'",
                   "img-src": "'self' data:", "connect-src": "'self'",
                   "frame-ancestors": "'none'", "base-uri": "'none'", "form-action": "'none'"}
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["x-content-type-options"] == "nosniff"
    body = r.text
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", body, re.S)
    assert scripts and all('src="/docs/static/' in attrs and not code.strip()
                           for attrs, code in scripts), "only our own script files"
    assert "<style" not in body and " style=" not in body
    assert not re.search(r"\son[a-z]+=", body), "no inline event handler"
    assert not re.search(r"(src|href)=\"(https?:)?//", body), "nothing from another origin"
    assert 'data-spec-url="/openapi.json"' in body


@pytest.mark.parametrize(("name", "kind"), [
    ("swagger-ui-bundle.js", "text/javascript"), ("docs-init.js", "text/javascript"),
    ("swagger-ui.css", "text/css"), ("docs.css", "text/css"), ("LICENSE", "text/plain"),
])
def test_static_files_have_their_type_a_long_cache_and_the_csp(
    client: TestClient, name: str, kind: str
) -> None:
    url = re.search(rf'"(/docs/static/{re.escape(name)}\?v=[0-9a-f]+)"',
                    client.get("/docs").text)
    if url is None:  # the licences are not linked from the page
        url_s = f"/docs/static/{name}?v={docs_page.version_of(name)}"
    else:
        url_s = url.group(1)
    r = client.get(url_s)
    assert r.status_code == 200
    assert r.headers["content-type"] == f"{kind}; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["content-security-policy"] == docs_page.DOCS_CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.content == (docs_page.STATIC / name).read_bytes()
    stale = client.get(f"/docs/static/{name}?v=0000")
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/docs/static/app.py", "/docs/static/..%2F..%2Fapp.py",
                                  "/docs/static/swagger-ui.js", "/docs/static/"])
def test_only_the_listed_files_are_served(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_docs_routes_are_not_in_the_document(client: TestClient) -> None:
    assert not [p for p in client.get("/openapi.json").json()["paths"] if p.startswith("/docs")]


def test_vendored_swagger_ui_is_unchanged_and_packaged() -> None:
    for name, digest in docs_page.VENDORED_SHA256.items():
        assert hashlib.sha256((docs_page.STATIC / name).read_bytes()).hexdigest() == digest, name
    assert set(docs_page.FILES) == {p.name for p in docs_page.STATIC.iterdir()}
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = data["tool"]["setuptools"]["package-data"]["confida"]
    assert "server/static/docs/*" in globs


# --- in Chromium ---------------------------------------------------------------------------------



@pytest.fixture
def server(config: Config) -> Iterator[str]:
    """``confida serve``'s server config (TLS 1.2+) on a free loopback port, in a thread."""
    with served_in_thread(config) as url:
        yield url


CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium (/usr/bin/chromium) is not "
                    "installed; CI installs it through .ci/run")
def test_docs_render_in_chromium_without_errors_or_csp_violations(server: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            ctx = browser.new_context(ignore_https_errors=True, locale="en-GB")
            page = ctx.new_page()
            page.add_init_script(CSP_LISTENER)

            def on_console(m: Any) -> None:
                if m.type == "error" or "Content Security Policy" in m.text:
                    problems.append(f"console {m.type}: {m.text}")

            page.on("console", on_console)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            page.on("response", lambda r: r.status >= 400
                    and problems.append(f"{r.status} {r.url}"))
            resp = page.goto(f"{server}/docs")
            assert resp is not None and resp.status == 200
            assert resp.headers["content-security-policy"] == docs_page.DOCS_CSP

            op = page.locator("#operations-records-collectRecord")
            op.wait_for(timeout=30_000)
            assert page.locator(".opblock").count() >= 28
            assert page.locator("#operations-tag-records a[href='docs/api.md#endpoints']").count()
            op.locator(".opblock-summary").first.click()
            body = op.locator(".opblock-body")
            body.get_by_text("conversation_message").first.wait_for(timeout=10_000)
            assert "user-1" in body.inner_text()
            page.locator("#operations-rights-eraseSubject .opblock-summary").first.click()
            page.locator("#operations-rights-eraseSubject .opblock-body").get_by_text(
                "ticket-4713").first.wait_for(timeout=10_000)
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "api-docs.png"), full_page=True)
            violations: list[Any] = page.evaluate("window.__cspViolations")
        finally:
            browser.close()
    assert violations == [], violations
    assert problems == [], problems
