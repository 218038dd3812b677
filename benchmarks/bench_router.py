"""Latency of one routing decision on CPU, against a named baseline router (default: git ``main``).

    python benchmarks/bench_router.py [--repeats 5] [--rounds 2] [--baseline main] [--rules PATH]

The baseline is the router at a git ref, exported with ``git archive`` into a temporary directory
and imported from there in a subprocess; the candidate is this checkout, also in a subprocess.
Both route the same inputs (edge cases, UDHR units, the code-switching set), ``rounds`` times
each, alternating candidate / baseline so that both see the same machine load. Each input is
routed ``repeats`` times per round after a warm-up pass. Printed per set and clock: p50 / p99 of
both routers and the ratio candidate / baseline. Target: candidate p99 < 1 ms on the ``best`` clock
(per input, the fastest call: the cost without scheduler interference on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 1.0


def worker(inputs: Path, repeats: int, rules: str | None) -> dict:
    """Time ``Router.route`` on every input set; returns {set: {"wall": [...], "cpu": [...]}}."""
    from polylens.analysis.routing import Router  # noqa: PLC0415 - the subprocess's polylens

    sets = json.loads(inputs.read_text("utf-8"))
    router = Router.load(rules)
    out = {}
    for name, texts in sets.items():
        for t in texts:  # warm-up
            router.route(t)
        wall = np.empty((repeats, len(texts)))
        cpu = np.empty_like(wall)
        for r in range(repeats):
            for k, t in enumerate(texts):
                c, a = time.thread_time_ns(), time.perf_counter_ns()
                router.route(t)
                wall[r, k] = (time.perf_counter_ns() - a) / 1e6
                cpu[r, k] = (time.thread_time_ns() - c) / 1e6
        out[name] = {"wall": wall.tolist(), "cpu": cpu.tolist()}
    return out


def export_ref(ref: str, dest: Path) -> Path:
    """``git archive REF`` of this repository into ``dest/polylens`` (importable as ``polylens``)."""
    pkg = dest / "polylens"
    pkg.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(pkg)], input=archive.stdout, check=True)
    return dest


def run_worker(pythonpath: str | None, inputs: Path, repeats: int, rules: str | None) -> dict:
    """One timing subprocess (``pythonpath`` first on ``sys.path``; None: this checkout)."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(inputs), "--repeats", str(repeats)]
    if rules:
        cmd += ["--rules", rules]
    cwd = pythonpath or str(ROOT)
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def input_sets() -> dict[str, list[str]]:
    """The benchmark inputs, read with this checkout's probes (the baseline may lack new sets)."""
    from polylens import probes  # noqa: PLC0415
    from polylens.probes import codeswitch  # noqa: PLC0415

    sets = {
        "edge_cases": [s.text for s in probes.load_probe_set("edge_cases").stimuli],
        "udhr": [s.text for s in probes.load_probe_set("udhr").stimuli],
        "codeswitch": [i["text"] for i in codeswitch.load_items()],
    }
    sets["all"] = [t for v in sets.values() for t in v]
    return sets


def clocks(runs: list[dict], name: str) -> dict[str, np.ndarray]:
    """Per clock, the samples of one set pooled over rounds (``best``: fastest call per input)."""
    wall = np.concatenate([np.asarray(r[name]["wall"]) for r in runs])
    cpu = np.concatenate([np.asarray(r[name]["cpu"]) for r in runs])
    return {"wall": wall.ravel(), "cpu": cpu.ravel(), "best": wall.min(0)}


def main(argv=None) -> int:
    """Run the comparison and print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--baseline", default="main", help="git ref of the baseline router")
    ap.add_argument("--rules", default=None)
    ap.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.repeats, args.rules)))
        return 0
    sets = input_sets()
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "inputs.json"
        inputs.write_text(json.dumps(sets, ensure_ascii=False), "utf-8")
        base_dir = str(export_ref(args.baseline, Path(tmp) / "base"))
        cand, base = [], []
        for _ in range(args.rounds):
            cand.append(run_worker(None, inputs, args.repeats, args.rules))
            base.append(run_worker(base_dir, inputs, args.repeats, args.rules))
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, load average {load}; "
        f"baseline = git {args.baseline}; rounds {args.rounds} x repeats {args.repeats}"
    )
    print(
        f"{'set':<11} {'clock':<5} {'n':>6} | {'router p50':>10} {'p99':>8} | "
        f"{'baseline p50':>12} {'p99':>8} | {'p99 ratio':>9}"
    )
    for name in sets:
        c, b = clocks(cand, name), clocks(base, name)
        for clock in ("wall", "cpu", "best"):
            cp50, cp99 = np.percentile(c[clock], [50, 99])
            bp50, bp99 = np.percentile(b[clock], [50, 99])
            print(
                f"{name:<11} {clock:<5} {len(c[clock]):>6} | {cp50:>8.3f}ms {cp99:>6.3f}ms | "
                f"{bp50:>10.3f}ms {bp99:>6.3f}ms | {cp99 / bp99:>8.2f}x"
            )
    best = np.percentile(clocks(cand, "all")["best"], 99)
    verdict = "meets" if best < TARGET_MS else "MISSES"
    print(
        "clock: wall = every timed call; cpu = thread CPU time of every call; best = per input the "
        "fastest of all its calls (wall), the cost without scheduler interference"
    )
    print(f"candidate p99 (all, best) = {best:.3f} ms: {verdict} the {TARGET_MS:.0f} ms target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
