"""The command line end to end: exit codes, --json, round trips, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from confida.config import Config
from tests.conftest import cli


def test_init_creates_private_keys_and_certificate(data_dir: Path) -> None:
    cfg = Config.load(data_dir)
    assert (cfg.kek_dir / "v1.key").stat().st_mode & 0o777 == 0o600
    assert cfg.tls_key.stat().st_mode & 0o777 == 0o600
    assert cfg.keys_dir.stat().st_mode & 0o777 == 0o700
    assert cfg.tls_cert.exists() and cfg.register_path.exists()


def test_init_twice_overwrites_nothing(data_dir: Path) -> None:
    key = (data_dir / "keys" / "kek" / "v1.key").read_bytes()
    r = cli(data_dir, "--json", "init")
    assert r.exit_code == 0 and json.loads(r.stdout)["created"] is False
    assert (data_dir / "keys" / "kek" / "v1.key").read_bytes() == key


def test_collect_then_get_round_trips(data_dir: Path) -> None:
    msg = {"conversation_id": "c1", "text": "remember the code PELICAN-42"}
    r = cli(data_dir, "--json", "collect", "user-7", "conversation_message", "--purpose",
            "service", "--data", json.dumps(msg))
    assert r.exit_code == 0, r.output
    rid = json.loads(r.stdout)["record_id"]
    r = cli(data_dir, "--json", "records", "get", rid, "--purpose", "service")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["data"] == msg
    r = cli(data_dir, "--json", "records", "list", "user-7")
    assert [row["id"] for row in json.loads(r.stdout)] == [rid]


def test_collect_from_file_and_stdin(data_dir: Path, tmp_path: Path) -> None:
    f = tmp_path / "msg.json"
    f.write_text(json.dumps({"conversation_id": "c", "text": "hi"}))
    assert cli(data_dir, "collect", "u", "conversation_message", "-p", "service",
               "-d", f"@{f}").exit_code == 0
    r = cli(data_dir, "collect", "u", "conversation_message", "-p", "service", "-d", "@-",
            input=json.dumps({"conversation_id": "c", "text": "hi"}))
    assert r.exit_code == 0, r.output


def test_consent_flow_and_exit_codes(data_dir: Path) -> None:
    msg = json.dumps({"conversation_id": "c", "text": "hi"})
    r = cli(data_dir, "collect", "u", "conversation_message", "-p", "model_training", "-d", msg)
    assert r.exit_code == 1
    assert "model_training" in r.output and "consent" in r.output
    assert cli(data_dir, "consent", "grant", "u", "model_training").exit_code == 0
    r = cli(data_dir, "collect", "u", "conversation_message", "-p", "model_training", "-d", msg)
    assert r.exit_code == 0, r.output
    assert cli(data_dir, "consent", "withdraw", "u", "model_training").exit_code == 0
    r = cli(data_dir, "--json", "consent", "show", "u")
    shown = json.loads(r.stdout)
    assert shown["current"]["model_training"]["granted"] is False
    assert [e["action"] for e in shown["history"]] == ["grant", "withdraw"]


@pytest.mark.parametrize(
    "args",
    [
        ["collect", "u", "nokind", "-p", "service", "-d", "{}"],
        ["collect", "u", "conversation_message", "-p", "nopurpose", "-d", "{}"],
        ["collect", "u", "conversation_message", "-p", "service", "-d", "{not json"],
        ["collect", "u", "conversation_message", "-p", "service", "-d", "@/nonexistent"],
        ["collect", "u", "conversation_message", "-p", "service", "-d",
         json.dumps({"conversation_id": 1, "text": "x"})],
        ["records", "get", "nope", "-p", "service"],
        ["consent", "grant", "u", "service"],
        ["collect", "u"],
    ],
)
def test_bad_input_exits_2_with_one_line(data_dir: Path, args: list[str]) -> None:
    r = cli(data_dir, *args)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output


def test_invalid_utf8_file(data_dir: Path, tmp_path: Path) -> None:
    f = tmp_path / "bad.json"
    f.write_bytes(b'{"conversation_id": "c", "text": "\xff\xfe"}')
    r = cli(data_dir, "collect", "u", "conversation_message", "-p", "service", "-d", f"@{f}")
    assert r.exit_code == 2 and "UTF-8" in r.output


def test_json_errors_are_machine_readable(data_dir: Path) -> None:
    r = cli(data_dir, "--json", "collect", "u", "nokind", "-p", "service", "-d", "{}")
    assert r.exit_code == 2
    assert json.loads(r.stderr)["error"] == "unknown-kind"


def test_not_initialised(tmp_path: Path) -> None:
    r = cli(tmp_path / "empty", "records", "list", "u")
    assert r.exit_code == 2 and "confida init" in r.output


def test_wide_key_permissions_refused_store_unchanged(data_dir: Path) -> None:
    msg = json.dumps({"conversation_id": "c", "text": "hi"})
    assert cli(data_dir, "collect", "u", "conversation_message", "-p", "service",
               "-d", msg).exit_code == 0
    os.chmod(data_dir / "keys" / "kek" / "v1.key", 0o644)
    r = cli(data_dir, "collect", "u2", "conversation_message", "-p", "service", "-d", msg)
    assert r.exit_code == 1 and "chmod 600" in r.output
    os.chmod(data_dir / "keys" / "kek" / "v1.key", 0o600)
    r = cli(data_dir, "--json", "records", "list", "u2")
    assert json.loads(r.stdout) == []


def test_unreachable_database(tmp_path: Path) -> None:
    d = tmp_path / "data"
    assert cli(d, "init").exit_code == 0
    (d / "confida.toml").write_text(
        'database_url = "postgresql+psycopg://postgres@127.0.0.1:1/none"\n'
    )
    r = cli(d, "records", "list", "u")
    assert r.exit_code == 1
    assert "database unavailable" in r.output and "Traceback" not in r.output


def test_register_validate_and_show(data_dir: Path, tmp_path: Path) -> None:
    r = cli(data_dir, "--json", "register", "validate")
    assert r.exit_code == 0 and json.loads(r.stdout)["valid"] is True
    bad = tmp_path / "bad.yaml"
    bad.write_text((data_dir / "register.yaml").read_text().replace(
        "legal_basis: consent", "legal_basis: because"))
    r = cli(data_dir, "register", "validate", str(bad))
    assert r.exit_code == 2 and "purposes.model_training.legal_basis" in r.output
    assert cli(data_dir, "register", "show").exit_code == 0


def test_keys_rotate_cli(data_dir: Path) -> None:
    r = cli(data_dir, "--json", "keys", "rotate")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["version"] == "v2"
    r = cli(data_dir, "--json", "keys", "status")
    assert {v["version"]: v["state"] for v in json.loads(r.stdout)} == {
        "v1": "retired", "v2": "active"}
