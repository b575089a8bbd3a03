"""Where people meet Confida on the command line: global options anywhere, ids never cut, usage
errors as JSON, summaries that say what happened, ``confida link``."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import typer.main
from typer.core import TyperGroup
from typer.testing import CliRunner

from confida.cli import app
from confida.cli.serve import record_served_url, served_url
from confida.config import Config
from confida.retention import RetentionReport
from confida.rights.access import _META_COLUMNS, csv_header
from tests.conftest import cli

V = ["--verified-by", "session:mfa"]
MSG = {"conversation_id": "c1", "text": "hello there"}


def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), env=env)


def collect(data_dir: Path, who: str = "alice", data: dict | None = None) -> str:  # type: ignore[type-arg]
    r = cli(data_dir, "--json", "collect", who, "conversation_message", "-p", "service",
            "-d", json.dumps(data or MSG))
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["record_id"]


# --- --json and --data-dir before or after the command ---------------------------------------


def test_json_and_data_dir_after_the_command(data_dir: Path) -> None:
    rid = collect(data_dir)
    for args in (
        ["records", "list", "alice", "--json", "--data-dir", str(data_dir)],
        ["records", "list", "--json", "alice", "--data-dir", str(data_dir)],
        ["--json", "records", "list", "alice", "--data-dir", str(data_dir)],
        ["--data-dir", str(data_dir), "records", "list", "alice", "--json"],
        ["records", "--json", "--data-dir", str(data_dir), "list", "alice"],
    ):
        r = invoke(*args)
        assert r.exit_code == 0, (args, r.output)
        assert [row["id"] for row in json.loads(r.stdout)] == [rid], args


def test_data_dir_given_twice_the_later_wins(data_dir: Path, tmp_path: Path) -> None:
    rid = collect(data_dir)
    elsewhere = tmp_path / "not-a-data-dir"
    r = invoke("--data-dir", str(elsewhere), "records", "list", "alice", "--json",
               "--data-dir", str(data_dir))
    assert r.exit_code == 0, r.output
    assert [row["id"] for row in json.loads(r.stdout)] == [rid]
    r = invoke("--data-dir", str(data_dir), "records", "list", "alice", "--json",
               "--data-dir", str(elsewhere))
    assert r.exit_code == 2 and "not a Confida data directory" in r.stderr
    assert not elsewhere.exists()


def test_data_dir_after_the_command_beats_the_environment(data_dir: Path, tmp_path: Path) -> None:
    rid = collect(data_dir)
    r = invoke("records", "list", "alice", "--json", "--data-dir", str(data_dir),
               env={"CONFIDA_DATA_DIR": str(tmp_path / "other")})
    assert r.exit_code == 0, r.output
    assert [row["id"] for row in json.loads(r.stdout)] == [rid]


def test_audit_and_scan_take_the_global_options_after_the_command(data_dir: Path) -> None:
    r = invoke("audit", "verify", "--data-dir", str(data_dir), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["ok"] is True
    r = invoke("audit", "--data-dir", "/nonexistent", "verify", "--data-dir", str(data_dir))
    assert r.exit_code == 0, r.output  # the later --data-dir wins here too
    r = CliRunner().invoke(app, ["scan", "-", "--json"], input="Mail jane@example.org\n")
    assert r.exit_code == 0 and json.loads(r.stdout)["summary"] == {"EMAIL": 1}


def _commands(group: TyperGroup, path: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    for name, cmd in group.commands.items():
        yield (*path, name), cmd
        if isinstance(cmd, TyperGroup):
            yield from _commands(cmd, (*path, name))


def test_every_command_takes_and_documents_the_global_options() -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    found = list(_commands(root))
    assert len(found) > 40
    for path, cmd in found:
        opts = {o for p in cmd.params for o in p.opts}
        assert {"--json", "--data-dir"} <= opts, path
    for path in (("records", "list"), ("rights", "erase"), ("link",), ("demo",),
                 ("retention", "run"), ("audit", "verify"), ("scan",)):
        r = invoke(*path, "--help", env={"COLUMNS": "200"})
        assert r.exit_code == 0 and "--json" in r.stdout, path


# --- tables never cut ids --------------------------------------------------------------------


def test_narrow_terminal_shows_whole_ids(data_dir: Path) -> None:
    ids = {collect(data_dir), collect(data_dir, data={"conversation_id": "c2", "text": "hi"})}
    r = cli(data_dir, "rights", "access", "alice", "--out", str(data_dir.parent / "a.zip"), *V)
    assert r.exit_code == 0, r.output
    for cols in ("60", "200"):
        r = invoke("--data-dir", str(data_dir), "records", "list", "alice",
                   env={"COLUMNS": cols})
        assert r.exit_code == 0, r.output
        assert all(i in r.stdout for i in ids), (cols, r.stdout)
        assert "…" not in r.stdout and "conversation_message" in r.stdout
        assert max(len(line) for line in r.stdout.splitlines()) <= int(cols)
    req = json.loads(cli(data_dir, "--json", "requests", "list").stdout)[0]
    r = invoke("--data-dir", str(data_dir), "requests", "list", env={"COLUMNS": "60"})
    assert req["id"] in r.stdout and req["subject"] in r.stdout and "…" not in r.stdout


def test_wide_terminal_keeps_the_table(data_dir: Path) -> None:
    rid = collect(data_dir)
    r = invoke("--data-dir", str(data_dir), "records", "list", "alice", env={"COLUMNS": "200"})
    assert rid in r.stdout and "┃ record" in r.stdout


# --- usage errors under --json ---------------------------------------------------------------


@pytest.mark.parametrize("args,message", [
    (["records", "list", "--json"], "Missing argument"),
    (["--json", "records", "list"], "Missing argument"),
    (["records", "list", "alice", "--nope", "--json"], "No such option"),
    (["--json", "--nope"], "No such option"),
    (["--json", "nosuchcommand"], "No such command"),
    (["--json", "records"], "Missing command"),
    (["link", "alice", "--minutes", "99", "--json"], "--minutes"),
    (["collect", "u", "conversation_message", "--json"], "Missing option"),
])
def test_usage_errors_under_json_are_json(data_dir: Path, args: list[str], message: str) -> None:
    r = invoke("--data-dir", str(data_dir), *args)
    assert r.exit_code == 2, r.output
    assert r.stdout == ""  # nothing a script would take for the answer
    err = json.loads(r.stderr)
    assert err["error"] == "usage" and message in err["message"], err
    assert err["usage"].startswith("Usage: confida")


def test_usage_errors_without_json_stay_human(data_dir: Path) -> None:
    r = invoke("--data-dir", str(data_dir), "records", "list")
    assert r.exit_code == 2 and "Missing argument" in r.stderr
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.stderr)


def test_json_after_a_double_dash_is_an_argument(data_dir: Path) -> None:
    r = invoke("--data-dir", str(data_dir), "records", "list", "--", "--json")
    assert r.exit_code == 0, r.output  # a subject named "--json", who has no records
    assert "record" in r.stdout  # the (empty) table, not JSON
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.stdout)


def test_other_errors_under_json_keep_their_shape_and_codes(data_dir: Path) -> None:
    r = invoke("--data-dir", str(data_dir), "records", "get", "nope", "-p", "service", "--json")
    assert r.exit_code == 2 and json.loads(r.stderr)["error"] == "not-found"
    r = invoke("--data-dir", str(data_dir), "collect", "u", "conversation_message", "-p",
               "model_training", "-d", json.dumps(MSG), "--json")
    assert r.exit_code == 1 and json.loads(r.stderr)["error"] == "consent-required"


# --- summaries say what happened -------------------------------------------------------------


def test_erase_summary_names_deleted_and_kept(data_dir: Path) -> None:
    collect(data_dir)
    held = collect(data_dir, data={"conversation_id": "c9", "text": "kept for court"})
    r = cli(data_dir, "records", "legal-hold", held, "--reason", "Pending court case")
    assert r.exit_code == 0, r.output
    r = invoke("--data-dir", str(data_dir), "rights", "erase", "alice", *V, "--request-id",
               "t-1", env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "deleted 1 record, kept 1 (legal hold)" in r.stdout
    assert "deleted or kept" not in r.stdout and held in r.stdout
    res = json.loads(cli(data_dir, "--json", "rights", "erase", "alice", *V,
                         "--request-id", "t-1").stdout)  # a retry answers the same
    assert (res["records"], res["deleted"], res["kept_legal_hold"]) == (2, 1, 1)
    assert [k["record"] for k in res["kept"]] == [held]


def test_erase_summary_with_nothing_kept(data_dir: Path) -> None:
    collect(data_dir)
    r = invoke("--data-dir", str(data_dir), "rights", "erase", "alice", *V,
               env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "deleted 1 record, kept 0;" in r.stdout


def test_retention_summary_names_every_count(data_dir: Path) -> None:
    r = invoke("--data-dir", str(data_dir), "retention", "run", env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert ("deleted 0 records, kept 0 (legal hold), kept 0 (restricted subject); destroyed 0 "
            "subject keys and 0 retained-record keys") in r.stdout
    from confida.cli.transparency import retention_summary

    rep = RetentionReport(ran_at=datetime(2026, 1, 1), removed_total=3, kept_legal_hold=1,
                          kept_restricted=2, keys_destroyed=1, retained_keys_destroyed=0)
    assert retention_summary(rep) == (
        "deleted 3 records, kept 1 (legal hold), kept 2 (restricted subject); destroyed 1 "
        "subject key and 0 retained-record keys")


# --- the access export's CSV -----------------------------------------------------------------


def test_access_csv_header_names_are_unique(data_dir: Path, tmp_path: Path) -> None:
    stamped = {"conversation_id": "c1", "text": "hi", "created_at": "2025-01-01T00:00:00+00:00"}
    rid = collect(data_dir, data=stamped)
    out = tmp_path / "alice.zip"
    assert cli(data_dir, "rights", "access", "alice", "--out", str(out), *V).exit_code == 0
    with zipfile.ZipFile(out) as z:
        for name in z.namelist():
            if name.endswith(".csv"):
                header = next(csv.reader(io.StringIO(z.read(name).decode())))
                assert len(header) == len(set(header)), (name, header)
        rows = list(csv.DictReader(io.StringIO(
            z.read("records/conversation_message.csv").decode())))
    assert rows[0]["id"] == rid and rows[0]["data.created_at"] == stamped["created_at"]
    assert rows[0]["created_at"] != stamped["created_at"]  # the record's own timestamp


def test_csv_header_unit() -> None:
    header = csv_header(["created_at", "data.created_at", "id", "text"])
    assert header[: len(_META_COLUMNS)] == list(_META_COLUMNS)
    assert len(header) == len(set(header)) == len(_META_COLUMNS) + 4
    assert "text" in header and "data.id" in header


# --- confida link ----------------------------------------------------------------------------


def test_link_prints_a_single_use_link(data_dir: Path) -> None:
    collect(data_dir)
    r = invoke("--data-dir", str(data_dir), "link", "alice", env={"COLUMNS": "60"})
    assert r.exit_code == 0, r.output
    url = r.stdout.strip()
    assert url.startswith("https://127.0.0.1:8443/privacy/enter?token=cst_")
    assert "\n" not in url and "alice" not in url
    r = invoke("link", "alice", "--minutes", "5", "--json", "--base-url",
               "https://privacy.example.com/", "--data-dir", str(data_dir))
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert urlsplit(out["url"])[:3] == ("https", "privacy.example.com", "/privacy/enter")
    left = datetime.fromisoformat(out["expires_at"]) - datetime.now(tz=datetime.fromisoformat(
        out["expires_at"]).tzinfo)
    assert timedelta(minutes=3) < left <= timedelta(minutes=5, seconds=5)


def test_link_defaults_to_the_served_address(data_dir: Path) -> None:
    collect(data_dir)
    record_served_url(Config.load(data_dir), served_url("0.0.0.0", 9443, False))  # noqa: S104
    r = cli(data_dir, "--json", "link", "alice")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["url"].startswith("https://127.0.0.1:9443/privacy/enter?")
    assert served_url("::1", 80, True) == "http://[::1]:80"


def test_link_works_once(data_dir: Path) -> None:
    from fastapi.testclient import TestClient

    from confida.server.app import create_app

    collect(data_dir)
    url = json.loads(cli(data_dir, "--json", "link", "alice").stdout)["url"]
    with TestClient(create_app(Config.load(data_dir)), base_url="https://testserver") as c:
        query = urlsplit(url).query
        assert c.get(f"/privacy/enter?{query}").status_code == 200
        c.cookies.clear()
        assert c.get(f"/privacy/enter?{query}").status_code == 401


def test_link_exit_codes(data_dir: Path, tmp_path: Path) -> None:
    assert cli(data_dir, "link", "alice", "--minutes", "0").exit_code == 2
    assert cli(tmp_path / "none", "link", "alice").exit_code == 2
