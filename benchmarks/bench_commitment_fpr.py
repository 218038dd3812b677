"""Full FPR simulation of the FWER-controlled commitment rule: 2000 null datasets, 299 concepts.

Run: ``python benchmarks/bench_commitment_fpr.py [n_data] [n_units]``; prints the FPR and its
exact 95% CI.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from polylens.analysis.simulate import free_commitment_layers, synthetic_block
from polylens.analysis.stats import proportion_ci


def main(n_data: int = 2000, n_units: int = 299, batch: int = 20) -> None:
    """Simulate, print FPR with its exact CI and the time taken."""
    t0, hits = time.perf_counter(), 0
    for b in range(0, n_data, batch):
        x = synthetic_block(min(batch, n_data - b), n_units, 19, 16, seed=50_000 + b)
        hits += int((~np.isnan(free_commitment_layers(x, seed=b))).sum())
    lo, hi = proportion_ci(hits, n_data)
    print(f"FPR {hits}/{n_data} = {hits / n_data:.4f} [exact 95% CI {lo:.4f}, {hi:.4f}] "
          f"({n_units} concepts, 19 layers, k=3) in {time.perf_counter() - t0:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
