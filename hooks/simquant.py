"""Simulated weight quantization variants (``gemma-3-270m@int4-g128``): a small stop-gap.

The proper quantizer is being built in branch ``quant`` (``hooks/quantize.py``); until it
lands, model diffing needs a real same-architecture pair on this CPU machine, so this helper
applies round-to-nearest, asymmetric, group-wise fake quantization in memory to every linear
weight inside the transformer blocks (attention q/k/v/o, MLP gate/up/down). Embeddings, norms
and the (tied) unembedding stay in float. ``-outP`` keeps the ``P`` percent largest-magnitude
weights of each matrix exact and excludes them from their group's range.

Variant syntax: ``BASE@int{bits}-g{group}[-out{percent}]``, e.g. ``gemma-3-270m@int3-g128-out1``.
"""

from __future__ import annotations

import re
from dataclasses import replace

import torch

from errors import UnknownModelError
from hooks.models import HookedModel, load_model, state_dict_sha256

VARIANT = re.compile(r"^int(?P<bits>[2-8])-g(?P<group>\d+)(?:-out(?P<out>\d+(?:\.\d+)?))?$")
LINEAR = re.compile(r"layers\.\d+\..*(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)")


def parse_variant(suffix: str) -> dict:
    m = VARIANT.match(suffix)
    if not m:
        raise UnknownModelError(f"unknown quantized variant {suffix!r}; expected e.g. int4-g128 "
                                "or int3-g128-out1 (keep 1% outlier weights)")
    return {"bits": int(m["bits"]), "group": int(m["group"]),
            "outlier_pct": float(m["out"]) if m["out"] else 0.0}


@torch.no_grad()
def fake_quantize(w: torch.Tensor, bits: int, group: int, outlier_pct: float = 0.0) -> torch.Tensor:
    """Quantize-dequantize ``w: Float[out, in]`` group-wise along the input axis (RTN, min-max)."""
    out_f, in_f = w.shape
    keep = torch.zeros_like(w, dtype=torch.bool)
    if outlier_pct > 0:
        k = max(1, int(round(w.numel() * outlier_pct / 100)))
        thresh = w.abs().flatten().kthvalue(w.numel() - k).values
        keep = w.abs() > thresh
    pad = (-in_f) % group
    x = torch.nn.functional.pad(w.float(), (0, pad)).view(out_f, -1, group)
    m = torch.nn.functional.pad(keep, (0, pad)).view(out_f, -1, group)
    lo = torch.where(m, torch.inf, x).amin(-1, keepdim=True).clamp(max=0)
    hi = torch.where(m, -torch.inf, x).amax(-1, keepdim=True).clamp(min=0)
    levels = 2 ** bits - 1
    scale = ((hi - lo) / levels).clamp_min(1e-12)
    zero = torch.round(-lo / scale)
    q = torch.clamp(torch.round(x / scale) + zero, 0, levels)
    deq = ((q - zero) * scale).view(out_f, -1)[:, :in_f]
    return torch.where(keep, w.float(), deq).to(w.dtype)


def quantize_in_place(model: HookedModel, suffix: str) -> HookedModel:
    """Fake-quantize ``model``'s block linear weights; update its spec name and weights sha."""
    params = parse_variant(suffix)
    n = 0
    for name, p in model.bridge.named_parameters():
        if p.ndim == 2 and LINEAR.search(name.replace("._original_component", "")):
            p.data.copy_(fake_quantize(p.data, **params))
            n += 1
    if n == 0:
        raise UnknownModelError(f"no block linear weights found to quantize in {model.spec.name}")
    model.spec = replace(model.spec, name=f"{model.spec.name}@{suffix}", variant=suffix)
    model.weights_sha256 = state_dict_sha256(model.bridge)
    model.extra["quantization"] = {**params, "n_matrices": n, "method": "simulated RTN "
                                   "asymmetric group-wise (hooks/simquant.py)"}
    return model


def load_variant(name: str, device: str | None = None, dtype: str = "float32",
                 processing: str = "raw") -> HookedModel:
    """``load_model`` plus the ``BASE@intB-gG[-outP]`` simulated-quantization syntax."""
    base, _, suffix = name.partition("@")
    model = load_model(base, device=device, dtype=dtype, processing=processing)
    return quantize_in_place(model, suffix) if suffix else model
