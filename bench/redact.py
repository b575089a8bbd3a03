"""Bulk redaction throughput: `confida redact` in one process vs on Ray with 1 and 2 workers.

Run by hand:  .venv/bin/python bench/redact.py [--lines 200000]  (needs the ray extra)

Writes ``--lines`` JSONL chat messages (~1 KB, one in three carrying a name, an e-mail address
or a phone number), then times, as users run them, the three commands:

  confida redact in.jsonl --jsonl --out local.jsonl
  confida redact in.jsonl --jsonl --engine ray --workers 1 --out ray1/
  confida redact in.jsonl --jsonl --engine ray --workers 2 --out ray2/

Each Ray command starts its own local cluster: its start-up is inside the time, as it is for a
user; the script also prints each command's time on a 2,000-line input, which is almost only
that start-up, so the fixed cost can be told from the per-line cost.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ["the", "model", "answer", "please", "explain", "how", "to", "write", "a", "function",
         "that", "sorts", "list", "in", "python", "and", "why", "it", "works", "quickly"]
PLANTED = ["Hi, I am Jane Roe, write to jane.roe@example.org.",
           "Call Marek Nowak on +49 30 901820 about the invoice.",
           "My colleague Sofia Rossi from Milano asked the same."]


def write_input(path: Path, n: int) -> None:
    rng = random.Random(7)
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            text = " ".join(rng.choice(WORDS) for _ in range(180))
            if i % 3 == 0:
                text = rng.choice(PLANTED) + " " + text
            f.write(json.dumps({"id": i, "text": text[:1000]}) + "\n")


def run(args: list[str]) -> float:
    cli = [sys.executable, "-c", "from confida.cli import main; main()"]
    t0 = time.perf_counter()
    subprocess.run([*cli, *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=200_000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="confida-bench-redact-"))
    try:
        print(f"load average before: {os.getloadavg()}; {os.cpu_count()} CPUs")
        results: dict[str, dict[str, float]] = {}
        for size in (2_000, args.lines):
            src = tmp / f"in-{size}.jsonl"
            write_input(src, size)
            row: dict[str, float] = {}
            row["local"] = run(["redact", str(src), "--jsonl", "--out", str(tmp / "local.jsonl"),
                                "--force"])
            for w in (1, 2):
                row[f"ray{w}"] = run(["redact", str(src), "--jsonl", "--engine", "ray",
                                      "--workers", str(w), "--out", str(tmp / f"ray{w}"),
                                      "--force"])
            results[str(size)] = row
            print(f"{size:>9,} lines: local {row['local']:.1f} s "
                  f"({size / row['local']:,.0f} lines/s); ray 1 worker {row['ray1']:.1f} s "
                  f"({size / row['ray1']:,.0f}/s); ray 2 workers {row['ray2']:.1f} s "
                  f"({size / row['ray2']:,.0f}/s); 2/1 workers {row['ray1'] / row['ray2']:.2f}x"
                  f"; ray 2 vs local {row['local'] / row['ray2']:.2f}x")
        print(f"load average after: {os.getloadavg()}")
        print(json.dumps(results))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
