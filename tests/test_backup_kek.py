"""A backup's key store opens nothing once its KEK version is past ``kek_retire_after``.

``confida backup`` rotates the KEK after its snapshot, and ``confida serve`` destroys retired
versions past the window (hourly, beside retention): together they make the privacy notice's
"unreadable in every backup after N days" hold without an operator's cron job.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from confida.clock import utcnow
from confida.crypto.kek import FileKek
from confida.crypto.keystore import KeyStore
from confida.errors import KeyUnavailable, NotFound
from confida.rights import erasure
from confida.server.retention_task import RetentionTask
from confida.store.schema import subject as subject_t
from confida.vault import Vault
from tests.actors import ADMIN
from tests.conftest import cli

MSG = {"conversation_id": "c1", "text": "hello"}


def _subject_id(vault: Vault) -> str:
    with vault.engine.connect() as conn:
        return conn.execute(select(subject_t.c.id)).scalar_one()


def _backup_keystore(backup_dir: Path, kek_dir: Path) -> KeyStore:
    engine = create_engine(f"sqlite:///{backup_dir / 'keystore.db'}")
    return KeyStore(engine, FileKek(kek_dir))


def test_backup_rotates_and_serve_destroys_its_kek_after_the_window(
    data_dir: Path, tmp_path: Path
) -> None:
    from confida.config import Config

    r = cli(data_dir, "collect", "ana", "conversation_message", "--purpose", "service",
            "--data", '{"conversation_id": "c1", "text": "hello"}')
    assert r.exit_code == 0, r.output
    r = cli(data_dir, "--json", "backup", "--out", str(tmp_path / "bk"))
    assert r.exit_code == 0, r.output
    assert '"kek_rotated": "v2"' in r.output

    cfg = Config.load(data_dir)
    with Vault.open(cfg) as v:
        sid = _subject_id(v)
        erasure.erase(v, "ana", verified_by="test", actor=ADMIN)
    # inside the window the backup's key store still opens (disaster recovery works) ...
    old = _backup_keystore(tmp_path / "bk", cfg.kek_dir)
    assert len(old.get_key(sid)) == 32
    old.engine.dispose()

    # ... and once the server's background job runs past the window, it opens nothing
    later = utcnow() + timedelta(days=31)
    task = RetentionTask(cfg, open_vault=lambda c: Vault.open(c, clock=lambda: later))
    task.run_once()
    assert task.last_error is None
    assert not (cfg.kek_dir / "v1.key").exists()
    old = _backup_keystore(tmp_path / "bk", cfg.kek_dir)
    with pytest.raises((KeyUnavailable, NotFound)):
        old.get_key(sid)
    old.engine.dispose()
    # the live installation is unaffected
    r = cli(data_dir, "collect", "bo", "conversation_message", "--purpose", "service",
            "--data", '{"conversation_id": "c1", "text": "hi"}')
    assert r.exit_code == 0, r.output


def test_backup_no_rotate_leaves_the_kek_alone(data_dir: Path, tmp_path: Path) -> None:
    r = cli(data_dir, "--json", "backup", "--no-rotate", "--out", str(tmp_path / "bk"))
    assert r.exit_code == 0, r.output
    assert '"kek_rotated": null' in r.output
    r = cli(data_dir, "--json", "keys", "status")
    assert '"v2"' not in r.output
