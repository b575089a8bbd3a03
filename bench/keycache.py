"""What it costs to make key state one truth for every process.

Run by hand:  .venv/bin/python bench/keycache.py [--subjects 2000] [--key-ops 20000]
                                                 [--reads 1500] [--rounds 3]
                                                 [--database-url URL] [--sqlite-only]

Three ways a process can hold data keys, measured on the same stores in the same run:

- ``legacy``: the cache Confida had before: an unwrapped key, once seen, is used with no further
  look at the key store. Fastest, and wrong: another process's erasure never reaches it.
- ``validated`` (what Confida does now): every use reads the key's row (one primary-key select
  joined with its KEK version's state) and reuses the cached unwrap only if the row still holds
  the same wrapped blob and its KEK version still exists (one ``stat`` of the key file).
- ``nocache``: every use reads the row and unwraps it again with the KEK.

For each: ``get_key`` on a random warm key, ``get_keys`` for 500 keys (one query), and
``Vault.read`` of a random record (the API's read path: subject, record, consent/access
checks, decryption, audit entry). The key store is the default SQLite file; the record store is
SQLite, and PostgreSQL when the server at --database-url answers. Figures are the best of
--rounds rounds; within a round the modes take turns on small chunks, in rotating order, so
that machine load and the growing audit log weigh on all of them alike.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from confida import record
from confida.config import Config
from confida.crypto.keystore import KeyStore
from confida.errors import NotFound
from confida.operation import Actor
from confida.record import CollectItem
from confida.store.keyschema import data_key
from confida.vault import Vault, initialise_stores
from pgschema import pg_schema

ADMIN = Actor(id="bench", role="admin", source="cli")  # what the CLI acts as

ROOT = Path(__file__).resolve().parent.parent
console = Console(width=170)
MODES = ("legacy", "validated", "nocache")


class LegacyKeyStore(KeyStore):
    """The per-process cache as it was before key state was validated: kept until exit."""

    def __init__(self, *a: object, **kw: object) -> None:
        super().__init__(*a, **kw)  # type: ignore[arg-type]
        self._plain: OrderedDict[str, bytes] = OrderedDict()

    def get_key(self, key_id: str) -> bytes:
        hit = self._plain.get(key_id)
        if hit is not None:
            return hit
        with self.engine.connect() as conn:
            row = conn.execute(
                select(data_key.c.kek_version, data_key.c.wrapped)
                .where(data_key.c.key_id == key_id)
            ).first()
        if row is None:
            raise NotFound("no data key")
        key = self.kek.unwrap(row.kek_version, row.wrapped, self._aad(key_id, row.kek_version))
        self._plain[key_id] = key
        return key

    def get_keys(self, key_ids: Iterable[str]) -> dict[str, bytes]:
        ids = set(key_ids)
        out = {k: self._plain[k] for k in ids if k in self._plain}
        missing = ids - set(out)
        if missing:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(data_key.c.key_id, data_key.c.kek_version, data_key.c.wrapped)
                    .where(data_key.c.key_id.in_(missing))
                ).all()
            for r in rows:
                key = self.kek.unwrap(r.kek_version, r.wrapped, self._aad(r.key_id, r.kek_version))
                self._plain[r.key_id] = key
                out[r.key_id] = key
        return out


def keystore(v: Vault, mode: str) -> KeyStore:
    if mode == "legacy":
        return LegacyKeyStore(v.key_engine, v.keys.kek, clock=v.clock)
    return KeyStore(v.key_engine, v.keys.kek, clock=v.clock,
                    cache_size=0 if mode == "nocache" else 1 << 20)


def bench_backend(label: str, url: str, data_dir: Path, args: argparse.Namespace) -> dict:
    data_dir.mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "chat-assistant.yaml", data_dir / "register.yaml")
    cfg = Config(data_dir=data_dir, database_url=url)
    initialise_stores(cfg)
    (data_dir / "confida.toml").write_text("")
    rng = random.Random(12)
    best: dict[tuple[str, str], float] = {}
    with Vault.open(cfg) as v:
        console.print(f"{label}: storing one record for each of {args.subjects:,} subjects")
        res = record.collect_many(v, [
            CollectItem(f"user-{i}", "conversation_message",
                        {"conversation_id": f"c{i}", "text": f"hello {i}"}, "service")
            for i in range(args.subjects)
        ], actor=ADMIN)
        record_ids = [r.record_id for r in res]
        with v.key_engine.connect() as conn:
            key_ids = [k for k in conn.execute(select(data_key.c.key_id)).scalars()
                       if not k.startswith("system:")]
        picks = [rng.choice(key_ids) for _ in range(args.key_ops)]
        reads = [rng.choice(record_ids) for _ in range(args.reads)]
        batches = [rng.sample(key_ids, min(500, len(key_ids))) for _ in range(40)]
        stores = {m: keystore(v, m) for m in MODES}
        for ks in stores.values():  # warm every cache with every key first
            ks.get_keys(key_ids)
        ops: dict[str, tuple[list, Callable[[KeyStore, object], object]]] = {
            "get_key": (picks, lambda ks, k: ks.get_key(k)),
            "get_keys(500)": (batches, lambda ks, b: ks.get_keys(b)),
            "Vault.read": (reads, lambda _ks, r: record.read(v, r, "service", actor=ADMIN)),
        }
        for rnd in range(args.rounds):
            for op, (items, fn) in ops.items():
                # the modes take turns on small chunks, in rotating order, so that drift (machine
                # load, the audit log growing with every read) spreads evenly over them
                spent = dict.fromkeys(MODES, 0.0)
                step = max(1, len(items) // 20)
                for c, i in enumerate(range(0, len(items), step)):
                    chunk = items[i:i + step]
                    for mode in MODES[c % 3:] + MODES[:c % 3]:
                        ks = stores[mode]
                        v.keys = ks
                        t0 = time.perf_counter()
                        for it in chunk:
                            fn(ks, it)
                        spent[mode] += time.perf_counter() - t0
                for mode in MODES:
                    r = len(items) / spent[mode]
                    best[(op, mode)] = max(best.get((op, mode), 0.0), r)
            console.print(f"{label}: round {rnd + 1}/{args.rounds} done")
    return best


def report(label: str, best: dict[tuple[str, str], float]) -> None:
    t = Table(title=f"{label}: operations per second (best of rounds), cost per call")
    t.add_column("operation")
    for m in MODES:
        t.add_column(f"{m} ops/s", justify="right")
        t.add_column(f"{m} µs", justify="right")
    t.add_column("validated / legacy", justify="right")
    t.add_column("validated / nocache", justify="right")
    for op in ("get_key", "get_keys(500)", "Vault.read"):
        row = [op]
        for m in MODES:
            r = best[(op, m)]
            row += [f"{r:,.0f}", f"{1e6 / r:,.1f}"]
        row.append(f"{best[(op, 'validated')] / best[(op, 'legacy')]:.2f}")
        row.append(f"{best[(op, 'validated')] / best[(op, 'nocache')]:.2f}")
        t.add_row(*row)
    console.print(t)
    extra = 1e6 / best[("get_key", "validated")] - 1e6 / best[("get_key", "legacy")]
    read_us = 1e6 / best[("Vault.read", "legacy")]
    console.print(f"{label}: validation adds {extra:,.1f} µs per key use; one Vault.read takes "
                  f"{read_us:,.0f} µs with the legacy cache ({100 * extra / read_us:.1f}% if the "
                  "read uses one key)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", type=int, default=2000)
    ap.add_argument("--key-ops", type=int, default=20000)
    ap.add_argument("--reads", type=int, default=1500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--sqlite-only", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        best = bench_backend("SQLite", f"sqlite:///{Path(tmp) / 's' / 'confida.db'}",
                             Path(tmp) / "s", args)
        report("SQLite record store", best)
        if not args.sqlite_only:
            with pg_schema(args.database_url) as url:
                if url:
                    best = bench_backend("PostgreSQL", url, Path(tmp) / "p", args)
                    report("PostgreSQL record store (key store: SQLite file)", best)


if __name__ == "__main__":
    main()
