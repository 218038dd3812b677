"""Latent-language statistics over a stored logit/tuned lens (``lens.nc``): pure numpy/xarray/scipy.

Every curve gets a bootstrap CI over concepts; the per-layer verdict (English / target /
neither) is a paired sign-flip test of P(English) - P(target) over concepts with BH across the
layers of a language; the English peak's height and depth fraction re-select the peak layer in
every resample (selection-aware); the layer where the target overtakes English (the first
layer from which P(target) > P(English) up to the output) is re-computed per resample too;
variants are compared to the first one with paired sign-flip tests and BH across languages.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr
from jaxtyping import Bool, Float, Shaped

from polylens.analysis.stats import (
    bh_adjust,
    boot_means,
    bootstrap_indices,
    bootstrap_weights,
    percentile_ci,
    signflip_test,
)
from polylens.analysis.stats.peaks import peak_summary as selection_aware_peak

VERDICTS = {1: "english", -1: "target", 0: "neither"}


def overtake_layer(
    en: Float[np.ndarray, "layer ..."], tgt: Float[np.ndarray, "layer ..."]
) -> Float[np.ndarray, "..."]:
    """First layer from which target > English at every later layer (NaN if not so at the output)."""
    ahead = tgt > en
    # trailing run of True along the layer axis: cumulative product from the end
    run = np.flip(np.cumprod(np.flip(ahead, 0), 0), 0).sum(0)
    return np.where(run > 0, en.shape[0] - run, np.nan).astype(np.float64)


def peak_summary(
    p_en: Float[np.ndarray, "concept layer"],
    p_tgt: Float[np.ndarray, "concept layer"],
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Peak P(English), its depth fraction and the overtaking layer, each with a selection-aware CI."""
    n_layers = p_en.shape[1] - 1  # layer points 0..L
    w = bootstrap_weights(bootstrap_indices(p_en.shape[0], n_boot, seed))
    en, en_b = boot_means(p_en.T, w)
    tg, tg_b = boot_means(p_tgt.T, w)
    peak = selection_aware_peak(en, en_b, np.arange(n_layers + 1), level)  # re-selects per resample
    (value_lo, value_hi), (layer_lo, layer_hi) = peak["ci"], peak["layer_ci"]
    over_lo, over_hi = percentile_ci(overtake_layer(en_b, tg_b), level)
    return {
        "peak_p_en": float(peak["value"]),
        "peak_layer": float(peak["layer"]),
        "peak_depth": float(peak["layer"] / n_layers),
        "overtake_layer": float(overtake_layer(en, tg)),
        "peak_p_en_lo": float(value_lo),
        "peak_p_en_hi": float(value_hi),
        "peak_depth_lo": float(layer_lo / n_layers),
        "peak_depth_hi": float(layer_hi / n_layers),
        "overtake_layer_lo": float(over_lo),
        "overtake_layer_hi": float(over_hi),
    }


def layer_verdict(
    p_en: Float[np.ndarray, "concept layer"],
    p_tgt: Float[np.ndarray, "concept layer"],
    alpha: float = 0.05,
    min_mass: float = 0.05,
    n_perm: int = 10000,
    seed: int = 0,
) -> dict[str, Shaped[np.ndarray, " layer"]]:
    """Per layer: +1 English, -1 target, 0 neither (paired sign-flip, BH over layers, mass floor)."""
    test = signflip_test((p_en - p_tgt).T, n_perm=n_perm, seed=seed)
    q = bh_adjust(test["p"])
    sig = q < alpha
    english = sig & (test["stat"] > 0) & (p_en.mean(0) >= min_mass)
    target = sig & (test["stat"] < 0) & (p_tgt.mean(0) >= min_mass)
    verdict = english.astype(np.int8) - target.astype(np.int8)
    return {"verdict": verdict, "diff": test["stat"], "p": test["p"], "q": q}


def _lang_arrays(
    ds: xr.Dataset, variant: str, lang: str
) -> tuple[
    Float[np.ndarray, "concept layer"], Float[np.ndarray, "concept layer"], Bool[np.ndarray, " concept"]
]:
    """(P(English), P(target), kept) for one variant and target language, kept concepts only."""
    prob = ds["prob"].sel(variant=variant, lang=lang)
    keep = ds["keep"].sel(lang=lang).values.astype(bool)
    p_en = prob.sel(answer_lang="en").values[keep]
    p_tgt = prob.sel(answer_lang=lang).values[keep]
    return p_en.astype(np.float64), p_tgt.astype(np.float64), keep


