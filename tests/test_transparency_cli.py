"""The transparency commands end to end on the sample register and a seeded store."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, insert

from confida.config import Config
from confida.register import load_register
from confida.store.engine import make_engine, transaction
from confida.transparency.notice import notice_version
from tests.conftest import cli
from tests.test_notice_ropa import parse_html


@pytest.fixture
def data_dir(data_dir: Path) -> Path:
    """The initialised data dir, seeded for these tests."""
    d = data_dir
    for subject, kind, purpose, data in (
        ("u-1", "account", "service", {"email": "jane@example.com", "display_name": "Jane"}),
        ("u-1", "conversation_message", "service", {"conversation_id": "c", "text": "hi"}),
        ("u-2", "usage_event", "safety", {"event": "open", "ip": "203.0.113.9"}),
    ):
        r = cli(d, "collect", subject, kind, "--purpose", purpose, "--data", json.dumps(data))
        assert r.exit_code == 0, r.output
    assert cli(d, "consent", "grant", "u-1", "model_training").exit_code == 0
    return d


def test_notice_md_html_and_json(data_dir: Path) -> None:
    reg = load_register(Config.load(data_dir).register_path)
    r = cli(data_dir, "register", "notice")
    assert r.exit_code == 0 and r.stdout.startswith("# Privacy notice: Example AI GmbH")
    r = cli(data_dir, "register", "notice", "--format", "html", "--lang", "de")
    assert r.exit_code == 0
    parse_html(r.stdout)
    r = cli(data_dir, "--json", "register", "notice")
    doc = json.loads(r.stdout)
    assert doc["version"] == notice_version(reg)
    r = cli(data_dir, "--json", "consent", "show", "u-1")
    assert json.loads(r.stdout)["current"]["model_training"]["notice_version"] == doc["version"]
    r = cli(data_dir, "register", "notice", "--format", "pdf")
    assert r.exit_code == 2 and "format" in r.stderr


def test_notice_to_file(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "notice.html"
    r = cli(data_dir, "register", "notice", "--format", "html", "--out", str(out))
    assert r.exit_code == 0 and parse_html(out.read_text("utf-8"))


def test_ropa_formats(data_dir: Path) -> None:
    r = cli(data_dir, "register", "ropa", "--format", "csv")
    assert r.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["purpose"] for row in rows] == ["service", "temporary_chat", "safety",
                                                 "model_training", "analytics", "billing"]
    r = cli(data_dir, "--json", "register", "ropa")
    assert len(json.loads(r.stdout)["activities"]) == 6  # temporary_chat: the gateway's
    r = cli(data_dir, "register", "ropa")
    assert "(g) Technical and organisational security measures" in r.stdout


def test_compliance_check_passes_then_fails_with_exit_1(data_dir: Path, tmp_path: Path) -> None:
    # The sample register and a fresh store pass every check.
    r = cli(data_dir, "--json", "compliance", "check")
    doc = json.loads(r.stdout)
    assert r.exit_code == 0 and doc["failed"] == [], doc["failed"]
    assert len(doc["checks"]) == 14  # 12 + file-permissions + special-categories
    r = cli(data_dir, "compliance", "check")
    assert r.exit_code == 0, r.output
    assert "**PASS**" in r.stdout
    cfg = Config.load(data_dir)
    engine = make_engine(cfg.database_url)
    with transaction(engine) as conn:
        t = Table("notes", MetaData(), Column("id", Integer, primary_key=True),
                  Column("t", Text))
        t.create(conn)
        conn.execute(insert(t).values(id=1, t="mail jane@example.com"))
    engine.dispose()
    out = tmp_path / "report.html"
    r = cli(data_dir, "compliance", "check", "--format", "html", "--out", str(out))
    assert r.exit_code == 1 and "FAIL" in r.stdout
    page = out.read_text("utf-8")
    parse_html(page)
    assert "jane@example.com" not in page
    r = cli(data_dir, "--json", "compliance", "check", "--only", "no-plaintext")
    assert r.exit_code == 1 and json.loads(r.stdout)["failed"] == ["no-plaintext"]
    r = cli(data_dir, "compliance", "check", "--only", "bogus")
    assert r.exit_code == 2


def test_retention_run(data_dir: Path) -> None:
    r = cli(data_dir, "--json", "retention", "run")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["removed_total"] == 0 and doc["rows"] == []
    r = cli(data_dir, "retention", "run")
    assert r.exit_code == 0 and "deleted 0 records" in r.stdout


def test_breach_commands(data_dir: Path) -> None:
    r = cli(data_dir, "--json", "breach", "register", "--title", "stolen backup",
            "--description", "A backup of the record store was stolen.",
            "--kind", "account", "--discovered-at", "2026-01-05T10:00:00Z")
    assert r.exit_code == 0, r.output
    b = json.loads(r.stdout)
    assert b["affected_subjects"] == 1 and b["individual_notice_required"] is False
    assert b["deadline"].startswith("2026-01-08T10:00:00")
    r = cli(data_dir, "--json", "breach", "list")
    assert [x["id"] for x in json.loads(r.stdout)] == [b["id"]]
    assert json.loads(r.stdout)[0]["overdue"] is True
    r = cli(data_dir, "compliance", "check", "--only", "breach-deadlines")
    assert r.exit_code == 1
    r = cli(data_dir, "breach", "draft", b["id"])
    assert r.exit_code == 0 and "(a) Nature of the breach" in r.stdout
    assert "Reasons for the delay" in r.stdout
    r = cli(data_dir, "breach", "show", b["id"])
    assert r.exit_code == 0 and "stolen backup" in r.stdout
    r = cli(data_dir, "breach", "notify", b["id"], "--authority")
    assert r.exit_code == 0
    r = cli(data_dir, "compliance", "check", "--only", "breach-deadlines")
    assert r.exit_code == 0
    r = cli(data_dir, "breach", "show", "nope")
    assert r.exit_code == 2
    r = cli(data_dir, "breach", "register", "--title", "t", "--description", "d",
            "--discovered-at", "yesterday")
    assert r.exit_code == 2


def test_report_and_notice_render_in_a_real_browser(data_dir: Path, tmp_path: Path) -> None:
    """Headless Chromium loads the pages from disk (no network, no script) and renders them."""
    import shutil
    import subprocess

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium not installed (.ci/run installs it)")
    pages = {"report.html": ("compliance", "check", "--format", "html"),
             "notice.html": ("register", "notice", "--format", "html")}
    for name, args in pages.items():
        out = tmp_path / name
        cli(data_dir, *args, "--out", str(out))
        dom = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
             out.as_uri()], capture_output=True, text=True, timeout=60, check=True,
        ).stdout
        assert "Example AI GmbH" in dom and "</html>" in dom
        if name == "report.html":
            assert "Every stored category is declared" in dom and ">pass<" in dom
            assert ">fail<" not in dom  # the sample register passes its own audit
        else:
            assert "Art. 77" in dom
