"""Null distributions of a curve and effect sizes over them (one implementation for every metric).

A metric's null at one (variant, lang, layer) cell is a set of draws of the same statistic
under broken pairing (mismatched concepts / permuted pairing). :func:`null_summary` reduces
the draws to the band the figures draw (mean to the ``q`` quantile) and the SD; and
:func:`effect_over_null` gives the effect size of the observed value: the difference from
the null mean and ``z`` = difference / null SD. A null with SD 0 (every draw identical, e.g.
no mismatched pairing ever retrieved) gives ``z = +inf`` for a positive difference and NaN for
a zero difference: a distance in null SDs is not defined there, the difference still is.
"""

from __future__ import annotations

import warnings

import numpy as np
from jaxtyping import Float

from .intervals import nanquantile_sorted

__all__ = ["null_summary", "effect_over_null"]


def null_summary(
    draws: Float[np.ndarray, "*shape perm"], q: float = 0.95
) -> tuple[Float[np.ndarray, "*shape"], Float[np.ndarray, "*shape"], Float[np.ndarray, "*shape"]]:
    """(mean, SD with ddof 1, ``q`` quantile) of null draws along the last axis; NaN draws ignored."""
    d = np.asarray(draws, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(d, -1)
        sd = np.nanstd(d, -1, ddof=1)
    return mean, sd, nanquantile_sorted(d, q, axis=-1)


def effect_over_null(
    point: Float[np.ndarray, "*shape"],
    null_mean: Float[np.ndarray, "*shape"],
    null_sd: Float[np.ndarray, "*shape"],
) -> tuple[Float[np.ndarray, "*shape"], Float[np.ndarray, "*shape"]]:
    """(difference, z): ``point - null_mean`` and that difference in null SDs."""
    diff = np.asarray(point, dtype=np.float64) - np.asarray(null_mean, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = diff / np.asarray(null_sd, dtype=np.float64)
    return diff, z
