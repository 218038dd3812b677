"""Store benchmark (issue 19): resume check and one-pass assembly over a synthetic store of many
parts, and size / read time / precision of the on-disk encoding vs the first (float16) format.

    python benchmarks/bench_store.py                  # 20,000 parts (the acceptance size)
    python benchmarks/bench_store.py --parts 2000     # quicker

Every number printed is measured here; the ratios are against the acceptance targets.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]


def make_store(store: Path, n_parts: int, batch: int, layers: int, d: int) -> None:
    """A store of ``n_parts`` real part files written by our own ``write_part``."""
    from polylens.hooks.method import Method
    from polylens.storage.store import open_store, register_variant, write_part

    method = Method("synthetic", "0" * 64, "concept", "mean", ("resid",), "float32-bitround10", "raw", True)
    manifest = open_store(store, method)
    prov = {"model_id": "synthetic", "weights_sha256": "1" * 64, "n_layers": layers - 1, "d_model": d}
    prov |= {k: "n/a" for k in ("transformer_lens_version", "transformers_version", "torch_version")}
    register_variant(store, manifest, "base", prov)
    rng = np.random.default_rng(0)
    acts = rng.standard_normal((batch, layers, d)).astype(np.float32)
    n = np.full(batch, 3)
    for p in range(n_parts):
        keys = [(f"l{(p * batch + i) % 100}", f"u{(p * batch + i) // 100}") for i in range(batch)]
        write_part(store, "base", keys, {"resid": acts + p}, n, n)


def _status_kb(field: str) -> int:
    """A memory figure of this process from /proc/self/status (kB)."""
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(field + ":"))
    return int(line.split()[1])


def child(mode: str, store: str, out: str) -> None:
    """Run one measured step in a fresh process and print JSON (time, peak RSS)."""
    import polylens.probes  # noqa: F401 - imported by assembly; module state is not data
    from polylens.storage.assemble import assemble
    from polylens.storage.store import done_keys, read_manifest

    manifest = read_manifest(Path(store))
    warm = Path(out).with_suffix(".warm.nc")  # library start-up (HDF5, netCDF-C, xarray backends) is not data
    xr.Dataset({"x": ("n", np.zeros(3, np.float32))}).to_netcdf(warm)
    xr.load_dataset(warm)
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark: peak of this step only
    base_rss = _status_kb("VmRSS")
    t0 = time.perf_counter()
    if mode == "resume":
        n = len(done_keys(Path(store), "base", manifest))
    else:
        assemble([Path(store)], Path(out))
        n = 0
    dt = time.perf_counter() - t0
    peak = _status_kb("VmHWM")
    print(json.dumps({"seconds": dt, "base_kb": base_rss, "peak_kb": peak, "n": n}))


def measure(mode: str, store: Path, out: Path) -> dict:
    """``child`` in a subprocess (so each peak RSS is its own)."""
    cmd = [sys.executable, __file__, "--child", mode, str(store), str(out)]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()[-1])


def scale(tmp: Path, n_parts: int, batch: int, layers: int, d: int) -> float:
    """Resume check and assembly of a store of ``n_parts`` parts; returns assembly's RSS delta (KB)."""
    store = tmp / f"store{n_parts}"
    t0 = time.perf_counter()
    make_store(store, n_parts, batch, layers, d)
    print(f"wrote {n_parts} parts of {batch} x {layers} x {d} in {time.perf_counter() - t0:.1f} s")
    part_kb = batch * layers * d * 4 / 1024
    res = measure("resume", store, tmp / "x.nc")
    print(
        f"resume check over {n_parts} parts: {res['seconds']:.2f} s ({res['n']} stimuli found); "
        f"target < 3 s: ratio {res['seconds'] / 3:.2f}"
    )
    parts = sorted(store.glob("parts/*/*.nc"))[:200]
    t0 = time.perf_counter()
    for p in parts:
        with xr.open_dataset(p) as ds:
            ds["lang"].values  # noqa: B018 - the old resume opened every part like this
    per = (time.perf_counter() - t0) / len(parts)
    print(
        f"old resume (open each part): {per * 1e3:.1f} ms/part -> {per * n_parts:.1f} s; "
        f"speed-up {per * n_parts / res['seconds']:.0f}x"
    )
    asm = measure("assemble", store, tmp / f"final{n_parts}.nc")
    delta_kb = asm["peak_kb"] - asm["base_kb"]
    print(
        f"assembly of {n_parts} parts in one pass: {asm['seconds']:.1f} s; peak RSS {asm['peak_kb'] / 1024:.0f} MB, "
        f"{delta_kb / 1024:.1f} MB above the process after imports and a warm-up write; one part batch = {part_kb:.0f} KB "
        f"(ratio delta / part batch {delta_kb / part_kb:.2f})"
    )
    return delta_kb


