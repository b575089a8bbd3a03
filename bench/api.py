"""API load test: collect and read over HTTPS, open-loop and closed-loop, against a bare baseline.

Run by hand (nine measured phases of --seconds each, plus 1 s warm-ups and start-up):
    .venv/bin/python bench/api.py [--collect-rate 300] [--read-rate 500] [--seconds 10]
        [--workers N] [--database-url URL] [--no-overload] [--phases open,closed,overload]

It starts `confida serve` (HTTPS, TLS 1.2+, the data dir's self-signed certificate, passed
`--workers N` where it has that option: its own default may be more than one) and the baseline
on loopback, then runs:

open-loop (a fixed offered rate): collect (POST /v1/records, an API key, a ~1 KB conversation
  message) at --collect-rate and read (GET /v1/records/{id} with Confida-Purpose, the ids just
  collected) at --read-rate, each against the baseline and then confida. Request i is
  *scheduled* at t0 + i/rate whatever happened to earlier requests, and its latency is measured
  from that scheduled time, so a slow server (or a late client) cannot hide queueing (no
  coordinated omission). The generator is --clients processes (a small HTTP/1.1 keep-alive
  client on asyncio, about 0.1 ms of CPU a request; --connections to each server in all), each
  sending every --clients-th request; an unmeasured warm-up of up to 1 s at the same rate comes
  before each phase. At most --connections requests are at a server at once; the others wait
  in the client, and the wait is in their latency. Reported: requests that succeeded (2xx), 5xx
  other than 503, 503 (a refusal: not a success, and left out of the latencies; with how many
  carried Retry-After), other statuses, connection errors (any exception in the client),
  achieved successful req/s, p50 and p99 of the successful ones, the p99 of how late the client
  sent a request, and the client's own CPU use (cores in all, and the busiest process: near
  100 % means the client, not the server, was the limit).
closed-loop (the maximum rate): wrk -t1 -c32 --latency with bench/api_wrk.lua, for collect and
  read, against the baseline and confida: successful req/s, p50/p99 from wrk's latency
  distribution, non-2xx responses (by status: the script counts them), socket errors, and the
  ratio confida/baseline. Skipped, with a message, when wrk is not installed.
overload: collect offered open-loop at twice confida's closed-loop collect rate (or
  --overload-rate) for --seconds: 5xx, 503 with Retry-After, connection errors, p99 of the
  successful ones. The target is no 5xx other than a 503 with Retry-After, and no connection
  error.

At the end: a table, verdict lines for the targets (open-loop collect p99 < 50 ms at 300 req/s;
read p99 < 30 ms at 500 req/s; closed-loop collect and read at least 0.5x the baseline's rate;
overload without 5xx or connection errors; a latency verdict names the rate it was measured at
when that is not the target's), the load average before and after (other work on the machine
inflates latencies), and one JSON line with every number.

The baseline, measured in the same run with the same clients, TLS certificate and payloads: a
bare FastAPI app (in this file; under uvicorn over HTTPS, the same number of worker processes
sharing one listening socket) whose POST does a plain SQLAlchemy insert of the JSON payload and
whose GET selects it by id: no authentication, no encryption, no checks, no audit. The per-key
rate limit of confida is raised far above any offered load: this measures the server, not the
limiter. PostgreSQL: pass --database-url; each run uses fresh schemas, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Request  # module level: FastAPI resolves annotations

ROOT = Path(__file__).resolve().parent.parent
WRK_SCRIPT = Path(__file__).resolve().parent / "api_wrk.lua"
WORDS = ["the", "model", "answer", "please", "explain", "how", "to", "write", "a", "function",
         "that", "sorts", "list", "in", "python", "and", "why", "it", "works", "quickly"]
SUBJECTS = 500  # distinct subjects (and payloads) the collect requests cycle through
TARGETS = {"collect p99 ms": 50.0, "collect rate": 300.0, "read p99 ms": 30.0,
           "read rate": 500.0, "closed-loop ratio": 0.5}


def message(rng: random.Random) -> dict[str, str]:
    text_ = " ".join(rng.choice(WORDS) for _ in range(190))[:1000]
    return {"conversation_id": f"c-{rng.getrandbits(48):012x}", "role": "user", "text": text_,
            "model": "aria-2"}


def collect_bodies(target: str) -> list[str]:
    """The JSON bodies of the collect requests, the same in every process and in wrk's file."""
    rng = random.Random(7)
    out = []
    for j in range(SUBJECTS):
        body: dict[str, Any] = {"subject": f"user-{j}", "data": message(rng)}
        if target == "confida":
            body.update(kind="conversation_message", purpose="service")
        out.append(json.dumps(body))
    return out


