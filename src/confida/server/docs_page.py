"""``/docs``: the interactive API reference (Swagger UI), served from the package, no CDN.

The page is a static HTML shell; ``static/docs/`` holds Swagger UI's ``swagger-ui-bundle.js`` and
``swagger-ui.css`` copied unchanged from the npm package ``swagger-ui-dist`` (with its LICENSE,
NOTICE and the bundle's third-party licences), and ``docs-init.js``, which starts it on
``/openapi.json``. To update Swagger UI: ``npm pack swagger-ui-dist@<version>``, copy those five
files, and change ``SWAGGER_UI_VERSION`` and ``VENDORED_SHA256`` (tests/test_openapi_docs.py
checks them).

Every answer carries :data:`DOCS_CSP` (``SecurityHeaders`` keeps a CSP already present): scripts
and styles from this origin only, no inline script or style, no eval; images from this origin
and ``data:`` (swagger-ui.css draws its icons as data: URIs); fetches to this origin only (the
document, and "Try it out"). Static files are addressed with their content hash in ``?v=``, so
they are cached for a year; the page itself is revalidated.
"""

from __future__ import annotations

import functools
import hashlib
import html
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

STATIC = Path(__file__).resolve().parent / "static" / "docs"

SWAGGER_UI_VERSION = "5.36.0"
# npm: swagger-ui-dist@5.36.0, dist.integrity sha512-Lt6/Kb0gXmLdiabLhvso4VdJP9V7qJWB0zh0gzeXUV3+
# CMOTzMmvpJRSXN7EAjfwixwmoi9ezDbLHiexC7lA9A== ; the files copied from it, unchanged:
VENDORED_SHA256 = {
    "swagger-ui-bundle.js": "b164c5a22535e40dae08c00271674a67e437ec195098c55fcedf8ffac7ac3c88",
    "swagger-ui.css": "7eb9f5a125e4bc9b3f0b71869b66d1a3d7c501f972f53d44ef91c2ae6c5bda5e",
    "swagger-ui-bundle.js.LICENSE.txt":
        "37eb6e7e59aed57b2c1acf076574b818ea07b74265717e0bd67b59e0baf9abbb",
    "LICENSE": "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30",
    "NOTICE": "0d20d1adef18aee3f40dd258172155521ce702ac445cb5f7b7d60ed32dad2fb2",
}

DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

TEXT = "text/plain; charset=utf-8"
FILES: dict[str, str] = {  # the only files served, with their content types
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "docs-init.js": "text/javascript; charset=utf-8",
    "docs.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js.LICENSE.txt": TEXT,
    "LICENSE": TEXT,
    "NOTICE": TEXT,
}
IMMUTABLE = "public, max-age=31536000, immutable"

router = APIRouter(include_in_schema=False)


@functools.cache
def version_of(name: str) -> str:
    """The first 16 hex digits of the file's SHA-256: its cache-busting ``?v=``."""
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:16]


def _url(root: str, name: str) -> str:
    return f"{root}/docs/static/{name}?v={version_of(name)}"


def page(root: str, spec_url: str) -> str:
    e = functools.partial(html.escape, quote=True)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Confida API reference</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{e(_url(root, "swagger-ui.css"))}">
<link rel="stylesheet" href="{e(_url(root, "docs.css"))}">
<script src="{e(_url(root, "swagger-ui-bundle.js"))}" defer></script>
<script src="{e(_url(root, "docs-init.js"))}" defer></script>
</head>
<body>
<main id="swagger-ui" data-spec-url="{e(spec_url)}"></main>
<noscript><p class="docs-noscript">This reference needs JavaScript. The OpenAPI document
itself is at <a href="{e(spec_url)}">{e(spec_url)}</a>.</p></noscript>
</body>
</html>
"""


@router.get("/docs")
def docs(request: Request) -> HTMLResponse:
    """Swagger UI on this server's OpenAPI document."""
    root = request.scope.get("root_path", "").rstrip("/")
    spec = f"{root}{request.app.openapi_url or '/openapi.json'}"
    return HTMLResponse(page(root, spec), headers={
        "Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-cache"})


@router.get("/docs/static/{name}")
def static(name: str, request: Request) -> FileResponse:
    """One of :data:`FILES`; cached for a year when asked for by its current hash."""
    if name not in FILES:
        raise HTTPException(404)
    fresh = request.query_params.get("v") == version_of(name)
    return FileResponse(STATIC / name, media_type=FILES[name], headers={
        "Content-Security-Policy": DOCS_CSP,
        "Cache-Control": IMMUTABLE if fresh else "no-cache"})
