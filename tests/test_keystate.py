"""Key state is one truth for every process.

- Two real ``confida serve`` processes on one store: A reads a record (its key now cached), B
  erases the person, the record store is put back as it was before the erasure, and A refuses
  the read. Before the fix A answered 200 with the erased text.
- A KEK version that ``keys retire`` destroyed is unusable in a server that had it cached, even
  when a key store from before the rotation is put back.
- ``keys retire`` refuses a version that still wraps a data key, never touches the active or a
  recently retired version, audits what it did, and ``keys status`` says when each version
  becomes destroyable.
- A key's destruction leaves no copy in the key store's files, with no checkpoint by the test;
  when a reader holds the write-ahead log, ``destroy`` says so instead of returning quietly.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from confida import record
from confida.clock import utcnow
from confida.config import Config
from confida.errors import StoreUnavailable
from confida.store import engine as store_engine
from confida.store.engine import make_engine
from confida.store.keyschema import data_key, kek_version
from confida.store.schema import audit_tables
from confida.store.schema import record as record_t
from confida.store.schema import subject as subject_t
from confida.vault import Vault
from tests.actors import ADMIN
from tests.apihelp import auth, setup
from tests.conftest import cli, database, make_config
from tests.keys_support import found_in_file
from tests.test_pkcs11 import MODULE as HSM_MODULE
from tests.test_pkcs11 import softhsm, token  # noqa: F401 (fixtures)

SECRET = "MARMOT-TELESCOPE-4471"
MSG = {"conversation_id": "c1", "text": f"my code word is {SECRET}"}
V = "session:password+totp"


# --- two servers -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``confida serve --insecure-http`` in its own process, on a free port."""

    def __init__(self, cfg: Config, log: Path) -> None:
        self.port = _free_port()
        self.log_path = log
        self._log = log.open("wb")
        env = {**os.environ, "CONFIDA_DATA_DIR": str(cfg.data_dir),
               "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from confida.cli import main; main()", "serve",
             "--insecure-http", "--port", str(self.port)],
            env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(self.log_path.read_text()) from None
                time.sleep(0.2)
        raise RuntimeError("server did not start: " + self.log_path.read_text()[-2000:])

    def call(self, method: str, path: str, key: str, purpose: str | None = None,
             body: Any = None) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = auth(key, purpose)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._log.close()


@pytest.fixture(scope="module")
def two_servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Config, dict, Server, Server]]:
    """One store, two server processes (started once for this module: they take seconds)."""
    tmp = tmp_path_factory.mktemp("keystate")
    with database(tmp) as url:
        cfg, keys = setup(tmp, url)
        a = Server(cfg, tmp / "a.log")
        b = Server(cfg, tmp / "b.log")
        try:
            a.wait_ready()
            b.wait_ready()
            yield cfg, keys, a, b
        finally:
            a.stop()
            b.stop()


def _snapshot(cfg: Config, record_id: str) -> tuple[dict, dict]:
    """The subject and record rows as a backup of the record store holds them."""
    eng = make_engine(cfg.database_url)
    try:
        with eng.connect() as conn:
            rec = conn.execute(select(record_t).where(record_t.c.id == record_id)).one()
            subj = conn.execute(select(subject_t).where(subject_t.c.id == rec.subject_id)).one()
        return dict(subj._mapping), dict(rec._mapping)
    finally:
        eng.dispose()


def _put_back(cfg: Config, subj: dict, rec: dict) -> None:
    """Restore the record store's rows of the subject from before the erasure (what putting a
    database backup back does), leaving the key store as it is."""
    eng = make_engine(cfg.database_url)
    try:
        with eng.begin() as conn:
            conn.execute(update(subject_t).where(subject_t.c.id == subj["id"])
                         .values({k: v for k, v in subj.items() if k != "id"}))
            gone = conn.execute(select(record_t.c.id).where(record_t.c.id == rec["id"])).first()
            if gone is None:
                conn.execute(insert(record_t).values(rec))
    finally:
        eng.dispose()


