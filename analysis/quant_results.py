"""Result datasets of the quantization study (issue 7), from scores and weight statistics.

Pure xarray/numpy: the scores come from ``hooks.quant_measure.score_texts`` and the weight
statistics from ``hooks.quant_weights`` (both produced by ``pipelines.quant``); nothing here
touches a model.

- :func:`variant_degradation`: bits-per-byte degradation, disparity and drift of one variant.
- :func:`evaluate_dataset`: every variant's degradation + predictors, correlations and fits.
- :func:`sinks_dataset`: attention-sink mass with CIs and its correlation with weight kurtosis.
- :func:`heads_dataset`: language-specific heads (permutation test, BH, effect size).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import xarray as xr
from jaxtyping import Bool, Float

from polylens import probes
from polylens.analysis import quant_stats
from polylens.analysis.quantization import (
    cosine,
    degradation,
    language_effect,
    predicted_error,
    top_fraction_mask,
)
from polylens.analysis.stats import bootstrap_mean, correlate, linear_fit
from polylens.analysis.stats.association import CORRELATION_KEYS

STATS = ("n", *CORRELATION_KEYS)  # the columns of ``stats.correlate``
# activation site (a ``site`` of the detail scores) feeding each decoder linear matrix
SITE_OF = {
    "q_proj": "attn_in",
    "k_proj": "attn_in",
    "v_proj": "attn_in",
    "o_proj": "o_in",
    "gate_proj": "mlp_in",
    "up_proj": "mlp_in",
    "down_proj": "down_in",
}
SINK_KINDS = ["q_proj", "k_proj", "v_proj", "o_proj", "all"]
DOUBLE_QUANT_NOTE = (
    "every variant re-quantizes the source weights, which for the embedded "
    "gemma-3-270m are already Q4_K_M (dequantized); degradations are on top of a 4-bit model"
)


class MatrixStats(Protocol):
    """Per-matrix weight statistics (``hooks.quant_weights.MatrixRecord`` has this shape)."""

    layer: int
    kind: str
    outlier_cols: Bool[np.ndarray, " d_in"]
    kurtosis: float
    error_energy: dict[str, tuple[np.ndarray, np.ndarray]]


def method_attrs(ds: xr.Dataset, **params: Any) -> dict[str, Any]:
    """Provenance of the base scores + analysis parameters (netCDF-safe strings/numbers)."""
    attrs = {k: v for k, v in ds.attrs.items() if isinstance(v, (str, int, float))}
    attrs.update({k: (json.dumps(v) if isinstance(v, (list, dict, tuple)) else v) for k, v in params.items()})
    attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return attrs


def resource_coords(langs: list[str]) -> dict[str, tuple[str, list[str]]]:
    """``resource`` and ``script`` coordinates along ``lang`` from the language table."""
    return {
        "resource": ("lang", [probes.LANGUAGES[c].resource for c in langs]),
        "script": ("lang", [probes.LANGUAGES[c].script for c in langs]),
    }


# ----------------------------------------------------------------------------- evaluate
def variant_degradation(
    base: xr.Dataset, q: xr.Dataset, n_boot: int
) -> dict[str, Float[np.ndarray, "*shape"]]:
    """Degradation of variant scores ``q`` vs ``base`` (low vs high resource) and drift cosine."""
    res = np.array([resource_coords(list(base.lang.values))["resource"][1]]).ravel()
    low, high = res == "low", res == "high"
    deg = degradation(base.nll.values, q.nll.values, base.n_bytes.values, low, high, n_boot=n_boot)
    cos = cosine(base.pooled.values, q.pooled.values)  # (lang, unit, layer)
    deg["drift_cosine"], deg["drift_cosine_lo"], deg["drift_cosine_hi"] = bootstrap_mean(
        np.moveaxis(cos, 1, -1), n_boot=n_boot
    )
    return deg


def weight_predictors(
    base: xr.Dataset, records: Sequence[MatrixStats], configs: list[str]
) -> tuple[
    dict[str, Float[np.ndarray, " lang"]], Float[np.ndarray, "variant lang"], Float[np.ndarray, " block"]
]:
    """Outlier-column overlap, predicted error per config, and mean weight kurtosis per layer."""
    assert set(SITE_OF.values()) == set(base.site.values)
    langs = list(base.lang.values)
    kurt = np.zeros(base.sizes["block"])
    overlap = np.zeros(len(langs))
    perr = {c: np.zeros(len(langs)) for c in configs}
    for r in records:
        act = base[f"energy_{SITE_OF[r.kind]}"].sel(block=r.layer).values  # (lang, in)
        overlap += act[:, r.outlier_cols].sum(1) / act.sum(1) / len(records)
        kurt[r.layer] += r.kurtosis / 7
        for c in configs:
            err, ref = r.error_energy[c]
            perr[c] += predicted_error(act, err, ref) / len(records)
    return {"outlier_column_overlap": overlap}, np.array([perr[c] for c in configs]), kurt


def predictors(base: xr.Dataset, records: Sequence[MatrixStats], configs: list[str]) -> xr.Dataset:
    """Pre-quantization predictors per language (EXP-035/036), from the base detail scores."""
    langs = list(base.lang.values)
    en = langs.index("en") if "en" in langs else 0
    ntok, nby = base.n_tokens.values, base.n_bytes.values
    tpb = np.nansum(ntok, 1) / np.nansum(nby, 1)
    preds = {
        "fertility_tokens_per_byte": tpb / tpb[en],
        "fertility_tokens_per_unit": np.nanmean(ntok / ntok[en], 1),
        "bpb_base": np.nansum(base.nll.values, 1) / np.log(2) / np.nansum(nby, 1),
        "act_outlier_rate": base.act_outlier_rate.mean(("unit", "site", "block")).values,
        "act_kurtosis": base.act_kurtosis.mean(("unit", "site", "block")).values,
    }
    overlap, perr, kurt = weight_predictors(base, records, configs)
    contrib = base.contribution.mean("unit").values[:, 1:]  # (lang, block)
    critical = top_fraction_mask(contrib, 0.2)
    high_k = top_fraction_mask(kurt, 0.2)
    preds.update(overlap)
    preds["critical_layer_kurtosis_overlap"] = (critical & high_k).sum(1) / critical.sum(1)
    share = contrib / contrib.sum(1, keepdims=True)
    preds["contribution_weighted_kurtosis"] = share @ kurt
    ds = xr.Dataset(
        {"predictor_value": (("predictor", "lang"), np.array(list(preds.values())))},
        coords={"predictor": list(preds), "lang": langs},
    )
    ds["predicted_error"] = (("variant", "lang"), perr)
    ds["layer_weight_kurtosis"] = (("block",), kurt)
    ds["critical_layer"] = (("lang", "block"), critical)
    ds["high_kurtosis_layer"] = (("block",), high_k)
    return ds


def degradation_dataset(
    base: xr.Dataset,
    per: dict[str, tuple[dict[str, Float[np.ndarray, "*shape"]], dict[str, Any]]],
    quant: Sequence[Any],
) -> xr.Dataset:
    """Stack the per-variant degradation results; ``quant`` holds each variant's QuantConfig."""
    configs = list(per)
    lang_list = list(base.lang.values)
    ds = xr.Dataset(
        coords={
            "variant": configs,
            "lang": lang_list,
            "layer": base.layer.values,
            "bits": ("variant", [c.bits for c in quant]),
            "group": ("variant", [c.group or 0 for c in quant]),
            "keep_percent": ("variant", [c.keep for c in quant]),
            "format": ("variant", ["gguf" if c.tag.startswith("gguf-") else "rtn" for c in quant]),
            **resource_coords(lang_list),
        }
    )
    first = per[configs[0]][0]
    for k in ("bpb_base", "bpb_base_lo", "bpb_base_hi"):
        ds[k] = ("lang", first[k])
    for k in first:
        if k.startswith("bpb_base"):
            continue
        dims = (
            ("variant",)
            + (("lang",) if first[k].ndim >= 1 else ())
            + (("layer",) if first[k].ndim == 2 else ())
        )
        ds[k] = (dims, np.stack([per[c][0][k] for c in configs]))
    ds["variant_weights_sha256"] = ("variant", [per[c][1]["weights_sha256"] for c in configs])
    ds["variant_quant_config"] = ("variant", [per[c][1].get("quant", "") for c in configs])
    ds["variant_rel_frobenius_error"] = (
        "variant",
        [float(per[c][1].get("quant_rel_frobenius_error", "nan")) for c in configs],
    )
    ds["variant_rel_frobenius_error"].attrs["long_name"] = (
        "||W_q - W|| / ||W|| over the quantized matrices, W = the (already Q4_K_M) source weights"
    )
    ds["n_units"] = ("lang", (~np.isnan(base.nll.values)).sum(1))
    ds["n_tokens"] = ("lang", np.nansum(base.n_tokens.values, 1))
    ds["n_bytes"] = ("lang", np.nansum(base.n_bytes.values, 1))
    return ds


