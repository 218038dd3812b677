"""Weight statistics on live torch tensors (issue 7): outliers, super weights, per-matrix predictors.

- :func:`excess_kurtosis`, :func:`weight_stats`: outlier statistics of one weight matrix.
- :func:`column_error_energy`, :func:`outlier_columns`: per-input-column inputs of the
  pre-quantization predictors (combined per language by ``analysis.quant_results``).
- :func:`weight_report`: :func:`weight_stats` of every decoder linear matrix, ``(layer, matrix)``.
- :func:`super_weights`: Yu et al. (2024) super-weight candidates from one forward pass.
- :func:`matrix_records`, :func:`kurtosis_by_kind`: what the evaluate / sinks analyses need
  from the weights, as plain numpy.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr
from jaxtyping import Bool, Float

from polylens.hooks.models import HookedModel
from polylens.hooks.quantize import LINEAR_KINDS, linear_weights, parse_quant, quantize_weight

_MODULE = re.compile(
    r"(?:^|\.)layers\.(\d+)\..*?(" + "|".join(LINEAR_KINDS) + r")(?:\._original_component)?$"
)


def linear_modules(model: torch.nn.Module, kind: str) -> dict[int, torch.nn.Linear]:
    """layer -> the ``nn.Linear`` of ``kind`` (e.g. ``down_proj``), bridge-wrapped or not."""
    out = {}
    for name, mod in model.named_modules():
        m = _MODULE.search(name)
        if m and m.group(2) == kind and isinstance(mod, torch.nn.Linear):
            out[int(m.group(1))] = mod
    return out


# ----------------------------------------------------------------------------- one matrix
def excess_kurtosis(
    x: Float[torch.Tensor, "*shape"], dim: int | None = None
) -> Float[torch.Tensor, "*shape"]:
    """Fisher (excess) kurtosis, population moments: 0 for a Gaussian, large for outliers."""
    x = x.double()
    mu = x.mean() if dim is None else x.mean(dim, keepdim=True)
    d = x - mu
    m2 = d.pow(2).mean() if dim is None else d.pow(2).mean(dim)
    m4 = d.pow(4).mean() if dim is None else d.pow(4).mean(dim)
    return m4 / m2.clamp_min(1e-300).pow(2) - 3.0


@torch.no_grad()
def weight_stats(w: Float[torch.Tensor, "*shape"]) -> dict[str, float]:
    """Outlier statistics of a weight matrix (all entries pooled).

    ``kurtosis`` (excess), ``max_over_std`` = max|w| / std, ``n_sigma3/5/10`` = number of
    entries with |w - mean| > k std, ``top1_share`` / ``top10_share`` = share of the total
    |w| mass held by the largest 1% / 10% of entries, ``concentration`` = top1 / top10.
    """
    x = w.detach().double().flatten()
    mu, sd = x.mean(), x.std(unbiased=False).clamp_min(1e-300)
    z = ((x - mu) / sd).abs()
    mag = x.abs()
    total = mag.sum().clamp_min(1e-300)
    n = x.numel()
    top = mag.topk(max(1, math.ceil(0.10 * n))).values  # sorted descending
    top1 = top[: max(1, math.ceil(0.01 * n))].sum() / total
    top10 = top.sum() / total
    return {
        "kurtosis": float(excess_kurtosis(x)),
        "max_over_std": float(mag.max() / sd),
        "n_sigma3": int((z > 3).sum()),
        "n_sigma5": int((z > 5).sum()),
        "n_sigma10": int((z > 10).sum()),
        "top1_share": float(top1),
        "top10_share": float(top10),
        "concentration": float(top1 / top10),
        "n": n,
    }


def column_error_energy(
    w: Float[torch.Tensor, "out d_in"], w_q: Float[torch.Tensor, "out d_in"]
) -> tuple[Float[np.ndarray, " d_in"], Float[np.ndarray, " d_in"]]:
    """Per input column j: ``||dW[:, j]||^2`` and ``||W[:, j]||^2`` (for predicted error)."""
    d = (w_q.double() - w.double()).pow(2).sum(0)
    return d.numpy(), w.double().pow(2).sum(0).numpy()


def outlier_columns(
    w: Float[torch.Tensor, "out d_in"], top_percent: float = 0.1
) -> Bool[np.ndarray, " d_in"]:
    """Boolean ``(in,)``: input columns holding any of the top ``top_percent`` % |w|."""
    k = max(1, math.ceil(w.numel() * top_percent / 100))
    idx = w.abs().flatten().topk(k).indices % w.shape[1]
    cols = np.zeros(w.shape[1], bool)
    cols[idx.numpy()] = True
    return cols


# ----------------------------------------------------------------------------- whole model
def weight_report(model: HookedModel) -> xr.Dataset:
    """Outlier statistics (:func:`weight_stats`) per ``(layer, matrix)``."""
    mats = linear_weights(model.bridge.original_model)
    layers = sorted({m[0] for m in mats})
    rows = {(layer, kind): weight_stats(p.data) for layer, kind, _, p in mats}
    keys = next(iter(rows.values())).keys()
    data = {
        k: (
            ("layer", "matrix"),
            np.array(
                [[rows.get((l, kd), {}).get(k, np.nan) for kd in LINEAR_KINDS] for l in layers], dtype=float
            ),
        )
        for k in keys
    }
    ds = xr.Dataset(data, coords={"layer": layers, "matrix": list(LINEAR_KINDS)})
    ds.attrs.update(model.provenance())
    ds.attrs["layer_convention"] = "layer = decoder block index (0-based)"
    return ds


def _down_proj_spikes(
    model: HookedModel, mods: dict[int, torch.nn.Linear], text: str
) -> dict[int, tuple[Float[torch.Tensor, " d_mlp"], Float[torch.Tensor, " d_model"]]]:
    """layer -> (max |input| per channel, max |output| per row) of ``down_proj`` on ``text``."""
    seen: dict[int, tuple[Float[torch.Tensor, " d_mlp"], Float[torch.Tensor, " d_model"]]] = {}
    hooks = [
        mod.register_forward_hook(
            lambda m, i, o, layer=layer: seen.__setitem__(layer, (i[0][0].abs().amax(0), o[0].abs().amax(0)))
        )
        for layer, mod in mods.items()
    ]
    try:
        ids = model.tokenizer(text, return_tensors="pt").input_ids.to(model.device)
        model.bridge(ids)
    finally:
        for h in hooks:
            h.remove()
    return seen


@torch.inference_mode()
def super_weights(model: HookedModel, text: str = "The capital of France is Paris.") -> xr.Dataset:
    """Super-weight candidates (Yu et al. 2024) per layer from one forward pass.

    For each block's ``down_proj``: the input channel with the largest |activation| (the
    spike, ``in_channel``/``in_max``) and the output row with the largest |output|
    (``out_row``/``out_max``); the candidate is ``W_down[out_row, in_channel]`` with its
    value and z-score in its matrix. The super weight is the candidate of the layer(s)
    whose spikes are orders of magnitude above the rest (see ``in_max``).
    """
    mods = linear_modules(model.bridge.original_model, "down_proj")
    seen = _down_proj_spikes(model, mods, text)
    layers = sorted(seen)
    cols: dict[str, list[float]] = {
        k: [] for k in ("in_channel", "in_max", "out_row", "out_max", "weight", "weight_z")
    }
    for layer in layers:
        a_in, a_out = seen[layer]
        j, i = int(a_in.argmax()), int(a_out.argmax())
        w = mods[layer].weight
        value = float(w[i, j])
        for k, v in zip(
            cols, (j, float(a_in[j]), i, float(a_out[i]), value, (value - float(w.mean())) / float(w.std()))
        ):
            cols[k].append(v)
    ds = xr.Dataset({k: ("layer", np.array(v)) for k, v in cols.items()}, coords={"layer": layers})
    ds.attrs.update(model.provenance())
    ds.attrs["text"] = text
    return ds


@dataclass(frozen=True)
class MatrixRecord:
    """What the pre-quantization predictors need from one decoder linear matrix."""

    layer: int
    kind: str
    outlier_cols: Bool[np.ndarray, " d_in"]  # columns holding the top 0.1% |w|
    kurtosis: float
    error_energy: dict[str, tuple[np.ndarray, np.ndarray]]  # quant tag -> (||dW_j||^2, ||W_j||^2)


def matrix_records(model: HookedModel, configs: list[str]) -> list[MatrixRecord]:
    """One :class:`MatrixRecord` per decoder linear matrix (layer order), for each quant config."""
    cfgs = {c: parse_quant(c) for c in configs}
    out = []
    for layer, kind, _, p in linear_weights(model.bridge.original_model):
        w = p.data.float()
        out.append(
            MatrixRecord(
                layer,
                kind,
                outlier_columns(w, 0.1),
                weight_stats(w)["kurtosis"],
                {c: column_error_energy(w, quantize_weight(w, cfg)) for c, cfg in cfgs.items()},
            )
        )
    return out


def kurtosis_by_kind(model: HookedModel) -> list[tuple[int, str, float]]:
    """``(layer, kind, excess kurtosis)`` of every decoder linear matrix, layer order."""
    return [
        (layer, kind, weight_stats(p.data)["kurtosis"])
        for layer, kind, _, p in linear_weights(model.bridge.original_model)
    ]


def same_rank_controls(
    w: Float[torch.Tensor, "out d_in"], row: int, col: int, n: int = 3, window: int = 10, seed: int = 0
) -> list[tuple[int, int]]:
    """``n`` control positions for ablating ``w[row, col]``: weights of the same matrix whose
    |w| rank is within ``window`` of the target's (target excluded), drawn with a seeded generator."""
    order = w.detach().abs().flatten().argsort(descending=True)
    target = row * w.shape[1] + col
    rank = int((order == target).nonzero()[0, 0])
    near = [int(i) for i in order[max(0, rank - window) : rank + window + 1] if int(i) != target]
    if len(near) < n:
        raise ValueError(f"only {len(near)} weights within rank {window} of the target, need {n}")
    pick = np.random.default_rng(seed).choice(len(near), size=n, replace=False)
    return [divmod(near[i], w.shape[1]) for i in sorted(pick)]
