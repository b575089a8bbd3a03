"""Restores forget no erasure: the erasure journal, backup and restore.

- collect for A and B; back up; erase A; restore the backup: A stays erased (no findable
  subject, no consents, no PII summaries, no record metadata, no key; the request present and
  completed; the feed notice present with its id); B intact. On SQLite with `confida restore`,
  on PostgreSQL with the real pg_dump / pg_restore followed by `confida restore --replay-only`;
- the journal file on another volume survives the restore and is the source of truth for the
  erasures made after the backup (the backup's older copy must not replace it);
- an old key-store backup (the key still in it) put back: the replay destroys the key again;
- each journal is written back when lost; a torn last line is skipped and fenced off;
- `backup --out` never replaces a non-empty directory without --force; a tampered backup and a
  restore under a running server are refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from confida import erasure_journal, erasure_replay, record, rights
from confida.backup import data_dir_lock, sqlite_restore
from confida.config import Config
from confida.operation import system_actor
from confida.store.keyschema import erasure_journal as key_journal
from confida.store.schema import erasure_journal as store_journal
from confida.store.schema import erasure_notice
from tests.actors import ADMIN
from tests.conftest import cli
from tests.journal_support import (
    assert_erased,
    assert_intact,
    erase,
    open_vault,
    pg_dump,
    pg_restore,
    populate,
)


def _journal_elsewhere(data_dir: Path, tmp_path: Path) -> Path:
    """Put the journal file on "another volume" (a directory outside the data dir)."""
    other = tmp_path / "other-volume"
    other.mkdir(mode=0o700)
    path = other / "erasures.jsonl"
    cfg = data_dir / "confida.toml"
    cfg.write_text(cfg.read_text() + f'erasure_journal_path = "{path}"\n')
    return path


def _json(r) -> dict:
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_restore_keeps_erased_subject_erased(
    data_dir: Path, tmp_path: Path, backend: str, database_url: str
) -> None:
    journal = _journal_elsewhere(data_dir, tmp_path)
    with open_vault(data_dir) as v:
        a = populate(v, "alice")
        populate(v, "bob")
    dump = tmp_path / "store.dump"
    if backend == "postgresql":
        pg_dump(database_url, dump)
    out = _json(cli(data_dir, "--json", "backup", "--out", str(tmp_path / "bk")))
    assert out["record_store"] == backend and out["key_store"] == "sqlite"
    with open_vault(data_dir) as v:
        res = erase(v, "alice", "del-A")
        assert_erased(v, a, "alice", res.request.id, res.notice_id)
    lines, _ = erasure_journal.parse(journal.read_bytes())
    assert {o["event"] for o in lines} == {"erasure", "erased"}
    assert journal.stat().st_mode & 0o777 == 0o600
    assert "alice" not in journal.read_text()  # the internal id only, never the host's id

    if backend == "postgresql":
        pg_restore(database_url, dump)
        with open_vault(data_dir) as v:  # the dump brought alice back, as a restore does
            assert record.list_records(v, "alice", actor=ADMIN)
        # the key store (SQLite) from the same backup, then the required replay
        r = _json(cli(data_dir, "--json", "restore", str(tmp_path / "bk"), "--force"))
        assert r["restored"] == ["key_store"] and "pg_restore" in r["not_restored"][0]
    else:
        r = _json(cli(data_dir, "--json", "restore", str(tmp_path / "bk"), "--force"))
        assert r["restored"] == ["record_store", "key_store"]
    rep = r["replay"]
    assert rep["journaled"] == 1 and rep["erasures_completed"] == 1
    assert rep["keys_destroyed"] == 1 and rep["requests_restored"] == 1
    assert "alice" not in json.dumps(r) and a.id not in json.dumps(r)
    # the live journal on the other volume was kept, not replaced by the backup's older copy
    assert journal.read_bytes().count(b'"erasure"') == 1
    with open_vault(data_dir) as v:
        assert_erased(v, a, "alice", res.request.id, res.notice_id)
        assert_intact(v, "bob")
        feed = {n.id: n.references for n in rights.erasure_feed(v, actor=ADMIN)}
        assert feed[res.notice_id] == [{"system": "dataset:train-1", "reference": "ds-ecila"}]
        # a retry of the host's request finds the completed request
        again = erase(v, "alice", "del-A")
        assert again.request.id == res.request.id and again.request.status == "completed"
        # every journal names the erasure again
        with v.engine.connect() as conn:
            assert conn.execute(select(store_journal.c.completed_at)
                                .where(store_journal.c.subject_id == a.id)).scalar()
        with v.key_engine.connect() as conn:
            assert conn.execute(select(key_journal.c.request_id)
                                .where(key_journal.c.subject_id == a.id)).scalar()
        # and a second replay (the next `serve`) has nothing left to do
        again_rep = erasure_replay.replay(v, actor=system_actor("restore-replay"))
        assert again_rep.repaired == 0 and not any(again_rep.written.values())


def test_old_key_store_backup_has_its_key_destroyed_again(
    data_dir: Path, tmp_path: Path
) -> None:
    with open_vault(data_dir) as v:
        a = populate(v, "alice")
        populate(v, "bob")
        _json(cli(data_dir, "--json", "backup", "--out", str(tmp_path / "bk")))
        res = erase(v, "alice", "del-A")
        assert not v.keys.has_key(a.id)
    # an operator puts back only the key store of the old backup: alice's key is in it
    cfg = Config.load(data_dir)
    sqlite_restore(tmp_path / "bk" / "keystore.db",
                   Path(cfg.keystore_url.removeprefix("sqlite:///")))
    with open_vault(data_dir) as v:
        assert v.keys.has_key(a.id)
    r = _json(cli(data_dir, "--json", "restore", "--replay-only"))
    assert r["replay"]["keys_destroyed"] == 1 and r["replay"]["erasures_completed"] == 0
    with open_vault(data_dir) as v:
        assert_erased(v, a, "alice", res.request.id, res.notice_id)
        assert_intact(v, "bob")


def test_serve_replays_before_serving(data_dir: Path, tmp_path: Path, backend: str) -> None:
    """`confida serve` runs the replay first (the server itself is not started here)."""
    if backend != "sqlite":
        pytest.skip("the restore part uses the SQLite backup API")
    with open_vault(data_dir) as v:
        a = populate(v, "alice")
        _json(cli(data_dir, "--json", "backup", "--out", str(tmp_path / "bk")))
        res = erase(v, "alice", "del-A")
    cfg = Config.load(data_dir)
    for name, url in (("confida.db", cfg.database_url), ("keystore.db", cfg.keystore_url)):
        sqlite_restore(tmp_path / "bk" / name, Path(url.removeprefix("sqlite:///")))
    import confida.server.run as run

    called = []
    orig = run.run_server
    run.run_server = lambda *a, **k: called.append(1)  # type: ignore[assignment]
    try:
        r = cli(data_dir, "serve", "--insecure-http")
    finally:
        run.run_server = orig
    assert r.exit_code == 0, r.output
    assert called  # and the server started after the replay
    with open_vault(data_dir) as v:
        assert_erased(v, a, "alice", res.request.id, res.notice_id)


def test_each_journal_is_written_back_and_torn_lines_are_skipped(data_dir: Path) -> None:
    cfg = Config.load(data_dir)
    with open_vault(data_dir) as v:
        a = populate(v, "alice")
        b = populate(v, "bob")
        erase(v, "alice", "del-A")
        # lose the file and the key store's copy, and the record store's row
        cfg.erasure_journal.unlink()
        with v.key_engine.begin() as conn:
            conn.execute(delete(key_journal))
        rep = erasure_replay.replay(v, actor=system_actor("restore-replay"))
        assert rep.written == {"record_store": 0, "key_store": 1, "file": 2}
        with v.engine.begin() as conn:
            conn.execute(delete(store_journal))
        rep = erasure_replay.replay(v, actor=system_actor("restore-replay"))
        assert rep.written == {"record_store": 1, "key_store": 0, "file": 0}
        # a crash tore the last line: it is skipped, and the next erasure starts a fresh line
        with cfg.erasure_journal.open("ab") as f:
            f.write(b'{"v":1,"event":"erasure","subject":"' + b.id.encode()[:10])
        rep = erasure_replay.replay(v, actor=system_actor("restore-replay"))
        assert rep.damaged_lines == 1 and rep.repaired == 0
        erase(v, "bob", "del-B")
        lines, damaged = erasure_journal.JournalFile.of(cfg).read()
        assert damaged == 1
        assert {o["subject"] for o in lines} == {a.id, b.id}
        assert erasure_replay.replay(v, actor=system_actor("restore-replay")).journaled == 2


def test_journal_on_missing_volume_stops_erasure_before_the_key_goes(
    data_dir: Path, tmp_path: Path
) -> None:
    path = _journal_elsewhere(data_dir, tmp_path)
    path.parent.rmdir()  # the volume is not mounted
    with open_vault(data_dir) as v:
        a = populate(v, "alice")
        with pytest.raises(Exception, match="is its volume mounted"):
            erase(v, "alice", "del-A")
        assert v.keys.has_key(a.id)  # journaled first, then destroyed: nothing destroyed yet
    path.parent.mkdir(mode=0o700)
    r = _json(cli(data_dir, "--json", "restore", "--replay-only"))
    assert r["replay"]["erasures_completed"] == 1
    lines, _ = erasure_journal.parse(path.read_bytes())
    assert [o["event"] for o in lines] == ["erasure", "erased"]
    with open_vault(data_dir) as v:
        with v.engine.connect() as conn:
            req = conn.execute(select(erasure_notice.c.request_id)).scalar_one()
        assert_erased(v, a, "alice", req)


def test_backup_contents_and_refusals(data_dir: Path, tmp_path: Path, backend: str) -> None:
    with open_vault(data_dir) as v:
        populate(v, "alice")
        erase(v, "alice", "del-A")
    bk = tmp_path / "bk"
    _json(cli(data_dir, "--json", "backup", "--out", str(bk)))
    manifest = json.loads((bk / "manifest.json").read_text())
    names = set(manifest["files"])
    assert {"keystore.db", "erasures.jsonl", "audit.vkey", "confida.toml",
            "register.yaml"} <= names
    assert ("confida.db" in names) == (backend == "sqlite")
    assert ("RECORD-STORE-POSTGRESQL.txt" in names) == (backend == "postgresql")
    assert manifest["journal_entries"] == 1
    assert not any("kek" in n or n.endswith(".pem") for n in names)  # no KEK, no signing key
    assert all((bk / n).stat().st_mode & 0o777 == 0o600 for n in names)
    # --out never replaces a non-empty directory without --force
    r = cli(data_dir, "backup", "--out", str(bk))
    assert r.exit_code == 2 and "--force" in r.output
    assert cli(data_dir, "backup", "--out", str(tmp_path / "missing" / "bk")).exit_code == 2
    assert cli(data_dir, "backup", "--out", str(bk), "--force").exit_code == 0
    assert not list(tmp_path.glob(".bk.*"))  # no temporary or old directories left behind
    # restore over existing stores needs --force
    r = cli(data_dir, "restore", str(bk))
    assert r.exit_code == 2 and "--force" in r.output
    # a restore under a running server is refused
    with data_dir_lock(Config.load(data_dir), exclusive=False):
        r = cli(data_dir, "restore", str(bk), "--force")
        assert r.exit_code == 1 and "server is running" in r.output
    # a tampered backup is refused
    with (bk / "erasures.jsonl").open("ab") as f:
        f.write(b"\n")
    r = cli(data_dir, "restore", str(bk), "--force")
    assert r.exit_code == 1 and "hash" in r.output
    assert cli(data_dir, "restore", str(tmp_path)).exit_code == 2  # not a backup
    assert cli(data_dir, "restore").exit_code == 2


def test_privacy_notice_states_the_backup_guarantee(data_dir: Path) -> None:
    from types import SimpleNamespace

    from confida.register import load_register
    from confida.transparency.notice import backup_days, render_notice

    assert backup_days(Config.load(data_dir)) == 30  # the default KEK retirement window
    assert backup_days(SimpleNamespace(kek_retire_after="45d")) == 45
    assert backup_days(SimpleNamespace(kek_retire_after=14)) == 14
    reg = load_register(data_dir / "register.yaml")
    en = render_notice(reg, "md", "en", 45)
    assert "unreadable in every backup after 45 days at most" in en.text
    de = render_notice(reg, "html", "de", 45)
    assert "nach höchstens 45 Tagen" in de.text and de.version == en.version
    assert render_notice(reg, "md", "en").version != en.version  # the promise is versioned
    r = cli(data_dir, "register", "notice")
    assert r.exit_code == 0 and "every backup after 30 days" in r.output


def test_the_register_history_is_in_the_backup_and_comes_back(data_dir: Path,
                                                              tmp_path: Path) -> None:
    """Each applied register change (its text and notice version) is part of what consents
    refer to: a restored data dir must still know it, and a restore never drops a newer one."""
    import yaml

    from confida import register_change

    with open_vault(data_dir) as v:
        doc = yaml.safe_load(v.config.register_path.read_text())
        doc["purposes"]["model_training"]["retention"] = "3 years"
        first = register_change.apply_register(v, yaml.safe_dump(doc), actor=ADMIN)
        assert first.seq is not None
        history = register_change.history(v.config)
    bk = tmp_path / "bk"
    _json(cli(data_dir, "--json", "backup", "--out", str(bk)))
    assert "register-history.json" in json.loads((bk / "manifest.json").read_text())["files"]
    for f in (data_dir / "register-history").iterdir():
        f.unlink()
    r = cli(data_dir, "--json", "restore", str(bk), "--force")
    assert r.exit_code == 0, r.output
    with open_vault(data_dir) as v:
        assert register_change.history(v.config) == history
