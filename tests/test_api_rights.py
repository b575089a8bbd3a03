"""Rights, requests and the erasure feed over the API, by role."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from confida.server.app import create_app
from tests.apihelp import auth, setup

V = {"verified_by": "session:password+totp"}


@pytest.fixture
def api(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    cfg, keys = setup(tmp_path, database_url)
    with TestClient(create_app(cfg)) as c:
        r = c.post("/v1/records", headers=auth(keys["service"]), json={
            "subject": "user-1", "kind": "account", "purpose": "service",
            "data": {"email": "jane@example.com"}})
        assert r.status_code == 201
        yield c, keys, r.json()["record_id"]


def test_rights_end_to_end(api) -> None:  # type: ignore[no-untyped-def]
    c, keys, rid = api
    h = auth(keys["dpo"])
    r = c.post("/v1/subjects/user-1/access-export", headers=h, json=V)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert r.headers["cache-control"] == "no-store"
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert any("manifest" in n for n in names)
    r = c.post("/v1/subjects/user-1/rectifications", headers=h,
               json={**V, "record_id": rid, "data": {"email": "jane.d@example.com"}})
    assert r.status_code == 201 and r.json()["type"] == "rectification"
    r = c.post("/v1/subjects/user-1/restriction", headers=h, json=V)
    assert r.status_code == 201
    r = c.get(f"/v1/records/{rid}", headers=auth(keys["service"], "service"))
    assert r.status_code == 409 and r.json()["type"].endswith("/subject-restricted")
    assert c.post("/v1/subjects/user-1/restriction", headers=h,
                  json={**V, "lift": True}).status_code == 201
    r = c.post("/v1/subjects/user-1/objections", headers=h, json={**V, "purpose": "analytics"})
    assert r.status_code == 201
    listed = c.get("/v1/requests", headers=auth(keys["support"])).json()["items"]
    assert {x["type"] for x in listed} >= {"access", "rectification", "restriction", "objection"}
    assert "user-1" not in str(listed)
    r = c.post("/v1/subjects/user-1/erasure", headers=auth(keys["service"]),
               json={**V, "request_id": "erase-1"})
    assert r.status_code == 200, r.text
    r = c.get(f"/v1/records/{rid}", headers=auth(keys["service"], "service"))
    assert r.status_code in (404, 410)
    feed = c.get("/v1/erasure-feed", headers=auth(keys["service"]), params={"since": 0})
    assert feed.status_code == 200 and len(feed.json()["items"]) == 1
    assert feed.json()["last_id"] == feed.json()["items"][0]["id"]


@pytest.mark.parametrize(("role", "rights_status", "requests_status"), [
    ("admin", 200, 200), ("dpo", 200, 200), ("support", 403, 200), ("service", 200, 403),
    ("ml_engineer", 403, 403), ("analyst", 403, 403),
])
def test_rights_by_role(api, role: str, rights_status: int,  # type: ignore[no-untyped-def]
                        requests_status: int) -> None:
    c, keys, _ = api
    r = c.get("/v1/erasure-feed", headers=auth(keys[role]))
    assert r.status_code == rights_status
    r = c.post("/v1/subjects/user-1/access-export", headers=auth(keys[role]), json=V)
    assert r.status_code == rights_status
    r = c.get("/v1/requests", headers=auth(keys[role]))
    assert r.status_code == requests_status
    r = c.post("/v1/subjects/user-1/references", headers=auth(keys[role]),
               json={"system": "chat-cache", "reference": f"u_{role}"})
    assert r.status_code == (201 if rights_status == 200 else 403), r.text