def _curve_vars(p: Float[np.ndarray, "concept layer"], w: Float[np.ndarray, "boot concept"], level: float):
    mean, boot = boot_means(p.T, w)
    ci = percentile_ci(boot, level)
    return mean, ci[:, 0], ci[:, 1]


def lens_statistics(
    ds: xr.Dataset, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05, min_mass: float = 0.05
) -> xr.Dataset:
    """The statistics dataset of a lens run: curves with CIs, verdicts, peaks, variant tests."""
    variants, langs, layers = list(ds.variant.values), list(ds.lang.values), ds.layer.values
    shape = (len(variants), len(langs), len(layers))
    curves = {
        f"{k}_{s}": np.full(shape, np.nan)
        for k in ("p_en", "p_target", "entropy")
        for s in ("mean", "lo", "hi")
    }
    verdict = {k: np.full(shape, np.nan) for k in ("verdict", "diff", "p", "q")}
    peaks: dict[str, np.ndarray] = {}
    n_kept = np.zeros(len(langs), dtype=np.int64)
    for i, variant in enumerate(variants):
        for j, lang in enumerate(langs):
            p_en, p_tgt, keep = _lang_arrays(ds, variant, lang)
            n_kept[j] = keep.sum()
            if n_kept[j] < 2:
                continue
            w = bootstrap_weights(bootstrap_indices(n_kept[j], n_boot, seed))
            ent = ds["entropy"].sel(variant=variant, lang=lang).values[keep].astype(np.float64)
            for key, arr in (("p_en", p_en), ("p_target", p_tgt), ("entropy", ent)):
                for s, v in zip(("mean", "lo", "hi"), _curve_vars(arr, w, 0.95)):
                    curves[f"{key}_{s}"][i, j] = v
            for key, v in layer_verdict(p_en, p_tgt, alpha, min_mass, seed=seed).items():
                verdict[key][i, j] = v
            for key, v in peak_summary(p_en, p_tgt, n_boot, seed).items():
                peaks.setdefault(key, np.full(shape[:2], np.nan))[i, j] = v
    dims3, dims2 = ("variant", "lang", "layer"), ("variant", "lang")
    out = xr.Dataset(
        {
            **{k: (dims3, v) for k, v in curves.items()},
            **{f"verdict_{k}" if k != "verdict" else k: (dims3, v) for k, v in verdict.items()},
            **{k: (dims2, v) for k, v in peaks.items()},
            "n_concepts": (("lang",), n_kept),
        },
        coords={"variant": variants, "lang": langs, "layer": layers},
        attrs={
            **ds.attrs,
            "n_boot": n_boot,
            "alpha": alpha,
            "min_mass": min_mass,
            "verdict_codes": str(VERDICTS),
        },
    )
    return out.merge(variant_tests(ds, n_boot=n_boot, seed=seed))


def variant_tests(ds: xr.Dataset, n_perm: int = 10000, n_boot: int = 2000, seed: int = 0) -> xr.Dataset:
    """Each variant vs the first: paired difference of per-concept peak P(English), BH across languages."""
    variants, langs = list(ds.variant.values), list(ds.lang.values)
    shape = (len(variants), len(langs))
    stat, p = np.full(shape, np.nan), np.full(shape, np.nan)
    for i in range(1, len(variants)):
        for j, lang in enumerate(langs):
            base_en, _, _ = _lang_arrays(ds, variants[0], lang)
            other_en, _, _ = _lang_arrays(ds, variants[i], lang)
            if base_en.shape[0] < 2:
                continue
            res = signflip_test(other_en.max(1) - base_en.max(1), n_perm=n_perm, seed=seed)
            stat[i, j], p[i, j] = float(res["stat"]), float(res["p"])
    q = np.full(shape, np.nan)
    for i in range(1, len(variants)):
        q[i] = bh_adjust(p[i])
    dims = ("variant", "lang")
    return xr.Dataset(
        {"variant_peak_diff": (dims, stat), "variant_peak_p": (dims, p), "variant_peak_q": (dims, q)},
        coords={"variant": variants, "lang": langs},
    )


ANCHOR_FILE = "wendler2024_llama2.json"


def anchor_values() -> dict:
    """Wendler et al.'s Llama-2 per-layer summary (committed from epfl-dlab/llm-latent-language)."""
    return json.loads((Path(__file__).parent / "data" / ANCHOR_FILE).read_text(encoding="utf-8"))
