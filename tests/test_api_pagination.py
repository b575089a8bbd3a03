"""Cursor pagination on every list endpoint, and subject ids that are not URL-friendly.

Pages are walked past 10,000 items with writes happening between pages: keyset pagination must
neither skip nor repeat an item. Cursors are opaque but checked: a malformed cursor, or one
from another list, is a 400, never a silent first page.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from confida import record, rights
from confida.config import ApiSettings
from confida.server.app import create_app
from confida.vault import Vault
from tests.actors import ADMIN
from tests.apihelp import auth, setup
from tests.conftest import database

PROBLEM = "application/problem+json"
V = {"verified_by": "session:test"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("pages")
    with database(tmp) as url:
        cfg, keys = setup(tmp, url, api=ApiSettings(rate_per_second=10_000, rate_burst=10_000))
        app = create_app(cfg)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield {"client": client, "keys": keys, "cfg": cfg, "vault": app.state.ctx.vault()}


def _walk(c: TestClient, url: str, headers: dict[str, str], **params: Any
          ) -> tuple[list[dict[str, Any]], int]:
    """Every item of a list, following ``next``; also checks the Link header agrees."""
    items: list[dict[str, Any]] = []
    pages = 0
    cursor: str | None = None
    while True:
        q = dict(params, **({"cursor": cursor} if cursor else {}))
        r = c.get(url, headers=headers, params=q)
        assert r.status_code == 200, r.text
        body = r.json()
        pages += 1
        items += body["items"]
        cursor = body["next"]
        if cursor is None:
            assert "link" not in r.headers
            return items, pages
        assert r.headers["link"].endswith('>; rel="next"') and f"cursor={cursor}" in r.headers[
            "link"]


def test_records_page_past_ten_thousand_with_writes_between_pages(env: dict[str, Any]) -> None:
    vault: Vault = env["vault"]
    n = 10_050
    items = [record.CollectItem("bulk-1", "conversation_message",
                                {"conversation_id": "c", "text": f"message {i}", "role": "user"},
                                "service") for i in range(n)]
    for i in range(0, n, record.MAX_BATCH):
        record.collect_many(vault, items[i:i + record.MAX_BATCH], actor=ADMIN)
    c, h = env["client"], auth(env["keys"]["service"], "service")
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        r = c.get("/v1/subjects/bulk-1/records", headers=h,
                  params={"limit": 1000, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [m["id"] for m in body["items"]]
        pages += 1
        if pages == 3:  # writes between pages land after the end (newest last), not in the walk
            record.collect(vault, "bulk-1", "conversation_message",
                           {"conversation_id": "c", "text": "late", "role": "user"}, "service",
                           actor=ADMIN)
        cursor = body["next"]
        if cursor is None:
            break
    assert len(seen) == n + 1 and len(set(seen)) == n + 1
    assert pages == 11  # 10 full pages, then the short one
    # the default page is 100 items and says where to go on
    r = c.get("/v1/subjects/bulk-1/records", headers=h)
    assert len(r.json()["items"]) == 100 and r.json()["next"]


def test_requests_and_erasure_feed_page(env: dict[str, Any]) -> None:
    vault: Vault = env["vault"]
    c, keys = env["client"], env["keys"]
    for i in range(7):
        record.collect(vault, f"erase-{i}", "account", {"email": f"p{i}@example.org"},
                       "service", actor=ADMIN)
        rights.erase(vault, f"erase-{i}", verified_by="session:test", actor=ADMIN)
    reqs, pages = _walk(c, "/v1/requests", auth(keys["dpo"]), limit=3)
    assert len(reqs) >= 7 and pages >= 3 and len({r["id"] for r in reqs}) == len(reqs)
    dues = [r["due_at"] for r in reqs]
    assert dues == sorted(dues)
    notices, pages = _walk(c, "/v1/erasure-feed", auth(keys["service"]), limit=2)
    ids = [n["id"] for n in notices]
    assert len(ids) >= 7 and ids == sorted(ids) and len(set(ids)) == len(ids)
    # a poller may keep the last id in the clear and pass it as `since`
    r = c.get("/v1/erasure-feed", headers=auth(keys["service"]), params={"since": ids[-3]})
    assert [n["id"] for n in r.json()["items"]] == ids[-2:]
    assert r.json()["last_id"] == ids[-1] and r.json()["next"] is None
    r = c.get("/v1/erasure-feed", headers=auth(keys["service"]), params={"since": ids[-1]})
    assert r.json() == {"items": [], "next": None, "last_id": ids[-1]}


def _cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(("url", "cursor"), [
    ("/v1/subjects/user-x/records", "not-a-cursor"),
    ("/v1/subjects/user-x/records", _cursor("requests", "2026-01-01T00:00:00+00:00", "x")),
    ("/v1/subjects/user-x/records", _cursor("records", "yesterday", "x")),
    ("/v1/subjects/user-x/records", _cursor("records", "2026-01-01T00:00:00+00:00")),
    ("/v1/requests", _cursor("records", "2026-01-01T00:00:00+00:00", "x")),
    ("/v1/erasure-feed", _cursor("erasure-feed", -1)),
    ("/v1/erasure-feed", _cursor("erasure-feed", "7")),
    ("/v1/erasure-feed", "a" * 600),
    ("/v1/erasure-feed", "abc$"),
])
def test_a_bad_cursor_is_refused_not_read_as_the_first_page(env: dict[str, Any], url: str,
                                                            cursor: str) -> None:
    r = env["client"].get(url, headers=auth(env["keys"]["admin"], "service"),
                          params={"cursor": cursor})
    assert r.status_code in (400, 422) and r.headers["content-type"] == PROBLEM, r.text


def test_cursor_and_since_together_are_refused(env: dict[str, Any]) -> None:
    r = env["client"].get("/v1/erasure-feed", headers=auth(env["keys"]["admin"]),
                          params={"since": 1, "cursor": _cursor("erasure-feed", 1)})
    assert r.status_code == 400


# Ids with "%" are left to tests/test_client.py, through a real server: Starlette's TestClient
# percent-decodes the path twice (``a%252Fb`` arrives as ``a/b``), which uvicorn does not.
ODD_IDS = ["tenant/77", "with space", "Zoë Ünïcode 東京", "x/records",
           "/leading", "trailing/", "a//b", "q?x=1#frag", "semi;colon", "plus+sign"]


@pytest.mark.parametrize("subject", ODD_IDS)
def test_any_subject_id_round_trips_through_every_path(env: dict[str, Any],
                                                       subject: str) -> None:
    """Collected in the body, then listed, consented, restricted and erased by path."""
    c, keys = env["client"], env["keys"]
    svc, path = keys["service"], quote(subject, safe="")
    r = c.post("/v1/records", headers=auth(svc), json={
        "subject": subject, "kind": "account", "purpose": "service",
        "data": {"email": "odd@example.org"}})
    assert r.status_code == 201, r.text
    rid = r.json()["record_id"]
    r = c.get(f"/v1/subjects/{path}/records", headers=auth(svc, "service"))
    assert r.status_code == 200 and [m["id"] for m in r.json()["items"]] == [rid], (subject,
                                                                                    r.text)
    r = c.post(f"/v1/subjects/{path}/consents", headers=auth(keys["admin"]),
               json={"purpose": "model_training", "action": "grant"})
    assert r.status_code == 201, r.text
    r = c.get(f"/v1/subjects/{path}/consents", headers=auth(keys["admin"], "service"))
    assert r.json()["current"]["model_training"]["granted"] is True
    r = c.post(f"/v1/subjects/{path}/erasure", headers=auth(svc), json=V)
    assert r.status_code == 200 and r.json()["records"] == 1, r.text
    r = c.get(f"/v1/records/{rid}", headers=auth(svc, "service"))
    assert r.status_code in (404, 410)


def test_a_slash_in_the_id_is_not_read_as_another_subject(env: dict[str, Any]) -> None:
    """``tenant/77`` and ``77`` are different people: listing one never shows the other."""
    c, svc = env["client"], env["keys"]["service"]
    for s in ("tenant-b/77", "77"):
        assert c.post("/v1/records", headers=auth(svc), json={
            "subject": s, "kind": "account", "purpose": "service",
            "data": {"email": "who@example.org"}}).status_code == 201
    a = c.get("/v1/subjects/tenant-b/77/records", headers=auth(svc, "service")).json()["items"]
    b = c.get("/v1/subjects/77/records", headers=auth(svc, "service")).json()["items"]
    assert len(a) == len(b) == 1 and a[0]["id"] != b[0]["id"]


def test_openapi_names_every_operation_and_schema(env: dict[str, Any]) -> None:
    doc = env["client"].get("/openapi.json").json()
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert all(i[0].islower() and "_" not in i for i in ids), ids
    assert {"collectRecord", "eraseSubject", "listSubjectRecords", "listErasureNotices"} <= set(
        ids)
    assert not [n for n in doc["components"]["schemas"] if n.startswith("_")]


def test_unused_path_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    """The catch-all subject path must not swallow unknown routes under /v1/subjects."""
    with database(tmp_path) as url:
        cfg, keys = setup(tmp_path, url)
        with TestClient(create_app(cfg), raise_server_exceptions=False) as c:
            r = c.get("/v1/subjects/someone/unknown", headers=auth(keys["admin"], "service"))
            assert r.status_code == 404 and r.headers["content-type"] == PROBLEM
