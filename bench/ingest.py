"""Ingest throughput: collect / collect_many vs a plain SQLAlchemy insert of the same payloads.

Run by hand:  .venv/bin/python bench/ingest.py [--records 20000] [--database-url URL]

For each backend (SQLite always; PostgreSQL when --database-url is given or the default server
answers) it prints records/s for batched collect, single collect, and the baseline: a plain insert
of the same ~1 KB JSON payloads into a table of the same shape, with no encryption and no checks.
The ratio baseline/collect is the privacy overhead.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import string
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import track
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
)

from confida import record
from confida.config import Config
from confida.operation import Actor
from confida.record import CollectItem
from confida.store.types import UTCDateTime
from confida.vault import Vault, initialise_stores, no_scan
from pgschema import pg_schema

ADMIN = Actor(id="bench", role="admin", source="cli")  # what the CLI acts as

ROOT = Path(__file__).resolve().parent.parent
console = Console()
WORDS = ["the", "model", "answer", "please", "explain", "how", "to", "write", "a", "function",
         "that", "sorts", "list", "in", "python", "and", "why", "it", "works", "quickly"]


def message(rng: random.Random) -> dict[str, str]:
    text_ = " ".join(rng.choice(WORDS) for _ in range(190))[:1000]
    return {"conversation_id": "c-" + "".join(rng.choices(string.hexdigits, k=12)),
            "role": "user", "text": text_, "model": "aria-2"}


def baseline_table(md: MetaData) -> Table:
    return Table(
        "plain_record", md,
        Column("id", String(36), primary_key=True),
        Column("subject_id", String(36), nullable=False, index=True),
        Column("kind", String(64)), Column("purpose", String(64)),
        Column("payload", LargeBinary), Column("pii_summary", JSON),
        Column("dropped_fields", Integer), Column("legal_hold", Boolean),
        Column("created_at", UTCDateTime()), Column("updated_at", UTCDateTime()),
        Column("retain_until", UTCDateTime()),
    )


def bench_backend(name: str, url: str, data_dir: Path, n: int, n_single: int,
                  batch: int, scan: bool) -> dict[str, float]:
    rng = random.Random(7)
    payloads = [message(rng) for _ in range(n)]
    for j in range(0, n, 10):  # one message in ten carries personal data, as chats do
        payloads[j]["text"] = ("Hi, I am Jane Roe, mail me at jane.roe@example.org. "
                               + payloads[j]["text"])[:1000]
    subjects = [f"user-{i % 1000}" for i in range(n)]
    data_dir.mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "chat-assistant.yaml", data_dir / "register.yaml")
    cfg = Config(data_dir=data_dir, database_url=url)
    initialise_stores(cfg)
    (data_dir / "confida.toml").write_text("")
    out: dict[str, float] = {}
    with Vault.open(cfg, **({} if scan else {"scanner": no_scan})) as v:
        # warm the subject cache the way a running service would have it
        record.collect_many(v, [CollectItem(s, "conversation_message", payloads[0], "service")
                        for s in sorted(set(subjects))], actor=ADMIN)
        t0 = time.perf_counter()
        for i in track(range(0, n, batch), description=f"{name}: collect_many", console=console):
            items = [CollectItem(subjects[j], "conversation_message", payloads[j], "service")
                     for j in range(i, min(n, i + batch))]
            record.collect_many(v, items, actor=ADMIN)
        out["collect_many"] = n / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for j in track(range(n_single), description=f"{name}: collect", console=console):
            record.collect(v, subjects[j], "conversation_message", payloads[j], "service",
                           actor=ADMIN)
        out["collect"] = n_single / (time.perf_counter() - t0)
    engine = create_engine(url)
    md = MetaData()
    table = baseline_table(md)
    md.drop_all(engine)
    md.create_all(engine)
    now = datetime.now(UTC)

    def row(j: int) -> dict[str, object]:
        return {"id": str(uuid.uuid4()), "subject_id": subjects[j], "kind": "conversation_message",
                "purpose": "service", "payload": json.dumps(payloads[j]).encode(),
                "pii_summary": {}, "dropped_fields": 0, "legal_hold": False,
                "created_at": now, "updated_at": now, "retain_until": now}

    t0 = time.perf_counter()
    for i in range(0, n, batch):
        with engine.begin() as conn:
            conn.execute(insert(table), [row(j) for j in range(i, min(n, i + batch))])
    out["plain_batched"] = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for j in range(n_single):
        with engine.begin() as conn:
            conn.execute(insert(table), [row(j)])
    out["plain_single"] = n_single / (time.perf_counter() - t0)
    md.drop_all(engine)
    engine.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--single", type=int, default=2_000)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--sqlite-only", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="confida-bench-"))
    results = {}
    try:
        for scan in (True, False):
            tag = "" if scan else "/no-scan"
            results["sqlite" + tag] = bench_backend(
                "sqlite" + tag, f"sqlite:///{tmp / ('sqlite' + tag[1:]) / 'confida.db'}",
                tmp / ("sqlite" + tag[1:]), args.records, args.single, args.batch, scan)
        if not args.sqlite_only:
            with pg_schema(args.database_url) as url:
                if url:
                    results["postgresql"] = bench_backend(
                        "postgresql", url, tmp / "pg", args.records, args.single, args.batch,
                        True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n~1 KB conversation messages, {args.records} batched (batch {args.batch}), "
          f"{args.single} single; records/s")
    print("(no-scan: the PII scan of free text switched off, to show the store and crypto cost)")
    print(f"{'backend':<19}{'mode':<9}{'collect':>12}{'plain insert':>15}{'overhead':>10}")
    for be, r in results.items():
        for mode, c, p in (("batched", r["collect_many"], r["plain_batched"]),
                           ("single", r["collect"], r["plain_single"])):
            print(f"{be:<19}{mode:<9}{c:>12,.0f}{p:>15,.0f}{p / c:>9.2f}x")


if __name__ == "__main__":
    main()
