"""Quantization-disparity statistics on plain arrays (no model): issue 7.

- :func:`bits_per_byte`: NLL (nats) summed over tokens / UTF-8 bytes, in bits.
- :func:`degradation`: per-language relative bits-per-byte degradation and the disparity
  ratio (low-resource mean / high-resource mean) with paired bootstrap CIs over units.
- :func:`language_effect`: per-head permutation test of a language effect (units as blocks),
  Benjamini-Hochberg q-values, eta squared.
- :func:`bootstrap_mean`. (Weight statistics on torch tensors: ``hooks.quant_weights``.)

Resampling, CIs, correlations and BH come from the statistics engine (``analysis.stats``):
one ``(n_boot, n_units)`` matrix of multinomial counts (``stats.bootstrap_counts``) shared by
every language, so all languages see the same resampled units (paired).
"""

from __future__ import annotations

import math

import numpy as np
from jaxtyping import Bool, Float

from . import stats as st

LN2 = math.log(2.0)


# ----------------------------------------------------------------------------- bits per byte
def bits_per_byte(
    nll_nats: Float[np.ndarray, "*shape"], n_bytes: Float[np.ndarray, "*shape"]
) -> Float[np.ndarray, "*shape"]:
    """Sum of token NLL (nats) / UTF-8 bytes, in bits per byte (arrays broadcast)."""
    return np.asarray(nll_nats, dtype=float) / LN2 / np.asarray(n_bytes, dtype=float)


def degradation(
    nll_base: Float[np.ndarray, "lang unit"],
    nll_quant: Float[np.ndarray, "lang unit"],
    n_bytes: Float[np.ndarray, "lang unit"],
    low: Bool[np.ndarray, " lang"],
    high: Bool[np.ndarray, " lang"],
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Float[np.ndarray, "*shape"]]:
    """Per-language bits-per-byte before/after, relative degradation, disparity ratio.

    Inputs are ``(lang, unit)`` arrays of summed token NLL in nats (base and quantized) and
    of UTF-8 bytes; missing cells NaN (they count as zero in every resample). ``low`` and
    ``high`` are boolean masks over languages. Per language, bpb = sum NLL / sum bytes over
    its units; relative degradation = bpb_q / bpb_base - 1. The disparity ratio is the mean
    relative degradation of ``low`` languages over that of ``high`` languages (and
    ``disparity_ratio_abs`` the same for the absolute increase in bits per byte,
    ``abs_degradation``). CIs: paired
    percentile bootstrap over units (the same resampled units for every language).
    """
    nb, nq, by = (np.nan_to_num(np.asarray(a, dtype=float)) for a in (nll_base, nll_quant, n_bytes))
    low, high = np.asarray(low, bool), np.asarray(high, bool)
    if not low.any() or not high.any():
        raise ValueError("the disparity ratio needs at least one low and one high language")
    counts = np.vstack([np.ones(nb.shape[1]), st.bootstrap_counts(nb.shape[1], n_boot, seed)])
    sb, sq, sy = counts @ nb.T, counts @ nq.T, counts @ by.T  # (1 + n_boot, lang)
    with np.errstate(divide="ignore", invalid="ignore"):
        bpb_b, bpb_q = sb / LN2 / sy, sq / LN2 / sy
        rel = bpb_q / bpb_b - 1.0
        ratio = np.nanmean(rel[:, low], 1) / np.nanmean(rel[:, high], 1)
        diff = np.nanmean(rel[:, low], 1) - np.nanmean(rel[:, high], 1)
        absd = bpb_q - bpb_b
        abs_ratio = np.nanmean(absd[:, low], 1) / np.nanmean(absd[:, high], 1)
    out = {}
    for key, arr in (
        ("bpb_base", bpb_b),
        ("bpb_quant", bpb_q),
        ("rel_degradation", rel),
        ("disparity_ratio", ratio),
        ("disparity_diff", diff),
        ("abs_degradation", absd),
        ("disparity_ratio_abs", abs_ratio),
    ):
        lo, hi = np.moveaxis(st.percentile_ci(arr[1:], level, axis=0), -1, 0)
        out[key], out[key + "_lo"], out[key + "_hi"] = arr[0], lo, hi
    return out


