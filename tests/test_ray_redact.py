"""Bulk redaction and training export on a real local Ray cluster (2 CPUs, no dashboard).

The claim under test: for the same input, policy and key, the Ray path writes the same
records as the single-process path.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from confida import consent, record
from confida.cli.app import app
from confida.export.training import export_training
from confida.pii import Policy
from confida.vault import Vault
from tests.actors import ADMIN

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

TEXTS = [
    "Hi, I am Anna Schmidt, mail anna.schmidt@example.com or call +49 30 901820.",
    "IBAN DE89 3704 0044 0532 0130 00, card 4111 1111 1111 1111, born 17 March 1982.",
    "Nothing personal here at all.",
    "Carla Rossi and Anna Schmidt met Carla Rossi on 3 May 2021 in Berlin.",
    "",
] * 8
POLICY = {"default": "keep", "PERSON": "pseudonymize", "EMAIL": "hash", "PHONE": "mask",
          "IBAN": "replace", "CREDIT_CARD": "redact", "DATE": "generalize_date"}


@pytest.fixture(scope="session")
def cluster():
    from confida.export.ray_redact import ensure_cluster

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ensure_cluster()
    yield
    ray.shutdown()


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": t, "lang": "en"}) + "\n"
                           for i, t in enumerate(TEXTS)))
    pol = tmp_path / "policy.yaml"
    pol.write_text(json.dumps(POLICY))
    key = tmp_path / "key"
    key.write_text("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n")
    return src, pol, key


def _read_out(directory: Path) -> list[dict]:
    rows: list[dict] = []
    for p in sorted(directory.iterdir()):
        if p.suffix == ".parquet":
            rows += pq.read_table(p).to_pylist()
        elif p.suffix in (".json", ".jsonl"):
            rows += [json.loads(x) for x in p.read_text().splitlines() if x]
    return sorted(rows, key=lambda r: r["id"])


def test_cli_ray_equals_local_jsonl(cluster, tmp_path: Path) -> None:
    src, pol, key = _files(tmp_path)
    runner = CliRunner()
    local = tmp_path / "local.jsonl"
    r1 = runner.invoke(app, ["redact", str(src), "--policy", str(pol), "--key-file", str(key),
                             "--out", str(local)])
    assert r1.exit_code == 0, r1.output
    r2 = runner.invoke(app, ["redact", "--engine", "ray", str(src), "--policy", str(pol),
                             "--key-file", str(key), "--out", str(tmp_path / "rayout"),
                             "--workers", "2"])
    assert r2.exit_code == 0, r2.output
    expected = [json.loads(x) for x in local.read_text().splitlines()]
    got = _read_out(tmp_path / "rayout")
    assert got == expected
    assert len(got) == len(TEXTS)
    blob = json.dumps(got)
    assert "Anna Schmidt" not in blob and "4111" not in blob and "<PERSON_1>" in blob


def test_ray_parquet_and_other_key_differs(cluster, tmp_path: Path) -> None:
    from confida.export.ray_redact import redact_dataset

    src = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": i, "text": t} for i, t in enumerate(TEXTS)]),
                   src)
    pol = Policy.from_dict(POLICY)
    redact_dataset([str(src)], str(tmp_path / "a"), pol, hash_key=b"k" * 32, workers=1)
    redact_dataset([str(src)], str(tmp_path / "b"), pol, hash_key=b"j" * 32, workers=2)
    a, b = _read_out(tmp_path / "a"), _read_out(tmp_path / "b")
    from confida.export.anonymise import redact_text

    assert [r["text"] for r in a] == [redact_text(t, pol, b"k" * 32) for t in TEXTS]
    assert a != b  # the e-mail hash depends on the key


def test_cli_ray_refuses_bad_input(cluster, tmp_path: Path) -> None:
    src, pol, _ = _files(tmp_path)
    runner = CliRunner()
    r = runner.invoke(app, ["redact", "--engine", "ray", str(src), "--policy", str(pol),
                            "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "key" in r.output  # hash operator without a key
    bad = tmp_path / "notes.txt"
    bad.write_text("x")
    r = runner.invoke(app, ["redact", "--engine", "ray", str(bad), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2


def test_training_export_on_ray_is_identical(cluster, vault: Vault, tmp_path: Path) -> None:
    from confida.export.ray_redact import ray_anonymiser

    for i, who in enumerate(["a", "b", "c"]):
        consent.grant(vault, who, "model_training", actor=ADMIN)
        for t in TEXTS[:4]:
            record.collect(vault, who, "conversation_message",
                          {"conversation_id": f"c{i}", "text": t, "role": "user"}, "service", actor=ADMIN)
    key = bytes(range(32))
    local = export_training(vault, tmp_path / "l", dataset_key=key, batch_size=5, actor=ADMIN)
    dist = export_training(vault, tmp_path / "r", dataset_key=key, batch_size=5,
                           anonymiser=ray_anonymiser(workers=2, batch_size=3), actor=ADMIN)
    assert local.record_count == dist.record_count == 12
    assert [s.sha256 for s in local.shards] == [s.sha256 for s in dist.shards]


def test_cli_export_training_engine_ray(cluster, config, tmp_path: Path) -> None:
    with Vault.open(config) as v:
        consent.grant(v, "a", "model_training", actor=ADMIN)
        record.collect(v, "a", "conversation_message", {"conversation_id": "c", "text": TEXTS[0]},
                  "service", actor=ADMIN)
    r = CliRunner().invoke(app, ["--data-dir", str(config.data_dir), "--json", "export",
                                 "training", "--out", str(tmp_path / "ds"), "--engine", "ray",
                                 "--workers", "1", "--format", "jsonl"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["record_count"] == 1
    text = next((tmp_path / "ds").glob("*.jsonl")).read_text()
    assert "Anna Schmidt" not in text and "<PERSON_" in text