# --- the baseline server ---------------------------------------------------------------------


def baseline_table() -> Any:
    from sqlalchemy import JSON, Column, MetaData, String, Table

    return Table("plain_record", MetaData(), Column("id", String(36), primary_key=True),
                 Column("subject", String(256)), Column("data", JSON))


def baseline_app(database_url: str) -> Any:
    from sqlalchemy import insert, select

    from confida.store.engine import make_engine

    t = baseline_table()
    engine = make_engine(database_url, create_dir=True)
    app = FastAPI()

    @app.post("/plain", status_code=201)
    async def plain_insert(request: Request) -> dict[str, str]:
        body = await request.json()
        rid = str(uuid.uuid4())

        def run() -> None:
            with engine.begin() as conn:
                conn.execute(insert(t).values(id=rid, subject=body["subject"], data=body["data"]))

        await asyncio.to_thread(run)
        return {"record_id": rid}

    @app.get("/plain/{rid}")
    def plain_read(rid: str) -> dict[str, Any]:
        with engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == rid)).first()
        if row is None:
            raise HTTPException(404)
        return {"id": row.id, "data": row.data}

    return app


def run_baseline_server(port: int, database_url: str, cert: str, key: str, workers: int) -> None:
    """Serve the baseline: ``workers`` uvicorn processes accepting on one listening socket."""
    import uvicorn

    from confida.server.run import TLSConfig
    from confida.store.engine import make_engine

    engine = make_engine(database_url, create_dir=True)
    baseline_table().metadata.create_all(engine)  # once, before the workers start
    engine.dispose()
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY on an accepted connection only when its
    # listening socket says so, and without it a response written in two pieces (headers, body)
    # waits on the client's delayed ACK (40 ms)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)

    def serve() -> None:
        # keep-alive as confida's default: the client, not the server, closes idle connections
        cfg = TLSConfig(baseline_app(database_url), host="127.0.0.1", port=port,
                        log_level="warning", ssl_certfile=cert, ssl_keyfile=key, access_log=False,
                        timeout_keep_alive=30)
        uvicorn.Server(cfg).run(sockets=[sock])

    if workers <= 1:
        serve()
        return

    def child() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        serve()

    ctx = multiprocessing.get_context("fork")  # the socket is inherited; engines made after
    procs = [ctx.Process(target=child) for _ in range(workers)]

    def stop(_signum: int, _frame: Any) -> None:
        for p in procs:
            if p.pid is not None and p.is_alive():
                p.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for p in procs:
        p.start()
    for p in procs:
        p.join()


# --- set-up ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, cert: Path, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until ``url`` answers over HTTPS (any status)."""
    ctx = ssl.create_default_context(cafile=str(cert))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url, verify=ctx, timeout=2)
            return
        except httpx.HTTPError:
            if proc.poll() is not None:
                raise SystemExit(f"server exited:\n{log.read_text()}") from None
            time.sleep(0.2)
    raise SystemExit(f"server did not start:\n{log.read_text()}")


def serve_has_workers(env: dict[str, str]) -> bool:
    """Whether ``confida serve`` takes ``--workers`` (older servers run one process only)."""
    out = subprocess.run([sys.executable, "-c", "from confida.cli import main; main()", "serve",
                          "--help"], env={**env, "COLUMNS": "200", "NO_COLOR": "1"},
                         capture_output=True, text=True, timeout=60)
    return "--workers" in out.stdout


