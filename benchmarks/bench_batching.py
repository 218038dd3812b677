"""Capture throughput on one machine (issue 17): token-budget batching and concurrent jobs.

In one run, on Gemma-3-270m (CPU):
  1. concepts (short) and UDHR (long): the default token-budget batches vs fixed batch sizes
     (16 = the old default, and the best of 16..256), same model, same stimuli, pool_batch;
  2. two concurrent capture jobs (separate processes, sharing the cores through the
     machine-wide registry of polylens.hooks.threads) vs one job: combined stimuli/s ratio.
Writes the printed text to benchmarks/RESULTS_capture.md with ``--write``.

    python benchmarks/bench_batching.py [--limit 100] [--udhr-limit 12] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXED = (16, 32, 64, 128, 256)
#: where the generated section starts in RESULTS_capture.md (everything after it is replaced)
MARK = "<!-- bench_batching.py -->"


def stimuli(probe_set: str, langs: str, limit: int) -> list[str]:
    """Texts of the first ``limit`` units of ``probe_set`` in ``langs``."""
    from polylens import probes

    return [
        s.text for s in probes.load_probe_set(probe_set).select(langs=langs.split(","), limit=limit).stimuli
    ]


def capture_seconds(model, texts: list[str], batch_size: int | None, share=None) -> float:
    """Seconds to capture ``texts`` (token-budget batches when ``batch_size`` is None)."""
    from polylens.hooks.batching import plan_fixed_batches, plan_token_batches
    from polylens.hooks.capture import pool_batch

    lengths = dict(enumerate(len(x) for x in model.tokenizer(texts).input_ids))
    plan = plan_token_batches(lengths) if batch_size is None else plan_fixed_batches(lengths, batch_size)
    start = time.perf_counter()
    for batch in plan:
        if share is not None:
            share.apply()
        pool_batch(model, [texts[i] for i in batch])
    return time.perf_counter() - start


def compare_batching(model, name: str, texts: list[str], out: list[str], repeats: int) -> None:
    """Time token-budget vs each fixed batch size on one stimulus set (best of interleaved rounds)."""
    capture_seconds(model, texts[:64], None)  # warm-up
    sizes: list[int | None] = [None, *FIXED]
    times: dict[int | None, float] = {}
    for _ in range(repeats):  # interleaved: a load spike hits every configuration alike
        for size in sizes:
            times[size] = min(times.get(size, float("inf")), capture_seconds(model, texts, size))
    budget = times.pop(None)
    fixed = {int(k): v for k, v in times.items() if k is not None}
    best = min(fixed, key=fixed.__getitem__)
    line = ", ".join(f"bs{s} {t:.1f} s" for s, t in fixed.items())
    out.append(f"{name}: {len(texts)} stimuli; token budget {budget:.1f} s; {line}")
    out.append(
        f"  token budget vs best fixed (bs{best}): {fixed[best] / budget:.2f}x (target >= 1.0x); "
        f"vs default bs16: {fixed[16] / budget:.2f}x (target >= 1.3x on concepts)"
    )
    print("\n".join(out[-2:]), flush=True)


def job(texts_json: str, go: str) -> None:
    """One capture job (a subprocess): load the model, wait for ``go``, capture, print timings."""
    from polylens.hooks.models import load_model
    from polylens.hooks.threads import ThreadShare

    texts = json.loads(Path(texts_json).read_text())
    with ThreadShare() as share:
        model = load_model("gemma-3-270m", device="cpu")
        capture_seconds(model, texts[:32], None, share)  # warm-up
        Path(go + f".ready{os.getpid()}").touch()
        while not Path(go).exists():
            time.sleep(0.05)
        threads, start = share.apply(), time.time()
        capture_seconds(model, texts, None, share)
        print(json.dumps({"start": start, "end": time.time(), "n": len(texts), "threads": threads}))


def concurrent(texts: list[str], n_jobs: int, tmp: Path) -> tuple[float, list[int]]:
    """Combined stimuli/s of ``n_jobs`` simultaneous capture jobs, and their thread counts."""
    data, go = tmp / "texts.json", tmp / f"go{n_jobs}"
    data.write_text(json.dumps(texts))
    env = os.environ | {"POLYLENS_JOBS_DIR": str(tmp)}
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--job", str(data), str(go)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(n_jobs)
    ]
    while len(list(tmp.glob(f"go{n_jobs}.ready*"))) < n_jobs:
        if any(p.poll() not in (None, 0) for p in procs):
            raise SystemExit("a capture job failed")
        time.sleep(0.1)
    go.touch()
    results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    return sum(r["n"] for r in results) / wall, [r["threads"] for r in results]


def main() -> None:
    """Run both comparisons; print (and optionally write) the results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--langs", default="en,fr,zh,hi")
    parser.add_argument("--limit", type=int, default=100, help="concept units per language")
    parser.add_argument("--udhr-limit", type=int, default=12, help="UDHR units per language")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved rounds (best kept)")
    parser.add_argument("--job", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--write", action="store_true", help="write benchmarks/RESULTS_capture.md")
    args = parser.parse_args()
    if args.job:
        job(*args.job)
        return
    from polylens.hooks.models import load_model
    from polylens.hooks.threads import available_cpus

    out = [f"machine: {available_cpus()} CPUs available; load average at start {os.getloadavg()[0]:.2f}"]
    print(out[0], flush=True)
    model = load_model("gemma-3-270m", device="cpu")
    concepts = stimuli("concepts", args.langs, args.limit)
    compare_batching(model, f"concepts ({args.langs}, {args.limit} units)", concepts, out, args.repeats)
    compare_batching(
        model,
        f"udhr ({args.langs}, {args.udhr_limit} units)",
        stimuli("udhr", args.langs, args.udhr_limit),
        out,
        args.repeats,
    )
    del model
    with tempfile.TemporaryDirectory() as tmp:
        one, t1 = concurrent(concepts, 1, Path(tmp))
        two, t2 = concurrent(concepts, 2, Path(tmp))
    out.append(
        f"concurrent jobs (concepts, {len(concepts)} stimuli each): one job {one:.1f} stimuli/s ({t1[0]} threads); "
        f"two jobs {two:.1f} stimuli/s combined ({'+'.join(map(str, t2))} threads): {two / one:.2f}x (target >= 0.8x)"
    )
    out.append(f"load average at end {os.getloadavg()[0]:.2f}")
    print("\n".join(out[-2:]), flush=True)
    if args.write:
        cmd = " ".join(["python benchmarks/bench_batching.py", *sys.argv[1:]])
        section = (
            f"## Batching and concurrent jobs (generated by `{cmd}`)\n\n```\n" + "\n".join(out) + "\n```\n"
        )
        path = HERE / "RESULTS_capture.md"
        text = path.read_text() if path.exists() else ""
        head = text.split(MARK)[0].rstrip()
        path.write_text(f"{head}\n\n{MARK}\n{section}")


if __name__ == "__main__":
    main()
