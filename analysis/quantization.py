"""Quantization-disparity statistics on plain arrays (no model): issue 7.

- :func:`bits_per_byte`: NLL (nats) summed over tokens / UTF-8 bytes, in bits.
- :func:`degradation`: per-language relative bits-per-byte degradation and the disparity
  ratio (low-resource mean / high-resource mean) with paired bootstrap CIs over units.
- :func:`correlate`: Pearson + Spearman with bootstrap CIs and permutation p-values.
- :func:`linear_fit`: least-squares line with a pairs-bootstrap confidence band (for figures).
- :func:`language_effect`: per-head permutation test of a language effect (units as blocks),
  Benjamini-Hochberg q-values, eta squared.
- :func:`bootstrap_mean`. (Weight statistics on torch tensors: ``hooks.quant_weights``.)

Bootstrap resampling is vectorized: one ``(n_boot, n_units)`` matrix of multinomial counts
shared by every language, so all languages see the same resampled units (paired).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

LN2 = math.log(2.0)


# ----------------------------------------------------------------------------- bits per byte
def bits_per_byte(nll_nats, n_bytes):
    """Sum of token NLL (nats) / UTF-8 bytes, in bits per byte (arrays broadcast)."""
    return np.asarray(nll_nats, dtype=float) / LN2 / np.asarray(n_bytes, dtype=float)


def bootstrap_counts(n_units: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """``(n_boot, n_units)`` multinomial resampling counts (each row sums to ``n_units``)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=n_boot).astype(float)


def _ci(samples: np.ndarray, level: float, axis=0):
    a = (1 - level) / 2
    with warnings.catch_warnings():  # all-NaN slices (e.g. a constant series) give NaN bounds
        warnings.simplefilter("ignore", RuntimeWarning)
        return (np.nanquantile(samples, a, axis=axis), np.nanquantile(samples, 1 - a, axis=axis))