def add_correlations(ds: xr.Dataset, n_boot: int, n_perm: int) -> xr.Dataset:
    """Correlation (over languages) of relative degradation with each predictor, per variant."""
    configs = list(ds.variant.values)
    corr = np.full((len(configs), ds.sizes["predictor"] + 1, len(STATS)), np.nan)
    for vi, c in enumerate(configs):
        y = ds.rel_degradation.sel(variant=c).values
        xs = list(ds.predictor_value.values) + [ds.predicted_error.sel(variant=c).values]
        for pi, x in enumerate(xs):
            r = correlate(x, y, n_boot=n_boot, n_perm=n_perm)
            corr[vi, pi] = [r[s] for s in STATS]
    ds = ds.assign_coords(corr_predictor=list(ds.predictor.values) + ["predicted_error"], stat=list(STATS))
    ds["correlation"] = (("variant", "corr_predictor", "stat"), corr)
    return ds


def add_fits(ds: xr.Dataset, n_boot: int, n_grid: int = 50) -> xr.Dataset:
    """Least-squares line of relative degradation on each predictor (over languages) with its
    bootstrap band, per variant: what the fertility-vs-degradation figure draws."""
    preds = list(ds.corr_predictor.values)
    shape = (ds.sizes["variant"], len(preds))
    scal = {
        k: np.full(shape, np.nan)
        for k in ("slope", "slope_lo", "slope_hi", "intercept", "intercept_lo", "intercept_hi")
    }
    grids = {k: np.full(shape + (n_grid,), np.nan) for k in ("grid", "fit", "fit_lo", "fit_hi")}
    for vi, c in enumerate(ds.variant.values):
        y = ds.rel_degradation.sel(variant=c).values
        for pi, p in enumerate(preds):
            x = (
                ds.predicted_error.sel(variant=c)
                if p == "predicted_error"
                else ds.predictor_value.sel(predictor=p)
            ).values
            f = linear_fit(x, y, n_boot=n_boot, n_grid=n_grid)
            for k in scal:
                scal[k][vi, pi] = f[k]
            for k in grids:
                grids[k][vi, pi] = f[k]
    dims = ("variant", "corr_predictor")
    for k, v in scal.items():
        ds[f"fit_{k}"] = (dims, v)
    names = {"grid": "fit_x", "fit": "fit_y", "fit_lo": "fit_y_lo", "fit_hi": "fit_y_hi"}
    for k, v in grids.items():
        ds[names[k]] = (dims + ("fit_point",), v)
    ds["fit_y"].attrs["long_name"] = (
        "least-squares line of rel_degradation on the predictor "
        "(over languages), evaluated at fit_x; _lo/_hi: 95% "
        "pairs-bootstrap band"
    )
    return ds


