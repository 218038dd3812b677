"""Association between paired series: correlations and a least-squares line, with resampling.

Point estimates come from ``scipy.stats`` (``pearsonr``, ``spearmanr``); the bootstrap and
permutation resamples use a vectorized Pearson kernel over rows (thousands of resamples at once).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from jaxtyping import Float
from scipy import stats

from .intervals import percentile_ci
from .resample import bootstrap_indices, permutation_indices

CORRELATION_KEYS = (
    "pearson_r",
    "pearson_lo",
    "pearson_hi",
    "pearson_p",
    "spearman_rho",
    "spearman_lo",
    "spearman_hi",
    "spearman_p",
)


def pearson_rows(
    a: Float[np.ndarray, "*rows n"], b: Float[np.ndarray, "*rows n"]
) -> Float[np.ndarray, "*rows"]:
    """Pearson r along the last axis, vectorized over leading axes (NaN for a constant row)."""
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))


def _paired(
    x: Float[np.ndarray, " n"], y: Float[np.ndarray, " n"]
) -> tuple[Float[np.ndarray, " n_ok"], Float[np.ndarray, " n_ok"]]:
    """(x, y) as float arrays with every pair holding a NaN dropped."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    return x[ok], y[ok]


def correlate(
    x: Float[np.ndarray, " n"],
    y: Float[np.ndarray, " n"],
    n_boot: int = 2000,
    n_perm: int = 10000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Pearson r and Spearman rho with bootstrap CIs (over pairs) and permutation p-values.

    Pairs with a NaN are dropped; ``n`` is reported. Spearman resamples are re-ranked (ties
    averaged, as ``scipy.stats.spearmanr``). p-values: two-sided, permutation of ``x`` against
    ``y`` with the +1 adjustment. One generator draws the bootstrap indices, then the
    permutations. All NaN below 4 pairs or for a constant series.
    """
    x, y = _paired(x, y)
    n = len(x)
    if n < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:  # undefined for constant series
        return {"n": n, **dict.fromkeys(CORRELATION_KEYS, np.nan)}
    rng = np.random.default_rng(seed)
    boot = bootstrap_indices(n, n_boot, rng)
    perm = permutation_indices(n, n_perm, rng)
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    points = {"pearson": stats.pearsonr(x, y).statistic, "spearman": stats.spearmanr(x, y).statistic}
    boots = {
        "pearson": pearson_rows(x[boot], y[boot]),
        "spearman": pearson_rows(stats.rankdata(x[boot], axis=1), stats.rankdata(y[boot], axis=1)),
    }
    nulls = {"pearson": pearson_rows(x[perm], np.broadcast_to(y, perm.shape))}
    nulls["spearman"] = pearson_rows(rx[perm], np.broadcast_to(ry, perm.shape))
    out: dict[str, float] = {"n": n}
    for name, key in (("pearson", "pearson_r"), ("spearman", "spearman_rho")):
        point = float(points[name])
        lo, hi = percentile_ci(boots[name], level)
        p = (np.sum(np.abs(nulls[name]) >= abs(point) - 1e-12) + 1) / (n_perm + 1)
        out.update({key: point, f"{name}_lo": float(lo), f"{name}_hi": float(hi), f"{name}_p": float(p)})
    return out


def _ols(
    xs: Float[np.ndarray, "*rows n"], ys: Float[np.ndarray, "*rows n"]
) -> tuple[Float[np.ndarray, "*rows"], Float[np.ndarray, "*rows"]]:
    """(slope, intercept) of least squares per row (NaN for a constant-x row)."""
    xm, ym = xs.mean(-1, keepdims=True), ys.mean(-1, keepdims=True)
    sxx = ((xs - xm) ** 2).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        b = np.where(sxx > 0, ((xs - xm) * (ys - ym)).sum(-1) / sxx, np.nan)
    return b, ym[..., 0] - b * xm[..., 0]


def linear_fit(
    x: Float[np.ndarray, " n"],
    y: Float[np.ndarray, " n"],
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    n_grid: int = 50,
) -> dict[str, Any]:
    """Least-squares line ``y = intercept + slope * x`` with a pairs-bootstrap confidence band.

    Pairs with a NaN are dropped. The band is the pointwise percentile interval of the bootstrap
    lines on ``n_grid`` even points spanning the observed x range; resamples with constant x give
    no line and are ignored. Returns ``slope``/``intercept`` with ``_lo``/``_hi`` bounds, ``n``,
    and ``grid``, ``fit``, ``fit_lo``, ``fit_hi`` (each ``n_grid`` long). All NaN when fewer
    than 3 pairs or constant x.
    """
    x, y = _paired(x, y)
    n = len(x)
    nan_grid = np.full(n_grid, np.nan)
    coefs = ("slope", "slope_lo", "slope_hi", "intercept", "intercept_lo", "intercept_hi")
    out: dict[str, Any] = {"n": n, **dict.fromkeys(coefs, np.nan), "grid": nan_grid, "fit": nan_grid}
    out.update(fit_lo=nan_grid, fit_hi=nan_grid)
    if n < 3 or np.ptp(x) == 0:
        return out
    slope, icpt = _ols(x, y)
    idx = bootstrap_indices(n, n_boot, seed)
    bs, bi = _ols(x[idx], y[idx])
    grid = np.linspace(x.min(), x.max(), n_grid)
    band = percentile_ci(bi[:, None] + bs[:, None] * grid[None], level, axis=0)
    (s_lo, s_hi), (i_lo, i_hi) = percentile_ci(bs, level), percentile_ci(bi, level)
    out.update(slope=float(slope), slope_lo=float(s_lo), slope_hi=float(s_hi), intercept=float(icpt))
    out.update(intercept_lo=float(i_lo), intercept_hi=float(i_hi), grid=grid, fit=icpt + slope * grid)
    out.update(fit_lo=band[:, 0], fit_hi=band[:, 1])
    return out