def test_erasure_by_one_server_reaches_another_that_cached_the_key(two_servers) -> None:
    cfg, keys, a, b = two_servers
    svc = keys["service"]
    status, body = a.call("POST", "/v1/records", svc, body={
        "subject": "jane", "kind": "conversation_message", "data": MSG, "purpose": "service"})
    assert status == 201, body
    rid = json.loads(body)["record_id"]
    status, body = a.call("GET", f"/v1/records/{rid}", svc, "service")
    assert status == 200 and SECRET in body  # A now holds jane's key
    subj, rec = _snapshot(cfg, rid)

    status, body = b.call("POST", "/v1/subjects/jane/erasure", svc, body={"verified_by": V})
    assert status == 200, body
    assert json.loads(body)["request"]["status"] == "completed"

    _put_back(cfg, subj, rec)  # the pre-erasure record store is back; the key store is live
    for server in (a, b):
        status, body = server.call("GET", f"/v1/records/{rid}", svc, "service")
        assert status == 404, (status, body)
        assert SECRET not in body
    status, body = a.call("GET", "/v1/subjects/jane/records?kind=conversation_message",
                          svc, "service")
    assert SECRET not in body


# --- destroyed KEK versions ------------------------------------------------------------------


def _backdate_retirement(cfg: Config, version: str, days: int) -> None:
    eng = make_engine(cfg.keystore_url)
    try:
        with eng.begin() as conn:
            conn.execute(update(kek_version).where(kek_version.c.version == version)
                         .values(retired_at=utcnow() - timedelta(days=days)))
    finally:
        eng.dispose()


def _key_row(cfg: Config, key_id: str) -> Any:
    eng = make_engine(cfg.keystore_url)
    try:
        with eng.connect() as conn:
            return conn.execute(select(data_key).where(data_key.c.key_id == key_id)).one()
    finally:
        eng.dispose()


def _set_key_row(cfg: Config, key_id: str, version: str, wrapped: bytes,
                 version_state: str | None = None) -> None:
    eng = make_engine(cfg.keystore_url)
    try:
        with eng.begin() as conn:
            conn.execute(update(data_key).where(data_key.c.key_id == key_id)
                         .values(kek_version=version, wrapped=wrapped))
            if version_state:
                conn.execute(update(kek_version).where(kek_version.c.version == version)
                             .values(state=version_state))
    finally:
        eng.dispose()


def test_destroyed_kek_version_is_unusable_in_a_server_that_cached_it(two_servers) -> None:
    cfg, keys, a, _b = two_servers
    svc = keys["service"]
    status, body = a.call("POST", "/v1/records", svc, body={
        "subject": "kim", "kind": "conversation_message", "data": MSG, "purpose": "service"})
    rid = json.loads(body)["record_id"]
    status, body = a.call("GET", f"/v1/records/{rid}", svc, "service")
    assert status == 200 and SECRET in body  # A has the v1 KEK and jane's key cached
    subj, _rec = _snapshot(cfg, rid)
    old = _key_row(cfg, subj["id"])
    assert old.kek_version == "v1"

    # another process rotates, and retires v1 once its window has passed
    r = cli(cfg.data_dir, "--json", "keys", "rotate")
    assert r.exit_code == 0, r.output
    _backdate_retirement(cfg, "v1", days=31)
    r = cli(cfg.data_dir, "--json", "keys", "retire", "--older-than", "30d")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["destroyed"] == ["v1"]
    assert not (cfg.kek_dir / "v1.key").exists()

    live = _key_row(cfg, subj["id"])
    assert live.kek_version == "v2"

    # a key store from before the rotation is put back, calling v1 active: A's cached key came
    # from exactly this row, but the KEK that wrapped it is gone
    _set_key_row(cfg, subj["id"], "v1", old.wrapped, version_state="active")
    status, body = a.call("GET", f"/v1/records/{rid}", svc, "service")
    assert status == 503 and SECRET not in body, (status, body)
    # the same with the live store's word for v1 (destroyed)
    _set_key_row(cfg, subj["id"], "v1", old.wrapped, version_state="destroyed")
    status, body = a.call("GET", f"/v1/records/{rid}", svc, "service")
    assert status == 503 and SECRET not in body, (status, body)
    # the live key store (v2) opens it, in A and in B
    _set_key_row(cfg, subj["id"], "v2", live.wrapped)
    for server in two_servers[2:]:
        status, body = server.call("GET", f"/v1/records/{rid}", svc, "service")
        assert status == 200 and SECRET in body


# --- keys retire: what it refuses ------------------------------------------------------------