def evaluate_dataset(
    base: xr.Dataset,
    per: dict[str, tuple[dict[str, Float[np.ndarray, "*shape"]], dict[str, Any]]],
    quant: Sequence[Any],
    records: Sequence[MatrixStats],
    n_boot: int,
    n_perm: int,
) -> xr.Dataset:
    """The ``evaluate.nc`` dataset: degradation, predictors, correlations, fits (no attrs yet)."""
    configs = list(per)
    ds = degradation_dataset(base, per, quant)
    pred = predictors(base, records, configs)
    ds = ds.merge(pred.assign_coords(variant=configs, block=np.arange(pred.sizes["block"])))
    ds["layer_contribution"] = (("lang", "layer"), base.contribution.mean("unit").values)
    ds = add_fits(add_correlations(ds, n_boot, n_perm), n_boot)
    ds = quant_stats.add_partial_correlations(ds, n_boot, n_perm)
    return quant_stats.resilience(ds, base, n_boot, n_perm)


# ----------------------------------------------------------------------------- sinks / heads
def _sink_kurtosis(
    kurtosis: Sequence[tuple[int, str, float]], n_blocks: int
) -> Float[np.ndarray, "block kind"]:
    """Weight kurtosis per block of q/k/v/o and the mean over the block's seven matrices."""
    kurt = np.zeros((n_blocks, len(SINK_KINDS)))
    for layer, kind, k in kurtosis:
        if kind in SINK_KINDS:
            kurt[layer, SINK_KINDS.index(kind)] = k
        kurt[layer, -1] += k / 7
    return kurt


