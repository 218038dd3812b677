"""Benchmark: full alignment analysis vs reading the activation store once (issue 5).

    python benchmarks/bench_analysis.py                 # Tiny Aya scale: 3 x 20 x 300 x 37 x 2048
    python benchmarks/bench_analysis.py --scale 0.25    # fewer languages and layers (linear in cost)

Writes a synthetic store to a temp dir in the capture engine's format (float16, HDF5-backed
netCDF via h5netcdf, chunked one (variant, layer) slab at a time), then runs, each in its own subprocess so peak RSS is
per phase: (1) read + decode the whole store once, lazily chunked over (variant, layer);
(2) ``run_analysis`` (all metrics, 1000-sample bootstrap, 10,000-flip permutation tests) on the
same lazy store; (3) a straightforward per-concept Python loop computing the same cosine
matrices on a subset, extrapolated by the number of cosines. Prints times, ratios, peak RSS.
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
    import dask
    import dask.array as da
    import numpy as np
    import xarray as xr

    rs = da.random.RandomState(seed)
    chunks = (1, G, U, 1, D)
    base = rs.standard_normal((1, 1, U, 1, D), chunks=(1, 1, U, 1, D))
    noise = rs.standard_normal((V, G, U, L, D), chunks=chunks)
    scale = da.from_array(np.linspace(3.0, 0.3, L).reshape(1, 1, 1, L, 1), chunks=(1, 1, 1, 1, 1))
    x = (base + noise * scale).astype(np.float32)
    langs = ["en"] + [f"l{i:02d}" for i in range(G - 1)]
    ds = xr.Dataset(
        {"resid": (("variant", "lang", "concept", "layer", "d"), x)},
        coords={
            "variant": ["base", "fire", "earth", "water", "global"][:V]
            + [f"v{i}" for i in range(max(0, V - 5))],
            "lang": langs,
            "concept": [f"c{i:04d}" for i in range(U)],
            "layer": np.arange(L),
            "script": ("lang", ["Latn"] * G),
            "resource": ("lang", (["high", "medium", "low"] * G)[:G]),
        },
        attrs={
            "model_id": "synthetic-bench",
            "pooling": "mean",
            "processing_mode": "raw",
            "probe_set_sha256": "bench",
            "weights_sha256": "{}",
            "dtype": "float16",
        },
    )
    enc = {"resid": {"dtype": "float16", "chunksizes": (1, 1, U, 1, D)}}
    t = time.perf_counter()
    with dask.config.set(scheduler="threads", num_workers=2):
        ds.to_netcdf(path, encoding=enc, engine="h5netcdf", invalid_netcdf=True)
    return time.perf_counter() - t


def phase(name: str, store: str, out: str, workers: int, n_boot: int, n_perm: int, loop_units: int) -> dict:
    import dask
    import numpy as np
    import xarray as xr

    dask.config.set(scheduler="threads", num_workers=workers)
    res: dict = {"phase": name}
    if name == "read":
        t = time.perf_counter()
        with xr.open_dataset(store, engine="h5netcdf", chunks={"variant": 1, "layer": 1}) as ds:
            s = ds["resid"].astype("float32").sum().compute()
        res["seconds"] = time.perf_counter() - t
        res["checksum"] = float(s)
    elif name == "analysis":
        from polylens.analysis.alignment import run_analysis

        t = time.perf_counter()
        with xr.open_dataset(store, engine="h5netcdf", chunks={"variant": 1, "layer": 1}) as ds:
            r = run_analysis(ds, out, n_boot=n_boot, n_perm=n_perm)
        res["seconds"] = time.perf_counter() - t
        res["peak_cos_mean"] = float(r["peak_cos"].mean())
    elif name == "loop":
        # straightforward per-concept loop (the seed study's style) on a subset:
        # for each ref concept i and lang concept j: cosine of two d-vectors; matched = i == j
        with xr.open_dataset(store, engine="h5netcdf") as ds:
            sub = (
                ds["resid"]
                .isel(variant=0, lang=[0, 1], concept=slice(0, loop_units), layer=slice(0, 2))
                .values
            )
        n = 0
        t = time.perf_counter()
        for li in range(sub.shape[2]):
            for i in range(loop_units):
                a = sub[0, i, li]
                for j in range(loop_units):
                    b = sub[1, j, li]
                    _ = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
                    n += 1
        res["seconds"] = time.perf_counter() - t
        res["n_cosines"] = n
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies the number of languages and layers")
    ap.add_argument("--variants", type=int, default=3)
    ap.add_argument("--langs", type=int, default=20)
    ap.add_argument("--concepts", type=int, default=300)
    ap.add_argument("--layers", type=int, default=37)
    ap.add_argument("--d", type=int, default=2048)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--n-perm", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--loop-units", type=int, default=60)
    ap.add_argument("--tmp", default=None, help="directory for the temporary store (default: system temp)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--store", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.phase:
        print(json.dumps(phase(a.phase, a.store, a.out, a.workers, a.n_boot, a.n_perm, a.loop_units)))
        return
    V, G = a.variants, max(2, round(a.langs * a.scale))
    U, L, D = a.concepts, max(4, round(a.layers * a.scale)), a.d
    tmp = Path(tempfile.mkdtemp(prefix="polylens-bench-", dir=a.tmp))
    store = tmp / "store.nc"
    need = V * G * U * L * D * 2
    free = shutil.disk_usage(tmp).free
    print(
        f"shape (variant, lang, concept, layer, d) = ({V}, {G}, {U}, {L}, {D}); store ~{need / 1e9:.2f} GB; "
        f"free {free / 1e9:.0f} GB in {tmp}"
    )
    if need * 1.2 > free:
        sys.exit("not enough disk space; use --scale or --tmp")
    try:
        tw = write_store(store, V, G, U, L, D)
        print(f"write: {tw:.1f} s ({store.stat().st_size / 1e9:.2f} GB on disk)")
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        results = {}
        for ph in ("read", "analysis", "loop"):
            cmd = [
                sys.executable,
                __file__,
                "--phase",
                ph,
                "--store",
                str(store),
                "--out",
                str(tmp / "results"),
                "--workers",
                str(a.workers),
                "--n-boot",
                str(a.n_boot),
                "--n-perm",
                str(a.n_perm),
                "--loop-units",
                str(a.loop_units),
            ]
            r = json.loads(
                subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
                .stdout.strip()
                .splitlines()[-1]
            )
            results[ph] = r
            print(f"{ph:9s}: {r['seconds']:8.2f} s   peak RSS {r['peak_rss_mb']:8.0f} MB")
        read_s, an_s = results["read"]["seconds"], results["analysis"]["seconds"]
        per_cos = results["loop"]["seconds"] / results["loop"]["n_cosines"]
        n_cos = V * G * L * U * U  # cosines the vectorized kernel computes (matched + full null)
        loop_est = per_cos * n_cos
        print(f"analysis / read ratio: {an_s / read_s:.2f}x (target <= 2x)")
        print(
            f"per-concept Python loop: {per_cos * 1e6:.2f} us/cosine measured on {results['loop']['n_cosines']} "
            f"cosines; extrapolated to the {n_cos:.3g} cosines of this store: {loop_est:.0f} s "
            f"(cosines only, no bootstrap/CKA/tests) -> vectorized analysis is {loop_est / an_s:.0f}x faster"
        )
        print(
            json.dumps(
                {
                    "shape": [V, G, U, L, D],
                    "write_s": tw,
                    **{k: v for k, v in results.items()},
                    "ratio_analysis_over_read": an_s / read_s,
                    "loop_extrapolated_s": loop_est,
                    "speedup_vs_loop": loop_est / an_s,
                }
            )
        )
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
