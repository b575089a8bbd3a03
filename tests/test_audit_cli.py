"""``confida audit`` commands through Typer's CliRunner, on an initialised data dir."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from sqlalchemy import update
from typer.testing import CliRunner

from confida.audit.merkle import verify_inclusion
from confida.audit.sink import audit_log
from confida.cli.audit import app
from confida.config import Config
from confida.store.engine import make_engine
from confida.store.schema import audit_tables
from tests.audit_data import make_entry
from tests.conftest import make_config

ORIGIN = Config(data_dir=Path(".")).audit_origin

pytest_plugins = ["tests.audit_fixtures"]

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, database_url: str) -> Path:
    """An initialised data dir whose store (SQLite or PostgreSQL) holds 12 audit entries."""
    d = tmp_path / "data"
    cfg = make_config(d, database_url)
    engine = make_engine(cfg.database_url)
    with engine.begin() as conn:
        audit_log(cfg).append_many(conn, [make_entry(i) for i in range(12)])
    engine.dispose()
    return d


def run(data_dir: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--data-dir", str(data_dir), *args])
    return result.exit_code, result.output


def test_checkpoint_verify_proof_export_round_trip(data_dir: Path, tmp_path: Path) -> None:
    code, out = run(data_dir, "checkpoint", "--json")
    assert code == 0, out
    cp = json.loads(out)
    assert cp["tree_size"] == 12 and cp["origin"] == ORIGIN
    key = data_dir / "keys" / "audit-ed25519.pem"
    assert os.stat(key).st_mode & 0o777 == 0o600

    code, out = run(data_dir, "verify", "--json")
    assert code == 0, out
    assert json.loads(out)["ok"] is True

    code, out = run(data_dir, "proof", "5", "--json")
    assert code == 0, out
    p = json.loads(out)
    assert p["tree_size"] == 12 and p["checkpoint"] == cp["note"]
    b = base64.b64decode
    verify_inclusion(b(p["leaf_hash"]), 5, 12, [b(x) for x in p["proof"]], b(p["root"]))

    code, out = run(data_dir, "proof", "3", "--size", "7")
    assert code == 0 and "no signed checkpoint" in out

    export_dir = tmp_path / "export"
    code, out = run(data_dir, "export", "--out", str(export_dir), "--json")
    assert code == 0, out
    vkey = tmp_path / "audit.vkey"
    vkey.write_text((export_dir / "audit.vkey").read_text())
    code, out = run(data_dir, "verify", "--from-export", str(export_dir), "--public-key", str(vkey))
    assert code == 0 and out.startswith("OK"), out


def test_verify_fails_with_exit_1_and_names_the_entry(data_dir: Path) -> None:
    assert run(data_dir, "checkpoint")[0] == 0
    engine = make_engine(Config.load(data_dir).database_url)
    t = audit_tables
    with engine.begin() as conn:
        conn.execute(update(t.entry).where(t.entry.c.idx == 4).values(entry='{"forged":true}'))
    engine.dispose()
    code, out = run(data_dir, "verify")
    assert code == 1 and "first bad entry: 4" in out
    code, out = run(data_dir, "--json", "verify")
    assert code == 1 and json.loads(out)["first_bad_index"] == 4


def test_bad_input_exits_2(data_dir: Path, tmp_path: Path) -> None:
    assert run(data_dir, "proof", "99", "--json")[0] == 2
    assert run(data_dir, "verify", "--from-export", str(tmp_path / "nowhere"))[0] == 2
    junk = tmp_path / "junk.vkey"
    junk.write_text("not a key")
    assert run(data_dir, "checkpoint")[0] == 0
    assert run(data_dir, "verify", "--public-key", str(junk))[0] == 2
    out_dir = tmp_path / "full"
    out_dir.mkdir()
    (out_dir / "x").write_text("x")
    assert run(data_dir, "export", "--out", str(out_dir))[0] == 2


def test_wide_key_file_is_refused(data_dir: Path) -> None:
    assert run(data_dir, "checkpoint")[0] == 0
    os.chmod(data_dir / "keys" / "audit-ed25519.pem", 0o644)
    code, out = run(data_dir, "checkpoint")
    # refused before the key is read, like every opener of the vault (confida.permissions)
    assert code == 1 and "chmod 600" in out


def test_mounted_under_a_root_app_that_owns_ctx_obj(data_dir: Path) -> None:
    """Like the vault's root app: global --data-dir/--json kept in a State object on ctx.obj."""
    @dataclass
    class State:
        data_dir: str | None = None
        json: bool = False

    root = typer.Typer()

    @root.callback()
    def _root(
        ctx: typer.Context,
        data_dir: str = typer.Option(None, "--data-dir"),
        json_out: bool = typer.Option(False, "--json"),
    ) -> None:
        ctx.obj = State(data_dir, json_out)

    root.add_typer(app, name="audit")
    res = runner.invoke(root, ["--data-dir", str(data_dir), "--json", "audit", "checkpoint"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["tree_size"] == 12
