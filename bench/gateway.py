"""What the privacy gateway adds to a model call: latency and streaming time to first byte.

Three processes on this machine: a fake OpenAI-compatible upstream (tests/test_gateway_fakes.py,
answering at once, so that everything measured is overhead), ``confida gateway`` in front of it
(HTTPS with the data dir's certificate, SQLite store, as ``confida init`` makes it), and this
load generator. The same chat request (a name, an e-mail address, an IBAN: three tokens out and
back) is sent open loop -- at fixed times, whether or not earlier answers came back -- at
``--rate`` requests a second, first straight to the upstream, then through the gateway, in the
same run; then the same for streaming, timing the first byte of content.

    PYTHONPATH=src:. .venv/bin/python bench/gateway.py [--rate 100] [--seconds 20]

Targets: added p50 < 5 ms, p99 < 20 ms at 100 req/s on 2 cores; streaming TTFB overhead < 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.serving_support import env_for, free_port  # noqa: E402

TEXT = ("Hello, I am Margarethe Vollmer (margarethe.vollmer@example.org). Please draft a short "
        "letter to my bank saying that my IBAN DE89 3704 0044 0532 0130 00 changed, and that "
        "they should write to me at the address they already have. Keep it formal.")


def body(i: int, stream: bool) -> dict[str, Any]:
    return {"model": "fake-model", "user": f"bench-user-{i % 50}", "stream": stream,
            "messages": [{"role": "system", "content": "You are a helpful assistant."},
                         {"role": "user", "content": f"{TEXT} (request {i})"}]}


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def open_loop(client: httpx.AsyncClient, url: str, headers: dict[str, str], rate: float,
                    seconds: float, stream: bool) -> tuple[list[float], int]:
    """Latency (ms) of each request sent at fixed times; for ``stream``, time to the first
    content byte. Returns the latencies and the number of failures (through the gateway, that
    is ``headers`` hold its key, an answer without the restored name is one)."""
    n = int(rate * seconds)
    lat: list[float] = []
    failures = 0
    start = time.perf_counter() + 0.05

    async def one(i: int) -> None:
        nonlocal failures
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        t0 = time.perf_counter()
        try:
            if not stream:
                r = await client.post(url, json=body(i, False), headers=headers)
                if r.status_code != 200 or (bool(headers) and "Vollmer" not in r.text):
                    failures += 1
                    return
                lat.append((time.perf_counter() - t0) * 1000)
                return
            async with client.stream("POST", url, json=body(i, True), headers=headers) as r:
                first = None
                async for chunk in r.aiter_bytes():
                    if first is None and (b'"content":"I' in chunk
                                          or b'"content": "I' in chunk):  # the first content
                        first = time.perf_counter()
                if r.status_code != 200 or first is None:
                    failures += 1
                    return
                lat.append((first - t0) * 1000)
        except httpx.HTTPError:
            failures += 1

    await asyncio.gather(*(one(i) for i in range(n)))
    return lat, failures


def wait_http(url: str, verify: Any = True, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, verify=verify, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up")
        time.sleep(0.2)


async def measure(args: argparse.Namespace, up_url: str, gw_url: str, key: str,
                  ctx: ssl.SSLContext) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(limits=limits, timeout=30) as direct, \
            httpx.AsyncClient(limits=limits, timeout=30, verify=ctx) as via:
        auth = {"authorization": f"Bearer {key}"}
        for stream in (False, True):
            name = "stream_ttfb" if stream else "call"
            # warm-up: connections, the detector's tables, the subjects
            await open_loop(direct, up_url, {}, args.rate, 2, stream)
            await open_loop(via, gw_url, auth, args.rate, 3, stream)
            d, df = await open_loop(direct, up_url, {}, args.rate, args.seconds, stream)
            g, gf = await open_loop(via, gw_url, auth, args.rate, args.seconds, stream)
            out[name] = {
                "direct_ms": {"p50": pct(d, 50), "p99": pct(d, 99), "n": len(d), "failed": df},
                "gateway_ms": {"p50": pct(g, 50), "p99": pct(g, 99), "n": len(g), "failed": gf,
                               "mean": statistics.fmean(g) if g else None},
                "added_ms": {"p50": pct(g, 50) - pct(d, 50), "p99": pct(g, 99) - pct(d, 99)},
            }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--profile", action="store_true",
                    help="run the gateway under pyinstrument (writes gateway-profile.html)")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    print(f"load average before: {load:.2f}  cpus: {os.cpu_count()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        env = env_for(data)
        subprocess.run([sys.executable, "-c", "from confida.cli import main; main()", "init"],
                       env=env, check=True, capture_output=True)
        from confida import credential
        from confida.config import Config
        from confida.operation import Actor
        from confida.vault import Vault

        with Vault.open(Config.load(data)) as v:
            key = credential.create(v, "service",
                                    actor=Actor("bench", role="admin", source="cli")).key
        up_port, gw_port = free_port(), free_port()
        fake = subprocess.Popen(
            [sys.executable, "-c", "import uvicorn; from tests.test_gateway_fakes import "
             f"FakeUpstream; uvicorn.run(FakeUpstream(), host='127.0.0.1', port={up_port}, "
             "log_level='warning', lifespan='on')"], env=env)
        up = f"http://127.0.0.1:{up_port}/v1"
        gw_cmd = [sys.executable]
        if args.profile:
            gw_cmd += ["-m", "pyinstrument", "-r", "html", "-o", "gateway-profile.html"]
        gw_cmd += ["-c", "from confida.cli import main; main()", "gateway", "--upstream", up,
                   "--port", str(gw_port)]
        gw = subprocess.Popen(gw_cmd, env={**env, "CONFIDA_UPSTREAM_API_KEY": "sk-bench"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(data / "tls" / "cert.pem")
        try:
            wait_http(f"http://127.0.0.1:{up_port}/v1/models")
            wait_http(f"https://127.0.0.1:{gw_port}/health", verify=ctx)
            res = asyncio.run(measure(args, up + "/chat/completions",
                                      f"https://127.0.0.1:{gw_port}/v1/chat/completions", key,
                                      ctx))
        finally:
            gw.terminate()
            fake.terminate()
            gw.wait(30)
            fake.wait(30)
    res["rate_per_second"] = args.rate
    res["seconds"] = args.seconds
    res["load_before"] = round(load, 2)
    res["load_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(res, indent=2))
    c, s = res["call"]["added_ms"], res["stream_ttfb"]["added_ms"]
    print(f"added latency per call: p50 {c['p50']:.2f} ms (target < 5), "
          f"p99 {c['p99']:.2f} ms (target < 20); streaming TTFB overhead p50 "
          f"{s['p50']:.2f} ms (target < 5), p99 {s['p99']:.2f} ms")


if __name__ == "__main__":
    main()
