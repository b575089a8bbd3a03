"""``confida scan`` / ``confida redact`` through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from confida.cli import app
from confida.cli import scan as scan_module

runner = CliRunner()

TEXT = ("Hi, my name is Anna Schmidt.\nCall me on +49 30 901820.\n\n"
        "My IBAN is DE89 3704 0044 0532 0130 00.\n")


@pytest.fixture()
def text_file(tmp_path: Path) -> Path:
    p = tmp_path / "in.txt"
    p.write_text(TEXT, encoding="utf-8")
    return p


@pytest.fixture()
def jsonl_file(tmp_path: Path) -> Path:
    p = tmp_path / "in.jsonl"
    rows = [{"id": 1, "msg": "mail me at a.b@example.org"}, {"id": 2, "msg": "nothing here"}]
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return p


def test_scan_text_json(text_file: Path) -> None:
    res = runner.invoke(app, ["scan", str(text_file), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["summary"] == {"IBAN": 1, "PERSON": 1, "PHONE": 1}
    for f in data["findings"]:
        assert TEXT[f["start"] : f["end"]]  # offsets index the whole file
    iban = next(f for f in data["findings"] if f["label"] == "IBAN")
    assert TEXT[iban["start"] : iban["end"]] == "DE89 3704 0044 0532 0130 00"
    assert iban["line"] == 4
    assert "Anna" not in res.stdout  # never values


def test_global_json_flag(text_file: Path) -> None:
    res = runner.invoke(app, ["--json", "scan", str(text_file)])
    assert res.exit_code == 0
    assert json.loads(res.stdout)["records"] == 2


def test_scan_human_output(text_file: Path) -> None:
    res = runner.invoke(app, ["scan", str(text_file)])
    assert res.exit_code == 0
    assert "IBAN" in res.stdout and "3 finding(s)" in res.stdout
    assert "Schmidt" not in res.stdout


def test_redact_text_to_stdout_keeps_layout(text_file: Path) -> None:
    res = runner.invoke(app, ["redact", str(text_file)])
    assert res.exit_code == 0
    assert res.stdout == ("Hi, my name is <PERSON>.\nCall me on <PHONE>.\n\nMy IBAN is <IBAN>.\n")


def test_redact_jsonl_field_policy_and_out(jsonl_file: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("default: replace\nEMAIL:\n  op: mask\n  keep: 3\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    res = runner.invoke(app, ["redact", str(jsonl_file), "--field", "msg", "--policy",
                              str(policy), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["replaced"] == {"EMAIL": 1}
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert rows[0] == {"id": 1, "msg": "mail me at *.*@*******.org"}
    assert rows[1]["msg"] == "nothing here"


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    res = runner.invoke(app, ["redact", "-"], input="write to a@b.co\n")
    assert res.exit_code == 0
    assert res.stdout == "write to <EMAIL>\n"
    res = runner.invoke(app, ["scan", "-", "--jsonl", "--json"], input='{"text": "a@b.co"}\n')
    assert json.loads(res.stdout)["summary"] == {"EMAIL": 1}


@pytest.mark.parametrize(
    "args,input_,message",
    [
        (["scan", "/no/such/file"], None, "no such file"),
        (["scan", "-", "--jsonl"], '{"text": "ok"}\nnot json\n', "line 2"),
        (["scan", "-", "--field", "body"], '{"text": "ok"}\n', "line 1"),
        (["redact", "-", "--policy", "/no/policy.yaml"], "x\n", "no such policy file"),
    ],
)
def test_bad_input_exit_2(args: list[str], input_: str | None, message: str) -> None:
    res = runner.invoke(app, args, input=input_)
    assert res.exit_code == 2
    assert message in res.output


def test_bad_policy_and_unsupported_ops(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"PERSON": "shred"}', encoding="utf-8")
    res = runner.invoke(app, ["redact", "-", "--policy", str(bad), "--json"], input="x\n")
    assert res.exit_code == 2 and "PERSON" in json.loads(res.stdout)["error"]
    tok = tmp_path / "tok.json"
    tok.write_text('{"default": "tokenize"}', encoding="utf-8")
    res = runner.invoke(app, ["redact", "-", "--policy", str(tok)], input="x\n")
    assert res.exit_code == 2


def test_hash_policy_needs_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pol = tmp_path / "hash.yaml"
    pol.write_text("default: hash\n", encoding="utf-8")
    monkeypatch.delenv("CONFIDA_HASH_KEY", raising=False)
    res = runner.invoke(app, ["redact", "-", "--policy", str(pol)], input="a@b.co\n")
    assert res.exit_code == 2
    monkeypatch.setenv("CONFIDA_HASH_KEY", "00" * 32)
    res = runner.invoke(app, ["redact", "-", "--policy", str(pol)], input="a@b.co\n")
    assert res.exit_code == 0 and res.stdout.startswith("<EMAIL:")


def test_register_adds_commands_to_any_app() -> None:
    other = typer.Typer()

    @other.callback()
    def _cb() -> None:
        """root"""

    scan_module.register(other)
    res = runner.invoke(other, ["redact", "-"], input="a@b.co\n")
    assert res.exit_code == 0 and res.stdout == "<EMAIL>\n"