def _entries(cfg: Config) -> list[dict]:
    with Vault.open(cfg) as v, v.engine.connect() as conn:
        rows = conn.execute(
            select(audit_tables.entry.c.entry).order_by(audit_tables.entry.c.idx)
        ).scalars()
        return [json.loads(r) for r in rows]


def _states(data_dir: Path) -> dict[str, str]:
    r = cli(data_dir, "--json", "keys", "status")
    assert r.exit_code == 0, r.output
    return {v["version"]: v["state"] for v in json.loads(r.stdout)}


def test_keys_retire_refuses_unsafe_cases_and_destroys_due_versions(data_dir: Path) -> None:
    cfg = Config.load(data_dir)
    with Vault.open(cfg) as v:
        rid = record.collect(v, "jane", "conversation_message", MSG, "service", actor=ADMIN).record_id
    # nothing retired yet: the active version is never a candidate
    r = cli(data_dir, "--json", "keys", "retire", "--older-than", "1h")
    assert r.exit_code == 0 and json.loads(r.stdout)["destroyed"] == []
    assert (cfg.kek_dir / "v1.key").exists()

    assert cli(data_dir, "keys", "rotate").exit_code == 0
    # retired just now: kept until the window has passed (default from confida.toml: 30 days)
    r = cli(data_dir, "--json", "keys", "retire")
    assert r.exit_code == 0 and json.loads(r.stdout)["destroyed"] == [], r.output
    r = cli(data_dir, "--json", "keys", "status")
    v1 = next(x for x in json.loads(r.stdout) if x["version"] == "v1")
    assert v1["state"] == "retired" and v1["destroyable_at"] is not None
    r = cli(data_dir, "keys", "status")
    assert "destroyable from" in r.output

    # a retired version that still wraps a data key (a key store put back) is refused
    _backdate_retirement(cfg, "v1", days=40)
    with Vault.open(cfg) as v:
        key_id = next(k for k in _key_ids(cfg) if not k.startswith("system:"))
        key = v.keys.get_key(key_id)
        from confida.crypto import aead  # noqa: PLC0415

        wrapped = v.keys.kek.wrap("v1", key, aead.associated_data("dek", key_id, "v1"))
    _set_key_row(cfg, key_id, "v1", wrapped)
    r = cli(data_dir, "keys", "retire", "--older-than", "30d")
    assert r.exit_code == 1 and "keys rotate" in r.output, r.output
    assert (cfg.kek_dir / "v1.key").exists() and _states(data_dir)["v1"] == "retired"
    retire = [e for e in _entries(cfg) if e["action"] == "keys.retire"]
    assert retire[-1]["outcome"] == "denied"

    # finishing the rotation makes it safe; then it is destroyed, and audited
    assert cli(data_dir, "keys", "rotate").exit_code == 0  # v3 re-wraps everything
    _backdate_retirement(cfg, "v1", days=40)
    r = cli(data_dir, "--json", "keys", "retire", "--older-than", "30d")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["destroyed"] == ["v1"]  # v2 retired just now: kept
    assert not (cfg.kek_dir / "v1.key").exists() and (cfg.kek_dir / "v2.key").exists()
    assert _states(data_dir) == {"v1": "destroyed", "v2": "retired", "v3": "active"}
    last = [e for e in _entries(cfg) if e["action"] == "keys.retire"][-1]
    assert last["outcome"] == "allowed"
    assert last["details"]["destroyed"] == ["v1"]
    # a later rotation does not bring a destroyed version back to "retired"
    assert cli(data_dir, "keys", "rotate").exit_code == 0
    assert _states(data_dir)["v1"] == "destroyed"
    with Vault.open(cfg) as v:  # and the data is still readable under the live versions
        assert record.read(v, rid, "service", actor=ADMIN).data == MSG

    r = cli(data_dir, "keys", "retire", "--older-than", "soon")
    assert r.exit_code == 2 and "--older-than" in r.output


def _key_ids(cfg: Config) -> list[str]:
    eng = make_engine(cfg.keystore_url)
    try:
        with eng.connect() as conn:
            return list(conn.execute(select(data_key.c.key_id)).scalars())
    finally:
        eng.dispose()


# --- no copy of a destroyed key on disk ------------------------------------------------------

