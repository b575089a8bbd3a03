"""Soak test: mixed load for N minutes, with the server SIGKILLed and restarted every minute.

Run by hand (the lead's full run is 10 minutes per backend):
    .venv/bin/python bench/soak.py --backend sqlite --minutes 10
    .venv/bin/python bench/soak.py --backend postgresql --minutes 10 \
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
Options: --rate (API requests per second, default 100), --seed, --api-threads, --cli-writers,
--restart-every (seconds, default 60), --keep (keep the data dir and print its path).

What runs, concurrently, on a fresh data dir (PostgreSQL: a throwaway schema, dropped after):

- ``confida serve`` over HTTPS (the data dir's own certificate; the client verifies it);
- API clients (httpx, a few threads, real TLS) at ``--rate``: collect, read, consent grant or
  withdraw, and erasure, scheduled open-loop (request i at t0 + i/rate);
- CLI writers: a loop of ``confida collect`` processes writing to the same store;
- the console's compliance check, driven as staff would (login with an API key, then the form
  POST with its CSRF token), every 20 s;
- ``confida retention run`` every 30 s;
- a SIGKILL of the server and a restart every ``--restart-every`` seconds.

Every acknowledged write is tracked (a record id returned with 2xx, or by a CLI exiting 0), and
every completed erasure (with the time it was asked for and the time it returned). At the end the
server is restarted once more and the store is checked from a fresh process:

- acknowledged writes present: every acknowledged record is in the store and decrypts, except
  records of subjects erased after the acknowledgement (those must be gone);
- erased subjects readable: every record of an erased subject, acknowledged before the erasure
  was asked for, is read through the API (must not answer 200) and through the core (no row, or
  no key to open it); must be 0;
- HTTP 5xx outside restart windows (must be 0); connection errors inside restart windows are
  reported separately (a killed server drops its connections; that is expected);
- ``PRAGMA integrity_check`` on every SQLite file, and ``confida audit verify``;
- the achieved request rate.

It prints a summary table and exits 1 if any invariant failed, so it can gate a release.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from pgschema import pg_schema  # noqa: E402

console = Console()
PURPOSE = "service"
GRACE_S = 2.0  # after a restart is healthy, errors still count as part of the restart window


def confida_cmd(data_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", "from confida.cli import main; main()",
            "--data-dir", str(data_dir), *args]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("CONFIDA_DATA_DIR", None)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- what was seen ---------------------------------------------------------------------------


@dataclass
class Ack:
    record_id: str
    subject: str
    text: str
    at: float
    via: str  # api | cli


@dataclass
class Erasure:
    subject: str
    asked: float
    done: float
    kept: list[str]


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    acks: list[Ack] = field(default_factory=list)
    erasures: dict[str, Erasure] = field(default_factory=dict)
    unfinished: dict[str, float] = field(default_factory=dict)  # erasures never answered 200
    readable_live: list[str] = field(default_factory=list)  # read 200 just after the erasure
    resumed_at_end: list[str] = field(default_factory=list)  # "subject: status" of the retry
    ops: Counter[str] = field(default_factory=Counter)  # op -> completed (any answer)
    status: Counter[str] = field(default_factory=Counter)  # "op status" -> n
    five_xx: list[str] = field(default_factory=list)  # outside restart windows
    five_xx_in_window: int = 0
    conn_err_in_window: int = 0
    conn_err_outside: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # unexpected 4xx outside windows
    cli_ok: int = 0
    cli_fail: list[str] = field(default_factory=list)
    compliance: Counter[str] = field(default_factory=Counter)
    retention: Counter[str] = field(default_factory=Counter)
    retention_fail: list[str] = field(default_factory=list)
    restarts: list[float] = field(default_factory=list)  # seconds until healthy
    windows: list[list[float]] = field(default_factory=list)  # [start, end] (end may be open)

    def in_window(self, t0: float, t1: float) -> bool:
        """Did a request that ran from t0 to t1 overlap a restart window (plus grace)?"""
        with self.lock:
            for w in self.windows:
                end = (w[1] + GRACE_S) if len(w) > 1 else float("inf")
                if t0 <= end and t1 >= w[0]:
                    return True
        return False


# --- the server ------------------------------------------------------------------------------


class Server:
    def __init__(self, data_dir: Path, port: int, log: Path, ctx: ssl.SSLContext) -> None:
        self.data_dir, self.port, self.log_path, self.ctx = data_dir, port, log, ctx
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> float:
        t = time.monotonic()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                confida_cmd(self.data_dir, "serve", "--port", str(self.port)),
                stdout=log, stderr=subprocess.STDOUT, env=child_env(),
            )
        deadline = t + timeout
        with httpx.Client(verify=self.ctx, timeout=2.0) as c:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise SystemExit(f"server exited ({self.proc.returncode}); see {self.log_path}")
                try:
                    if c.get(self.url("/health")).status_code == 200:
                        return time.monotonic() - t
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        raise SystemExit(f"server not healthy after {timeout:.0f}s; see {self.log_path}")

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


# --- the load --------------------------------------------------------------------------------


class Load:
    """Shared state of the API clients: the subject pool and its per-subject locks.

    Operations on one subject are serialised in the client (a collect and that subject's erasure
    never overlap), so whether a record must survive is decided by times alone.
    """

    def __init__(self, seed: int, pool: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.lock = threading.Lock()
        self.next_subject = 0
        self.pool: list[str] = []
        self.locks: dict[str, threading.Lock] = {}
        self.records: dict[str, list[str]] = {}  # subject -> acked record ids (API + CLI)
        for _ in range(pool):
            self._new_subject()

    def _new_subject(self) -> str:
        s = f"soak-{self.seed}-{self.next_subject}"
        self.next_subject += 1
        self.pool.append(s)
        self.locks[s] = threading.Lock()
        return s

    def pick(self, rng: random.Random) -> str:
        with self.lock:
            return rng.choice(self.pool)

    def retire(self, subject: str) -> bool:
        """Take ``subject`` out of the pool for erasure; a fresh subject replaces it."""
        with self.lock:
            if subject not in self.pool:
                return False
            self.pool.remove(subject)
            self._new_subject()
            return True


def api_worker(
    n: int, args: argparse.Namespace, server: Server, key: str, load: Load, stats: Stats,
    schedule: dict[str, Any], stop: threading.Event,
) -> None:
    rng = random.Random(args.seed * 1000 + n)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(verify=server.ctx, timeout=30.0, headers=headers) as c:
        while not stop.is_set():
            with schedule["lock"]:
                i = schedule["next"]
                schedule["next"] += 1
            due = schedule["t0"] + i / args.rate
            wait = due - time.monotonic()
            if wait > 0 and stop.wait(wait):
                return
            r = rng.random()
            op = ("collect" if r < 0.5 else "read" if r < 0.78 else "consent" if r < 0.95
                  else "erase")
            try:
                _api_op(op, c, server, load, stats, rng)
            except Exception as exc:  # a bug in the driver must not pass silently
                with stats.lock:
                    stats.unexpected.append(f"{op}: driver error {type(exc).__name__}: {exc}")


def _classify(stats: Stats, op: str, t0: float, resp: httpx.Response | None,
              err: Exception | None, ok: set[int]) -> bool:
    """Count an answer; True when it is one of ``ok``."""
    t1 = time.monotonic()
    window = stats.in_window(t0, t1)
    with stats.lock:
        stats.ops[op] += 1
        if err is not None:
            stats.status[f"{op} conn-error"] += 1
            if window:
                stats.conn_err_in_window += 1
            else:
                stats.conn_err_outside.append(f"{op}: {type(err).__name__}: {err}"[:200])
            return False
        assert resp is not None
        stats.status[f"{op} {resp.status_code}"] += 1
        if resp.status_code >= 500:
            if window:
                stats.five_xx_in_window += 1
            else:
                stats.five_xx.append(f"{op} {resp.status_code}: {resp.text[:200]}")
            return False
        if resp.status_code not in ok:
            if not window:
                stats.unexpected.append(f"{op} {resp.status_code}: {resp.text[:200]}")
            return False
        return True


def _api_op(op: str, c: httpx.Client, server: Server, load: Load, stats: Stats,
            rng: random.Random) -> None:
    subj = load.pick(rng)
    if op == "read":
        with load.lock:
            candidates = [(s, rid) for s in rng.sample(load.pool, min(10, len(load.pool)))
                          for rid in load.records.get(s, [])[-3:]]
        if not candidates:
            op = "collect"
        else:
            s, rid = rng.choice(candidates)
            with load.locks[s]:
                with load.lock:
                    if s not in load.pool:  # retired for erasure while this waited
                        return
                t0 = time.monotonic()
                try:
                    resp = c.get(server.url(f"/v1/records/{rid}"),
                                 headers={"Confida-Purpose": PURPOSE})
                    err = None
                except httpx.HTTPError as exc:
                    resp, err = None, exc
                if _classify(stats, op, t0, resp, err, {200}) and resp is not None:
                    with stats.lock:
                        want = next((a.text for a in reversed(stats.acks) if a.record_id == rid),
                                    None)
                    got = resp.json().get("data", {}).get("text")
                    if want is not None and got != want:
                        with stats.lock:
                            stats.unexpected.append(f"read {rid}: other text than written")
            return
    with load.locks[subj]:
        with load.lock:
            if subj not in load.pool:  # retired for erasure meanwhile
                return
        t0 = time.monotonic()
        resp: httpx.Response | None = None
        err: Exception | None = None
        if op == "collect":
            text = f"soak note {uuid.uuid4().hex[:12]} for the assistant"
            try:
                resp = c.post(server.url("/v1/records"), json={
                    "subject": subj, "kind": "conversation_message", "purpose": PURPOSE,
                    "data": {"conversation_id": f"c{rng.randrange(50)}", "role": "user",
                             "text": text}})
            except httpx.HTTPError as exc:
                err = exc
            if _classify(stats, op, t0, resp, err, {201}) and resp is not None:
                rid = resp.json()["record_id"]
                with stats.lock:
                    stats.acks.append(Ack(rid, subj, text, time.monotonic(), "api"))
                with load.lock:
                    load.records.setdefault(subj, []).append(rid)
        elif op == "consent":
            action = rng.choice(["grant", "withdraw"])
            try:
                resp = c.post(server.url(f"/v1/subjects/{subj}/consents"),
                              json={"purpose": "model_training", "action": action})
            except httpx.HTTPError as exc:
                err = exc
            _classify(stats, op, t0, resp, err, {201})
        elif op == "erase":
            with load.lock:
                has = bool(load.records.get(subj))
            if not has:
                return
            if not load.retire(subj):
                return
            asked = time.monotonic()
            ok = False
            # An erasure is retried until it completes (it is resumable and idempotent); one
            # still unfinished at the end is completed by final_checks.
            while time.monotonic() - asked < 300:
                t0 = time.monotonic()
                try:
                    resp = c.post(server.url(f"/v1/subjects/{subj}/erasure"),
                                  json={"verified_by": "soak:test",
                                        "request_id": f"soak-erase-{subj}"})
                    err = None
                except httpx.HTTPError as exc:
                    resp, err = None, exc
                ok = _classify(stats, op, t0, resp, err, {200})
                if ok or (resp is not None and resp.status_code < 500
                          and not stats.in_window(t0, time.monotonic())):
                    break
                time.sleep(1.0)
            if ok and resp is not None:
                body = resp.json()
                kept = [k.get("record_id") or k.get("id") or "" for k in body.get("kept", [])]
                with stats.lock:
                    stats.erasures[subj] = Erasure(subj, asked, time.monotonic(), kept)
                with load.lock:
                    gone = list(load.records.get(subj, []))
                # Right after the erasure, through the live server (whatever it cached).
                for rid in gone[-3:]:
                    try:
                        r = c.get(server.url(f"/v1/records/{rid}"),
                                  headers={"Confida-Purpose": PURPOSE})
                    except httpx.HTTPError:
                        continue
                    if r.status_code == 200:
                        with stats.lock:
                            stats.readable_live.append(rid)
            else:
                with stats.lock:
                    stats.unfinished[subj] = asked


def cli_writer(n: int, args: argparse.Namespace, data_dir: Path, load: Load, stats: Stats,
               stop: threading.Event) -> None:
    """``confida collect`` processes in a loop, on subjects of the shared pool (so CLI and API
    writes meet on the same subjects, as they do in a real deployment)."""
    rng = random.Random(args.seed * 7919 + n)
    while not stop.is_set():
        subj = load.pick(rng)
        text = f"cli note {uuid.uuid4().hex[:12]}"
        data = json.dumps({"conversation_id": "cli", "role": "user", "text": text})
        with load.locks[subj]:
            with load.lock:
                if subj not in load.pool:
                    continue
            p = subprocess.run(
                confida_cmd(data_dir, "--json", "collect", subj, "conversation_message",
                            "--purpose", PURPOSE, "--data", data),
                capture_output=True, text=True, env=child_env(),
            )
            if p.returncode == 0:
                rid = json.loads(p.stdout)["record_id"]
                with stats.lock:
                    stats.acks.append(Ack(rid, subj, text, time.monotonic(), "cli"))
                    stats.cli_ok += 1
                with load.lock:
                    load.records.setdefault(subj, []).append(rid)
            else:
                with stats.lock:
                    stats.cli_fail.append(f"rc={p.returncode}: {p.stderr.strip()[:200]}")


def console_compliance(server: Server, admin_key: str, stats: Stats, stop: threading.Event,
                       every: float) -> None:
    """The console's compliance check, as a member of staff runs it: login form (CSRF), then
    the POST on /console/compliance. A new browser session after each server restart."""
    import re

    token_re = re.compile(r'name="csrf" value="([^"]+)"')
    fail_re = re.compile(r'<tr class="check-fail"><td>([^<]+)</td>')
    while not stop.wait(every):
        t0 = time.monotonic()
        try:
            with httpx.Client(verify=server.ctx, timeout=120.0) as c:
                page = c.get(server.url("/console/login"))
                m = token_re.search(page.text)
                if m is None:
                    raise RuntimeError(f"login page without CSRF token ({page.status_code})")
                c.post(server.url("/console/login"),
                       data={"csrf": m.group(1), "api_key": admin_key})
                page = c.get(server.url("/console/compliance"))
                m = token_re.search(page.text)
                if m is None:
                    raise RuntimeError(f"not logged in ({page.status_code})")
                resp = c.post(server.url("/console/compliance"), data={"csrf": m.group(1)})
            err = None
        except (httpx.HTTPError, RuntimeError) as exc:
            resp, err = None, exc  # type: ignore[assignment]
        if isinstance(err, RuntimeError):
            with stats.lock:
                stats.compliance["driver error"] += 1
                if not stats.in_window(t0, time.monotonic()):
                    stats.unexpected.append(f"compliance: {err}")
            continue
        if _classify(stats, "compliance", t0, resp, err, {200}) and resp is not None:
            failing = fail_re.findall(resp.text)
            verdict = ("no report" if 'role="status"' not in resp.text
                       else f"fail ({', '.join(sorted(set(failing)))})" if failing else "pass")
            with stats.lock:
                stats.compliance[verdict] += 1


def retention_loop(data_dir: Path, stats: Stats, stop: threading.Event, every: float) -> None:
    while not stop.wait(every):
        p = subprocess.run(confida_cmd(data_dir, "--json", "retention", "run"),
                           capture_output=True, text=True, env=child_env())
        with stats.lock:
            stats.retention["ok" if p.returncode == 0 else f"rc={p.returncode}"] += 1
            if p.returncode != 0:
                stats.retention_fail.append(p.stderr.strip()[:200])


def restarter(server: Server, stats: Stats, stop: threading.Event, every: float) -> None:
    while not stop.wait(every):
        with stats.lock:
            stats.windows.append([time.monotonic()])
        server.kill()
        took = server.start()
        with stats.lock:
            stats.windows[-1].append(time.monotonic())
            stats.restarts.append(took)


# --- the end: what a fresh process finds -----------------------------------------------------


def final_checks(data_dir: Path, server: Server, admin_key: str, stats: Stats) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "src"))
    from sqlalchemy import select

    from confida.config import Config
    from confida.record import decrypt_row
    from confida.store.schema import record as record_t
    from confida.vault import Vault

    out: dict[str, Any] = {}
    # Interrupted erasures must complete when asked again (after the final restart).
    with httpx.Client(verify=server.ctx, timeout=60.0,
                      headers={"Authorization": f"Bearer {admin_key}"}) as c:
        for subj, asked in sorted(stats.unfinished.items()):
            resp = c.post(server.url(f"/v1/subjects/{subj}/erasure"),
                          json={"verified_by": "soak:test", "request_id": f"soak-erase-{subj}"})
            stats.resumed_at_end.append(f"{subj}: {resp.status_code}")
            if resp.status_code == 200:
                stats.erasures[subj] = Erasure(subj, asked, time.monotonic(), [])
    erasures = stats.erasures
    expected: list[Ack] = []
    must_be_gone: list[Ack] = []
    for a in stats.acks:
        e = erasures.get(a.subject)
        if e is None or a.at > e.done:
            expected.append(a)
        elif a.at < e.asked and a.record_id not in e.kept:
            must_be_gone.append(a)
    # through the API of a freshly restarted server
    readable_api = 0
    with httpx.Client(verify=server.ctx, timeout=30.0,
                      headers={"Authorization": f"Bearer {admin_key}",
                               "Confida-Purpose": PURPOSE}) as c:
        for a in must_be_gone:
            if c.get(server.url(f"/v1/records/{a.record_id}")).status_code == 200:
                readable_api += 1
    # through the core, from this (fresh) process
    cfg = Config.load(data_dir)
    missing: list[Ack] = []
    wrong: list[str] = []
    readable_core = 0
    with Vault.open(cfg) as v, v.engine.connect() as conn:
        ids = [a.record_id for a in expected + must_be_gone]
        rows: dict[str, Any] = {}
        for i in range(0, len(ids), 500):
            for r in conn.execute(select(record_t).where(record_t.c.id.in_(ids[i:i + 500]))):
                rows[r.id] = r
        for a in expected:
            row = rows.get(a.record_id)
            if row is None:
                missing.append(a)
                continue
            try:
                if decrypt_row(v, row).get("text") != a.text:
                    wrong.append(f"{a.via} {a.record_id}: decrypts to other text")
            except Exception as exc:
                wrong.append(f"{a.via} {a.record_id} of {a.subject}: {type(exc).__name__}: "
                             f"{exc}"[:200])
        for a in must_be_gone:
            row = rows.get(a.record_id)
            if row is None:
                continue
            try:
                decrypt_row(v, row)
                readable_core += 1
            except Exception:
                pass  # the row outlived its key: unreadable, as promised
    out.update(expected=len(expected), present=len(expected) - len(missing), wrong=len(wrong),
               wrong_list=wrong,
               missing=missing[:10], missing_n=len(missing), erased_records=len(must_be_gone),
               readable_api=readable_api, readable_core=readable_core)
    integrity = {}
    for url in (cfg.database_url, cfg.keystore_url):
        if url.startswith("sqlite:///"):
            con = sqlite3.connect(url.removeprefix("sqlite:///"))
            try:
                integrity[Path(url).name] = ",".join(
                    r[0] for r in con.execute("PRAGMA integrity_check").fetchall())
            finally:
                con.close()
    out["integrity"] = integrity
    p = subprocess.run(confida_cmd(data_dir, "audit", "verify"), capture_output=True, text=True,
                       env=child_env())
    out["audit_rc"] = p.returncode
    out["audit_text"] = (p.stdout + p.stderr).strip().splitlines()[-1:] or [""]
    return out


# --- main ------------------------------------------------------------------------------------


def setup(tmp: Path, database_url: str | None) -> tuple[Path, str]:
    data_dir = tmp / "data"
    init = ["init"] + (["--database-url", database_url] if database_url else [])
    p = subprocess.run(confida_cmd(data_dir, *init), capture_output=True, text=True,
                       env=child_env())
    if p.returncode != 0:
        raise SystemExit(f"init failed: {p.stderr}")
    # The soak drives the API at its own rate; the per-key rate limit must not shape it.
    with (data_dir / "confida.toml").open("a") as f:
        f.write("\n[api]\nrate_per_second = 100000.0\nrate_burst = 100000\n")
    p = subprocess.run(confida_cmd(data_dir, "--json", "apikey", "create", "--role", "admin",
                                   "--label", "soak"),
                       capture_output=True, text=True, env=child_env())
    if p.returncode != 0:
        raise SystemExit(f"apikey create failed: {p.stderr}")
    return data_dir, json.loads(p.stdout)["key"]


def run(args: argparse.Namespace, database_url: str | None, tmp: Path) -> int:
    data_dir, key = setup(tmp, database_url)
    ctx = ssl.create_default_context(cafile=str(data_dir / "tls" / "cert.pem"))
    server = Server(data_dir, free_port(), tmp / "server.log", ctx)
    server.start()
    stats = Stats()
    load = Load(args.seed, args.subjects)
    stop = threading.Event()
    duration = args.minutes * 60.0
    schedule: dict[str, Any] = {"lock": threading.Lock(), "next": 0, "t0": time.monotonic()}
    threads = [threading.Thread(target=api_worker, daemon=True,
                                args=(n, args, server, key, load, stats, schedule, stop))
               for n in range(args.api_threads)]
    threads += [threading.Thread(target=cli_writer, daemon=True,
                                 args=(n, args, data_dir, load, stats, stop))
                for n in range(args.cli_writers)]
    threads.append(threading.Thread(target=console_compliance, daemon=True,
                                    args=(server, key, stats, stop, args.compliance_every)))
    threads.append(threading.Thread(target=retention_loop, daemon=True,
                                    args=(data_dir, stats, stop, args.retention_every)))
    restart_thread = threading.Thread(target=restarter, daemon=True,
                                      args=(server, stats, stop, args.restart_every))
    t0 = time.monotonic()
    for t in threads:
        t.start()
    restart_thread.start()
    with Progress(TextColumn("[bold]soak[/] {task.description}"), BarColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task("", total=duration)
        while (el := time.monotonic() - t0) < duration:
            with stats.lock:
                desc = (f"{sum(stats.ops.values())} API req ({sum(stats.ops.values()) / el:.0f}/s)"
                        f" · {len(stats.acks)} acked · {len(stats.erasures)} erased · "
                        f"{len(stats.restarts)} restarts · 5xx {len(stats.five_xx)} · "
                        f"CLI fail {len(stats.cli_fail)}") if el > 0 else "starting"
            bar.update(task, completed=el, description=desc)
            time.sleep(0.5)
        bar.update(task, completed=duration)
    stop.set()
    restart_thread.join(120)
    for t in threads:
        t.join(180)
    elapsed = time.monotonic() - t0
    # The end: one more SIGKILL and restart, then the checks, from fresh processes.
    with stats.lock:
        stats.windows.append([time.monotonic()])
    server.kill()
    stats.restarts.append(server.start())
    with stats.lock:
        stats.windows[-1].append(time.monotonic())
    try:
        res = final_checks(data_dir, server, key, stats)
    finally:
        server.stop()
    return report(args, stats, res, elapsed, database_url, tmp)


def report(args: argparse.Namespace, stats: Stats, res: dict[str, Any], elapsed: float,
           database_url: str | None, tmp: Path) -> int:
    api_total = sum(v for k, v in stats.ops.items() if k != "compliance")
    rate = api_total / elapsed if elapsed else 0.0
    rows: list[tuple[str, str, bool | None]] = [
        ("acknowledged writes present", f"{res['present']} / {res['expected']} "
         f"(API {sum(a.via == 'api' for a in stats.acks)}, CLI {stats.cli_ok})",
         res["missing_n"] == 0),
        ("acknowledged writes intact (decrypt to what was written)",
         f"{res['present'] - res['wrong']} / {res['present']}", res["wrong"] == 0),
        ("erased subjects readable (API / core)",
         f"{res['readable_api']} / {res['readable_core']} of {res['erased_records']} records, "
         f"{len(stats.erasures)} subjects", res["readable_api"] == 0 and res["readable_core"] == 0),
        ("erased records readable through the live server right after erasure",
         str(len(stats.readable_live)), not stats.readable_live),
        ("interrupted erasures completed when asked again",
         f"{sum(x.endswith(' 200') for x in stats.resumed_at_end)} / {len(stats.unfinished)}",
         all(x.endswith(" 200") for x in stats.resumed_at_end)),
        ("HTTP 5xx outside restart windows", str(len(stats.five_xx)), not stats.five_xx),
        ("connection errors outside restart windows", str(len(stats.conn_err_outside)),
         not stats.conn_err_outside),
        ("unexpected answers outside restart windows", str(len(stats.unexpected)),
         not stats.unexpected),
        ("CLI collects failed", f"{len(stats.cli_fail)} (ok {stats.cli_ok})", not stats.cli_fail),
        ("retention runs failed", f"{len(stats.retention_fail)} "
         f"({dict(stats.retention)})", not stats.retention_fail),
        ("PRAGMA integrity_check", ", ".join(f"{k}: {v}" for k, v in res["integrity"].items())
         or "n/a", all(v == "ok" for v in res["integrity"].values())),
        ("confida audit verify", f"rc={res['audit_rc']} {res['audit_text'][0][:80]}",
         res["audit_rc"] == 0),
        ("restart windows: connection errors / 5xx",
         f"{stats.conn_err_in_window} / {stats.five_xx_in_window}", None),
        ("server restarts (s until healthy)", f"{len(stats.restarts)} "
         f"(max {max(stats.restarts, default=0):.1f}s)", None),
        ("console compliance runs", ", ".join(f"{k} {v}" for k, v in
                                              sorted(stats.compliance.items())) or "none", None),
        ("achieved API rate", f"{rate:.1f} req/s (target {args.rate:g}); "
         f"{api_total} requests in {elapsed:.0f}s", None),
    ]
    t = Table(title=f"Soak: {args.backend}, {args.minutes:g} min, seed {args.seed}")
    t.add_column("invariant / figure")
    t.add_column("value")
    t.add_column("")
    failed = False
    for name, value, ok in rows:
        mark = "" if ok is None else ("[green]ok[/]" if ok else "[bold red]FAIL[/]")
        failed |= ok is False
        t.add_row(name, value, mark)
    console.print(t)
    by_status = ", ".join(f"{k} {v}" for k, v in sorted(stats.status.items()))
    console.print(f"answers: {by_status}")
    missing = [f"{a.via} {a.record_id}" for a in res["missing"]]
    for title, items in (("missing acknowledged records", missing),
                         ("acknowledged records that do not decrypt", res["wrong_list"]),
                         ("5xx outside restart windows", stats.five_xx),
                         ("connection errors outside restart windows", stats.conn_err_outside),
                         ("unexpected answers", stats.unexpected),
                         ("CLI failures", stats.cli_fail),
                         ("retention failures", stats.retention_fail)):
        if items:
            console.print(f"[bold]{title}[/] (first {min(5, len(items))} of {len(items)}):")
            for line in items[:5]:
                console.print(f"  {line}", soft_wrap=True, markup=False)
    console.print(f"server log: {tmp / 'server.log'}" if args.keep else "")
    console.print("[bold red]SOAK FAILED[/]" if failed else "[bold green]SOAK PASSED[/]")
    return 1 if failed else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=100.0, help="API requests per second")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
                    help="PostgreSQL server for --backend postgresql (a fresh schema is used)")
    ap.add_argument("--api-threads", type=int, default=8)
    ap.add_argument("--cli-writers", type=int, default=2)
    ap.add_argument("--subjects", type=int, default=300, help="size of the subject pool")
    ap.add_argument("--restart-every", type=float, default=60.0)
    ap.add_argument("--compliance-every", type=float, default=20.0)
    ap.add_argument("--retention-every", type=float, default=30.0)
    ap.add_argument("--keep", action="store_true", help="keep the data dir and server log")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="confida-soak-"))
    try:
        if args.backend == "postgresql":
            with pg_schema(args.database_url) as url:
                if url is None:
                    return 2
                return run(args, url, tmp)
        return run(args, None, tmp)
    finally:
        if args.keep:
            console.print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
