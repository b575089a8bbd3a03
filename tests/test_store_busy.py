"""A lawful request that meets a locked or unreachable database is answered 503 with
Retry-After, never 500, even on a code path that did not wrap the driver's error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError, OperationalError

from confida.server import api as api_module
from confida.server.app import create_app
from tests.apihelp import auth, setup


@pytest.mark.parametrize("exc", [
    OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked")),
    sqlite3.OperationalError("database is locked"),
])
def test_busy_database_is_503_with_retry_after(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, exc: Exception
) -> None:
    cfg, keys = setup(tmp_path, database_url)

    def locked(*_a: object, **_k: object) -> None:
        raise exc

    monkeypatch.setattr(api_module.record, "read", locked)
    with TestClient(create_app(cfg), raise_server_exceptions=False) as client:
        r = client.get("/v1/records/00000000-0000-0000-0000-000000000000",
                       headers=auth(keys["service"], "service"))
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "1"
    assert r.json()["type"].endswith("store-unavailable")
    assert "locked" not in r.text  # the driver's words stay in the log


def test_an_integrity_error_is_still_a_500(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, keys = setup(tmp_path, database_url)

    def broken(*_a: object, **_k: object) -> None:
        raise IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))

    monkeypatch.setattr(api_module.record, "read", broken)
    with TestClient(create_app(cfg), raise_server_exceptions=False) as client:
        r = client.get("/v1/records/00000000-0000-0000-0000-000000000000",
                       headers=auth(keys["service"], "service"))
    assert r.status_code == 500
