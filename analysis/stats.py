"""Vectorized statistics over units: bootstrap, paired sign-flip permutation tests, BH, effect sizes.

All resampling is expressed as integer weight matrices over units, so a bootstrap of a
``Float[..., unit]`` array is one matmul (``...u,bu->...b``) and never touches the ``d`` axis.
NaN (missing unit) entries are excluded from every mean by weighting.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = [
    "bootstrap_indices",
    "bootstrap_weights",
    "nanmean_weighted",
    "boot_means",
    "percentile_ci",
    "nanquantile_sorted",
    "signflip_test",
    "bh_adjust",
    "cohens_dz",
]


def bootstrap_indices(n_units: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """Int[n_boot, n_units] resampling indices (with replacement), seeded."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_units, size=(n_boot, n_units))


def bootstrap_weights(idx: np.ndarray) -> np.ndarray:
    """Float[n_boot, n_units] counts: how often each unit appears in each resample."""
    n_boot, n_units = idx.shape
    flat = (np.arange(n_boot)[:, None] * n_units + idx).ravel()
    return np.bincount(flat, minlength=n_boot * n_units).reshape(n_boot, n_units).astype(np.float64)


def nanmean_weighted(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted NaN-mean of ``a: Float[..., unit]`` under ``w: Float[b, unit]`` -> Float[..., b]."""
    a = np.asarray(a, dtype=np.float64)
    valid = ~np.isnan(a)
    num = np.einsum("...u,bu->...b", np.where(valid, a, 0.0), w)
    den = np.einsum("...u,bu->...b", valid.astype(np.float64), w)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def boot_means(a: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(point Float[...], boot Float[..., b]): NaN-mean over the last (unit) axis and its resamples."""
    with np.errstate(invalid="ignore"):
        point = nanmean_weighted(a, np.ones((1, a.shape[-1])))[..., 0]
    return point, nanmean_weighted(a, w)


def percentile_ci(boot: np.ndarray, level: float = 0.95, axis: int = -1) -> np.ndarray:
    """Float[..., 2] percentile CI (lo, hi) along ``axis``; NaN resamples ignored, +inf kept (sorted last)."""
    alpha = (1 - level) / 2
    lo = nanquantile_sorted(boot, alpha, axis=axis)
    hi = nanquantile_sorted(boot, 1 - alpha, axis=axis)
    return np.stack([lo, hi], axis=-1)


def nanquantile_sorted(a: np.ndarray, q: float, axis: int = -1) -> np.ndarray:
    """Vectorized NaN-ignoring quantile (numpy 'linear' method) along ``axis``.

    ``np.nanquantile`` falls back to a Python-level loop when NaNs are present; this sorts once
    (NaN last) and interpolates at a per-row index instead. +inf values are legal and sort last.
    """
    a = np.moveaxis(np.asarray(a, dtype=np.float64), axis, -1)
    s = np.sort(a, axis=-1)
    n = (~np.isnan(a)).sum(-1)
    pos = q * np.maximum(n - 1, 0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
    vlo = np.take_along_axis(s, lo[..., None], -1)[..., 0]
    vhi = np.take_along_axis(s, hi[..., None], -1)[..., 0]
    frac = pos - lo
    with np.errstate(invalid="ignore"):
        out = np.where(vlo == vhi, vlo, vlo + (vhi - vlo) * frac)
    return np.where(n > 0, out, np.nan)


def _sign_matrix(n_units: int, n_perm: int, seed: int) -> tuple[np.ndarray, bool]:
    """(Float[P, n_units] of +-1, exact): all 2^n flips when that is <= n_perm, else random."""
    if 2**n_units <= n_perm:
        signs = np.array(list(itertools.product([1.0, -1.0], repeat=n_units)))
        return signs, True
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=(n_perm, n_units)), False


def signflip_test(diff: np.ndarray, n_perm: int = 10000, seed: int = 0) -> dict[str, np.ndarray]:
    """Paired two-sided permutation test of mean(diff) == 0, vectorized over leading axes.

    ``diff: Float[..., unit]`` (NaN = unit missing in either member of the pair, excluded).
    Same null and p-value convention as ``scipy.stats.permutation_test(...,
    permutation_type='samples', alternative='two-sided')`` on the pairs: exact enumeration when
    ``2**n_units <= n_perm``, otherwise random flips with the +1 adjustment; two-sided
    p = min(1, 2 * min(p_less, p_greater)). The same sign matrix is used for every test
    (seeded, deterministic). Returns dict of Float[...]: ``stat`` (mean diff), ``p``, ``n``.
    """
    diff = np.asarray(diff, dtype=np.float64)
    valid = ~np.isnan(diff)
    d0 = np.where(valid, diff, 0.0)
    n = valid.sum(-1)
    signs, exact = _sign_matrix(diff.shape[-1], n_perm, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        obs = d0.sum(-1) / n
        null = np.einsum("...u,pu->...p", d0, signs) / n[..., None]
    gamma = np.abs(100 * np.finfo(np.float64).eps * obs)[..., None]  # scipy's tolerance
    adj = 0 if exact else 1
    p_less = ((null <= obs[..., None] + gamma).sum(-1) + adj) / (signs.shape[0] + adj)
    p_greater = ((null >= obs[..., None] - gamma).sum(-1) + adj) / (signs.shape[0] + adj)
    p = np.minimum(1.0, 2 * np.minimum(p_less, p_greater))
    p = np.where(n > 0, p, np.nan)
    return {"stat": obs, "p": p, "n": n}


def bh_adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values over the whole array (one family); NaN entries ignored.

    Equals ``scipy.stats.false_discovery_control(p, method='bh')`` on the non-NaN entries.
    """
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    flat = p.ravel()
    ok = ~np.isnan(flat)
    pv = flat[ok]
    m = pv.size
    if m == 0:
        return out
    order = np.argsort(pv)
    ranked = pv[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    adj = np.empty(m)
    adj[order] = np.minimum(ranked, 1.0)
    res = out.ravel()
    res[ok] = adj
    return res.reshape(p.shape)


def cohens_dz(diff: np.ndarray) -> np.ndarray:
    """Paired effect size dz = mean(diff) / sd(diff, ddof=1) over the last axis, NaN-aware."""
    diff = np.asarray(diff, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(diff, -1) / np.nanstd(diff, -1, ddof=1)