def pg_schema_url(base: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    eng = create_engine(base, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    eng.dispose()
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def drop_schema(base: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    eng = create_engine(base, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    eng.dispose()


def make_data_dir(tmp: Path, database_url: str) -> tuple[Path, str]:
    from confida import credential
    from confida.config import Config
    from confida.operation import Actor
    from confida.tls import create_self_signed
    from confida.vault import Vault, initialise_stores

    data = tmp / "data"
    data.mkdir(mode=0o700)
    shutil.copy(ROOT / "examples" / "chat-assistant.yaml", data / "register.yaml")
    cfg = Config(data_dir=data, database_url=database_url)
    initialise_stores(cfg)
    # the per-key limit is raised far above any offered load (the overload phase included):
    # this measures the server, not the limiter
    (data / "confida.toml").write_text(
        f'database_url = "{database_url}"\n\n[api]\nrate_per_second = 1000000.0\n'
        "rate_burst = 1000000\n"
    )
    create_self_signed(cfg.tls_cert, cfg.tls_key)
    with Vault.open(cfg) as v:
        key = credential.create(v, "service", label="bench",
                                actor=Actor(id="cli:bench", role="admin", source="cli")).key
    return data, key


# --- the open-loop load generator (client processes) ----------------------------------------
#
# A minimal HTTP/1.1 keep-alive client on asyncio streams, not httpx: httpx spent 1.6 ms of CPU
# per request here (its TLS runs through anyio's memory BIO), this about 0.1 ms, and on a small
# machine the client's CPU is taken from the servers it measures. It speaks only what the two
# servers answer: a status line, headers, a body with Content-Length or chunked.


def raw_request(method: str, path: str, host: str, headers: dict[str, str],
                body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}",
             *(f"{k}: {v}" for k, v in headers.items())]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(r: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes], bytes, bool]:
    """Status, headers (lower-case names), body, and whether the connection may be reused."""
    head = await r.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    keep = headers.get(b"connection", b"").lower() != b"close"
    if b"content-length" in headers:
        body = await r.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        parts = []
        while size := int((await r.readline()).split(b";")[0], 16):
            parts.append((await r.readexactly(size + 2))[:-2])
        while (await r.readline()) not in (b"\r\n", b""):  # trailers
            pass
        body = b"".join(parts)
    elif status in (204, 304) or status < 200:
        body = b""
    else:  # delimited by the end of the connection
        body, keep = await r.read(), False
    return status, headers, body, keep


class Pool:
    """Keep-alive connections to one server, at most ``size`` requests in flight (the others
    wait for a connection, and the wait is in their latency)."""

    # An idle connection older than this is closed, not reused (as httpx does): the servers
    # close theirs after 30 s, and a request sent on a connection being closed gets no answer.
    IDLE_SECONDS = 5.0
    TIMEOUT = 60.0  # above the server's own 30 s request timeout

    def __init__(self, port: int, ctx: ssl.SSLContext, size: int) -> None:
        self.port, self.ctx = port, ctx
        self.slots = asyncio.Semaphore(size)
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []

    async def request(self, raw: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        async with self.slots:
            conn = None
            now = time.monotonic()
            while self.idle and conn is None:
                r, w, since = self.idle.pop()
                if now - since < self.IDLE_SECONDS and not r.at_eof():
                    conn = r, w
                else:
                    w.close()
            async with asyncio.timeout(self.TIMEOUT):
                if conn is None:
                    conn = await asyncio.open_connection("127.0.0.1", self.port, ssl=self.ctx)
                r, w = conn
                try:
                    w.write(raw)
                    status, headers, body, keep = await read_response(r)
                except BaseException:
                    w.transport.abort()
                    raise
            if keep:
                self.idle.append((r, w, time.monotonic()))
            else:
                w.close()
            return status, headers, body


def client_process(conn: Any, cfg: dict[str, Any]) -> None:
    """One generator process: runs the phases it is sent, one at a time, until it gets None."""
    asyncio.run(_client_loop(conn, cfg))


async def _client_loop(conn: Any, cfg: dict[str, Any]) -> None:
    ctx = ssl.create_default_context(cafile=cfg["cert"])
    pools = {t: Pool(cfg["ports"][t], ctx, cfg["connections"]) for t in ("confida", "baseline")}
    bodies = {t: [b.encode() for b in collect_bodies(t)] for t in ("confida", "baseline")}
    while True:
        cmd = conn.recv()  # blocking is fine: nothing else runs between phases
        if cmd is None:
            break
        conn.send(await _open_loop(pools[cmd["target"]], cfg, bodies, cmd))
    for pool in pools.values():
        for _r, w, _t in pool.idle:
            w.transport.abort()
    conn.close()


async def _open_loop(pool: Pool, cfg: dict[str, Any], bodies: dict[str, list[bytes]],
                     cmd: dict[str, Any]) -> dict[str, Any]:
    target, rate = cmd["target"], cmd["rate"]
    host = f"127.0.0.1:{cfg['ports'][target]}"
    auth = {"Authorization": f"Bearer {cfg['key']}"} if target == "confida" else {}
    if cmd["kind"] == "collect":
        path = "/v1/records" if target == "confida" else "/plain"
        headers = {**auth, "Content-Type": "application/json"}
        requests = [raw_request("POST", path, host, headers, b) for b in bodies[target]]
    else:
        prefix = "/v1/records/" if target == "confida" else "/plain/"
        headers = {**auth, "Confida-Purpose": "service"} if target == "confida" else {}
        requests = [raw_request("GET", prefix + i, host, headers) for i in cmd["ids"]]

    want_ids = cmd["want_ids"]
    lat: list[float] = []
    lag: list[float] = []
    status: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    got_ids: list[str] = []
    retry_after = 0
    cpu0 = time.process_time()
    t0 = time.perf_counter() + (cmd["t0"] - time.time())  # wall clock -> this process's clock
    last = t0

    async def one(i: int, scheduled: float) -> None:
        nonlocal retry_after, last
        lag.append(time.perf_counter() - scheduled)
        try:
            code, resp_headers, body = await pool.request(requests[i % len(requests)])
        except Exception as exc:  # noqa: BLE001 - every failure is counted, none ends the phase
            errors[type(exc).__name__] += 1
            last = max(last, time.perf_counter())
            return
        now = time.perf_counter()
        last = max(last, now)
        if 200 <= code < 300:
            lat.append(now - scheduled)
            if want_ids:
                got_ids.append(json.loads(body)["record_id"])
        else:
            status[code] += 1
            if code == 503 and b"retry-after" in resp_headers:
                retry_after += 1

    tasks = []
    for i in range(cmd["index"], cmd["n"], cmd["nprocs"]):
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    elapsed = max(last - t0, 1e-9)
    return {"lat": lat, "lag": lag, "status": dict(status), "errors": dict(errors),
            "retry_after": retry_after, "ids": got_ids, "elapsed": elapsed,
            "cpu": time.process_time() - cpu0}


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted ``values``, in ms."""
    return values[min(len(values) - 1, int(p * len(values)))] * 1000 if values else float("nan")


class OpenLoop:
    """The client processes, kept for the whole run so that their connections stay open."""

    def __init__(self, nprocs: int, connections: int, cfg: dict[str, Any]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Any] = []
        self.procs: list[Any] = []
        per = max(1, connections // nprocs)
        for _ in range(nprocs):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=client_process, args=(theirs, {**cfg, "connections": per}),
                               daemon=True)
            proc.start()
            theirs.close()
            self.pipes.append(ours)
            self.procs.append(proc)

    def run(self, target: str, kind: str, rate: float, seconds: float,
            ids: list[str] | None = None, want_ids: bool = False) -> dict[str, Any]:
        n = max(1, int(rate * seconds))
        t0 = time.time() + 0.3  # time for the command to reach every process
        for k, pipe in enumerate(self.pipes):
            pipe.send({"target": target, "kind": kind, "rate": rate, "n": n, "t0": t0,
                       "index": k, "nprocs": len(self.pipes), "ids": ids, "want_ids": want_ids})
        try:
            parts = [pipe.recv() for pipe in self.pipes]
        except EOFError:
            codes = [p.exitcode for p in self.procs]
            raise SystemExit(f"a client process ended (exit codes {codes})") from None
        lat = sorted(x for p in parts for x in p["lat"])
        lag = sorted(x for p in parts for x in p["lag"])
        status: Counter[int] = Counter()
        errors: Counter[str] = Counter()
        for p in parts:
            status.update(p["status"])
            errors.update(p["errors"])
        elapsed = max(p["elapsed"] for p in parts)
        return {
            "offered": rate, "sent": n, "ok": len(lat),
            "5xx": sum(c for s, c in status.items() if s >= 500 and s != 503),
            "503": status.get(503, 0), "503_retry_after": sum(p["retry_after"] for p in parts),
            "other_status": {str(s): c for s, c in sorted(status.items()) if s < 500},
            "conn_errors": sum(errors.values()), "errors": dict(errors),
            "rps": len(lat) / elapsed, "p50": pct(lat, 0.50), "p99": pct(lat, 0.99),
            "mean": statistics.fmean(lat) * 1000 if lat else float("nan"),
            "send_lag_p99": pct(lag, 0.99),
            "client_cpu_cores": sum(p["cpu"] for p in parts) / elapsed,
            "client_cpu_busiest": max(p["cpu"] / p["elapsed"] for p in parts),
            "elapsed": elapsed, "ids": [i for p in parts for i in p["ids"]],
        }

    def close(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(None)
            except OSError:
                pass
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()


# --- the closed-loop maximum (wrk) ----------------------------------------------------------


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}  # to ms


def write_wrk_requests(path: Path, headers: dict[str, str],
                       requests: list[tuple[str, str, str]]) -> Path:
    lines = [f"H\t{k}\t{v}" for k, v in headers.items()]
    lines += [f"R\t{m}\t{p}\t{b}" for m, p, b in requests]
    path.write_text("\n".join(lines) + "\n")
    return path


def parse_wrk(out: str) -> dict[str, Any]:
    def num(pattern: str) -> re.Match[str] | None:
        return re.search(pattern, out, re.MULTILINE)

    res: dict[str, Any] = {}
    if m := num(r"^Requests/sec:\s+([\d.]+)"):
        res["rps_all"] = float(m.group(1))
    if m := num(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)"):
        res["requests"] = int(m.group(1))
        res["duration_s"] = float(m.group(2)) * UNITS[m.group(3)] / 1000
    for p in ("50", "75", "90", "99"):
        if m := num(rf"^\s+{p}%\s+([\d.]+)(us|ms|s|m|h)\s*$"):
            res[f"p{p}"] = float(m.group(1)) * UNITS[m.group(2)]
    m = num(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
    res["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"),
                                    (int(g) for g in m.groups()))) if m else {}
    m = num(r"Non-2xx or 3xx responses: (\d+)")
    res["non_2xx"] = int(m.group(1)) if m else 0
    if m := num(r"^confida-bench-status (.*)$"):
        res["status"] = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    if "requests" not in res or "duration_s" not in res:
        raise SystemExit(f"could not read wrk's output:\n{out}")
    # wrk's Requests/sec counts error responses too: the rate compared is of the 2xx ones
    res["rps"] = (res["requests"] - res["non_2xx"]) / res["duration_s"]
    return res


def run_wrk(url: str, reqfile: Path, seconds: float, connections: int) -> dict[str, Any]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
           "--latency", "-s", str(WRK_SCRIPT), url, "--", str(reqfile)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if proc.returncode != 0:
        raise SystemExit(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return parse_wrk(proc.stdout)


# --- the run --------------------------------------------------------------------------------


def open_phases(args: argparse.Namespace, gen: OpenLoop, phases: set[str]
                ) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """The open-loop phases (or, without them, an unmeasured collect to have ids to read)."""
    results: dict[str, dict[str, Any]] = {}
    ids: dict[str, list[str]] = {}
    if not phases & {"open", "closed"}:
        return results, ids
    warm = min(1.0, args.seconds)
    for target in ("baseline", "confida"):
        if "open" in phases:
            gen.run(target, "collect", args.collect_rate, warm)  # warm-up: not measured
            res = gen.run(target, "collect", args.collect_rate, args.seconds, want_ids=True)
            results[f"{target} collect"] = res
        else:
            res = gen.run(target, "collect", 100, 2.0, want_ids=True)
        if not res["ids"]:
            raise SystemExit(f"{target} collect: every request failed: {summary(res)}")
        ids[target] = res["ids"]
    if "open" in phases:
        for target in ("baseline", "confida"):
            gen.run(target, "read", args.read_rate, warm, ids=ids[target])
            results[f"{target} read"] = gen.run(target, "read", args.read_rate, args.seconds,
                                                ids=ids[target])
    return results, ids


def closed_phases(args: argparse.Namespace, tmp: Path, bases: dict[str, str], key: str,
                  ids: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    results = {}
    auth = {"Authorization": f"Bearer {key}"}
    for kind in ("collect", "read"):
        for target in ("baseline", "confida"):
            if kind == "collect":
                path = "/v1/records" if target == "confida" else "/plain"
                reqs = [("POST", path, b) for b in collect_bodies(target)]
                headers = {**auth, "Content-Type": "application/json"} if target == "confida" \
                    else {"Content-Type": "application/json"}
            else:
                prefix = "/v1/records/" if target == "confida" else "/plain/"
                reqs = [("GET", prefix + i, "") for i in ids[target]]
                headers = {**auth, "Confida-Purpose": "service"} if target == "confida" else {}
            f = write_wrk_requests(tmp / f"wrk-{target}-{kind}.txt", headers, reqs)
            results[f"{target} {kind}"] = run_wrk(bases[target], f, args.seconds,
                                                  args.wrk_connections)
    for kind in ("collect", "read"):
        b, c = results[f"baseline {kind}"], results[f"confida {kind}"]
        c["ratio"] = c["rps"] / b["rps"] if b["rps"] else float("nan")
    return results


def summary(r: dict[str, Any]) -> str:
    return (f"ok {r['ok']}, 5xx {r['5xx']}, 503 {r['503']}, other {r['other_status']}, "
            f"errors {r['errors']}")


def refused(r: dict[str, Any]) -> str:
    if not r["503"]:
        return "0"
    return f"{r['503']}" + ("(RA)" if r["503_retry_after"] == r["503"] else
                           f"({r['503_retry_after']}RA)")


def print_open(results: dict[str, dict[str, Any]]) -> None:
    print(f"{'open-loop':22} {'offered':>7} {'ok':>6} {'5xx':>4} {'503':>8} {'other':>5} "
          f"{'conn err':>8} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'lag99':>6} "
          f"{'cli cpu':>9}")
    for name, r in results.items():
        other = sum(r["other_status"].values())
        print(f"{name:22} {r['offered']:>7.0f} {r['ok']:>6} {r['5xx']:>4} {refused(r):>8} "
              f"{other:>5} {r['conn_errors']:>8} {r['rps']:>7.1f} {r['p50']:>7.1f} "
              f"{r['p99']:>7.1f} {r['send_lag_p99']:>6.1f} "
              f"{r['client_cpu_cores']:>4.2f}/{r['client_cpu_busiest']:>3.0%}"
              + (f"  {r['errors']}" if r["errors"] else "")
              + (f"  {r['other_status']}" if other else ""))


def print_closed(results: dict[str, dict[str, Any]]) -> None:
    print(f"{'closed-loop (wrk)':22} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>7} "
          f"{'sock err':>8} {'ratio':>6}")
    for name, r in results.items():
        sock = sum(r["socket_errors"].values())
        ratio = f"{r['ratio']:.2f}x" if "ratio" in r else ""
        print(f"{name:22} {r['rps']:>8.1f} {r.get('p50', float('nan')):>7.1f} "
              f"{r.get('p99', float('nan')):>7.1f} {r['non_2xx']:>7} {sock:>8} {ratio:>6}"
              + (f"  {r.get('status')}" if r["non_2xx"] else "")
              + (f"  {r['socket_errors']}" if sock else ""))


def verdicts(args: argparse.Namespace, open_res: dict[str, dict[str, Any]],
             closed: dict[str, dict[str, Any]], overload: dict[str, Any] | None,
             ) -> dict[str, str]:
    out: dict[str, str] = {}

    def latency(kind: str, limit: float, target_rate: float, rate: float) -> None:
        r = open_res.get(f"confida {kind}")
        name = f"open-loop {kind} p99 < {limit:.0f} ms at {target_rate:.0f} req/s"
        if r is None:
            out[name] = "not measured"
            return
        failed = r["5xx"] + r["503"] + r["conn_errors"] + sum(r["other_status"].values())
        met = r["p99"] < limit and failed == 0
        note = "" if rate == target_rate else f"; measured at {rate:.0f} req/s, not the target's"
        out[name] = (f"{'met' if met else 'NOT met'} (p99 {r['p99']:.1f} ms, {failed} not "
                     f"served{note})")

    latency("collect", TARGETS["collect p99 ms"], TARGETS["collect rate"], args.collect_rate)
    latency("read", TARGETS["read p99 ms"], TARGETS["read rate"], args.read_rate)
    for kind in ("collect", "read"):
        name = f"closed-loop {kind} >= {TARGETS['closed-loop ratio']}x baseline"
        if f"confida {kind}" not in closed:
            out[name] = "not measured"
            continue
        ratio = closed[f"confida {kind}"]["ratio"]
        out[name] = f"{'met' if ratio >= TARGETS['closed-loop ratio'] else 'NOT met'} " \
                    f"({ratio:.2f}x)"
    name = "overload: no 5xx (bar 503 with Retry-After), no connection error"
    if overload is None:
        out[name] = "not measured"
    else:
        bad_503 = overload["503"] - overload["503_retry_after"]
        met = overload["5xx"] == 0 and bad_503 == 0 and overload["conn_errors"] == 0
        out[name] = (f"{'met' if met else 'NOT met'} (offered {overload['offered']:.0f} req/s: "
                     f"5xx {overload['5xx']}, 503 without Retry-After {bad_503}, connection "
                     f"errors {overload['conn_errors']}, 503 with Retry-After "
                     f"{overload['503_retry_after']})")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Phases and what they report: see the module docstring (bench/api.py).")
    ap.add_argument("--collect-rate", type=float, default=300.0,
                    help="open-loop collect, requests per second (default 300)")
    ap.add_argument("--read-rate", type=float, default=500.0,
                    help="open-loop read, requests per second (default 500)")
    ap.add_argument("--rate", type=float, default=None,
                    help="shorthand: the same rate for collect and read")
    ap.add_argument("--seconds", type=float, default=10.0, help="per phase (default 10)")
    ap.add_argument("--workers", type=int, default=1,
                    help="uvicorn worker processes, confida's and the baseline's (default 1)")
    ap.add_argument("--database-url", default=None, help="PostgreSQL URL (default: SQLite)")
    ap.add_argument("--phases", default="open,closed,overload",
                    help="comma-separated subset of open, closed, overload (default: all)")
    ap.add_argument("--overload", action=argparse.BooleanOptionalAction, default=True,
                    help="run the overload phase (default: on)")
    ap.add_argument("--overload-rate", type=float, default=None,
                    help="offered rate of the overload phase (default: twice confida's "
                    "closed-loop collect rate)")
    ap.add_argument("--clients", type=int, default=2,
                    help="open-loop client processes (default 2)")
    ap.add_argument("--connections", type=int, default=128,
                    help="open-loop connections, all client processes together (default 128)")
    ap.add_argument("--wrk-connections", type=int, default=32,
                    help="closed-loop connections (wrk -c, default 32)")
    ap.add_argument("--baseline-server", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--cert", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--key", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.baseline_server is not None:
        run_baseline_server(args.baseline_server, args.database_url, args.cert, args.key,
                            args.workers)
        return
    if args.rate is not None:
        args.collect_rate = args.read_rate = args.rate
    phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    if phases - {"open", "closed", "overload"}:
        ap.error(f"unknown phases: {', '.join(sorted(phases - {'open', 'closed', 'overload'}))}")
    if not args.overload:
        phases.discard("overload")
    if args.workers < 1 or args.clients < 1 or args.connections < args.clients:
        ap.error("--workers and --clients are at least 1, --connections at least --clients")
    wrk = shutil.which("wrk")
    if "closed" in phases and wrk is None:
        print("wrk is not installed: the closed-loop phases are skipped")
        phases.discard("closed")

    tmp = Path(tempfile.mkdtemp(prefix="confida-bench-"))
    schemas: list[str] = []
    procs: list[subprocess.Popen[bytes]] = []
    gen: OpenLoop | None = None
    try:
        if args.database_url:
            url, schema = pg_schema_url(args.database_url)
            burl, bschema = pg_schema_url(args.database_url)
            schemas += [schema, bschema]
            backend = "PostgreSQL"
        else:
            url = f"sqlite:///{tmp / 'data' / 'confida.db'}"
            burl = f"sqlite:///{tmp / 'baseline.db'}"
            backend = "SQLite"
        data, key = make_data_dir(tmp, url)
        cert, tkey = data / "tls" / "cert.pem", data / "tls" / "key.pem"
        cport, bport = free_port(), free_port()
        bases = {"confida": f"https://127.0.0.1:{cport}",
                 "baseline": f"https://127.0.0.1:{bport}"}
        env = {**os.environ, "CONFIDA_DATA_DIR": str(data)}
        clog, blog = tmp / "confida.log", tmp / "baseline.log"
        serve = [sys.executable, "-c", "from confida.cli import main; main()", "serve",
                 "--port", str(cport)]
        has_workers = serve_has_workers(env)
        if has_workers:  # always: its default may be more than one (PostgreSQL: one per CPU)
            serve += ["--workers", str(args.workers)]
        elif args.workers > 1:
            raise SystemExit("this `confida serve` has no --workers option")
        procs.append(subprocess.Popen(serve, env=env, stdout=clog.open("wb"),
                                      stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "--baseline-server", str(bport), "--database-url", burl,
             "--cert", str(cert), "--key", str(tkey), "--workers", str(args.workers)],
            stdout=blog.open("wb"), stderr=subprocess.STDOUT))
        gen = OpenLoop(args.clients, args.connections,
                       {"cert": str(cert), "key": key,
                        "ports": {"confida": cport, "baseline": bport}})
        wait_for(bases["confida"] + "/health", cert, procs[0], clog)
        wait_for(bases["baseline"] + "/plain/none", cert, procs[1], blog)

        load_before = os.getloadavg()
        how = f"--workers {args.workers}" if has_workers else "(no --workers option)"
        print(f"backend: {backend}; workers: {args.workers} (confida serve {how}; the "
              "baseline as many); "
              f"HTTPS (TLS 1.2+) on loopback; {os.cpu_count()} CPUs; {args.seconds:g} s per "
              f"phase; open-loop client: {args.clients} processes, {args.connections} "
              f"connections; closed-loop: wrk -t1 -c{args.wrk_connections}; phases: "
              f"{', '.join(p for p in ('open', 'closed', 'overload') if p in phases)}")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}", flush=True)

        open_res, ids = open_phases(args, gen, phases)
        closed = closed_phases(args, tmp, bases, key, ids) if "closed" in phases else {}
        overload = None
        if "overload" in phases:
            rate = args.overload_rate
            if rate is None and "confida collect" in closed:
                rate = 2 * closed["confida collect"]["rps"]
            if rate is None:
                print("overload skipped: no closed-loop collect rate (pass --overload-rate)")
            else:
                overload = gen.run("confida", "collect", rate, args.seconds)
        load_after = os.getloadavg()

        print()
        if open_res:
            print_open(open_res)
        if overload is not None:
            print_open({"confida overload": overload})
        if open_res or overload is not None:
            print("  (ok: 2xx; 5xx: bar 503; 503: refusals, (RA) = all with Retry-After, left "
                  "out of the latencies; latencies from the scheduled time; lag99: p99 of how "
                  "late the client sent, ms; cli cpu: client cores in all / busiest process)")
            busiest = max(r["client_cpu_busiest"] for r in
                          [*open_res.values(), *([overload] if overload else [])])
            if busiest > 0.9:
                print(f"  warning: a client process was {busiest:.0%} busy: the client may have "
                      "been the limit, and its delay is in the latencies")
        if closed:
            print_closed(closed)
            print("  (req/s: 2xx responses a second; ratio: confida / baseline)")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}; after: "
              f"{' '.join(f'{x:.2f}' for x in load_after)} (other work on the machine inflates "
              "latencies)")
        verdict = verdicts(args, open_res, closed, overload)
        for name, v in verdict.items():
            print(f"target {name}: {v}")

        def strip(r: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in r.items() if k != "ids"}

        print(json.dumps({
            "backend": backend, "workers": args.workers, "seconds": args.seconds,
            "collect_rate": args.collect_rate, "read_rate": args.read_rate,
            "clients": args.clients, "connections": args.connections,
            "wrk_connections": args.wrk_connections, "cpus": os.cpu_count(),
            "loadavg_before": load_before, "loadavg_after": load_after,
            "open_loop": {k: strip(r) for k, r in open_res.items()}, "closed_loop": closed,
            "overload": strip(overload) if overload else None, "verdicts": verdict}))
    finally:
        if gen is not None:
            gen.close()
        for p in procs:
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        for s in schemas:
            drop_schema(args.database_url, s)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
