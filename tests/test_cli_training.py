"""``confida export`` and ``confida analytics`` end to end through the real CLI and store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import cli


@pytest.fixture
def data_dir(data_dir: Path) -> Path:
    """The initialised data dir, seeded for these tests."""
    d = data_dir
    for who in ("ann", "ben"):
        assert cli(d, "consent", "grant", who, "model_training").exit_code == 0
        r = cli(d, "collect", who, "conversation_message", "--purpose", "service", "--data",
                json.dumps({"conversation_id": "c1",
                            "text": f"I am {who}, mail {who}@example.com"}))
        assert r.exit_code == 0, r.output
    for i in range(8):
        r = cli(d, "collect", f"u{i}", "usage_event", "--purpose", "analytics", "--data",
                json.dumps({"event": "open", "country": ["DE", "FR"][i % 2],
                            "feature": ["chat", "voice"][i // 2 % 2], "duration_ms": 10 * i}))
        assert r.exit_code == 0, r.output
    return d


def test_export_and_revocations(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    r = cli(data_dir, "--json", "export", "training", "--out", str(out), "--format", "jsonl",
            "--shard-size", "1")
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["record_count"] == 2 and len(res["shards"]) == 2
    assert "@example.com" not in "".join(p.read_text() for p in out.glob("*.jsonl"))
    assert cli(data_dir, "consent", "withdraw", "ben", "model_training").exit_code == 0
    r = cli(data_dir, "--json", "export", "revocations", "--dataset", res["dataset_id"])
    assert r.exit_code == 0, r.output
    drop = json.loads(r.output)["drop"]
    assert [d["reason"] for d in drop] == ["consent_withdrawn"]
    assert cli(data_dir, "export", "revocations", "--dataset", "nope").exit_code == 2
    r = cli(data_dir, "export", "training", "--out", str(tmp_path / "x"), "--kind",
            "temporary_chat")
    assert r.exit_code == 1
    assert cli(data_dir, "export", "training", "--out", str(out)).exit_code == 2  # not empty


def test_analytics_budget_and_queries(data_dir: Path, tmp_path: Path) -> None:
    r = cli(data_dir, "analytics", "count", "--epsilon", "1", "--analyst", "ana",
            "--kind", "usage_event")
    assert r.exit_code == 1 and "no privacy budget" in r.output
    assert cli(data_dir, "analytics", "budget", "set", "--analyst", "ana", "--dataset",
               "usage_event", "--epsilon", "1.5").exit_code == 0
    r = cli(data_dir, "--json", "analytics", "count", "--epsilon", "1", "--analyst", "ana",
            "--kind", "usage_event", "--group-by", "country", "--categories", "country=DE,FR")
    assert r.exit_code == 0, r.output
    ans = json.loads(r.output)
    assert ans["aggregate"] == "histogram" and len(ans["cells"]) == 3
    assert ans["budget_left"] == pytest.approx(0.5)
    r = cli(data_dir, "analytics", "mean", "--epsilon", "1", "--analyst", "ana", "--kind",
            "usage_event", "--field", "duration_ms", "--lower", "0", "--upper", "100")
    assert r.exit_code == 1  # over budget
    r = cli(data_dir, "--json", "analytics", "budget", "show")
    assert json.loads(r.output)[0]["spent"] == pytest.approx(1.0)
    r = cli(data_dir, "analytics", "kanon", "--kind", "usage_event", "--k", "2", "--l", "2",
            "--sensitive", "feature", "--out", str(tmp_path / "t.jsonl"))
    assert r.exit_code == 0, r.output
    assert "satisfied" in r.output
    assert cli(data_dir, "analytics", "count", "--epsilon", "-1", "--analyst", "ana",
               "--kind", "usage_event").exit_code == 2
