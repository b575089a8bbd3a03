"""Training-export throughput: single process vs Ray with 1 and 2 workers, same input, same run.

Run by hand:  .venv/bin/python bench/export.py [--records 100000] [--database-url URL]

Setup (not timed): a fresh vault (SQLite file by default) with ``--records`` conversation
messages from ``records / 20`` subjects, about a third of them carrying planted personal data
(names, e-mail addresses, phone numbers, IBANs); 80 % of the subjects consent to
``model_training``. The setup collects with the PII scanner switched off, since collection is
``bench/ingest.py``'s subject and the export runs its own detection.

Timed, each on the same vault and with the same dataset key:
  1. baseline: ``export_training`` in this process (select, decrypt, anonymise, write JSONL and
     Parquet shards, manifest, dataset pseudonyms, audit);
  2. the same export with anonymisation on Ray Data, 1 worker task;
  3. the same with 2 worker tasks.
Both paths are warmed up on 300 records first (imports, the detector's lexicons; on Ray, the
worker processes). A local Ray cluster (``num_cpus=2``) is started once before the Ray runs; its
start-up and warm-up times are printed apart.
The shard hashes of the three runs are compared: the outputs must be identical.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from confida import consent, record
from confida.config import Config
from confida.operation import Actor
from confida.record import CollectItem
from confida.register import load_register
from confida.vault import Vault, initialise_stores, no_scan

ADMIN = Actor(id="bench", role="admin", source="cli")  # what the CLI acts as

ROOT = Path(__file__).resolve().parent.parent
console = Console()
WORDS = ["the", "model", "answer", "please", "explain", "how", "to", "write", "a", "function",
         "that", "sorts", "list", "in", "python", "and", "why", "it", "works", "quickly"]
NAMES = ["Anna Schmidt", "Jonas Weber", "Maria Rossi", "Lukas Novak", "Sofia Garcia"]


def message(rng: random.Random, i: int) -> dict[str, str]:
    words = " ".join(rng.choice(WORDS) for _ in range(45))
    if i % 3 == 0:
        name = rng.choice(NAMES)
        extra = (f" I am {name}, write to {name.split()[0].lower()}{i}@example.com or call "
                 f"+49 30 {900000 + i % 99999}. IBAN DE89 3704 0044 0532 0130 00.")
    else:
        extra = ""
    return {"conversation_id": f"c-{i // 10}", "role": "user", "text": words + extra,
            "model": "aria-2", "created_at": "2026-11-01T10:00:00Z"}


def setup(base: Path, n: int, database_url: str | None) -> Config:
    data = base / "data"
    data.mkdir(mode=0o700)
    shutil.copy(ROOT / "examples" / "chat-assistant.yaml", data / "register.yaml")
    url = database_url or f"sqlite:///{data / 'confida.db'}"
    cfg = Config(data_dir=data, database_url=url)
    initialise_stores(cfg)
    rng = random.Random(7)
    subjects = max(1, n // 20)
    with Vault(cfg, scanner=no_scan) as v:
        for s in range(subjects):
            if s % 5:
                consent.grant(v, f"user-{s}", "model_training", actor=ADMIN)
        for start in range(0, n, 10_000):
            record.collect_many(v, [
                CollectItem(f"user-{i % subjects}", "conversation_message", message(rng, i),
                            "service")
                for i in range(start, min(n, start + 10_000))
            ], actor=ADMIN)
    return cfg


def timed(label: str, fn):  # noqa: ANN001, ANN202
    t = time.perf_counter()
    res = fn()
    dt = time.perf_counter() - t
    console.print(f"  {label}: {res.record_count} records in {dt:.2f} s")
    return res, dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--ray-batch", type=int, default=25_000,
                    help="records handed to Ray per anonymiser call")
    args = ap.parse_args()

    from confida.export.ray_redact import ensure_cluster, ray_anonymiser
    from confida.export.training import export_training

    base = Path(tempfile.mkdtemp(prefix="confida-bench-export-"))
    key = os.urandom(32)
    try:
        console.print(f"setup: {args.records} records, {max(1, args.records // 20)} subjects "
                      f"({'PostgreSQL' if args.database_url else 'SQLite'})")
        t = time.perf_counter()
        cfg = setup(base, args.records, args.database_url)
        console.print(f"  setup took {time.perf_counter() - t:.1f} s (not part of the figures)")
        runs: dict[str, tuple[float, object]] = {}
        from confida.pii import detect

        detect("warm-up: Anna Schmidt, anna@example.com")  # lexicons load once per process
        import pyarrow.parquet  # noqa: F401  -- imported before timing, as a server would have

        from confida.export.anonymise import field_rules
        from confida.export.training import local_anonymiser

        reg_kind = load_register(cfg.register_path).kind("conversation_message")
        rules = {"conversation_message": field_rules(reg_kind)}
        sample = [("conversation_message", message(random.Random(1), i)) for i in range(300)]
        local_anonymiser(sample, rules, key)  # untimed warm-up of this process
        # every timed run opens its own vault, so each pays for unwrapping the subjects' keys
        with Vault(cfg) as v:
            res, dt = timed("single process (baseline)", lambda: export_training(
                v, base / "local", dataset_key=key, actor=ADMIN))
            runs["single process (baseline)"] = (dt, res)
        t = time.perf_counter()
        ray = ensure_cluster(num_cpus=2)
        console.print(f"  Ray local cluster start: {time.perf_counter() - t:.1f} s "
                      f"(CPUs: {ray.cluster_resources().get('CPU')})")
        t = time.perf_counter()
        ray_anonymiser(workers=2, batch_size=100)(sample, rules, key)
        console.print(f"  Ray warm-up on 300 records (workers import confida): "
                      f"{time.perf_counter() - t:.1f} s, not timed")
        for w in (1, 2):
            with Vault(cfg) as v:
                res, dt = timed(f"Ray, {w} worker(s)", lambda w=w, v=v: export_training(
                    v, base / f"ray{w}", dataset_key=key, batch_size=args.ray_batch, actor=ADMIN,
                    anonymiser=ray_anonymiser(workers=w, batch_size=1000)))
                runs[f"Ray, {w} worker(s)"] = (dt, res)
        ray.shutdown()
        hashes = {name: [s.sha256 for s in r.shards] for name, (_, r) in runs.items()}
        identical = len({tuple(h) for h in hashes.values()}) == 1
        table = Table(title=f"training export, {args.records} records, {os.cpu_count()} cores")
        table.add_column("path")
        table.add_column("records/s", justify="right")
        table.add_column("vs baseline", justify="right")
        base_rate = None
        rates = {}
        for name, (dt, r) in runs.items():
            rate = r.record_count / dt
            rates[name] = rate
            base_rate = base_rate or rate
            table.add_row(name, f"{rate:,.0f}", f"{rate / base_rate:.2f}x")
        console.print(table)
        ratio = rates["Ray, 2 worker(s)"] / rates["Ray, 1 worker(s)"]
        console.print(f"scaling ratio (Ray 2 workers / 1 worker): {ratio:.2f}")
        console.print(f"outputs identical across the three paths: {identical}")
        console.print(f"records exported: {runs['single process (baseline)'][1].record_count} "
                      f"of {args.records} (the rest: subjects without consent)")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
