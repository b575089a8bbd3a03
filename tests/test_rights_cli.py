"""``confida rights`` and ``confida requests`` end to end: exit codes, --json, files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.actors import ADMIN
from tests.conftest import cli

V = ["--verified-by", "session:mfa"]
MSG = json.dumps({"conversation_id": "c1", "text": "I live at 1 Quokka Lane"})




def js(data_dir: Path, *args: str):
    r = cli(data_dir, "--json", *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)




def collect(data_dir: Path, who: str, kind: str, purpose: str, data: str) -> str:
    return js(data_dir, "collect", who, kind, "--purpose", purpose, "--data", data)["record_id"]


def test_access_rectify_restrict_object_erase_feed(data_dir: Path, tmp_path: Path) -> None:
    rid = collect(data_dir, "u1", "conversation_message", "service", MSG)
    acct = collect(data_dir, "u1", "account", "service", '{"email": "u1@example.org"}')
    collect(data_dir, "u1", "usage_event", "safety", '{"event": "login"}')
    # access
    out = tmp_path / "u1.zip"
    res = js(data_dir, "rights", "access", "u1", "--out", str(out), *V)
    assert res["records"] == 3 and res["request"]["status"] == "completed"
    assert out.stat().st_mode & 0o777 == 0o600
    with zipfile.ZipFile(out) as z:
        assert "records/conversation_message.csv" in z.namelist()
        assert json.loads(z.read("manifest.json"))["format"] == "confida.access-export"
    # rectify
    req = js(data_dir, "rights", "rectify", "u1", "--record", acct, "--data",
             '{"display_name": "U. One"}', *V)
    assert req["type"] == "rectification" and req["details"]["fields"] == ["display_name"]
    assert js(data_dir, "records", "get", acct, "--purpose", "service")["data"][
        "display_name"] == "U. One"
    # restrict: reads refused with exit 1; lift
    js(data_dir, "rights", "restrict", "u1", *V)
    r = cli(data_dir, "records", "get", rid, "--purpose", "service")
    assert r.exit_code == 1 and "restricted" in r.output
    js(data_dir, "rights", "restrict", "u1", "--lift", *V)
    assert js(data_dir, "records", "get", rid, "--purpose", "service")["id"] == rid
    # object
    req = js(data_dir, "rights", "object", "u1", "--purpose", "safety", *V)
    assert req["details"]["effect"] == "objection_recorded"
    r = cli(data_dir, "--json", "collect", "u1", "usage_event", "--purpose", "safety",
            "--data", '{"event": "x"}')
    assert r.exit_code == 1 and json.loads(r.stderr)["error"] == "objection-recorded"
    # erase, then the feed
    res = js(data_dir, "rights", "erase", "u1", *V, "--request-id", "ticket-9")
    assert res["request"]["status"] == "completed" and res["records"] == 3
    r = cli(data_dir, "rights", "erase", "u1", *V, "--request-id", "ticket-9")
    assert r.exit_code == 0, r.output  # a retry answers with the finished erasure
    r = cli(data_dir, "records", "get", rid, "--purpose", "service")
    assert r.exit_code != 0
    feed = js(data_dir, "rights", "feed")
    assert len(feed) == 1 and feed[0]["references"] == []
    assert js(data_dir, "rights", "feed", "--since", str(feed[0]["id"])) == []
    human = cli(data_dir, "rights", "feed")
    assert human.exit_code == 0 and str(feed[0]["id"]) in human.stdout
    # requests list shows them all, none overdue
    reqs = js(data_dir, "requests", "list")
    assert {r["type"] for r in reqs} == {"access", "rectification", "restriction",
                                         "restriction_lift", "objection", "erasure"}
    assert js(data_dir, "requests", "list", "--overdue") == []


def test_requests_extend_complete_reject(data_dir: Path) -> None:
    collect(data_dir, "u2", "account", "service", '{"email": "u2@example.org"}')
    from confida import request as requests
    from confida.config import Config
    from confida.vault import Vault

    with Vault.open(Config.load(data_dir)) as v:
        a = requests.submit(v, "access", "u2", "email-link", actor=ADMIN).id
        b = requests.submit(v, "erasure", "u2", "email-link", actor=ADMIN).id
    r = js(data_dir, "requests", "extend", a, "--months", "2", "--reason", "complex request")
    assert r["status"] == "extended" and r["extended_months"] == 2
    r = cli(data_dir, "requests", "extend", a, "--months", "1", "--reason", "again")
    assert r.exit_code == 2 and "one extension" in r.output
    assert js(data_dir, "requests", "complete", a)["status"] == "completed"
    r = cli(data_dir, "requests", "reject", b)
    assert r.exit_code == 2  # --reason is required
    assert js(data_dir, "requests", "reject", b, "--reason", "not verified")["status"] == \
        "rejected"
    human = cli(data_dir, "requests", "list")
    assert human.exit_code == 0 and "extended" not in human.stdout  # both closed now
    assert len(js(data_dir, "requests", "list", "--status", "completed")) == 1


@pytest.mark.parametrize("args", [
    ["rights", "erase", "u3"],  # no --verified-by
    ["rights", "erase", "u3", "--verified-by", ""],
    ["rights", "access", "u3", *V],  # no --out
    ["rights", "rectify", "u3", "--record", "x", "--data", "{not json", *V],
    ["rights", "object", "u3", "--purpose", "service", *V],  # contract: not objectable
    ["rights", "feed", "--since", "-1"],
    ["requests", "extend", "nope", "--months", "3", "--reason", "r"],
    ["rights", "erase", "nobody", *V],
])
def test_bad_input_exits_2(data_dir: Path, args: list[str]) -> None:
    collect(data_dir, "u3", "account", "service", '{"email": "u3@example.org"}')
    r = cli(data_dir, *args)
    assert r.exit_code == 2, r.output
    assert "u3@example.org" not in r.output
