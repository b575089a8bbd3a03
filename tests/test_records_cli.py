"""``confida records legal-hold``: the CLI maps to the one core call and its errors."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import cli


def _collect(data_dir: Path) -> str:
    r = cli(data_dir, "--json", "collect", "u1", "conversation_message", "-p", "service",
            "-d", json.dumps({"conversation_id": "c", "text": "hello"}))
    assert r.exit_code == 0, r.output
    return json.loads(r.output)["record_id"]


def test_legal_hold_place_release_and_refuse(data_dir: Path) -> None:
    rid = _collect(data_dir)
    r = cli(data_dir, "--json", "records", "legal-hold", rid, "--reason", "Pending court case")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {"record": rid, "legal_hold": True}
    r = cli(data_dir, "--json", "records", "get", rid, "-p", "service")
    assert json.loads(r.output)["legal_hold"] is True
    r = cli(data_dir, "records", "legal-hold", rid, "--reason", "call +44 20 7946 0958")
    assert r.exit_code == 2 and "7946" not in r.output
    r = cli(data_dir, "--json", "records", "legal-hold", rid, "--release", "--reason", "Settled")
    assert r.exit_code == 0 and json.loads(r.output)["legal_hold"] is False
    r = cli(data_dir, "--json", "consent", "show", "u1")
    assert r.exit_code == 0, r.output


def test_detokenize_command_acts_as_the_cli_actor(data_dir: Path) -> None:
    from confida.config import Config
    from confida.pii import anonymize
    from confida.pii.operators import Policy
    from confida.token_map import SubjectTokenStore
    from confida.vault import Vault

    text = "Mail jane.roe@example.org please."
    v = Vault.open(Config.load(data_dir))
    try:
        tok = anonymize(text, Policy.from_dict({"default": "tokenize"}),
                        token_store=SubjectTokenStore(v, "jane")).text
    finally:
        v.close()
    r = cli(data_dir, "--json", "detokenize", "jane", "-", "-p", "service", input=tok)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {"text": text, "restored": 1, "opaque": 0}
    r = cli(data_dir, "--json", "detokenize", "nobody", "-", "-p", "service", input=tok)
    assert json.loads(r.output)["text"] == tok
