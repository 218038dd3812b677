"""Tests and effect sizes: paired sign-flip permutation tests, Benjamini-Hochberg FDR, Cohen's dz."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
from jaxtyping import Float
from scipy import stats


def _sign_matrix(n_units: int, n_perm: int, seed: int) -> tuple[Float[np.ndarray, "perm unit"], bool]:
    """(+-1 flips, exact): all 2^n flips when that is <= n_perm, else ``n_perm`` random ones."""
    if 2**n_units <= n_perm:
        signs = np.array(list(itertools.product([1.0, -1.0], repeat=n_units)))
        return signs, True
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=(n_perm, n_units)), False


def signflip_test(
    diff: Float[np.ndarray, "*batch unit"], n_perm: int = 10000, seed: int = 0
) -> dict[str, Float[np.ndarray, "*batch"]]:
    """Paired two-sided permutation test of mean(diff) == 0, vectorized over leading axes.

    ``diff`` NaN = unit missing in either member of the pair (excluded). Same null and p-value
    convention as ``scipy.stats.permutation_test(..., permutation_type='samples',
    alternative='two-sided')`` on the pairs: exact enumeration when ``2**n_units <= n_perm``,
    otherwise random flips with the +1 adjustment; two-sided p = min(1, 2 * min(p_less,
    p_greater)). The same sign matrix is used for every test (seeded, deterministic).
    Returns ``stat`` (mean diff), ``p`` and ``n`` (units present).
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


def bh_adjust(p: Float[np.ndarray, "*shape"]) -> Float[np.ndarray, "*shape"]:
    """Benjamini-Hochberg adjusted p-values over the whole array (one family); NaN entries ignored.

    ``scipy.stats.false_discovery_control(p, method='bh')`` on the non-NaN entries.
    """
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok], method="bh")
    return out


def cohens_dz(diff: Float[np.ndarray, "*batch unit"]) -> Float[np.ndarray, "*batch"]:
    """Paired effect size dz = mean(diff) / sd(diff, ddof=1) over the last axis, NaN-aware."""
    diff = np.asarray(diff, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(diff, -1) / np.nanstd(diff, -1, ddof=1)
