"""Super-weight ablation with a bootstrap CI over text units and same-rank controls (issue 18).

    python benchmarks/quant_superweight_ablation.py [--langs en hi sw yo] [--units 48] [--controls 3]

Finds the super-weight candidate (``hooks.quant_weights.super_weights``: largest down_proj
input spike), zeroes it and scores the texts; then, one at a time, zeroes ``--controls``
weights of the same matrix whose |w| rank is within 10 of the candidate's
(``same_rank_controls``). Relative bits-per-byte change per language and the excess of the
candidate over the controls' mean, with 95% paired bootstrap CIs over units
(``analysis.quant_stats.ablation_effect``). Writes ``runs/quant/superweight_ablation.nc``.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from polylens import probes
from polylens.analysis.quant_stats import ablation_effect
from polylens.hooks.models import load_model
from polylens.hooks.quant_measure import score_texts
from polylens.hooks.quant_weights import linear_modules, same_rank_controls, super_weights

ap = argparse.ArgumentParser()
ap.add_argument("--model", default="gemma-3-270m")
ap.add_argument("--langs", nargs="+", default=["en", "hi", "sw", "yo"])
ap.add_argument("--units", type=int, default=48)
ap.add_argument("--controls", type=int, default=3)
ap.add_argument("--out", type=Path, default=Path("runs/quant/superweight_ablation.nc"))
args = ap.parse_args()

t0 = time.time()
m = load_model(args.model)
sw = super_weights(m)
layer = int(np.argmax(sw.in_max.values))
row, col = int(sw.out_row[layer]), int(sw.in_channel[layer])
ps = probes.load_probe_set("udhr")
ps = ps.select(langs=args.langs, units=ps.units[: args.units])
W = linear_modules(m.bridge.original_model, "down_proj")[layer].weight.detach()
rank = int((W.abs() > W[row, col].abs()).sum()) + 1
print(
    f"candidate block {layer} W_down[{row},{col}] = {float(W[row, col]):.4f}, |w| rank {rank} of {W.numel()}"
)
base = score_texts(m, ps)
conds = [(row, col), *same_rank_controls(W, row, col, n=args.controls, window=10)]
nll = []
for r, c in conds:
    with torch.no_grad():
        saved = float(W[r, c])
        W[r, c] = 0.0
    nll.append(score_texts(m, ps).nll.values)
    with torch.no_grad():
        W[r, c] = saved
res = ablation_effect(base.nll.values, np.stack(nll), n_boot=2000)
names = ["super_weight"] + [f"control_{i}" for i in range(args.controls)]
ds = xr.Dataset(
    {k: (("condition", "lang"), v) for k, v in res.items() if v.ndim == 2}
    | {k: ("lang", v) for k, v in res.items() if v.ndim == 1},
    coords={"condition": names, "lang": list(base.lang.values)},
)
ds["position"] = (("condition", "ij"), np.array(conds))
ds.attrs.update(base.attrs | {"block": layer, "rank": rank, "n_units": base.sizes["unit"]})
args.out.parent.mkdir(parents=True, exist_ok=True)
ds.to_netcdf(args.out)
for i, name in enumerate(names):
    cells = [f"{lg} {100 * ds.rel[i, j]:+.2f}% [{100 * ds.rel_lo[i, j]:+.2f}, {100 * ds.rel_hi[i, j]:+.2f}]"
             for j, lg in enumerate(ds.lang.values)]  # fmt: skip
    print(f"{name} {tuple(conds[i])}: " + "; ".join(cells))
print("excess over controls: " + "; ".join(
    f"{lg} {100 * ds.excess[j]:+.2f}% [{100 * ds.excess_lo[j]:+.2f}, {100 * ds.excess_hi[j]:+.2f}]"
    for j, lg in enumerate(ds.lang.values)))  # fmt: skip
print(
    f"{base.sizes['unit']} units x {len(args.langs)} languages, {len(conds) + 1} passes, {time.time() - t0:.0f} s"
)