def encoding(tmp: Path) -> None:
    """Size, read time and precision of the encodings on real activations (the golden store)."""
    from polylens.storage.encoding import array_encoding

    src = ROOT / "tests" / "fixtures" / "golden" / "concepts_activations.nc"
    ds = xr.load_dataset(src, engine="h5netcdf")
    x32 = ds.resid.values.astype(np.float32)
    f16 = ds.assign(resid=ds.resid.astype(np.float16))
    f32 = ds.assign(resid=(ds.resid.dims, x32))
    options = {
        "float16 h5netcdf (first format)": (f16, {"engine": "h5netcdf", "invalid_netcdf": True}, {}),
        "float32 raw": (f32, {}, {"resid": {"dtype": "float32"}}),
        "float32 BitRound10 + zlib1 (chosen)": (f32, {}, {"resid": array_encoding()}),
        "float32 BitRound10 + zstd": (
            f32,
            {},
            {"resid": {**array_encoding(), "zlib": False, "complevel": None, "compression": "zstd"}},
        ),
    }
    rng = np.random.default_rng(0)
    wide = (rng.standard_normal(200_000) * 3e4).astype(np.float32)  # float16 overflows past 65504
    path = tmp / "wide.nc"
    xr.Dataset({"resid": ("n", wide)}).to_netcdf(path, encoding={"resid": array_encoding()})
    back = xr.load_dataset(path).resid.values
    print(
        f"float32 BitRound10 on N(0, 3e4): max rel err {np.max(np.abs(back - wide) / np.abs(wide)):.2e} "
        f"(bound 2^-11 = {2**-11:.2e}), non-finite {int((~np.isfinite(back)).sum())}; as float16: "
        f"{int(np.isinf(wide.astype(np.float16)).sum())} of {wide.size} overflow to inf"
    )
    print(f"encodings on {src.name} ({x32.size} values, max |x| {np.abs(x32).max():.3g}):")
    for name, (data, kw, enc) in options.items():
        path = tmp / f"{abs(hash(name))}.nc"
        data.to_netcdf(  # type: ignore[call-overload]  # engine/format kwargs vary per option
            path,
            encoding={k: {kk: vv for kk, vv in v.items() if vv is not None} for k, v in enc.items()},
            **kw,
        )
        t0 = time.perf_counter()
        for _ in range(5):
            back = xr.load_dataset(path, engine=kw.get("engine")).resid.values.astype(np.float32)
        dt = (time.perf_counter() - t0) / 5
        rel = np.abs(back - x32) / np.maximum(np.abs(x32), 1e-30)
        dump = subprocess.run(["ncdump", "-h", str(path)], capture_output=True).returncode == 0
        print(
            f"  {name:38s} {path.stat().st_size / 1024:8.1f} KB  read {dt * 1e3:6.1f} ms  "
            f"max rel err vs float32 {rel.max():.2e}  ncdump -h ok: {dump}"
        )


def main() -> None:
    """Parse the flags and run the benchmark."""
    if sys.argv[1:2] == ["--child"]:
        return child(*sys.argv[2:5])
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--parts", type=int, default=20_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        encoding(Path(tmp))
        scale(Path(tmp), args.parts, batch=4, layers=5, d=64)
        small = scale(Path(tmp), 200, batch=16, layers=19, d=640)  # Gemma-3-270m-sized part batches
        large = scale(Path(tmp), 400, batch=16, layers=19, d=640)  # twice the parts
        part_kb = 16 * 19 * 640 * 4 / 1024
        print(
            f"assembly RSS growth per extra part batch: {(large - small) / 200:.1f} KB "
            f"({(large - small) / 200 / part_kb:.3f} of one {part_kb:.0f} KB part batch): the index, not the data"
        )


if __name__ == "__main__":
    main()
