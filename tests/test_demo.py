"""``confida demo``: what a newcomer runs after ``make run``, and the links it prints work."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from confida.cli.app import app
from confida.config import Config
from confida.server.app import create_app
from confida.vault import Vault
from confida.web import ports

runner = CliRunner()


def test_demo_seeds_and_prints_working_links(config):
    r = runner.invoke(app, ["--data-dir", str(config.data_dir), "--json", "demo", "--users", "6"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["users"] == 6 and out["records"] > 6 and out["requests"] == 6
    link = urlsplit(out["privacy_link"])
    assert link.path == "/privacy/enter" and link.query.startswith("token=cst_")
    assert out["demo_user"] not in out["privacy_link"]  # no personal data in the URL
    vault = Vault.open(config)
    try:
        from confida import credential

        actor = credential.authenticate(vault, out["api_key"])
        reqs = ports.staff_requests(vault, actor)
        assert any(x.overdue for x in reqs) and reqs[0].overdue  # overdue first
        assert any(x.status == "completed" for x in reqs)
        from confida import consent

        states, _ = consent.show(vault, out["demo_user"], actor=actor)
        assert states["model_training"]["granted"]
    finally:
        vault.close()
    application = create_app(config)
    with TestClient(application, base_url="https://testserver") as c:
        page = c.get(f"/privacy/enter?{link.query}")
        assert page.status_code == 200 and "Use my conversations" in page.text
        c.cookies.clear()
        assert c.get(f"/privacy/enter?{link.query}").status_code == 401  # single-use
        login = c.get("/console/login")
        token = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)
        r = c.post("/console/login", data={"api_key": out["api_key"], "csrf": token})
        assert r.status_code == 200 and "Overdue" in r.text


def test_demo_human_output_names_both_links(config):
    r = runner.invoke(app, ["--data-dir", str(config.data_dir), "demo", "--users", "3"])
    assert r.exit_code == 0, r.output
    assert "https://127.0.0.1:8443/console/login" in r.stdout
    assert "https://127.0.0.1:8443/privacy/enter?token=cst_" in r.stdout
    assert "cfk_" in r.stdout


def _records_of(config, users: int) -> int:
    from confida import record
    from tests.actors import ADMIN

    vault = Vault.open(config)
    try:
        return sum(len(record.list_records(vault, f"demo-7-{i:04d}", actor=ADMIN))
                   for i in range(users))
    finally:
        vault.close()


def test_demo_twice_adds_nothing(config):
    args = ["--data-dir", str(config.data_dir), "--json", "demo", "--users", "4"]
    first = json.loads(runner.invoke(app, args).stdout)
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    second = json.loads(r.stdout)
    assert first["new_users"] == 4 and second["new_users"] == 0
    for key in ("users", "records", "requests", "demo_user", "data_dir"):
        assert first[key] == second[key], key
    assert _records_of(config, 4) == first["records"]
    assert second["api_key"] != first["api_key"]  # a fresh key and link each time
    assert second["privacy_link"] != first["privacy_link"]
    r = runner.invoke(app, ["demo", "--users", "6", "--json", "--data-dir", str(config.data_dir)])
    grown = json.loads(r.stdout)
    assert grown["new_users"] == 2 and grown["records"] == _records_of(config, 6)
    human = runner.invoke(app, ["--data-dir", str(config.data_dir), "demo", "--users", "6"])
    assert human.exit_code == 0 and "already there" in human.stdout


def test_demo_uses_its_own_data_dir(config, tmp_path, monkeypatch):
    """Without --data-dir on the command line the demo neither needs nor touches the real data
    dir (CONFIDA_DATA_DIR names it); it makes ./confida-demo and says so."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    env = {"CONFIDA_DATA_DIR": str(config.data_dir), "COLUMNS": "300"}
    r = runner.invoke(app, ["demo", "--users", "3"], env=env)
    assert r.exit_code == 0, r.output
    own = work / "confida-demo"
    assert (own / "confida.toml").exists() and str(own) in r.stdout
    assert f"confida --data-dir {own} serve" in r.stdout
    assert _records_of(config, 3) == 0  # nothing in the real one
    again = json.loads(runner.invoke(app, ["--json", "demo", "--users", "3"], env=env).stdout)
    assert again["data_dir"] == str(own) and again["new_users"] == 0
    assert again["records"] == _records_of(Config.load(own), 3) > 3
