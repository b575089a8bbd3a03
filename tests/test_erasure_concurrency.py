"""Concurrent and repeated runs of one erasure: erasure is idempotent per request id, so every
run of the same request, at once or later, succeeds and answers the same completed result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from confida import record
from confida.rights import erasure, feed
from confida.server.app import create_app
from confida.vault import Vault
from tests.actors import ADMIN
from tests.apihelp import auth, setup
from tests.serving_support import MSG, run_threads

V = {"verified_by": "session:password+totp"}
THREADS = 4


def _same(results: list[erasure.Erasure]) -> None:
    first = results[0]
    for r in results:
        assert r.request.id == first.request.id
        assert r.request.status == "completed"
        assert (r.records, r.kept, r.notice_id) == (first.records, first.kept, first.notice_id)


def test_threads_erasing_one_subject_all_get_the_result(vault: Vault) -> None:
    for n in range(3):
        person = f"person-{n}"
        for _ in range(3):
            record.collect(vault, person, "conversation_message", MSG, "service", actor=ADMIN)
        results: list[erasure.Erasure] = []

        def run(_i: int, person: str = person, n: int = n) -> None:
            results.append(erasure.erase(vault, person, verified_by="t", request_id=f"r-{n}", actor=ADMIN))

        errors = run_threads(THREADS, run)
        assert errors == [], [f"{type(e).__name__}: {e}" for e in errors]
        assert len(results) == THREADS
        _same(results)
        assert results[0].records == 3
        # a retry afterwards gets the same answer
        again = erasure.erase(vault, person, verified_by="t", request_id=f"r-{n}", actor=ADMIN)
        _same([*results, again])
    notices = feed.erasure_feed(vault, actor=ADMIN)
    assert len(notices) == 3  # one notice per request, however many runs


def test_two_api_requests_for_one_erasure(tmp_path: Path, database_url: str) -> None:
    cfg, keys = setup(tmp_path, database_url)
    with TestClient(create_app(cfg)) as c:
        for i in range(2):
            r = c.post("/v1/records", headers=auth(keys["service"]), json={
                "subject": "user-1", "kind": "account", "purpose": "service",
                "data": {"email": f"jane{i}@example.com"}})
            assert r.status_code == 201
        answers: list[Any] = []

        def call(_i: int) -> None:
            answers.append(c.post("/v1/subjects/user-1/erasure", headers=auth(keys["dpo"]),
                                  json={**V, "request_id": "erase-1"}))

        assert run_threads(2, call) == []
        assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
        bodies = [a.json() for a in answers]
        assert bodies[0] == bodies[1]
