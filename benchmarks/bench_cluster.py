"""Capture on a dask LocalCluster of N worker processes vs one process, same stimuli, same store.

    python benchmarks/bench_cluster.py                      # Gemma-3-270m, 4 languages x 60 concepts
    python benchmarks/bench_cluster.py --model tiny-cohere2 --limit 12   # seconds, for a smoke test

Prints the wall time of each run (cluster start-up and model boots included, since a user pays
for them), the ratio, and whether the two stores are identical value for value.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def timed_capture(out: Path, **kw) -> float:
    """Seconds for one ``cache`` run into ``out``."""
    from polylens.pipelines import capture

    start = time.perf_counter()
    capture.run(capture.CaptureConfig(out=out, **kw))
    return time.perf_counter() - start


def identical(a: Path, b: Path) -> bool:
    """Data variables and coordinates of two assembled stores identical (run attrs aside)."""
    import xarray as xr

    from polylens.storage.assemble import open_activations

    with open_activations(a, chunks=None) as x, open_activations(b, chunks=None) as y:
        try:
            xr.testing.assert_identical(x.load().drop_attrs(deep=False), y.load().drop_attrs(deep=False))
        except AssertionError:
            return False
    return True


def main() -> None:
    """Run both captures and print the comparison."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="gemma-3-270m")
    p.add_argument("--langs", default="en,fr,hi,zh")
    p.add_argument("--limit", type=int, default=60, help="concepts per language")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=16)
    args = p.parse_args()
    import torch

    kw = {
        "models": (args.model,),
        "langs": tuple(args.langs.split(",")),
        "limit": args.limit,
        "batch_size": args.batch_size,
    }
    with tempfile.TemporaryDirectory(prefix="bench_cluster_") as tmp:
        single = timed_capture(Path(tmp) / "single", **kw)
        print(f"one process: {single:.1f} s", flush=True)
        cluster = timed_capture(Path(tmp) / "cluster", workers=args.workers, **kw)
        same = identical(Path(tmp) / "single", Path(tmp) / "cluster")
    n = len(kw["langs"]) * args.limit
    load = os.getloadavg()
    print(
        f"model {args.model}, {n} stimuli, batch size {args.batch_size}, {len(os.sched_getaffinity(0))} CPUs"
    )
    print(f"one process ({torch.get_num_threads()} torch threads): {single:.1f} s ({n / single:.2f} stim/s)")
    print(f"LocalCluster, {args.workers} workers x 1 thread: {cluster:.1f} s ({n / cluster:.2f} stim/s)")
    print(f"speed-up cluster vs one process: {single / cluster:.2f}x; stores identical: {same}")
    print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
