"""API load test: collect and read over HTTPS at a fixed request rate, against a bare baseline.

Run by hand:
    .venv/bin/python bench/api.py [--rate 200] [--seconds 10] [--database-url URL]

It starts `confida serve` (HTTPS, TLS 1.2+, the data dir's self-signed certificate, one uvicorn
process) in a subprocess on loopback, then drives it open-loop: request i is *scheduled* at
t0 + i/rate whatever happened to earlier requests, and its latency is measured from that
scheduled time, so a slow server cannot hide queueing by slowing the client down (no coordinated
omission). Phases: collect (POST /v1/records, an API key, ~1 KB conversation message) and read
(GET /v1/records/{id} with Confida-Purpose).

The baseline, measured in the same run with the same client, TLS certificate and payloads: a
bare FastAPI app (in this file, also under uvicorn over HTTPS) whose POST does a plain SQLAlchemy
insert of the JSON payload and whose GET selects it by id: no authentication, no encryption, no
checks, no audit. PostgreSQL: pass --database-url; each run uses a fresh schema.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Request  # module level: FastAPI resolves annotations

ROOT = Path(__file__).resolve().parent.parent
WORDS = ["the", "model", "answer", "please", "explain", "how", "to", "write", "a", "function",
         "that", "sorts", "list", "in", "python", "and", "why", "it", "works", "quickly"]


def message(rng: random.Random) -> dict[str, str]:
    text_ = " ".join(rng.choice(WORDS) for _ in range(190))[:1000]
    return {"conversation_id": f"c-{rng.getrandbits(48):012x}", "role": "user", "text": text_,
            "model": "aria-2"}


# --- the baseline server ---------------------------------------------------------------------


def baseline_app(database_url: str) -> Any:
    from sqlalchemy import JSON, Column, MetaData, String, Table, insert, select

    from confida.store.engine import make_engine

    md = MetaData()
    t = Table("plain_record", md, Column("id", String(36), primary_key=True),
              Column("subject", String(256)), Column("data", JSON))
    engine = make_engine(database_url, create_dir=True)
    md.create_all(engine)
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


def run_baseline_server(port: int, database_url: str, cert: str, key: str) -> None:
    import uvicorn

    from confida.server.run import TLSConfig

    cfg = TLSConfig(baseline_app(database_url), host="127.0.0.1", port=port, log_level="warning",
                    ssl_certfile=cert, ssl_keyfile=key, access_log=False)
    uvicorn.Server(cfg).run()


# --- set-up ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"server exited:\n{log.read_text()}") from None
            time.sleep(0.2)
    raise SystemExit("server did not start")


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


def make_data_dir(tmp: Path, database_url: str, rate: float) -> tuple[Path, str]:
    from confida import credential
    from confida.config import Config
    from confida.tls import create_self_signed
    from confida.vault import Vault, initialise_stores

    data = tmp / "data"
    data.mkdir(mode=0o700)
    shutil.copy(ROOT / "examples" / "chat-assistant.yaml", data / "register.yaml")
    cfg = Config(data_dir=data, database_url=database_url)
    initialise_stores(cfg)
    # the per-key limit is raised above the offered load: this measures the server, not the limiter
    (data / "confida.toml").write_text(
        f'database_url = "{database_url}"\n\n[api]\nrate_per_second = {rate * 10}\n'
        f"rate_burst = {int(rate * 10)}\n"
    )
    create_self_signed(cfg.tls_cert, cfg.tls_key)
    with Vault.open(cfg) as v:
        key = credential.create(v, "service", label="bench").key
    return data, key


# --- the load generator --------------------------------------------------------------------


async def open_loop(client: httpx.AsyncClient, make: Any, rate: float, seconds: float,
                    ) -> dict[str, Any]:
    n = int(rate * seconds)
    lat: list[float] = []
    errors: dict[str, int] = {}
    results: list[Any] = []
    t0 = time.perf_counter() + 0.2

    async def one(i: int) -> None:
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        method, url, kw = make(i)
        try:
            r = await client.request(method, url, **kw)
            ok = r.status_code < 300
            if ok:
                results.append(r)
            else:
                errors[str(r.status_code)] = errors.get(str(r.status_code), 0) + 1
        except httpx.HTTPError as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            ok = False
        if ok:
            lat.append(time.perf_counter() - scheduled)

    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - t0
    lat.sort()

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    return {"sent": n, "ok": len(lat), "errors": errors, "throughput": len(lat) / elapsed,
            "p50": pct(0.50), "p99": pct(0.99), "mean": statistics.fmean(lat) * 1000 if lat
            else float("nan"), "results": results}


async def drive(args: argparse.Namespace, confida_port: int, base_port: int, key: str,
                cert: Path) -> list[tuple[str, dict[str, Any]]]:
    rng = random.Random(7)
    payloads = [message(rng) for _ in range(max(50, int(args.rate * args.seconds)))]
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    out = []
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(verify=str(cert), limits=limits, timeout=30) as client:
        cbase = f"https://127.0.0.1:{confida_port}"
        bbase = f"https://127.0.0.1:{base_port}"

        def confida_collect(i: int) -> Any:
            return ("POST", f"{cbase}/v1/records", {"headers": auth, "json": {
                "subject": f"user-{i % 500}", "kind": "conversation_message",
                "purpose": "service", "data": payloads[i % len(payloads)]}})

        def base_collect(i: int) -> Any:
            return ("POST", f"{bbase}/plain", {"json": {
                "subject": f"user-{i % 500}", "data": payloads[i % len(payloads)]}})

        # warm-up (connections, TLS sessions, caches) is not measured
        await open_loop(client, confida_collect, args.rate, 1.0)
        await open_loop(client, base_collect, args.rate, 1.0)
        for name, make in (("baseline collect (plain insert)", base_collect),
                           ("confida collect", confida_collect)):
            res = await open_loop(client, make, args.rate, args.seconds)
            out.append((name, res))
        for name, r in out:
            if not r["ok"]:
                raise SystemExit(f"{name}: every request failed: {r['errors']}")
        cids = [r.json()["record_id"] for r in out[1][1]["results"]]
        bids = [r.json()["record_id"] for r in out[0][1]["results"]]

        def confida_read(i: int) -> Any:
            return ("GET", f"{cbase}/v1/records/{cids[i % len(cids)]}",
                    {"headers": {**auth, "Confida-Purpose": "service"}})

        def base_read(i: int) -> Any:
            return ("GET", f"{bbase}/plain/{bids[i % len(bids)]}", {})

        for name, make in (("baseline read (plain select)", base_read),
                           ("confida read", confida_read)):
            out.append((name, await open_loop(client, make, args.rate, args.seconds)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=200.0, help="requests per second")
    ap.add_argument("--seconds", type=float, default=10.0, help="per phase")
    ap.add_argument("--database-url", default=None, help="PostgreSQL URL (default: SQLite)")
    ap.add_argument("--baseline-server", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--cert", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--key", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.baseline_server is not None:
        run_baseline_server(args.baseline_server, args.database_url, args.cert, args.key)
        return

    tmp = Path(tempfile.mkdtemp(prefix="confida-bench-"))
    schemas: list[str] = []
    procs: list[subprocess.Popen[bytes]] = []
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
        data, key = make_data_dir(tmp, url, args.rate)
        cert, tkey = data / "tls" / "cert.pem", data / "tls" / "key.pem"
        cport, bport = free_port(), free_port()
        env = {**os.environ, "CONFIDA_DATA_DIR": str(data)}
        clog, blog = tmp / "confida.log", tmp / "baseline.log"
        procs.append(subprocess.Popen(
            [sys.executable, "-c", "from confida.cli import main; main()", "serve", "--port",
             str(cport)], env=env, stdout=clog.open("wb"), stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "--baseline-server", str(bport), "--database-url", burl,
             "--cert", str(cert), "--key", str(tkey)],
            stdout=blog.open("wb"), stderr=subprocess.STDOUT))
        wait_for(cport, procs[0], clog)
        wait_for(bport, procs[1], blog)
        load_before = os.getloadavg()[0]
        results = asyncio.run(drive(args, cport, bport, key, cert))
        print(f"\nbackend: {backend}; offered load {args.rate:.0f} req/s open-loop for "
              f"{args.seconds:.0f} s per phase; HTTPS (TLS 1.2+) on loopback; one uvicorn "
              f"process each; {os.cpu_count()} CPUs; load average before the run "
              f"{load_before:.1f}, after {os.getloadavg()[0]:.1f} (other work on the machine "
              "inflates latencies)")
        print(f"{'phase':34} {'ok':>6} {'errors':>10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        for name, r in results:
            errs = sum(r["errors"].values())
            print(f"{name:34} {r['ok']:>6} {errs:>10} {r['throughput']:>8.1f} {r['p50']:>8.1f} "
                  f"{r['p99']:>8.1f}" + (f"  {r['errors']}" if errs else ""))
        collect = results[1][1]
        verdict = "met" if collect["p99"] < 50 and not collect["errors"] else "NOT met"
        print(f"target p99 < 50 ms for collect at {args.rate:.0f} req/s: {verdict}")
        print(json.dumps({name: {k: v for k, v in r.items() if k != "results"}
                          for name, r in results}))
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        for s in schemas:
            drop_schema(args.database_url, s)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
