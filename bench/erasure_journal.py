"""The erasure journal's costs: per erasure, at `serve` start-up, and after a restore.

Run by hand:  PYTHONPATH=src .venv/bin/python bench/erasure_journal.py [--subjects 1000]
                  [--database-url URL] [--sqlite-only]

For each backend (SQLite always; PostgreSQL when the server at --database-url answers) it stores
--subjects subjects with one record each and measures:

- the journal's share of one erasure: the key-store row and the fsynced file line written
  before the key is destroyed, and the file line after (``record_elsewhere`` + ``record_done``),
  timed on their own, median over the erasures;
- erasing every subject (``rights.erase``), per erasure;
- the replay when nothing is missing (what every `confida serve` start pays);
- the replay after the record store and the key store are restored from a backup taken before
  the erasures (SQLite only: the backup API), i.e. every erasure run again.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console

from confida import erasure_journal, record, rights
from confida.backup import sqlite_restore, sqlite_snapshot
from confida.config import Config
from confida.operation import Actor
from confida.record import CollectItem
from confida.vault import Vault, initialise_stores, no_scan
from pgschema import pg_schema

ADMIN = Actor(id="bench", role="admin", source="cli")  # what the CLI acts as

ROOT = Path(__file__).resolve().parent.parent
console = Console()


def run(label: str, database_url: str | None, n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir(mode=0o700)
        (data / "register.yaml").write_text((ROOT / "examples" / "chat-assistant.yaml").read_text())
        cfg = Config(data_dir=data, database_url=database_url or "")
        initialise_stores(cfg)
        (data / "confida.toml").write_text(
            f'database_url = "{database_url}"\n' if database_url else "\n")
        v = Vault.open(cfg, scanner=no_scan)
        who = [f"user-{i}" for i in range(n)]
        for i in range(0, n, 500):
            items = [CollectItem(w, "account", {"email": f"{w}@example.org"}, "service")
                     for w in who[i:i + 500]]
            record.collect_many(v, items, actor=ADMIN)
        sqlite = database_url is None
        if sqlite:
            sqlite_snapshot(Path(cfg.database_url.removeprefix("sqlite:///")), Path(tmp) / "s.db")
            sqlite_snapshot(Path(cfg.keystore_url.removeprefix("sqlite:///")), Path(tmp) / "k.db")

        journal_s: list[float] = []
        real_else, real_done = erasure_journal.record_elsewhere, erasure_journal.record_done

        def timed(fn):  # type: ignore[no-untyped-def]
            def inner(*a, **kw):  # type: ignore[no-untyped-def]
                t = time.perf_counter()
                try:
                    return fn(*a, **kw)
                finally:
                    journal_s.append(time.perf_counter() - t)
            return inner

        erasure_journal.record_elsewhere = timed(real_else)  # type: ignore[assignment]
        erasure_journal.record_done = timed(real_done)  # type: ignore[assignment]
        t0 = time.perf_counter()
        for w in who:
            rights.erase(v, w, verified_by="bench")
        erase_s = (time.perf_counter() - t0) / n
        erasure_journal.record_elsewhere, erasure_journal.record_done = real_else, real_done
        per = [a + b for a, b in zip(journal_s[::2], journal_s[1::2], strict=False)]

        t0 = time.perf_counter()
        rep = erasure_journal.replay(v)
        noop_s = time.perf_counter() - t0
        assert rep.repaired == 0
        console.print(f"[bold]{label}[/], {n} erasures: erase {erase_s * 1000:.1f} ms each, of "
                      f"which journal {statistics.median(per) * 1000:.2f} ms (median); replay "
                      f"with nothing missing {noop_s * 1000:.0f} ms")
        v.close()
        if sqlite:
            sqlite_restore(Path(tmp) / "s.db", Path(cfg.database_url.removeprefix("sqlite:///")))
            sqlite_restore(Path(tmp) / "k.db", Path(cfg.keystore_url.removeprefix("sqlite:///")))
            v = Vault.open(cfg, scanner=no_scan)
            t0 = time.perf_counter()
            rep = erasure_journal.replay(v)
            full_s = time.perf_counter() - t0
            assert rep.erasures_completed == n and rep.keys_destroyed == n
            console.print(f"  after restoring a backup from before them: replay "
                          f"{full_s:.2f} s ({full_s / n * 1000:.1f} ms per erasure run again)")
            v.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=1000)
    ap.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--sqlite-only", action="store_true")
    a = ap.parse_args()
    run("SQLite", None, a.subjects)
    if not a.sqlite_only:
        with pg_schema(a.database_url) as url:
            if url:
                run("PostgreSQL (key store SQLite)", url, a.subjects)


if __name__ == "__main__":
    main()
