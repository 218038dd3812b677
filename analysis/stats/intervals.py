"""Intervals: percentile bootstrap CIs (vectorized NaN-aware quantiles) and exact proportion CIs."""

from __future__ import annotations

import numpy as np
from jaxtyping import Float, Int
from scipy import stats


def nanquantile_sorted(
    a: Float[np.ndarray, "*shape"], q: float, axis: int = -1
) -> Float[np.ndarray, "*shape"]:
    """NaN-ignoring quantile along ``axis`` (numpy's 'linear' method); +inf is legal and sorts last.

    ``np.nanquantile`` falls back to a Python-level loop when NaNs are present; this sorts once
    (NaN last) and interpolates at a per-row index instead, with numpy's interpolation formula,
    so finite results equal ``np.nanquantile``. Between a finite value and +inf the result is
    +inf.
    """
    a = np.moveaxis(np.asarray(a, dtype=np.float64), axis, -1)
    s = np.sort(a, axis=-1)
    n = (~np.isnan(a)).sum(-1)
    pos = q * np.maximum(n - 1, 0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
    vlo = np.take_along_axis(s, lo[..., None], -1)[..., 0]
    vhi = np.take_along_axis(s, hi[..., None], -1)[..., 0]
    t = pos - lo
    with np.errstate(invalid="ignore"):
        diff = vhi - vlo
        lerp = np.where(t >= 0.5, vhi - diff * (1 - t), vlo + diff * t)  # numpy's _lerp
        out = np.where(vlo == vhi, vlo, np.where(np.isfinite(diff), lerp, vlo + diff * t))
    return np.where(n > 0, out, np.nan)


def percentile_ci(
    boot: Float[np.ndarray, "*shape"], level: float = 0.95, axis: int = -1
) -> Float[np.ndarray, "*shape 2"]:
    """Percentile CI (lo, hi) of resamples along ``axis``; NaN resamples ignored, +inf kept."""
    alpha = (1 - level) / 2
    lo = nanquantile_sorted(boot, alpha, axis=axis)
    hi = nanquantile_sorted(boot, 1 - alpha, axis=axis)
    return np.stack([lo, hi], axis=-1)


def proportion_ci(
    k: Int[np.ndarray, "*shape"] | int,
    n: Int[np.ndarray, "*shape"] | int,
    level: float = 0.95,
    method: str = "exact",
) -> Float[np.ndarray, "*shape 2"]:
    """Interval (lo, hi) for a proportion k/n: exact Clopper-Pearson (or ``"wilson"``); NaN if n == 0.

    ``scipy.stats.binomtest(k, n).proportion_ci``, elementwise over broadcast ``k`` and ``n``.
    """
    kb, nb = np.broadcast_arrays(np.asarray(k, dtype=np.int64), np.asarray(n, dtype=np.int64))
    if method == "exact":  # Clopper-Pearson as beta quantiles: same numbers as binomtest, vectorized
        a = (1 - level) / 2
        with np.errstate(invalid="ignore", divide="ignore"):
            lo = np.where(kb > 0, stats.beta.ppf(a, kb, nb - kb + 1), 0.0)
            hi = np.where(kb < nb, stats.beta.ppf(1 - a, kb + 1, nb - kb), 1.0)
        out = np.stack([lo, hi], -1).astype(np.float64)
        out[nb <= 0] = np.nan
        return out
    out = np.full(kb.shape + (2,), np.nan)
    for idx in np.ndindex(kb.shape):
        if nb[idx] > 0:
            ci = stats.binomtest(int(kb[idx]), int(nb[idx])).proportion_ci(level, method=method)
            out[idx] = (ci.low, ci.high)
    return out
