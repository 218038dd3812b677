"""Ad-hoc check for docs/quantization_findings.md: zero the super-weight candidate (needs runs/quant/weights.nc from `cli.py quant weights`), compare bits per byte."""

import torch
import xarray as xr

from polylens import probes
from polylens.hooks.models import load_model
from polylens.hooks.quant_measure import score_texts
from polylens.hooks.quant_weights import linear_modules

torch.set_num_threads(1)

w = xr.load_dataset("runs/quant/weights.nc")
layer = int(w.sw_in_max.argmax())
row, col = int(w.sw_out_row[layer]), int(w.sw_in_channel[layer])
m = load_model("gemma-3-270m")
ps = probes.load_probe_set("udhr").select(langs=["en", "hi", "sw", "yo"], limit=4)
base = score_texts(m, ps)
W = linear_modules(m.bridge.original_model, "down_proj")[layer].weight
rank = int((W.abs() > W[row, col].abs()).sum()) + 1
print(f"candidate layer {layer} W[{row},{col}]={float(W[row, col]):.4f}, |w| rank {rank} of {W.numel()}")
with torch.no_grad():
    saved = float(W[row, col])
    W[row, col] = 0.0
abl = score_texts(m, ps)
with torch.no_grad():
    W[row, col] = saved
    # control: zero 1 random weight of the same magnitude rank neighbourhood? use a random weight
    g = torch.Generator().manual_seed(0)
    r2, c2 = (
        int(torch.randint(0, W.shape[0], (1,), generator=g)),
        int(torch.randint(0, W.shape[1], (1,), generator=g)),
    )
    s2 = float(W[r2, c2])
    W[r2, c2] = 0.0
ctl = score_texts(m, ps)
for name, ds in (("zero super weight", abl), ("zero random weight", ctl)):
    b0 = base.nll.sum("unit") / base.n_bytes.sum("unit")
    b1 = ds.nll.sum("unit") / ds.n_bytes.sum("unit")
    print(name, {l: f"{float(v):+.2%}" for l, v in (b1 / b0 - 1).to_series().items()})
