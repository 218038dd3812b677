"""Benchmark: full alignment analysis vs reading the activation store once (issues 5 and 17).

    python benchmarks/bench_analysis.py                 # Tiny Aya scale: 3 x 20 x 300 x 37 x 2048
    python benchmarks/bench_analysis.py --scale 0.25    # fewer languages and layers (linear in cost)
    python benchmarks/bench_analysis.py --results benchmarks/RESULTS.md   # also write the table

Writes a synthetic store in the capture engine's on-disk format (netCDF4 float32, BitRound 10
bits + zlib 1, one chunk per stimulus holding every layer: ``storage.encoding``), then runs each
phase in its own subprocess (2 dask threads, BLAS 1 thread each) so peak RSS is per phase:

1. ``read``: decode the whole store once, lazily, with storage-aligned dask chunks (the floor);
2. ``analysis``: ``run_analysis`` (all metrics, CKA x2, 1000 bootstrap, 10,000-flip tests,
   files) on the same lazy store, opened exactly as ``python cli.py analyze`` opens it;
3. ``matmul``: a plain numpy float32 matmul on the same cores (BLAS 2 threads), for GFLOP/s;
4. ``loop``: a per-concept Python loop computing the same cosines on a subset, extrapolated;
5. out of core: ``analysis`` on two smaller stores, the second with 4x the languages
   (``--rss-langs``), to show that peak RSS does not grow with the store.

Wall times on a shared machine are upper bounds; CPU seconds (user + sys of the phase's process)
are printed next to them. Targets (issue 17): analysis / read <= 1.5x, RSS growth < 1.3x.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_store(path: Path, V: int, G: int, U: int, L: int, D: int, seed: int = 0) -> float:
    """Synthetic store in the capture format (one chunk per stimulus); returns seconds."""
    import netCDF4
    import numpy as np
    import xarray as xr

    from polylens.storage.encoding import COMPRESSION, DTYPE, ENGINE, MANTISSA_BITS

    rng = np.random.default_rng(seed)
    base = rng.standard_normal((U, 1, D), dtype=np.float32)
    scale = np.linspace(3.0, 0.3, L, dtype=np.float32).reshape(1, L, 1)
    variants = ["base", "fire", "earth", "water", "global"][:V] + [f"v{i}" for i in range(max(0, V - 5))]
    langs = ["en"] + [f"l{i:02d}" for i in range(G - 1)]
    skeleton = xr.Dataset(
        coords={
            "variant": variants,
            "lang": langs,
            "concept": [f"c{i:04d}" for i in range(U)],
            "layer": np.arange(L),
            "script": ("lang", ["Latn"] * G),
            "resource": ("lang", (["high", "medium", "low"] * G)[:G]),
        },
        attrs={"model_id": "synthetic-bench", "pooling": "mean", "processing_mode": "raw"},
    )
    t = time.perf_counter()
    skeleton.to_netcdf(path, engine=ENGINE)
    with netCDF4.Dataset(path, "a") as f:
        f.createDimension("d", D)
        arr = f.createVariable(
            "resid",
            DTYPE,
            ("variant", "lang", "concept", "layer", "d"),
            fill_value=np.float32(np.nan),
            chunksizes=(1, 1, 1, L, D),
            quantize_mode="BitRound",
            significant_digits=MANTISSA_BITS,
            **COMPRESSION,
        )
        for v in range(V):
            for g in range(G):
                arr[v, g] = base + rng.standard_normal((U, L, D), dtype=np.float32) * scale
    return time.perf_counter() - t


def _cpu() -> float:
    """User + sys CPU seconds of this process (all threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _analysis(store: str, out: str, n_boot: int, n_perm: int) -> dict:
    """``run_analysis`` on the store opened as the analyze pipeline opens it, with stage times."""
    from polylens.analysis.alignment import analyze
    from polylens.analysis.alignment_io import write_results
    from polylens.analysis.core import unit_metrics
    from polylens.analysis.variant_tests import variant_tests
    from polylens.storage.encoding import ALIGNED, open_any

    res: dict = {}
    marks = [(time.perf_counter(), _cpu())]

    def mark(name: str) -> None:
        marks.append((time.perf_counter(), _cpu()))
        res[name] = [marks[-1][0] - marks[-2][0], marks[-1][1] - marks[-2][1]]

    with open_any(Path(store), ALIGNED) as ds:
        um = unit_metrics(ds).compute()
        mark("stage1_read_and_kernel")
        r = analyze(ds, n_boot=n_boot, um=um)
        mark("stage2_bootstrap_summaries")
        tests = variant_tests(r, baseline="base", n_perm=n_perm)
        mark("variant_tests")
        write_results(r, tests, Path(out), baseline="base")
        mark("write_results")
    res["peak_cos_mean"] = float(r["cos"].mean())
    return res


def phase(name: str, a: argparse.Namespace) -> dict:
    """Run one phase in this (fresh) process; returns seconds, CPU seconds, peak RSS."""
    import dask
    import numpy as np

    import polylens.analysis.alignment  # noqa: F401  (imports are not part of any phase's time)
    import polylens.storage.encoding  # noqa: F401

    dask.config.set(scheduler="threads", num_workers=a.workers)
    res: dict = {"phase": name}
    t, c = time.perf_counter(), _cpu()
    if name == "read":
        from polylens.storage.encoding import ALIGNED, open_any

        with open_any(Path(a.store), ALIGNED) as ds:
            res["checksum"] = float(ds["resid"].sum().compute())
    elif name == "analysis":
        res.update(_analysis(a.store, a.out, a.n_boot, a.n_perm))
    elif name == "matmul":
        n = 2048
        x = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
        best = min(_timed(lambda: x @ x.T.copy()) for _ in range(5))
        res["gflops"] = 2 * n**3 / best / 1e9
    elif name == "loop":
        res.update(_loop(a.store, a.loop_units))
    res["seconds"] = time.perf_counter() - t
    res["cpu_seconds"] = _cpu() - c
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return res


def _timed(fn) -> float:
    """Wall seconds of one call."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _loop(store: str, units: int) -> dict:
    """The seed study's style: one cosine at a time, ref concept i vs lang concept j, 2 layers."""
    import numpy as np

    from polylens.storage.encoding import open_any

    with open_any(Path(store)) as ds:
        sub = ds["resid"].isel(variant=0, lang=[0, 1], concept=slice(0, units), layer=slice(0, 2)).values
    n = 0
    t = time.perf_counter()
    for li in range(sub.shape[2]):
        for i in range(units):
            a = sub[0, i, li]
            for j in range(units):
                b = sub[1, j, li]
                _ = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
                n += 1
    return {"loop_seconds": time.perf_counter() - t, "n_cosines": n}


def _run_phase(ph: str, a: argparse.Namespace, store: Path, out: Path) -> dict:
    """One phase in a fresh subprocess (BLAS single-threaded except for the matmul reference)."""
    threads = str(a.workers) if ph == "matmul" else "1"
    env = dict(os.environ, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    cmd = [sys.executable, __file__, "--phase", ph, "--store", str(store), "--out", str(out)]
    cmd += ["--workers", str(a.workers), "--n-boot", str(a.n_boot), "--n-perm", str(a.n_perm)]
    cmd += ["--loop-units", str(a.loop_units)]
    proc = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _line(name: str, r: dict) -> str:
    """One printed row: wall, CPU, peak RSS."""
    return f"{name:26s}: {r['seconds']:8.1f} s wall {r['cpu_seconds']:8.1f} s CPU   peak RSS {r['peak_rss_mb']:6.0f} MB"


def _shape(a: argparse.Namespace) -> tuple[int, int, int, int, int]:
    """(V, G, U, L, D) of the main store."""
    return a.variants, max(2, round(a.langs * a.scale)), a.concepts, max(4, round(a.layers * a.scale)), a.d


def _main_store(a: argparse.Namespace, tmp: Path) -> dict:
    """Read floor, analysis, matmul reference and loop on the Tiny-Aya-scale store."""
    V, G, U, L, D = _shape(a)
    store = tmp / "store.nc"
    tw = write_store(store, V, G, U, L, D)
    print(f"write: {tw:.1f} s ({store.stat().st_size / 1e9:.2f} GB on disk)", flush=True)
    out: dict = {"shape": [V, G, U, L, D], "write_s": tw, "store_gb": store.stat().st_size / 1e9}
    for ph in ("read", "analysis", "matmul", "loop"):
        r = _run_phase(ph, a, store, tmp / "results")
        out[ph] = r
        if ph == "matmul":
            print(f"numpy float32 matmul ({a.workers} BLAS threads): {r['gflops']:.0f} GFLOP/s", flush=True)
        elif ph != "loop":
            print(_line(ph, r), flush=True)
    for stage in ("stage1_read_and_kernel", "stage2_bootstrap_summaries", "variant_tests", "write_results"):
        w, c = out["analysis"][stage]
        print(f"  {stage:24s}: {w:8.1f} s wall {c:8.1f} s CPU", flush=True)
    store.unlink()
    return out


def _rss_growth(a: argparse.Namespace, tmp: Path) -> dict:
    """Peak RSS of the analysis on a store and on one with 4x the languages (out of core)."""
    V, G, U, L, D = (int(v) for v in a.rss_shape.split(","))
    out = {}
    for name, g in (("small", G), ("large_4x", 4 * G)):
        store = tmp / f"rss_{name}.nc"
        write_store(store, V, g, U, L, D, seed=1)
        r = _run_phase("analysis", a, store, tmp / f"results_{name}")
        r["shape"], r["store_gb"] = [V, g, U, L, D], store.stat().st_size / 1e9
        out[name] = r
        print(_line(f"analysis {V}x{g}x{U}x{L}x{D}", r), flush=True)
        store.unlink()
    return out


def _summary(m: dict, rss: dict, a: argparse.Namespace) -> dict:
    """Ratios and rates derived from the phases."""
    V, G, U, L, D = m["shape"]
    read, an = m["read"], m["analysis"]
    flops = V * L * G * 3 * 2 * U * U * D  # S, centred S, Gram: one U x U x D matmul each per cell
    kernel_s = an["stage1_read_and_kernel"][0]
    n_cos = V * G * L * U * U
    per_cos = m["loop"]["loop_seconds"] / m["loop"]["n_cosines"]
    return {
        "ratio_analysis_over_read": an["seconds"] / read["seconds"],
        "ratio_cpu": an["cpu_seconds"] / read["cpu_seconds"],
        "kernel_gflop": flops / 1e9,
        "kernel_gflops_per_s": flops / kernel_s / 1e9,
        "matmul_gflops_per_s": m["matmul"]["gflops"],
        "rss_growth_4x": rss["large_4x"]["peak_rss_mb"] / rss["small"]["peak_rss_mb"],
        "loop_extrapolated_s": per_cos * n_cos,
        "speedup_vs_loop": per_cos * n_cos / an["seconds"],
    }


def _report(m: dict, rss: dict, s: dict, load: str) -> str:
    """RESULTS.md text (generated)."""
    V, G, U, L, D = m["shape"]
    rows = [
        f"| read + decode once (aligned chunks) | {m['read']['seconds']:.1f} s | {m['read']['cpu_seconds']:.1f} s "
        f"| {m['read']['peak_rss_mb'] / 1024:.2f} GB |",
        f"| run_analysis (all metrics, CKA x2, 1000 bootstrap, 10,000-flip tests, files) "
        f"| {m['analysis']['seconds']:.1f} s | {m['analysis']['cpu_seconds']:.1f} s "
        f"| {m['analysis']['peak_rss_mb'] / 1024:.2f} GB |",
    ]
    stages = [
        f"| {k} | {m['analysis'][k][0]:.1f} s | {m['analysis'][k][1]:.1f} s |"
        for k in ("stage1_read_and_kernel", "stage2_bootstrap_summaries", "variant_tests", "write_results")
    ]
    rss_rows = [
        f"| {'x'.join(map(str, r['shape']))} | {r['store_gb']:.2f} GB | {r['seconds']:.1f} s | {r['peak_rss_mb']:.0f} MB |"
        for r in rss.values()
    ]
    ok = lambda good: "met" if good else "NOT met"  # noqa: E731
    return "\n".join(
        [
            "# bench_analysis.py (generated by `python benchmarks/bench_analysis.py --results benchmarks/RESULTS.md`)",
            "",
            f"Store {V} x {G} x {U} x {L} x {D} (variant, lang, concept, layer, d), {m['store_gb']:.2f} GB on disk, "
            "capture format (netCDF4 float32, BitRound 10 bits + zlib 1, one chunk per stimulus), opened "
            "lazily with storage-aligned dask chunks; 2 dask threads, BLAS 1 thread each. "
            f"Machine load during the run: `{load}` (2 cores shared: wall times are upper bounds).",
            "",
            "| phase | wall | CPU | peak RSS |",
            "|---|---|---|---|",
            *rows,
            "",
            f"- analysis / read: **{s['ratio_analysis_over_read']:.2f}x** wall, {s['ratio_cpu']:.2f}x CPU "
            f"(target <= 1.5x: {ok(s['ratio_analysis_over_read'] <= 1.5)})",
            f"- kernel: {s['kernel_gflop']:.0f} GFLOP of U x U x d matmuls in stage 1, "
            f"{s['kernel_gflops_per_s']:.1f} GFLOP/s achieved vs a plain numpy float32 matmul at "
            f"{s['matmul_gflops_per_s']:.0f} GFLOP/s in the same run",
            f"- per-concept Python loop extrapolated: {s['loop_extrapolated_s']:.0f} s "
            f"(vectorized analysis {s['speedup_vs_loop']:.0f}x faster)",
            "",
            "| analysis stage | wall | CPU |",
            "|---|---|---|",
            *stages,
            "",
            "## Out of core: peak RSS vs store size",
            "",
            "| store | on disk | analysis wall | peak RSS |",
            "|---|---|---|---|",
            *rss_rows,
            "",
            f"RSS growth for 4x the data: **{s['rss_growth_4x']:.2f}x** (target < 1.3x: {ok(s['rss_growth_4x'] < 1.3)})",
            "",
        ]
    )


def main() -> None:
    """Run every phase and print (and optionally write) the results."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies the number of languages and layers")
    ap.add_argument("--variants", type=int, default=3)
    ap.add_argument("--langs", type=int, default=20)
    ap.add_argument("--concepts", type=int, default=300)
    ap.add_argument("--layers", type=int, default=37)
    ap.add_argument("--d", type=int, default=2048)
    ap.add_argument("--rss-shape", default="2,3,300,19,2048", help="V,G,U,L,D of the RSS store (4x G)")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--n-perm", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--loop-units", type=int, default=60)
    ap.add_argument("--tmp", default=None, help="directory for the temporary stores (default: system temp)")
    ap.add_argument("--results", default=None, help="write the generated markdown table here")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--store", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.phase:
        print(json.dumps(phase(a.phase, a)))
        return
    V, G, U, L, D = _shape(a)
    tmp = Path(tempfile.mkdtemp(prefix="polylens-bench-", dir=a.tmp))
    need = V * G * U * L * D * 4 * 0.6
    print(f"shape (variant, lang, concept, layer, d) = ({V}, {G}, {U}, {L}, {D}); store ~{need / 1e9:.1f} GB")
    if need * 1.5 > shutil.disk_usage(tmp).free:
        sys.exit("not enough disk space; use --scale or --tmp")
    load = os.popen("uptime").read().strip()
    try:
        m = _main_store(a, tmp)
        rss = _rss_growth(a, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    s = _summary(m, rss, a)
    print(
        f"analysis / read: {s['ratio_analysis_over_read']:.2f}x wall, {s['ratio_cpu']:.2f}x CPU (target <= 1.5x)"
    )
    print(
        f"kernel: {s['kernel_gflops_per_s']:.1f} GFLOP/s vs numpy matmul {s['matmul_gflops_per_s']:.0f} GFLOP/s"
    )
    print(f"peak RSS: read {m['read']['peak_rss_mb']:.0f} MB, analysis {m['analysis']['peak_rss_mb']:.0f} MB")
    print(f"RSS growth for 4x the languages: {s['rss_growth_4x']:.2f}x (target < 1.3x)")
    print(json.dumps({**m, "rss": rss, **s, "load": load}))
    if a.results:
        Path(a.results).write_text(_report(m, rss, s, load + " / " + os.popen("uptime").read().strip()))


if __name__ == "__main__":
    main()
