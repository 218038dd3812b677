"""Resampling: bootstrap weight matrices and permutations over units, weighted (NaN-aware) means.

A resample of ``n_units`` units is a row of integer counts (how often each unit is drawn), so
a bootstrap of a ``Float[..., unit]`` array is one matmul (``...u,bu->...b``) and never copies
the data. Two seeded streams draw the same distribution (multinomial with equal weights):

- :func:`resample_weights` (``bootstrap_indices`` -> ``bootstrap_weights``): the alignment
  analysis and model diffing;
- :func:`bootstrap_counts` (one multinomial draw per row): the quantization jobs.

They are different random streams; each job keeps its own so its numbers never change.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float, Int

from .intervals import percentile_ci

Seed = int | np.random.Generator


def bootstrap_indices(n_units: int, n_boot: int, seed: Seed = 0) -> Int[np.ndarray, "boot unit"]:
    """Resampling indices (with replacement), one row per resample; seed or generator to draw from."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_units, size=(n_boot, n_units))


def permutation_indices(n_units: int, n_perm: int, seed: Seed = 0) -> Int[np.ndarray, "perm unit"]:
    """Random permutations of ``range(n_units)``, one row each; seed or generator to draw from."""
    rng = np.random.default_rng(seed)
    return np.argsort(rng.random((n_perm, n_units)), axis=1)


def bootstrap_weights(idx: Int[np.ndarray, "boot unit"]) -> Float[np.ndarray, "boot unit"]:
    """Counts of how often each unit appears in each resample of ``idx``."""
    n_boot, n_units = idx.shape
    flat = (np.arange(n_boot)[:, None] * n_units + idx).ravel()
    counts = np.bincount(flat, minlength=n_boot * n_units).reshape(n_boot, n_units)
    return counts.astype(np.float64)


def resample_weights(n_units: int, n_boot: int, seed: int = 0) -> Float[np.ndarray, "boot unit"]:
    """Seeded bootstrap weight matrix: ``bootstrap_weights(bootstrap_indices(...))``."""
    return bootstrap_weights(bootstrap_indices(n_units, n_boot, seed))


def bootstrap_counts(n_units: int, n_boot: int, seed: int = 0) -> Float[np.ndarray, "boot unit"]:
    """Multinomial resampling counts (each row sums to ``n_units``); the quantization stream."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=n_boot).astype(float)


def nanmean_weighted(
    a: Float[np.ndarray, "*batch unit"], w: Float[np.ndarray, "boot unit"]
) -> Float[np.ndarray, "*batch boot"]:
    """Weighted NaN-mean of ``a`` over units under each row of ``w`` (NaN where no weight)."""
    a = np.asarray(a, dtype=np.float64)
    valid = ~np.isnan(a)
    num = np.einsum("...u,bu->...b", np.where(valid, a, 0.0), w)
    den = np.einsum("...u,bu->...b", valid.astype(np.float64), w)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def boot_means(
    a: Float[np.ndarray, "*batch unit"], w: Float[np.ndarray, "boot unit"]
) -> tuple[Float[np.ndarray, "*batch"], Float[np.ndarray, "*batch boot"]]:
    """(point, resampled) NaN-means over the last (unit) axis."""
    with np.errstate(invalid="ignore"):
        point = nanmean_weighted(a, np.ones((1, a.shape[-1])))[..., 0]
    return point, nanmean_weighted(a, w)


def bootstrap_mean(
    values: Float[np.ndarray, "*shape"],
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    axis: int = -1,
) -> tuple[Float[np.ndarray, "*shape"], Float[np.ndarray, "*shape"], Float[np.ndarray, "*shape"]]:
    """(mean, lo, hi) over ``axis`` (the unit axis), percentile bootstrap; NaNs ignored.

    Uses the multinomial stream (:func:`bootstrap_counts`) of the quantization jobs.
    """
    v = np.moveaxis(np.asarray(values, dtype=float), axis, -1)
    ok = ~np.isnan(v)
    boots = nanmean_weighted(v, bootstrap_counts(v.shape[-1], n_boot, seed))
    with np.errstate(divide="ignore", invalid="ignore"):
        point = np.where(ok, v, 0.0).sum(-1) / ok.sum(-1)
    lo, hi = np.moveaxis(percentile_ci(boots, level), -1, 0)
    return point, lo, hi