def _copies_on_disk(path: Path, needles: list[bytes]) -> int:
    return len(found_in_file(path, needles))


def test_destroyed_key_leaves_no_copy_in_the_key_store_files(vault: Vault) -> None:
    record.collect(vault, "jane", "conversation_message", MSG, "service", actor=ADMIN)
    record.collect(vault, "bob", "conversation_message", MSG, "service", actor=ADMIN)
    ids = [k for k in _key_ids(vault.config) if not k.startswith("system:")]
    if vault.key_engine.dialect.name != "sqlite":
        pytest.skip("the key store is not a SQLite file here")
    rows = {k: _key_row(vault.config, k) for k in ids}
    needles = [rows[k].wrapped[12:44] for k in ids]
    db = Path(vault.key_engine.url.database or "")
    wal = db.with_name(db.name + "-wal")
    assert _copies_on_disk(db, needles) + _copies_on_disk(wal, needles) >= 2  # the scan works
    for k in ids:
        assert vault.keys.destroy(k)
    # no checkpoint here: the vault is still open, so nothing but destroy() cleaned the log
    assert _copies_on_disk(db, needles) == 0
    assert _copies_on_disk(wal, needles) == 0


def test_destroy_reports_a_log_it_could_not_truncate(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    if vault.key_engine.dialect.name != "sqlite":
        pytest.skip("the key store is not a SQLite file here")
    record.collect(vault, "jane", "conversation_message", MSG, "service", actor=ADMIN)
    sid = next(k for k in _key_ids(vault.config) if not k.startswith("system:"))
    monkeypatch.setattr(store_engine, "CHECKPOINT_WAIT_MS", 50)
    db = vault.key_engine.url.database
    reader = sqlite3.connect(db, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM data_key").fetchone()  # holds a snapshot
        with pytest.raises(StoreUnavailable, match="write-ahead log"):
            vault.keys.destroy(sid)
        assert not vault.keys.has_key(sid)  # the deletion itself is committed
    finally:
        reader.execute("COMMIT")
        reader.close()
    assert vault.keys.destroy(sid) is False  # run again: nothing to delete, the log is folded
    wal = Path(db + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_breach_draft_says_what_rotation_and_retirement_do(vault: Vault) -> None:
    from confida import breach

    record.collect(vault, "jane", "conversation_message", MSG, "service", actor=ADMIN)
    vault.keys.rotate()
    kek_only = breach.register_breach(vault, title="kek", description="KEK file leaked",
                                      kek_versions=["v1"], actor=ADMIN)
    text = breach.draft_notification(vault, kek_only)
    assert "opens nothing" not in text
    assert "confida keys retire" in text and "30 days" in text
    assert "made before the rotation still can" in text
    both = breach.register_breach(vault, title="both", description="KEK and key store leaked",
                                  kek_versions=["v1"], key_store_exposed=True, actor=ADMIN)
    assert "rotation does not change the data keys" in breach.draft_notification(vault, both)


@pytest.mark.skipif(not (Path(HSM_MODULE).exists() and shutil.which("softhsm2-util")),
                    reason="SoftHSM2 not installed (.ci/run installs it)")
def test_retire_destroys_the_hsm_object(
    token: Any, tmp_path: Path, database_url: str  # noqa: F811 (the fixture)
) -> None:
    from confida.errors import KeyUnavailable

    cfg = make_config(tmp_path / "data", database_url, kek_provider="pkcs11", pkcs11=token)
    with Vault.open(cfg) as a, Vault.open(cfg) as b:
        rid = record.collect(a, "u", "conversation_message", MSG, "service", actor=ADMIN).record_id
        assert record.read(a, rid, "service", actor=ADMIN).data == MSG  # A holds the key unwrapped under v1
        sid = next(k for k in _key_ids(cfg) if not k.startswith("system:"))
        old = _key_row(cfg, sid)
        b.keys.rotate()
        assert b.keys.retire(lambda _since: True)["destroyed"] == ["v1"]
        assert not b.keys.kek.has_version("v1") and b.keys.kek.has_version("v2")
        assert record.read(a, rid, "service", actor=ADMIN).data == MSG  # under v2
        _set_key_row(cfg, sid, "v1", old.wrapped, version_state="active")
        with pytest.raises(KeyUnavailable):
            record.read(a, rid, "service", actor=ADMIN)