def degradation(
    nll_base, nll_quant, n_bytes, low, high, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> dict[str, np.ndarray]:
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
    counts = np.vstack([np.ones(nb.shape[1]), bootstrap_counts(nb.shape[1], n_boot, seed)])
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
        lo, hi = _ci(arr[1:], level)
        out[key], out[key + "_lo"], out[key + "_hi"] = arr[0], lo, hi
    return out


def bootstrap_mean(values, n_boot: int = 2000, level: float = 0.95, seed: int = 0, axis: int = -1):
    """Mean over ``axis`` (the unit axis) with a percentile bootstrap CI; NaNs ignored."""
    v = np.moveaxis(np.asarray(values, dtype=float), axis, -1)
    ok = ~np.isnan(v)
    counts = bootstrap_counts(v.shape[-1], n_boot, seed)  # (B, U)
    num = np.einsum("bu,...u->...b", counts, np.where(ok, v, 0.0))
    den = np.einsum("bu,...u->...b", counts, ok.astype(float))
    with np.errstate(divide="ignore", invalid="ignore"):
        boots = num / den
        point = np.where(ok, v, 0.0).sum(-1) / ok.sum(-1)
    lo, hi = _ci(boots, level, axis=-1)
    return point, lo, hi


# ----------------------------------------------------------------------------- correlation
def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r along the last axis (vectorized over leading axes)."""
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))


def correlate(
    x, y, n_boot: int = 2000, n_perm: int = 10000, level: float = 0.95, seed: int = 0
) -> dict[str, float]:
    """Pearson r and Spearman rho with bootstrap CIs (over pairs) and permutation p-values.

    Spearman is Pearson on ranks (ties averaged, as scipy.stats.spearmanr). p-values are
    two-sided permutation p-values (add-one), pairs with a NaN dropped; ``n`` is reported.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    n = len(x)
    keys = (
        "pearson_r",
        "pearson_lo",
        "pearson_hi",
        "pearson_p",
        "spearman_rho",
        "spearman_lo",
        "spearman_hi",
        "spearman_p",
    )
    if n < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:  # undefined for constant series
        return {"n": n, **dict.fromkeys(keys, np.nan)}
    rng = np.random.default_rng(seed)
    boot = rng.integers(0, n, size=(n_boot, n))
    perm = np.argsort(rng.random((n_perm, n)), axis=1)
    out: dict[str, float] = {"n": n}
    for name, (a, b) in (("pearson", (x, y)), ("spearman", (stats.rankdata(x), stats.rankdata(y)))):
        point = float(_pearson_rows(a, b))
        if name == "pearson":
            boots = _pearson_rows(a[boot], b[boot])
        else:  # re-rank each bootstrap sample
            boots = _pearson_rows(stats.rankdata(x[boot], axis=1), stats.rankdata(y[boot], axis=1))
        lo, hi = _ci(boots, level)
        null = _pearson_rows(a[perm], np.broadcast_to(b, perm.shape))
        p = (np.sum(np.abs(null) >= abs(point) - 1e-12) + 1) / (n_perm + 1)
        out.update(
            {
                ("pearson_r" if name == "pearson" else "spearman_rho"): point,
                f"{name}_lo": float(lo),
                f"{name}_hi": float(hi),
                f"{name}_p": float(p),
            }
        )
    return out


def linear_fit(
    x, y, n_boot: int = 2000, level: float = 0.95, seed: int = 0, n_grid: int = 50
) -> dict[str, np.ndarray]:
    """Least-squares line ``y = intercept + slope * x`` with a bootstrap confidence band.

    Pairs with a NaN are dropped. The band is the pointwise percentile interval of the
    bootstrap lines (pairs resampled with replacement) on ``n_grid`` even points spanning the
    observed x range; resamples with constant x give no line and are ignored. Returns
    ``slope``/``intercept`` with ``_lo``/``_hi`` bounds, ``n``, and ``grid``, ``fit``,
    ``fit_lo``, ``fit_hi`` (``(n_grid,)``). All NaN when fewer than 3 pairs or constant x.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    n = len(x)
    nan_grid = np.full(n_grid, np.nan)
    out = {
        "n": n,
        **{k: np.nan for k in ("slope", "slope_lo", "slope_hi", "intercept", "intercept_lo", "intercept_hi")},
        "grid": nan_grid,
        "fit": nan_grid,
        "fit_lo": nan_grid,
        "fit_hi": nan_grid,
    }
    if n < 3 or np.ptp(x) == 0:
        return out

    def ols(xs, ys):  # rows of samples -> slope, intercept (NaN for constant x)
        xm, ym = xs.mean(-1, keepdims=True), ys.mean(-1, keepdims=True)
        sxx = ((xs - xm) ** 2).sum(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            b = np.where(sxx > 0, ((xs - xm) * (ys - ym)).sum(-1) / sxx, np.nan)
        return b, ym[..., 0] - b * xm[..., 0]

    slope, icpt = ols(x, y)
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    bs, bi = ols(x[idx], y[idx])
    grid = np.linspace(x.min(), x.max(), n_grid)
    lines = bi[:, None] + bs[:, None] * grid[None]
    (s_lo, s_hi), (i_lo, i_hi) = _ci(bs, level), _ci(bi, level)
    f_lo, f_hi = _ci(lines, level)
    out.update(
        slope=float(slope),
        slope_lo=float(s_lo),
        slope_hi=float(s_hi),
        intercept=float(icpt),
        intercept_lo=float(i_lo),
        intercept_hi=float(i_hi),
        grid=grid,
        fit=icpt + slope * grid,
        fit_lo=f_lo,
        fit_hi=f_hi,
    )
    return out


# ----------------------------------------------------------------------------- head effects
def bh_qvalues(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (any shape)."""
    p = np.asarray(p, float)
    flat = p.ravel()
    order = np.argsort(flat)
    ranked = flat[order] * len(flat) / np.arange(1, len(flat) + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1.0)
    out = np.empty_like(flat)
    out[order] = q
    return out.reshape(p.shape)


def language_effect(values, n_perm: int = 1000, seed: int = 0) -> dict[str, np.ndarray]:
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

    def eta2(arr, mask):
        n_l = mask.sum(1)
        means = arr.sum(1) / np.maximum(n_l, 1)
        ss_between = (n_l * means**2).sum(0)
        ss_total = (arr**2).sum((0, 1))
        return ss_between / np.maximum(ss_total, 1e-300)

    obs = eta2(v0, ok)
    rng = np.random.default_rng(seed)
    n_lang, n_unit = v.shape[:2]
    exceed = np.zeros_like(obs)
    for _ in range(n_perm):  # loop over permutations only; every head at once
        perm = np.argsort(rng.random((n_lang, n_unit)), axis=0)  # per-unit shuffle of langs
        pv = np.take_along_axis(v0, perm.reshape(perm.shape + (1,) * (v.ndim - 2)), 0)
        pm = np.take_along_axis(ok, perm.reshape(perm.shape + (1,) * (v.ndim - 2)), 0)
        exceed += eta2(pv, pm) >= obs
    p = (exceed + 1) / (n_perm + 1)
    return {"eta2": obs, "p": p, "q": bh_qvalues(p)}


# ----------------------------------------------------------------------------- predictors
def cosine(a, b, axis: int = -1) -> np.ndarray:
    """Cosine similarity along ``axis`` (NaN where either vector is zero or missing)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(axis) / np.sqrt((a * a).sum(axis) * (b * b).sum(axis))


def predicted_error(act_energy: np.ndarray, err_cols: np.ndarray, ref_cols: np.ndarray) -> np.ndarray:
    """Relative output error expected from weight error alone, per language.

    ``E||dW x||^2 / E||W x||^2 ~= sum_j E[x_j^2] ||dW_j||^2 / sum_j E[x_j^2] ||W_j||^2``
    (cross-column terms ignored): ``act_energy`` is ``(lang, in)``, columns ``(in,)``.
    """
    return (act_energy @ err_cols) / np.maximum(act_energy @ ref_cols, 1e-300)


def top_fraction_mask(values, fraction: float = 0.2, axis: int = -1) -> np.ndarray:
    """True for the top ``fraction`` (ceil) entries along ``axis`` (e.g. critical layers)."""
    v = np.moveaxis(np.asarray(values, float), axis, -1)
    k = max(1, math.ceil(v.shape[-1] * fraction))
    thresh = -np.sort(-v, axis=-1)[..., k - 1 : k]
    return np.moveaxis(v >= thresh, -1, axis)
