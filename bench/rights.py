"""Erasure and access export: crypto-shredding vs deleting rows one query per record.

Run by hand:  .venv/bin/python bench/rights.py [--records 100000] [--export-records 10000]
                                               [--database-url URL] [--sqlite-only]

For each backend (SQLite always; PostgreSQL when the server at --database-url answers) it stores
two subjects with --records conversation messages each and one with --export-records, then
measures, in the same run:

- erasure with ``confida.rights.erase``: time from the call until the subject is unreadable
  (their data key destroyed, the key store checkpointed), and until their rows are gone;
- the naive alternative on the other subject: ``DELETE FROM record WHERE id = ?`` once per
  record (all in one transaction, which flatters it). Without crypto-shredding the data stays
  readable until the last row is gone, so that is its time to unreadable;
- the access export (zip with JSON, CSV, manifest) of the third subject, against the naive
  export: ``read()`` per record (one query and one decryption each) then the same JSON.

Targets from the issue: unreadable in under 50 ms at 100,000 records; export of 10,000 records
in under 2 s.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import string
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import track
from sqlalchemy import delete, select

from confida import record, rights
from confida.config import Config
from confida.operation import Actor
from confida.record import CollectItem
from confida.store.schema import record as record_t
from confida.store.schema import subject as subject_t
from confida.vault import Vault, initialise_stores
from pgschema import pg_schema

ADMIN = Actor(id="bench", role="admin", source="cli")  # what the CLI acts as

ROOT = Path(__file__).resolve().parent.parent
console = Console()
WORDS = ["the", "model", "answer", "please", "explain", "how", "to", "write", "a", "function",
         "that", "sorts", "list", "in", "python", "and", "why", "it", "works", "quickly"]
BATCH = 10_000


def message(rng: random.Random) -> dict[str, str]:
    return {"conversation_id": "c-" + "".join(rng.choices(string.hexdigits, k=12)),
            "role": "user", "text": " ".join(rng.choice(WORDS) for _ in range(40)),
            "model": "aria-2"}


def fill(v: Vault, who: str, n: int, rng: random.Random, label: str) -> None:
    for i in track(range(0, n, BATCH), description=f"{label}: storing {n:,} for {who}",
                   console=console, transient=True):
        record.collect_many(v, [CollectItem(who, "conversation_message", message(rng), "service")
                        for _ in range(min(BATCH, n - i))], actor=ADMIN)


def subject_id(v: Vault, who: str) -> str:
    with v.engine.connect() as conn:
        return conn.execute(
            select(subject_t.c.id).where(subject_t.c.ref == v.subject_ref(who))
        ).scalar_one()


def bench_backend(label: str, url: str, data_dir: Path, n: int, n_export: int) -> dict:
    rng = random.Random(4)
    data_dir.mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "chat-assistant.yaml", data_dir / "register.yaml")
    cfg = Config(data_dir=data_dir, database_url=url)
    initialise_stores(cfg)
    (data_dir / "confida.toml").write_text("")
    out: dict[str, float] = {}
    with Vault.open(cfg) as v:
        fill(v, "erase-me", n, rng, label)
        fill(v, "naive", n, rng, label)
        fill(v, "export-me", n_export, rng, label)
        fill(v, "bystander", 1000, rng, label)

        # crypto-shredding erasure
        marks: dict[str, float] = {}
        cpu: dict[str, float] = {}

        def mark(step: str) -> None:
            marks[step] = time.perf_counter()
            cpu[step] = time.process_time()

        c0 = time.process_time()
        t0 = time.perf_counter()
        res = rights.erase(v, "erase-me", verified_by="bench", progress=mark, actor=ADMIN)
        out["shred_unreadable"] = marks["shred"] - t0
        out["shred_unreadable_cpu"] = cpu["shred"] - c0
        out["shred_key_only"] = marks["shred"] - marks["begin"]
        out["shred_rows_gone"] = marks["delete"] - t0
        out["shred_total"] = marks["finish"] - t0
        assert res.records == n

        # naive: one DELETE per record
        sid = subject_id(v, "naive")
        with v.engine.connect() as conn:
            ids = conn.execute(
                select(record_t.c.id).where(record_t.c.subject_id == sid)
            ).scalars().all()
        t0 = time.perf_counter()
        with v.engine.begin() as conn:
            for rid in ids:
                conn.execute(delete(record_t).where(record_t.c.id == rid))
        out["naive_rows_gone"] = time.perf_counter() - t0

        # access export vs read() per record
        buf = io.BytesIO()
        c0 = time.process_time()
        t0 = time.perf_counter()
        exp = rights.access_export(v, "export-me", buf, verified_by="bench", actor=ADMIN)
        out["export"] = time.perf_counter() - t0
        out["export_cpu"] = time.process_time() - c0
        assert exp.records == n_export
        out["export_mb"] = len(buf.getvalue()) / 1e6
        v.keys.forget_cached(subject_id(v, "export-me"))
        metas = record.list_records(v, "export-me", limit=n_export, actor=ADMIN)
        c0 = time.process_time()
        t0 = time.perf_counter()
        naive = [record.read(v, m.id, "service", actor=ADMIN).data for m in metas]
        json.dumps(naive)
        out["naive_export"] = time.perf_counter() - t0
        out["naive_export_cpu"] = time.process_time() - c0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--export-records", type=int, default=10_000)
    ap.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--sqlite-only", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="confida-bench-rights-"))
    results = {}
    try:
        results["sqlite"] = bench_backend("sqlite", f"sqlite:///{tmp / 's' / 'confida.db'}",
                                          tmp / "s", args.records, args.export_records)
        if not args.sqlite_only:
            with pg_schema(args.database_url) as url:
                if url:
                    results["postgresql"] = bench_backend("postgresql", url, tmp / "p",
                                                          args.records, args.export_records)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    ms = 1000.0
    print(f"\nErasure of one subject with {args.records:,} records (ms, wall clock)")
    print(f"{'backend':<11}{'unreadable':>11}{'(cpu)':>7}{'key only':>10}{'rows gone':>11}"
          f"{'done':>8}{'naive rows gone':>17}{'unreadable x':>14}{'rows gone x':>13}")
    for be, r in results.items():
        print(f"{be:<11}{r['shred_unreadable'] * ms:>11.1f}{r['shred_unreadable_cpu'] * ms:>7.1f}"
              f"{r['shred_key_only'] * ms:>10.1f}"
              f"{r['shred_rows_gone'] * ms:>11.0f}{r['shred_total'] * ms:>8.0f}"
              f"{r['naive_rows_gone'] * ms:>17.0f}"
              f"{r['naive_rows_gone'] / r['shred_unreadable']:>13.0f}x"
              f"{r['naive_rows_gone'] / r['shred_rows_gone']:>12.1f}x")
    print("  unreadable: erase() called -> data key destroyed, end to end (target < 50 ms);\n"
          "  (cpu): this process's CPU time for it; key only: the destroy step itself;\n"
          "  naive: DELETE ... WHERE id = ? per record in one transaction: the data is readable"
          " until the last row goes.")
    print(f"\nAccess export of one subject with {args.export_records:,} records (s, wall clock)")
    print(f"{'backend':<11}{'zip (JSON+CSV+manifest)':>25}{'(cpu)':>7}{'size MB':>9}"
          f"{'naive read() per record':>25}{'(cpu)':>7}{'speed-up':>10}")
    for be, r in results.items():
        print(f"{be:<11}{r['export']:>25.2f}{r['export_cpu']:>7.2f}{r['export_mb']:>9.1f}"
              f"{r['naive_export']:>25.2f}{r['naive_export_cpu']:>7.2f}"
              f"{r['naive_export'] / r['export']:>9.1f}x")
    print("  target: < 2 s at 10,000 records")
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.1f} on {os.cpu_count()} CPUs "
          "(wall-clock figures stretch when the machine is shared)")

if __name__ == "__main__":
    main()