def sinks_dataset(
    base: xr.Dataset, kurtosis: Sequence[tuple[int, str, float]], n_boot: int, n_perm: int
) -> xr.Dataset:
    """Attention-sink mass per (lang, block, head) with CIs; vs weight kurtosis per layer."""
    lang_list = list(base.lang.values)
    m, lo, hi = bootstrap_mean(base.sink.transpose("lang", "block", "head", "unit").values, n_boot=n_boot)
    lbh = ("lang", "block", "head")
    ds = xr.Dataset(
        {"sink": (lbh, m), "sink_lo": (lbh, lo), "sink_hi": (lbh, hi)},
        coords={
            "lang": lang_list,
            "block": base.block.values,
            "head": base["head"].values,
            **resource_coords(lang_list),
        },
    )
    layer_sink = base.sink.mean(("lang", "unit", "head")).values
    kurt = _sink_kurtosis(kurtosis, len(base.block))
    corr = np.array(
        [
            [correlate(layer_sink, kurt[:, i], n_boot=n_boot, n_perm=n_perm)[s] for s in STATS]
            for i in range(len(SINK_KINDS))
        ]
    )
    ds = ds.assign_coords(kurtosis_of=SINK_KINDS, stat=list(STATS))
    ds["layer_sink"] = ("block", layer_sink)
    _, lo, hi = bootstrap_mean(
        base.sink.mean(("lang", "head")).transpose("block", "unit").values, n_boot=n_boot
    )  # CI over units (of the per-unit means)
    ds["layer_sink_lo"], ds["layer_sink_hi"] = ("block", lo), ("block", hi)
    ds["layer_weight_kurtosis"] = (("block", "kurtosis_of"), kurt)
    ds["sink_kurtosis_correlation"] = (("kurtosis_of", "stat"), corr)
    ds.attrs.update(
        method_attrs(
            base,
            n_boot=n_boot,
            n_perm=n_perm,
            sink="mean attention of query positions >= 1 to position 0 (BOS)",
        )
    )
    return ds


def heads_dataset(base: xr.Dataset, n_perm: int, alpha: float, min_eta2: float) -> xr.Dataset:
    """Language-specific heads: language effect on sink mass and attention entropy per head."""
    metrics = ["sink", "entropy"]
    res = {
        m: language_effect(base[m].transpose("lang", "unit", "block", "head").values, n_perm=n_perm)
        for m in metrics
    }
    dims = ("metric", "block", "head")
    ds = xr.Dataset(
        {k: (dims, np.stack([res[m][k] for m in metrics])) for k in ("eta2", "p", "q")},
        coords={"metric": metrics, "block": base.block.values, "head": base["head"].values},
    )
    ds["significant"] = ds.q < alpha
    ds["specific"] = ds.significant & (ds.eta2 >= min_eta2)
    ds["significant_share"] = ds.significant.mean("head")  # share of heads per (metric, block)
    ds["specific_share"] = ds.specific.mean("head")
    ds.attrs.update(
        method_attrs(
            base,
            n_perm=n_perm,
            alpha=alpha,
            min_eta2=min_eta2,
            test="eta^2 of language after removing unit means; null: "
            "languages permuted within each unit; BH over heads",
        )
    )
    return ds
