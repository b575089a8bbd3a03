"""Flat costs at scale: collect rate, reads, erasure and export as the record store grows.

Run by hand (the defaults are the full measurement and take hours):

    cd bench && ../.venv/bin/python scale.py        # SQLite: 1,000,000 records / 100,000 subjects
    cd bench && ../.venv/bin/python scale.py \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test   # 10,000,000 / 1,000,000
    cd bench && ../.venv/bin/python scale.py --records 20000 --subjects 2000 --export-records 2000

Fills ``--records`` ~1 KB conversation messages across ``--subjects`` subjects with
``record.collect_many`` (batches of ``--batch``; one message in ten carries a name and an e-mail
address), on SQLite in a temporary data dir, or on PostgreSQL in a fresh schema (dropped
afterwards unless ``--keep``). The key store is a SQLite file in the data dir unless
``--keystore-url`` names a PostgreSQL server (fresh schema there too).

Phases, in order:
  subjects  every subject's first record (this creates the subject row and its data key);
  fill      the remaining records, subjects drawn at random (or round-robin); one extra subject,
            ``export-subject``, gets ``--export-records`` records spread evenly over the fill;
  size      bytes stored per record against the mean plaintext JSON, total and per table;
  reads     ``record.read`` of ``--reads`` record ids drawn uniformly from all records
            (a reservoir sample kept during the fill), latency p50/p99;
  export    the access export (``rights.access_export``) of ``export-subject``;
  erasure   ``rights.erase`` of a typical subject and of ``export-subject`` (after one untimed
            warm-up erasure): time from the call until a read of their record raises, until
            the data key is gone, until the rows are deleted, until done.

Reported: collect rate per decile of the fill and last/first (target >= 0.8), read latency,
erasure and export times, bytes per record, the time each phase took, the load average before
and after, and one final JSON line. After the first decile the projected fill time is printed.
Ctrl-C during the subjects or fill phase stops the fill and measures the rest on what is stored;
Ctrl-C after that stops at once. Either way what was measured is printed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from confida import record, rights
from confida import subject as subjects
from confida.config import Config
from confida.errors import ConfidaError
from confida.pii import detect, summarize
from confida.record import CollectItem
from confida.store.schema import record as record_t
from confida.vault import Vault, initialise_stores, no_scan
from ingest import ADMIN, ROOT, message
from pgschema import pg_schema

console = Console(soft_wrap=True)  # long lines stay whole in a log file
DEFAULTS = {"postgresql": (10_000_000, 1_000_000), "sqlite": (1_000_000, 100_000)}
EXPORT_SUBJECT = "export-subject"
NAMES = ["Jane Roe", "Anna Schmidt", "Jonas Weber", "Maria Rossi", "Lukas Novak", "Sofia Garcia"]
TARGET_RATIO = 0.8


class Stop(Exception):
    """Ctrl-C after the fill: stop measuring and report."""


@dataclass
class Reservoir:
    """A uniform sample of ``size`` record ids out of however many pass by (Algorithm R)."""

    size: int
    rng: random.Random
    seen: int = 0
    items: list[str] = field(default_factory=list)

    def add(self, rid: str) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(rid)
        else:
            j = self.rng.randrange(self.seen)
            if j < self.size:
                self.items[j] = rid


@dataclass
class State:
    """Everything measured so far; the report prints whatever is here."""

    backend: str
    args: dict[str, Any]
    stored: int = 0  # records committed
    plaintext_bytes: int = 0  # their plaintext JSON, as record._encode makes it
    export_stored: int = 0  # of them, for EXPORT_SUBJECT
    subjects_done: int = 0
    phases: dict[str, float] = field(default_factory=dict)  # name -> wall seconds
    load: dict[str, list[float]] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    interrupted: str | None = None


def load_now() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def show_load(st: State, when: str) -> None:
    la = load_now()
    st.load[when] = la
    console.print(f"[dim]load average {when}: {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} "
                  f"(1/5/15 min) on {os.cpu_count()} CPUs[/dim]")


@contextmanager
def phase(st: State, name: str) -> Iterator[None]:
    console.rule(f"phase: {name}")
    show_load(st, f"before {name}")
    t0 = time.perf_counter()
    try:
        yield
    finally:
        st.phases[name] = time.perf_counter() - t0
        console.print(f"phase {name}: {st.phases[name]:.1f} s wall")
        show_load(st, f"after {name}")


def plaintext_len(data: dict[str, str]) -> int:
    """Bytes of the JSON record.collect encrypts (record._encode)."""
    return len(json.dumps(data, ensure_ascii=False, separators=(",", ":"),
                          sort_keys=True).encode())


def payload(rng: random.Random, i: int) -> dict[str, str]:
    m = message(rng)
    if i % 10 == 0:  # one message in ten carries a name and an e-mail address, as chats do
        name = NAMES[(i // 10) % len(NAMES)]
        first, last = name.lower().split()
        m["text"] = (f"Hi, I am {name}, mail me at {first}.{last}{i % 997}@example.org. "
                     + m["text"])[:1000]
    return m


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile of ``values`` (p in 0..100)."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def scanner_for(args: argparse.Namespace) -> dict[str, Any]:
    if args.no_scan:
        return {"scanner": no_scan}
    if args.names == "rules":
        return {"scanner": lambda t: summarize(detect(t, names="rules"))}
    return {}  # the vault's default: summarize(detect(text)), names="model"


# --- fill ----------------------------------------------------------------------------------------


class Filler:
    def __init__(self, v: Vault, st: State, args: argparse.Namespace) -> None:
        self.v, self.st, self.args = v, st, args
        self.rng = random.Random(args.seed)
        self.res = Reservoir(args.reads, random.Random(args.seed + 1))
        self.n_payload = 0
        self.erase_target = f"user-{args.subjects // 2}"
        self.erase_record: str | None = None
        self.warmup_record: str | None = None
        self.export_record: str | None = None

    def _store(self, items: list[CollectItem]) -> float:
        t0 = time.perf_counter()
        out = record.collect_many(self.v, items, actor=ADMIN)
        dt = time.perf_counter() - t0
        for it, c in zip(items, out, strict=True):
            self.st.plaintext_bytes += plaintext_len(dict(it.data))
            self.res.add(c.record_id)
            if it.subject == self.erase_target and self.erase_record is None:
                self.erase_record = c.record_id
            elif it.subject == "user-1" and self.warmup_record is None:
                self.warmup_record = c.record_id
            elif it.subject == EXPORT_SUBJECT:
                self.st.export_stored += 1
                self.export_record = self.export_record or c.record_id
        self.st.stored += len(items)
        return dt

    def _item(self, who: str) -> CollectItem:
        self.n_payload += 1
        return CollectItem(who, "conversation_message", payload(self.rng, self.n_payload),
                           "service")

    def subjects_phase(self, progress: Progress) -> None:
        m, b = self.args.subjects, self.args.batch
        task = progress.add_task("subjects (first record each)", total=m, rate="")
        busy = 0.0
        for i in range(0, m, b):
            busy += self._store([self._item(f"user-{j}") for j in range(i, min(m, i + b))])
            self.st.subjects_done = min(m, i + b)
            progress.update(task, completed=self.st.subjects_done,
                            rate=f"{self.st.subjects_done / busy:,.0f} rec/s")
        self.st.results["subjects_rate_per_s"] = m / busy if busy else None

    def fill_phase(self, progress: Progress) -> None:
        a = self.args
        total = a.records - a.subjects  # fill items, export-subject's included
        e = a.export_records
        deciles = [{"records": 0, "busy_s": 0.0, "wall_s": 0.0} for _ in range(10)]
        self.st.results["deciles"] = deciles
        task = progress.add_task("fill", total=total, rate="")
        if total < 10 * a.batch:
            progress.console.print("[yellow]a decile of the fill is smaller than a batch: some "
                                   "deciles stay empty (a batch counts in the decile it "
                                   "starts in)[/yellow]")
        rr = 0
        k = 0
        t_fill = time.perf_counter()
        busy_all = 0.0
        projected = False
        while k < total:
            items = []
            for kk in range(k, min(total, k + a.batch)):
                if (kk * e) // total != ((kk + 1) * e) // total:  # E items spread evenly
                    who = EXPORT_SUBJECT
                elif a.assign == "random":
                    who = f"user-{self.rng.randrange(a.subjects)}"
                else:
                    who = f"user-{rr % a.subjects}"
                    rr += 1
                items.append(self._item(who))
            tw = time.perf_counter()
            dt = self._store(items)
            d = deciles[min(9, k * 10 // total)]
            d["records"] += len(items)
            d["busy_s"] += dt
            d["wall_s"] += time.perf_counter() - tw
            busy_all += dt
            k += len(items)
            self.st.results["deciles_complete"] = min(10, k * 10 // total)
            progress.update(task, completed=k, rate=f"{k / busy_all:,.0f} rec/s")
            if not projected and k * 10 >= total:
                projected = True
                first = time.perf_counter() - t_fill
                eta = datetime.now() + timedelta(seconds=first * 9)
                progress.console.print(
                    f"first decile: {d['records']:,} records in {first:,.1f} s "
                    f"({d['records'] / d['busy_s']:,.0f} records/s in collect_many); projected "
                    f"fill: {first * 10 / 60:,.1f} min in all, done about {eta:%Y-%m-%d %H:%M}")
            if k * 10 // total != (k - len(items)) * 10 // total:
                i = min(9, (k - len(items)) * 10 // total)
                dd = deciles[i]
                progress.console.print(
                    f"decile {i + 1}/10: {dd['records'] / dd['busy_s']:,.0f} records/s "
                    f"({dd['records']:,} records, {dd['busy_s']:.1f} s in collect_many)")


def run_fill(f: Filler, st: State) -> None:
    cols = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn())
    try:
        with Progress(*cols, console=console) as progress:
            with phase(st, "subjects"):
                f.subjects_phase(progress)
            with phase(st, "fill"):
                f.fill_phase(progress)
    except KeyboardInterrupt:
        st.interrupted = (f"fill stopped by Ctrl-C at {st.stored:,} records "
                          f"of {st.args['records']:,}")
        console.print(f"[yellow]{st.interrupted}; measuring the rest on what is stored "
                      "(Ctrl-C again stops at once)[/yellow]")
    d = st.results.get("deciles")
    if d:
        rates = [x["records"] / x["busy_s"] if x["busy_s"] else None for x in d]
        st.results["decile_rates_per_s"] = rates
        n = st.results.get("deciles_complete", 0)  # a decile cut short is left out of the ratio
        done = [(i, x) for i, x in enumerate(rates[:n]) if x]  # (empty when decile < batch)
        if len(done) >= 2:
            st.results["last_first_ratio"] = done[-1][1] / done[0][1]
            st.results["ratio_deciles"] = f"{done[-1][0] + 1}/{done[0][0] + 1}"


# --- sizes ---------------------------------------------------------------------------------------


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def sqlite_sizes(path: Path) -> dict[str, Any]:
    files = {p.name: p.stat().st_size for p in
             (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
             if p.exists()}
    tables: dict[str, int] = {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT COALESCE(s.tbl_name, d.name), SUM(d.pgsize) FROM dbstat d "
            "LEFT JOIN sqlite_schema s ON s.name = d.name GROUP BY 1").fetchall()
        tables = {name: int(n) for name, n in rows}
    except sqlite3.Error as exc:  # no dbstat in this build: file sizes only
        tables = {"(dbstat unavailable)": 0}
        console.print(f"[yellow]per-table sizes unavailable: {exc}[/yellow]")
    finally:
        conn.close()
    return {"files": files, "tables": tables, "total": sum(files.values()) - files.get(
        path.name + "-shm", 0)}


PG_SIZES = text("""
    SELECT c.relname, pg_total_relation_size(c.oid), pg_relation_size(c.oid),
           pg_indexes_size(c.oid),
           COALESCE(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
    ORDER BY 2 DESC""")


def pg_sizes(engine: Any) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(PG_SIZES).all()
    tables = {r[0]: int(r[1]) for r in rows}
    detail = {r[0]: {"heap": int(r[2]), "indexes": int(r[3]), "toast": int(r[4])} for r in rows}
    return {"tables": tables, "detail": detail, "total": sum(tables.values())}


def measure_sizes(v: Vault, st: State) -> None:
    out: dict[str, Any] = {}
    with v.engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(record_t)).scalar_one()
    out["records_counted"] = int(count)
    for label, eng, url in (("store", v.engine, v.config.database_url),
                            ("keystore", v.key_engine, v.config.keystore_url)):
        out[label] = (sqlite_sizes(sqlite_path(url)) if url.startswith("sqlite:///")
                      else pg_sizes(eng))
    total = out["store"]["total"] + out["keystore"]["total"]
    out["bytes_per_record"] = total / count if count else None
    if "files" in out["store"] and count:
        # SQLite: the pages in use (dbstat), without the WAL's second copies of recent pages
        used = sum(sum(out[p]["tables"].values()) for p in ("store", "keystore"))
        out["bytes_per_record_in_pages"] = used / count
    out["plaintext_bytes_per_record"] = st.plaintext_bytes / st.stored if st.stored else None
    if out["bytes_per_record"] and out["plaintext_bytes_per_record"]:
        out["overhead_x"] = out["bytes_per_record"] / out["plaintext_bytes_per_record"]
    st.results["size"] = out
    if count != st.stored:
        console.print(f"[yellow]record table holds {count:,} rows, the bench stored "
                      f"{st.stored:,}[/yellow]")


# --- reads, export, erasure ----------------------------------------------------------------------


def measure_reads(v: Vault, st: State, ids: list[str]) -> None:
    ids = list(ids)
    random.Random(3).shuffle(ids)
    lat: list[float] = []
    errors = 0
    try:
        for rid in ids:
            t0 = time.perf_counter()
            try:
                record.read(v, rid, "service", actor=ADMIN)
            except ConfidaError:
                errors += 1
                continue
            lat.append(time.perf_counter() - t0)
    except KeyboardInterrupt:
        raise Stop from None
    finally:
        if lat:
            st.results["reads"] = {
                "n": len(lat), "errors": errors, "p50_ms": pct(lat, 50) * 1e3,
                "p99_ms": pct(lat, 99) * 1e3, "mean_ms": sum(lat) / len(lat) * 1e3,
                "max_ms": max(lat) * 1e3,
                "key_cache": f"as the fill left it ({v.keys._cache_size} keys at most)"}


def subject_id(v: Vault, who: str) -> str | None:
    with v.engine.connect() as conn:
        s = subjects.find(v, conn, who)
    return s.id if s else None


def measure_export(v: Vault, st: State) -> None:
    sid = subject_id(v, EXPORT_SUBJECT)
    if sid is None:
        return
    v.keys.forget_cached(sid)  # as for a subject not seen lately: one key store read
    buf = io.BytesIO()
    c0 = time.process_time()
    t0 = time.perf_counter()
    try:
        exp = rights.access_export(v, EXPORT_SUBJECT, buf, verified_by="bench", actor=ADMIN)
    except KeyboardInterrupt:
        raise Stop from None
    st.results["export"] = {"records": exp.records, "s": time.perf_counter() - t0,
                            "cpu_s": time.process_time() - c0,
                            "zip_mb": len(buf.getvalue()) / 1e6}


def measure_erasure(v: Vault, st: State, who: str, rid: str | None, label: str) -> None:
    """rights.erase, with a read of the subject's record tried right after the begin and shred
    steps (``progress`` callbacks). ``unreadable_ms`` is when that read raised, from the call;
    the step times leave out the time spent in these probe reads."""
    sid = subject_id(v, who)
    if sid is None or rid is None:
        return
    out: dict[str, Any] = {"subject": who}
    t0 = 0.0
    probe = 0.0  # seconds spent in the probes, left out of the step times

    def try_read(step: str) -> None:
        key = f"read_raised_{step}"
        try:
            record.read(v, rid, "service", actor=ADMIN)
            out[key] = None  # still readable after this step
        except ConfidaError as exc:
            out[key] = type(exc).__name__
            # when the read raised, less the time of the probes before it
            out.setdefault("unreadable_ms", (time.perf_counter() - t0 - probe) * 1e3)
            out.setdefault("unreadable_after", step)

    def mark(step: str) -> None:
        nonlocal probe
        now = time.perf_counter()
        out[f"{step}_ms"] = (now - t0 - probe) * 1e3
        if step in ("begin", "shred"):
            try_read(step)
        if step == "shred":
            try:
                v.keys.get_key(sid)
                out["key_after_shred"] = "still there"
            except ConfidaError as exc:
                out["key_after_shred"] = type(exc).__name__
                out["key_gone_ms"] = out["shred_ms"]
        probe += time.perf_counter() - now

    try:
        t0 = time.perf_counter()
        res = rights.erase(v, who, verified_by="bench", actor=ADMIN, progress=mark)
        out["total_ms"] = (time.perf_counter() - t0 - probe) * 1e3
    except KeyboardInterrupt:
        st.results[label] = out
        raise Stop from None
    out["probe_ms"] = probe * 1e3
    out["records"] = res.records
    try:
        v.keys.get_key(sid)
        out["key_after"] = "still there"
    except ConfidaError as exc:
        out["key_after"] = type(exc).__name__
    st.results[label] = out


# --- the run -------------------------------------------------------------------------------------


@contextmanager
def kept_pg_schema(base: str) -> Iterator[str]:
    """Like pgschema.pg_schema, but the schema stays (for --keep)."""
    eng = create_engine(base, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with eng.connect() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    eng.dispose()
    console.print(f"PostgreSQL schema kept: {schema}")
    yield make_url(base).update_query_dict(
        {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


def fresh_schema(stack: ExitStack, base: str, keep: bool) -> str:
    url = stack.enter_context(kept_pg_schema(base) if keep else pg_schema(base))
    if url is None:
        raise SystemExit(f"PostgreSQL at {make_url(base).render_as_string()} is not reachable")
    return url


def run(args: argparse.Namespace, st: State) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="confida-bench-scale-"))
    data = tmp / "data"
    with ExitStack() as stack:
        if not args.keep:
            stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        url = (fresh_schema(stack, args.database_url, args.keep) if args.database_url
               else f"sqlite:///{data / 'confida.db'}")
        key_url = fresh_schema(stack, args.keystore_url, args.keep) if args.keystore_url else ""
        data.mkdir(mode=0o700)
        shutil.copy(ROOT / "examples" / "chat-assistant.yaml", data / "register.yaml")
        cfg = Config(data_dir=data, database_url=url, keystore_url=key_url)
        initialise_stores(cfg)
        (data / "confida.toml").write_text("")
        st.results["data_dir"] = str(data)
        st.results["keystore"] = "postgresql" if key_url else "sqlite"
        with Vault.open(cfg, **scanner_for(args)) as v:
            # the first scan loads the name model: not part of the first decile
            v.scan("warm-up: Hi, I am Jane Roe, mail me at jane.roe@example.org.")
            f = Filler(v, st, args)
            run_fill(f, st)
            try:
                with phase(st, "size"):
                    measure_sizes(v, st)
                with phase(st, "reads"):
                    measure_reads(v, st, f.res.items)
                with phase(st, "export"):
                    measure_export(v, st)
                with phase(st, "erasure"):
                    # one untimed erasure first: its one-off costs (the journal file, code
                    # paths not run before) are not charged to the figures below
                    measure_erasure(v, st, "user-1", f.warmup_record, "erasure_warmup")
                    measure_erasure(v, st, f.erase_target, f.erase_record, "erasure_typical")
                    measure_erasure(v, st, EXPORT_SUBJECT, f.export_record, "erasure_export")
            except (Stop, KeyboardInterrupt):
                st.interrupted = (st.interrupted or "") + "; measurements stopped by Ctrl-C"
                console.print("[yellow]stopped by Ctrl-C: reporting what was measured[/yellow]")
        if args.keep:
            console.print(f"data dir kept: {data}")


# --- report --------------------------------------------------------------------------------------


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def report(st: State) -> None:
    r = st.results
    console.rule("results")
    a = st.args
    console.print(f"backend {st.backend} (key store: {r.get('keystore', '?')}); "
                  f"{st.stored:,} records stored of {a['records']:,}, across "
                  f"{a['subjects']:,} subjects + {EXPORT_SUBJECT}; batch {a['batch']}; "
                  f"scan {a['scan']}; assignment {a['assign']}")
    if st.interrupted:
        console.print(f"[yellow]interrupted: {st.interrupted}[/yellow]")
    if r.get("subjects_rate_per_s"):
        console.print(f"subjects phase: {r['subjects_rate_per_s']:,.0f} records/s "
                      "(each creates a subject and its data key)")
    rates = r.get("decile_rates_per_s")
    if rates:
        console.print("1. collect rate per decile of the fill (records/s, time inside "
                      "collect_many):")
        n = r.get("deciles_complete", 0)
        console.print("   " + "  ".join(
            "-" if not x else f"{x:,.0f}" if i < n else f"({x:,.0f}, cut short)"
            for i, x in enumerate(rates)))
        if "last_first_ratio" in r:
            ok = "meets" if r["last_first_ratio"] >= TARGET_RATIO else "MISSES"
            console.print(f"   last/first decile ({r['ratio_deciles']}): "
                          f"{r['last_first_ratio']:.2f} ({ok} the target >= {TARGET_RATIO})")
    rd = r.get("reads")
    if rd:
        console.print(f"2. random reads (record.read, {rd['n']:,} ids sampled uniformly from "
                      f"all records stored): p50 {rd['p50_ms']:.2f} ms, p99 "
                      f"{rd['p99_ms']:.2f} ms, mean {rd['mean_ms']:.2f} ms, "
                      f"max {rd['max_ms']:.1f} ms; errors {rd['errors']}")
    for label, title in (("erasure_typical", "a typical subject"),
                         ("erasure_export", f"{EXPORT_SUBJECT}")):
        e = r.get(label)
        if not e:
            continue
        recs = e.get("records", "?")
        console.print(
            f"3. erasure of {title} ({recs} records): begin step committed at "
            f"{e.get('begin_ms', float('nan')):.1f} ms, a read tried then raised "
            f"{e.get('read_raised_begin') or e.get('read_raised_shred')} at "
            f"{e.get('unreadable_ms', float('nan')):.1f} ms; data key destroyed at "
            f"{e.get('key_gone_ms', float('nan')):.1f} ms (key store then: "
            f"{e.get('key_after_shred')}); rows deleted at "
            f"{e.get('delete_ms', float('nan')):.1f} ms; done "
            f"{e.get('total_ms', float('nan')):.1f} ms (all from the call; step times leave "
            f"out the {e.get('probe_ms', float('nan')):.1f} ms spent in the bench's probes)")
    ex = r.get("export")
    if ex:
        console.print(f"4. access export of {EXPORT_SUBJECT}: {ex['records']:,} records in "
                      f"{ex['s']:.2f} s ({ex['cpu_s']:.2f} s CPU), zip {ex['zip_mb']:.1f} MB")
    sz = r.get("size")
    if sz:
        console.print(f"5. storage: {sz['bytes_per_record']:,.0f} bytes per record stored vs "
                      f"{sz['plaintext_bytes_per_record']:,.0f} bytes plaintext JSON "
                      f"({sz.get('overhead_x', 0):.2f}x); {sz['records_counted']:,} records")
        if sz.get("bytes_per_record_in_pages"):
            console.print(f"   (SQLite: files incl. WAL as above; pages in use by tables and "
                          f"indexes: {sz['bytes_per_record_in_pages']:,.0f} bytes per record)")
        for label in ("store", "keystore"):
            part = sz[label]
            files = part.get("files")
            head = f"   {label}: {mb(part['total'])}"
            if files:
                head += " (" + ", ".join(f"{k} {mb(n)}" for k, n in files.items()) + ")"
            console.print(head)
            detail = part.get("detail", {})
            for name, n in sorted(part["tables"].items(), key=lambda kv: -kv[1]):
                if n < 64 * 1024 and name not in ("record", "subject", "data_key"):
                    continue
                per = n / sz["records_counted"] if sz["records_counted"] else 0
                extra = ""
                if name in detail:
                    d = detail[name]
                    extra = (f"  (heap {mb(d['heap'])}, indexes {mb(d['indexes'])}, "
                             f"toast {mb(d['toast'])})")
                console.print(f"     {name:<18}{mb(n):>12}{per:>9,.0f} B/record{extra}")
            console.print("     (tables under 64 KB not shown)")
    console.print("time per phase: " + ", ".join(f"{k} {v:,.1f} s" for k, v in
                                                  st.phases.items()))
    console.print(f"load average: {st.load.get('at start')} at start, "
                  f"{load_now()} at the end (1/5/15 min, {os.cpu_count()} CPUs; wall-clock "
                  "figures stretch when the machine is shared)")
    line = {"bench": "scale", "backend": st.backend, "args": st.args, "stored": st.stored,
            "export_subject_records": st.export_stored, "interrupted": st.interrupted,
            "phases_s": st.phases, "load": {**st.load, "at end": load_now()}, **r}
    print(json.dumps(line, default=str))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=None,
                    help="records in all (default: PostgreSQL 10,000,000; SQLite 1,000,000)")
    ap.add_argument("--subjects", type=int, default=None,
                    help="subjects (default: PostgreSQL 1,000,000; SQLite 100,000)")
    ap.add_argument("--database-url", default=None,
                    help="a PostgreSQL server (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/"
                    "test); the run uses a fresh schema there. Default: SQLite in a temp dir")
    ap.add_argument("--keystore-url", default=None,
                    help="a PostgreSQL server for the key store (fresh schema). Default: a "
                    "SQLite file in the data dir, as Config has it")
    ap.add_argument("--batch", type=int, default=1000, help="records per collect_many call")
    ap.add_argument("--assign", choices=("random", "round-robin"), default="random",
                    help="how fill records are given to subjects (default: random)")
    ap.add_argument("--reads", type=int, default=2000, help="random reads to time")
    ap.add_argument("--export-records", type=int, default=10_000,
                    help=f"records of {EXPORT_SUBJECT}, spread over the fill (default 10,000)")
    scan = ap.add_mutually_exclusive_group()
    scan.add_argument("--names", choices=("rules", "model"), default="model",
                      help="how the PII scan finds names (default: model, the vault's default "
                      "scanner)")
    scan.add_argument("--no-scan", action="store_true",
                      help="switch the PII scan off (confida.vault.no_scan)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true",
                    help="keep the data dir (and the PostgreSQL schemas)")
    args = ap.parse_args()
    backend = "postgresql" if args.database_url else "sqlite"
    if args.database_url and not args.database_url.startswith("postgresql"):
        ap.error("--database-url takes a PostgreSQL URL; SQLite is the default")
    if args.keystore_url and not args.keystore_url.startswith("postgresql"):
        ap.error("--keystore-url takes a PostgreSQL URL; a SQLite file is the default")
    args.records = args.records or DEFAULTS[backend][0]
    args.subjects = args.subjects or DEFAULTS[backend][1]
    if args.batch < 1 or args.batch > record.MAX_BATCH:
        ap.error(f"--batch must be 1..{record.MAX_BATCH}")
    if args.subjects < 4 or args.records < args.subjects + args.export_records:
        ap.error("--records must be at least --subjects + --export-records (and --subjects >= 4)")
    scan_mode = "off" if args.no_scan else f"on (names={args.names})"
    st = State(backend, {"records": args.records, "subjects": args.subjects,
                         "batch": args.batch, "assign": args.assign, "reads": args.reads,
                         "export_records": args.export_records, "scan": scan_mode,
                         "keystore_url": bool(args.keystore_url), "seed": args.seed})
    console.print(f"scale bench on {backend}: {args.records:,} records, {args.subjects:,} "
                  f"subjects, batch {args.batch}, scan {scan_mode}, {os.cpu_count()} CPUs")
    console.print("phases: subjects -> fill -> size -> reads -> export -> erasure; the fill's "
                  "projected duration is printed after its first decile")
    show_load(st, "at start")
    try:
        run(args, st)
    finally:
        report(st)


if __name__ == "__main__":
    main()
