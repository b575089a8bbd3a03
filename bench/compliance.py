"""Compliance audit and retention run on a seeded store, against plain-SQL baselines.

Run by hand:  .venv/bin/python bench/compliance.py [--records 10000] [--database-url URL]

Seeds N records (half conversation messages for `service`, half usage events for `safety`,
~300 B of text each, 1 subject per 10 records) through `collect_many`, then prints, in the same
run and on the same store:

- `compliance check`: the time of each check and of the whole audit (all checks, logged), against
  the baseline of reading every stored byte once (`SELECT *` over every table), which is the
  least any audit that looks at the stored data must do;
- `retention run` deleting the expired half (and expiring the subjects left with nothing, whose
  keys it destroys), against the baseline of one plain `DELETE ... WHERE retain_until <= now`
  on a copy of the same rows in a table of the same shape.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import MetaData, Table, delete, inspect, select, text

from confida import record
from confida.clock import utcnow
from confida.compliance.checks import CHECKS, Ctx
from confida.compliance.run import run_compliance
from confida.config import Config
from confida.operation import Actor
from confida.record import CollectItem
from confida.retention import run_retention
from confida.store.engine import sqlite_checkpoint
from confida.tls import create_self_signed
from confida.vault import Vault, initialise_stores

ADMIN = Actor(id="bench", role="admin", source="cli")  # what the CLI acts as

ROOT = Path(__file__).resolve().parent.parent
WORDS = ["the", "model", "answer", "please", "explain", "how", "to", "write", "a", "function",
         "that", "sorts", "list", "in", "python", "and", "why", "it", "works", "quickly"]


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):  # noqa: ANN204
        return self.now


def seed(v: Vault, n: int) -> None:
    rng = random.Random(7)
    items = []
    for i in range(n):
        subj = f"user-{i // 10}"
        if i % 2:
            items.append(CollectItem(subj, "usage_event", {"event": "open", "feature": "chat",
                                                           "ip": "10.0.0.1"}, "safety"))
        else:
            body = " ".join(rng.choice(WORDS) for _ in range(60))[:300]
            items.append(CollectItem(subj, "conversation_message",
                                     {"conversation_id": f"c{i}", "text": body}, "service"))
    for i in range(0, n, 2000):
        record.collect_many(v, items[i : i + 2000], actor=ADMIN)


def read_everything(v: Vault) -> float:
    t = time.perf_counter()
    with v.engine.connect() as conn:
        for name in inspect(conn).get_table_names():
            tbl = Table(name, MetaData(), autoload_with=conn)
            for _row in conn.execute(select(tbl)):
                pass
    return time.perf_counter() - t


def run(url: str | None, n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="confida-bench-"))
    try:
        d = tmp / "data"
        d.mkdir()
        shutil.copy(ROOT / "examples" / "chat-assistant.yaml", d / "register.yaml")
        cfg = Config(data_dir=d, database_url=url or "")
        initialise_stores(cfg)
        (d / "confida.toml").write_text("")
        create_self_signed(cfg.tls_cert, cfg.tls_key)
        clock = Clock()
        backend = "postgresql" if url else "sqlite"
        with Vault.open(cfg, clock=clock) as v:
            seed(v, n)
            print(f"\n== {backend}: {n} records, {n // 10} subjects ==")
            base = min(read_everything(v) for _ in range(2))
            print(f"baseline  read every stored byte once        {base * 1000:9.1f} ms")
            sqlite_checkpoint(v.engine)
            with v.engine.connect() as conn:
                ctx = Ctx(v, conn, clock.now)
                for cid, fn in CHECKS:
                    t = time.perf_counter()
                    fn(ctx)
                    print(f"  check {cid:<30} {(time.perf_counter() - t) * 1000:9.1f} ms")
            t = time.perf_counter()
            rep = run_compliance(v)
            full = time.perf_counter() - t
            print(f"compliance check (all {len(rep.results)}, logged)        "
                  f"{full * 1000:9.1f} ms  = {full / base:5.1f} x baseline  "
                  f"({'pass' if rep.passed else 'fail: ' + ','.join(rep.failed)})")
            # Retention: the safety half expires after 30 days.
            with v.engine.begin() as conn:
                conn.execute(text("CREATE TABLE bench_plain AS SELECT * FROM record"))
            clock.now += timedelta(days=31)
            t = time.perf_counter()
            with v.engine.begin() as conn:
                plain = Table("bench_plain", MetaData(), autoload_with=conn)
                gone = conn.execute(delete(plain).where(
                    plain.c.retain_until <= clock.now)).rowcount
            base_del = time.perf_counter() - t
            print(f"baseline  plain DELETE of {gone} expired rows    {base_del * 1000:9.1f} ms")
            t = time.perf_counter()
            r = run_retention(v)
            ret = time.perf_counter() - t
            print(f"retention run: {r.removed_total} removed, {r.keys_destroyed} keys destroyed "
                  f"{ret * 1000:9.1f} ms  = {ret / max(base_del, 1e-9):5.1f} x baseline")
            with v.engine.begin() as conn:
                conn.execute(text("DROP TABLE bench_plain"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def own_schema(url: str):  # noqa: ANN201
    """A fresh schema on the server (others may share the database), dropped afterwards."""
    import uuid
    from contextlib import contextmanager

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    @contextmanager
    def cm():  # noqa: ANN202
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield make_url(url).update_query_dict(
                {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

    return cm()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--database-url", default=None)
    a = ap.parse_args()
    run(None, a.records)
    if a.database_url:
        with own_schema(a.database_url) as url:
            run(url, a.records)


if __name__ == "__main__":
    main()