# ----------------------------------------------------------------------------- head effects
def _eta2(
    arr: Float[np.ndarray, "lang unit *head"], mask: Bool[np.ndarray, "lang unit *head"]
) -> Float[np.ndarray, "*head"]:
    """Eta squared of the language factor (share of within-unit sum of squares)."""
    n_l = mask.sum(1)
    means = arr.sum(1) / np.maximum(n_l, 1)
    ss_between = (n_l * means**2).sum(0)
    ss_total = (arr**2).sum((0, 1))
    return ss_between / np.maximum(ss_total, 1e-300)


def language_effect(
    values: Float[np.ndarray, "lang unit *head"], n_perm: int = 1000, seed: int = 0
) -> dict[str, Float[np.ndarray, "*head"]]:
    """Does a per-head metric differ across languages more than chance?

    ``values``: ``(lang, unit, *head_dims)``, parallel units (NaN = missing). Statistic:
    eta squared of the language factor after removing unit means (two-way, no interaction),
    i.e. the share of within-unit variance explained by language. Null: permute language
    labels *within each unit* (units are parallel translations), the same permutations for
    every head. Returns ``eta2``, ``p`` (permutation, add-one), ``q`` (BH over all heads).
    """
    v = np.asarray(values, float)
    v = v - np.nanmean(v, axis=0, keepdims=True)  # remove unit effects
    ok = ~np.isnan(v)
    v0 = np.where(ok, v, 0.0)
    obs = _eta2(v0, ok)
    rng = np.random.default_rng(seed)
    n_lang, n_unit = v.shape[:2]
    exceed = np.zeros_like(obs)
    for _ in range(n_perm):  # loop over permutations only; every head at once
        perm = np.argsort(rng.random((n_lang, n_unit)), axis=0)  # per-unit shuffle of langs
        pv = np.take_along_axis(v0, perm.reshape(perm.shape + (1,) * (v.ndim - 2)), 0)
        pm = np.take_along_axis(ok, perm.reshape(perm.shape + (1,) * (v.ndim - 2)), 0)
        exceed += _eta2(pv, pm) >= obs
    p = (exceed + 1) / (n_perm + 1)
    return {"eta2": obs, "p": p, "q": st.bh_adjust(p)}


# ----------------------------------------------------------------------------- predictors
def cosine(
    a: Float[np.ndarray, "*shape"], b: Float[np.ndarray, "*shape"], axis: int = -1
) -> Float[np.ndarray, "*shape"]:
    """Cosine similarity along ``axis`` (NaN where either vector is zero or missing)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(axis) / np.sqrt((a * a).sum(axis) * (b * b).sum(axis))


def predicted_error(
    act_energy: Float[np.ndarray, "lang d_in"],
    err_cols: Float[np.ndarray, " d_in"],
    ref_cols: Float[np.ndarray, " d_in"],
) -> Float[np.ndarray, " lang"]:
    """Relative output error expected from weight error alone, per language.

    ``E||dW x||^2 / E||W x||^2 ~= sum_j E[x_j^2] ||dW_j||^2 / sum_j E[x_j^2] ||W_j||^2``
    (cross-column terms ignored): ``act_energy`` is ``(lang, in)``, columns ``(in,)``.
    """
    return (act_energy @ err_cols) / np.maximum(act_energy @ ref_cols, 1e-300)


def top_fraction_mask(
    values: Float[np.ndarray, "*shape"], fraction: float = 0.2, axis: int = -1
) -> Bool[np.ndarray, "*shape"]:
    """True for the top ``fraction`` (ceil) entries along ``axis`` (e.g. critical layers)."""
    v = np.moveaxis(np.asarray(values, float), axis, -1)
    k = max(1, math.ceil(v.shape[-1] * fraction))
    thresh = -np.sort(-v, axis=-1)[..., k - 1 : k]
    return np.moveaxis(v >= thresh, -1, axis)
