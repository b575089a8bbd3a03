"""Concurrent first writes for one person: from many threads, from two processes, over HTTPS.

Every collect for a new subject must succeed however many transactions create that subject at
the same moment: one subject row per person, every record readable under the winner's key, no
data key left over from a losing transaction, and over the API never a 5xx.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from confida import record
from confida.analytics import budget
from confida.config import Config
from confida.crypto.keystore import SYSTEM_PREFIX
from confida.rights import objection as objections
from confida.store.keyschema import data_key
from confida.store.schema import objection as objection_t
from confida.store.schema import privacy_budget
from confida.store.schema import record as record_t
from confida.store.schema import subject as subject_t
from confida.vault import Vault
from tests.actors import ADMIN
from tests.apihelp import auth, setup
from tests.serving_support import MSG, env_for, run_threads, serve


def _assert_one_subject_each(vault: Vault, people: list[str], records: list[str]) -> None:
    """One row per person, every record readable, and no data key without its subject."""
    refs = [vault.subject_ref(p) for p in people]
    with vault.engine.connect() as conn:
        rows = conn.execute(select(subject_t.c.id, subject_t.c.ref)
                            .where(subject_t.c.ref.in_(refs))).all()
        n_records = conn.execute(select(func.count()).select_from(record_t)).scalar_one()
        all_subjects = set(conn.execute(select(subject_t.c.id)).scalars())
    assert sorted(r.ref for r in rows) == sorted(refs)
    assert n_records == len(records)
    for rid in records:
        assert record.read(vault, rid, "service", actor=ADMIN).data["text"] == MSG["text"]
    with vault.key_engine.connect() as conn:
        key_ids = set(conn.execute(select(data_key.c.key_id)).scalars())
    orphans = {k for k in key_ids if not k.startswith(SYSTEM_PREFIX)} - all_subjects
    assert not orphans, f"{len(orphans)} data keys of losing transactions were left behind"


def test_many_threads_create_the_same_new_subjects(vault: Vault) -> None:
    people = [f"new-person-{i}@example.com" for i in range(8)]
    ids: list[str] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        for p in people[i % len(people):] + people[: i % len(people)]:
            rid = record.collect(vault, p, "conversation_message", MSG, "service", actor=ADMIN).record_id
            with lock:
                ids.append(rid)

    errors = run_threads(12, work)
    assert not errors, [type(e).__name__ for e in errors][:5]
    assert len(ids) == 12 * len(people)
    _assert_one_subject_each(vault, people, ids)


def test_a_batch_and_single_collects_race_for_the_same_people(vault: Vault) -> None:
    """A batch creates several people in one statement while singles create them one by one."""
    from confida.record import CollectItem

    people = [f"batch-person-{i}" for i in range(6)]
    ids: list[str] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        if i % 2:
            out = record.collect_many(vault,
                [CollectItem(p, "conversation_message", MSG, "service") for p in people], actor=ADMIN)
            got = [c.record_id for c in out]
        else:
            got = [record.collect(vault, p, "conversation_message", MSG, "service", actor=ADMIN).record_id
                   for p in reversed(people)]
        with lock:
            ids.extend(got)

    errors = run_threads(8, work)
    assert not errors, [type(e).__name__ for e in errors][:5]
    _assert_one_subject_each(vault, people, ids)


def test_two_processes_create_the_same_new_subjects(config: Config) -> None:
    people = [f"proc-person-{i}" for i in range(6)]
    go = config.data_dir.parent / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.serving_support", "collect", str(config.data_dir),
             str(go), "4", *people],
            env=env_for(config.data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    deadline = time.monotonic() + 60
    while len(list(go.parent.glob("go.*.ready"))) < 2:
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.02)
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()[-2000:]
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    assert all(r["errors"] == [] for r in results), [r["errors"][:5] for r in results]
    ids = [rid for r in results for rid in r["ids"]]
    assert len(ids) == 2 * 4 * len(people)
    with Vault.open(config) as v:
        _assert_one_subject_each(v, people, ids)


def test_concurrent_objections_for_one_purpose_record_one(vault: Vault) -> None:
    """One objection row per subject and purpose (a unique index): several requests objecting
    at once (different request ids) all succeed and leave one row."""
    record.collect(vault, "objector", "conversation_message", MSG, "service", actor=ADMIN)
    errors = run_threads(8, lambda i: objections.object_to(
        vault, "objector", "analytics", verified_by="test", request_id=f"obj-{i}", actor=ADMIN))
    assert not errors, [f"{type(e).__name__}: {e}" for e in errors][:3]
    with vault.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(objection_t)).scalar_one() == 1


def test_concurrent_budget_settings_do_not_conflict(vault: Vault) -> None:
    """A privacy budget is one row per analyst and dataset; setting it from several sessions at
    once must not fail (the last setting wins)."""
    errors = run_threads(8, lambda i: budget.set_budget(vault, "analyst-1", "events", 1.0 + i,
                                                                    actor=ADMIN))
    assert not errors, [f"{type(e).__name__}: {e}" for e in errors][:3]
    with vault.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(privacy_budget)).scalar_one() == 1


def test_a_system_key_created_at_once_by_several_processes_is_one_key(config: Config) -> None:
    """Token-signing and hashing keys are made on first use; vaults that each miss it in their
    own cache and create it together (like server workers and CLI processes) agree on one."""
    vaults = [Vault.open(config) for _ in range(6)]
    got: dict[int, bytes] = {}
    try:
        errors = run_threads(6, lambda i: got.__setitem__(i, vaults[i].system_key("race-test")))
    finally:
        for v in vaults:
            v.close()
    assert not errors, [f"{type(e).__name__}: {e}" for e in errors][:3]
    assert len(set(got.values())) == 1


def test_https_collects_for_the_same_new_people_never_answer_5xx(tmp_path: Path) -> None:
    from tests.conftest import database

    with database(tmp_path) as url:
        cfg, keys = setup(tmp_path, url)
        from confida.tls import create_self_signed

        create_self_signed(cfg.tls_cert, cfg.tls_key)
        people = [f"https-person-{i}@example.com" for i in range(5)]
        statuses: list[int] = []
        ids: list[str] = []
        lock = threading.Lock()
        with serve(cfg.data_dir, cert=cfg.tls_cert) as srv:

            def work(i: int) -> None:
                conn = srv.connection()  # one keep-alive connection per client
                try:
                    for p in people[i % len(people):] + people[: i % len(people)]:
                        status, body = srv_call(conn, p)
                        with lock:
                            statuses.append(status)
                            if status == 201:
                                ids.append(body["record_id"])
                finally:
                    conn.close()

            def srv_call(conn: object, person: str) -> tuple[int, dict[str, str]]:
                from tests.serving_support import call

                return call(conn, "POST", "/v1/records",  # type: ignore[arg-type]
                            {"subject": person, "kind": "conversation_message",
                             "purpose": "service", "data": MSG},
                            auth(keys["service"]))

            errors = run_threads(12, work)
            log = srv.log_text()
        assert not errors, [type(e).__name__ for e in errors][:5]
        assert sorted(set(statuses)) == [201], {s: statuses.count(s) for s in set(statuses)}
        assert " 500" not in log and "IntegrityError" not in log, log[-3000:]
        with Vault.open(cfg) as v:
            _assert_one_subject_each(v, people, ids)
