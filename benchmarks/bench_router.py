"""Latency of one routing decision on CPU: p50 / p99 over the edge cases and UDHR units.

    python benchmarks/bench_router.py [--repeats 5] [--rules PATH]

Each input is routed ``repeats`` times (after a warm-up pass); every timed call is one sample.
Compared with the seed study's 50 ms production budget and with py3langid's full classify
(all 142 languages, ``norm_probs=True``) on the same inputs. The machine is shared: the load
average is printed next to the figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from jaxtyping import Float

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from polylens import probes  # noqa: E402
from polylens.analysis.routing import Router  # noqa: E402

BUDGET_MS = 50.0


def timings(fn, texts, repeats: int) -> tuple[np.ndarray, np.ndarray]:
    """(wall ms, thread CPU ms) per call. On a shared box wall-clock p99 is dominated by the
    scheduler (another process holding the core); thread CPU time is the cost of the decision."""
    for t in texts:  # warm-up (caches, lazy imports)
        fn(t)
    wall = np.empty(len(texts) * repeats)
    cpu = np.empty_like(wall)
    k = 0
    for _ in range(repeats):
        for t in texts:
            c, a = time.thread_time_ns(), time.perf_counter_ns()
            fn(t)
            wall[k] = (time.perf_counter_ns() - a) / 1e6
            cpu[k] = (time.thread_time_ns() - c) / 1e6
            k += 1
    return wall, cpu


def fastest_repeat(ms: Float[np.ndarray, " call"], repeats: int) -> Float[np.ndarray, " text"]:
    """Per input, the fastest of its ``repeats`` timed calls (``timings`` orders calls repeat-major)."""
    return ms.reshape(repeats, -1).min(0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rules", default=None)
    args = ap.parse_args(argv)
    sets = {
        "edge_cases": [s.text for s in probes.load_probe_set("edge_cases").stimuli],
        "udhr": [s.text for s in probes.load_probe_set("udhr").stimuli],
    }
    sets["all"] = sets["edge_cases"] + sets["udhr"]
    t0 = time.perf_counter()
    router = Router.load(args.rules)
    load_s = time.perf_counter() - t0
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    full = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; Router.load {load_s:.2f} s; repeats {args.repeats}"
    )
    print(
        f"{'set':<11} {'clock':<5} {'n':>5} {'chars p50/max':>13} | {'router p50':>10} {'p99':>8} {'max':>8} | "
        f"{'py3langid p50':>13} {'p99':>8} | {'p99/50ms':>8} {'p99 router/py3langid':>20}"
    )
    for name, texts in sets.items():
        rw, rc = timings(router.route, texts, args.repeats)
        bw, bc = timings(full.classify, texts, args.repeats)
        lens = np.array([len(t) for t in texts])
        best = (fastest_repeat(rw, args.repeats), fastest_repeat(bw, args.repeats))
        for clock, r, b in (("wall", rw, bw), ("cpu", rc, bc), ("best", *best)):
            rp50, rp99 = np.percentile(r, [50, 99])
            bp50, bp99 = np.percentile(b, [50, 99])
            print(
                f"{name:<11} {clock:<5} {len(r):>5} {int(np.median(lens)):>6}/{lens.max():<6} | {rp50:>8.3f}ms "
                f"{rp99:>6.3f}ms {r.max():>6.2f}ms | {bp50:>11.3f}ms {bp99:>6.3f}ms | {rp99 / BUDGET_MS:>8.2%} "
                f"{rp99 / bp99:>19.2f}x"
            )
    print(
        "clock: wall = every timed call; cpu = thread CPU time of every call; best = per input the "
        "fastest of the repeats (wall), i.e. the cost without scheduler interference"
    )
    print(f"target: p99 < 1 ms per decision; production budget {BUDGET_MS:.0f} ms (seed study).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
