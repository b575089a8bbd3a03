"""``confida demo``: what a newcomer runs after ``make run``, and the links it prints work."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from confida.cli.app import app
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
