"""Load benchmark of `python cli.py serve` on loopback with the embedded Gemma-3-270m.

1. Capture a small concept store (first --concepts concepts, --langs) with the capture pipeline.
2. Direct baseline: ``Explorer.analyze(text)`` (the function the service calls, cache off) in a
   loop for --direct-seconds over unique texts -> analyses per second.
3. Start ``cli.py serve`` in a subprocess; 16 concurrent clients for --seconds post unique
   texts (every request a cache miss) -> p50/p99 latency and throughput; then --cached-seconds
   of requests for texts already analysed (LRU hits) -> p50/p99.
4. Print the figures and the throughput ratio server / direct loop (target >= 0.8).

    python benchmarks/bench_serve.py [--seconds 60] [--clients 16] [--out benchmarks/RESULTS_serve.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def texts_pool() -> list[str]:
    """Every stimulus of the concept set in every language, unique, in a fixed shuffled order."""
    from polylens.probes import load_probe_set

    texts = list(dict.fromkeys(s.text for s in load_probe_set("concepts").stimuli))
    rng = np.random.default_rng(0)
    return [texts[i] for i in rng.permutation(len(texts))]


def direct_rate(model: str, store: Path, pool: list[str], seconds: float) -> tuple[float, int]:
    """Analyses per second of the pipeline function called in a loop (no cache), and the count."""
    from polylens.pipelines._serve.engine import Explorer

    explorer = Explorer.load((model,), store, cache_size=0)
    explorer.analyze(pool[-1])  # warm-up
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        explorer.analyze(pool[n % len(pool)])
        n += 1
    return n / (time.perf_counter() - start), n


async def load(url: str, texts, clients: int, seconds: float) -> dict:
    """``clients`` concurrent clients posting texts for ``seconds``; latencies of 200s, other statuses."""
    lat: list[float] = []
    other: dict[int, int] = {}
    it = iter(texts)
    end = time.perf_counter() + seconds

    async def client(c: httpx.AsyncClient) -> None:
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            r = await c.post(url + "/api/analyze", json={"text": next(it)})
            if r.status_code == 200:
                lat.append(time.perf_counter() - t0)
            else:
                other[r.status_code] = other.get(r.status_code, 0) + 1

    start = time.perf_counter()
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=clients)) as c:
        await asyncio.gather(*(client(c) for _ in range(clients)))
    wall = time.perf_counter() - start
    a = np.array(lat) * 1000
    return {
        "ok": len(lat),
        "other": other,
        "rate": len(lat) / wall,
        "p50_ms": float(np.percentile(a, 50)) if len(a) else float("nan"),
        "p99_ms": float(np.percentile(a, 99)) if len(a) else float("nan"),
    }


def cycle(items: list[str]):
    """Endless iteration over ``items``."""
    while True:
        yield from items


def start_server(model: str, store: Path, port: int, log: Path) -> subprocess.Popen:
    """``cli.py serve`` in a subprocess; returns once /api/health answers."""
    cmd = [sys.executable, str(ROOT / "cli.py"), "serve", "--models", model, "--store", str(store),
           "--port", str(port), "--queue-size", "256", "--cache-size", "8192", "--timeout", "120"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health").status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"server did not start; see {log}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="gemma-3-270m")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--cached-seconds", type=float, default=20)
    p.add_argument("--direct-seconds", type=float, default=30)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--langs", default="en,hi,sw,fr,de,zh,ar,ru")
    p.add_argument("--concepts", type=int, default=60)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from polylens.pipelines.capture import CaptureConfig, run

    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    store = work / "store"
    t0 = time.perf_counter()
    run(CaptureConfig(model=args.model, out=store, langs=tuple(args.langs.split(",")), limit=args.concepts))
    print(f"concept store: {time.perf_counter() - t0:.1f} s ({store})", flush=True)
    pool = texts_pool()
    direct, n_direct = direct_rate(args.model, store, pool, args.direct_seconds)
    print(f"direct loop: {n_direct} analyses, {direct:.2f}/s", flush=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = start_server(args.model, store, port, work / "server.log")
    url = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(load(url, cycle(pool[-8:]), 2, 3))  # warm-up (these texts are not used below)
        miss = asyncio.run(load(url, iter(pool), args.clients, args.seconds))
        seen = pool[: min(64, miss["ok"])]
        hit = asyncio.run(load(url, cycle(seen), args.clients, args.cached_seconds))
        health = httpx.get(url + "/api/health").json()
    finally:
        proc.terminate()
        proc.wait(120)
    ratio = miss["rate"] / direct
    lines = [
        f"# serve load benchmark ({args.model}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs)",
        "",
        f"{args.clients} concurrent clients on loopback; concept store {args.langs} x {args.concepts} concepts.",
        "",
        "| phase | seconds | requests ok | other statuses | throughput /s | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|---|",
        f"| analysis (cache misses) | {args.seconds:g} | {miss['ok']} | {miss['other'] or '-'} | {miss['rate']:.2f} | {miss['p50_ms']:.0f} | {miss['p99_ms']:.0f} |",
        f"| cached requests (LRU hits) | {args.cached_seconds:g} | {hit['ok']} | {hit['other'] or '-'} | {hit['rate']:.2f} | {hit['p50_ms']:.1f} | {hit['p99_ms']:.1f} |",
        f"| direct `Explorer.analyze` loop | {args.direct_seconds:g} | {n_direct} | - | {direct:.2f} | - | - |",
        "",
        f"throughput ratio server / direct loop: **{ratio:.2f}** (target >= 0.8)",
        "",
        f"server health after the run: `{json.dumps(health)}`",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
