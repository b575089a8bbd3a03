"""``confida webhooks``: add (secret shown once), list, deliver, the dead-letter list, retry,
remove; ``--json``; exit codes (2 bad input)."""

from __future__ import annotations

import json
from pathlib import Path

from confida.config import Config
from confida.vault import Vault
from confida.webhooks import signing
from tests.conftest import cli
from tests.webhook_support import erase, receiving


def _json(data_dir: Path, *args: str) -> object:
    r = cli(data_dir, "--json", "webhooks", *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_the_whole_cycle(data_dir: Path) -> None:
    with receiving() as rx:
        r = cli(data_dir, "webhooks", "add", rx.url, "--events", "erasure")
        assert r.exit_code == 0, r.output
        secret = next(w for w in r.stdout.split() if w.startswith("whsec_"))
        assert "shown once" in r.stdout
        added = _json(data_dir, "add", rx.url, "--events", "erasure,request.overdue")
        assert added["secret"].startswith("whsec_") and added["events"] == [
            "erasure", "request.overdue"]
        listed = cli(data_dir, "webhooks", "list")
        assert listed.exit_code == 0 and "whsec_" not in listed.stdout
        rows = _json(data_dir, "list")
        assert len(rows) == 2 and all("secret" not in json.dumps(x) for x in rows)
        first = rows[0]["id"]
        assert cli(data_dir, "webhooks", "remove", added["id"]).exit_code == 0

        with Vault.open(Config.load(str(data_dir))) as v:
            erase(v, "gone@example.org")
        rx.default = "fail"
        out = _json(data_dir, "deliver", "--max-attempts", "1", "--timeout", "2")
        assert (out["enqueued"], out["dead"]) == (1, 1)
        assert out["attempts"][0]["error"] == "HTTP 500"
        dead = _json(data_dir, "deliveries", "--status", "dead")
        assert [d["endpoint_id"] for d in dead] == [first]
        human = cli(data_dir, "webhooks", "deliveries", "--status", "dead")
        assert "HTTP 500" in human.stdout

        rx.default = "ok"
        assert cli(data_dir, "webhooks", "retry", str(dead[0]["id"])).exit_code == 0
        r = cli(data_dir, "webhooks", "deliver")
        assert r.exit_code == 0 and "delivered 1" in r.stdout, r.output
        assert _json(data_dir, "deliveries", "--status", "dead") == []
        [ok] = [h for h in rx.hits if h.mode == "ok"]
        signing.verify(secret, ok.headers, ok.body)
        assert b"gone@example.org" not in ok.body


def test_errors_and_exit_codes(data_dir: Path) -> None:
    bad = cli(data_dir, "webhooks", "add", "http://example.org/hook", "--events", "erasure")
    assert bad.exit_code == 2 and "https" in bad.output
    r = cli(data_dir, "--json", "webhooks", "add", "https://example.org/", "--events", "nope")
    assert r.exit_code == 2 and json.loads(r.stderr)["error"] == "bad-input"
    assert cli(data_dir, "webhooks", "remove", "not-an-id").exit_code == 2
    assert cli(data_dir, "webhooks", "retry", "42").exit_code == 2
    assert cli(data_dir, "webhooks", "deliveries", "--status", "lost").exit_code == 2
    assert cli(data_dir, "webhooks", "deliver", "--max-attempts", "0").exit_code == 2
    r = cli(data_dir, "webhooks", "deliver")
    assert r.exit_code == 0 and "enqueued 0" in r.stdout
