"""Selection-aware peak statistics and max-over-layers null calibration (one implementation).

The peak of a noisy curve is selected from the data, so a CI at the selected layer is too
narrow and the selected layer is itself uncertain. :func:`peak_summary` re-selects the peak
layer in every bootstrap resample: the CI is the percentile interval of the resampled maxima,
and the peak layer comes with its resampling distribution (modal layer, share of resamples).
:func:`max_run_threshold` calibrates a layer scan against the null distribution of the scan
statistic itself (the max over layers), which controls the family-wise error over layers.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float

from .intervals import percentile_ci

__all__ = ["peak_summary", "run_min", "max_run_threshold", "first_run_above"]


def _argmax_nan(
    a: Float[np.ndarray, "*shape"], axis: int
) -> tuple[Float[np.ndarray, "*rest"], Float[np.ndarray, "*rest"]]:
    """(max, index of max) along ``axis`` ignoring NaN; NaN for all-NaN slices."""
    filled = np.where(np.isnan(a), -np.inf, a)
    allnan = np.isnan(a).all(axis)
    return np.where(allnan, np.nan, filled.max(axis)), np.where(allnan, np.nan, filled.argmax(axis))


def peak_summary(
    point: Float[np.ndarray, "*batch layer"],
    boot: Float[np.ndarray, "*batch layer boot"],
    layers: Float[np.ndarray, " layer"],
    level: float = 0.95,
) -> dict[str, Float[np.ndarray, "*batch"]]:
    """Peak of each curve with a selection-aware CI and the distribution of the peak layer.

    Keys: ``value``, ``layer`` (of the point curve), ``ci`` (``*batch, 2``: percentile CI of the
    per-resample maxima, each resample re-selecting its own peak layer), ``layer_ci`` (percentile
    CI of the resampled peak layers), ``modal_layer`` and ``modal_share`` (most frequent
    resampled peak layer and the fraction of resamples that chose it).
    """
    value, idx = _argmax_nan(point, -1)
    bval, bidx = _argmax_nan(boot, -2)  # (*batch, boot)
    lay = np.asarray(layers, dtype=np.float64)
    blay = np.where(np.isnan(bidx), np.nan, lay[np.nan_to_num(bidx).astype(int)])
    counts = np.stack([(blay == l).sum(-1) for l in lay], -1)  # (*batch, layer)
    n_ok = (~np.isnan(blay)).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n_ok > 0, counts.max(-1) / n_ok, np.nan)
    return {
        "value": value,
        "layer": np.where(np.isnan(idx), np.nan, lay[np.nan_to_num(idx).astype(int)]),
        "ci": percentile_ci(bval, level),
        "layer_ci": percentile_ci(blay, level),
        "modal_layer": np.where(n_ok > 0, lay[counts.argmax(-1)], np.nan),
        "modal_share": share,
    }


def run_min(z: Float[np.ndarray, "*batch layer"], k: int) -> Float[np.ndarray, "*batch window"]:
    """Minimum of ``z`` over each window of ``k`` consecutive layers (NaN counts as -inf)."""
    filled = np.where(np.isnan(z), -np.inf, z)
    windows = np.lib.stride_tricks.sliding_window_view(filled, k, axis=-1)
    return windows.min(-1)


def max_run_threshold(
    null_z: Float[np.ndarray, "*batch layer perm"], k: int, alpha: float = 0.05
) -> Float[np.ndarray, "*batch"]:
    """Critical value c: P_null(max over windows of the k-layer run minimum > c) <= alpha.

    ``null_z``: standardised null curves (one per permutation). Declaring "committed" when some
    window of ``k`` layers is entirely above ``c`` then has family-wise false-positive rate
    <= alpha over the whole layer scan (the scan statistic's own null distribution).
    """
    stat = np.sort(run_min(np.moveaxis(null_z, -1, -2), k).max(-1), -1)  # (*batch, perm)
    # permutation-test order statistic with the observed data counted as one draw of the null:
    # reject iff stat_obs > the ceil((1 - alpha)(P + 1))-th smallest of P null draws (exact level)
    rank = int(np.ceil((1 - alpha) * (stat.shape[-1] + 1)))
    if rank > stat.shape[-1]:
        return np.full(stat.shape[:-1], np.inf)
    return stat[..., rank - 1]


def first_run_above(
    z: Float[np.ndarray, "*batch layer"],
    c: Float[np.ndarray, "*batch"],
    k: int,
    layers: Float[np.ndarray, " layer"],
) -> Float[np.ndarray, "*batch"]:
    """First layer starting a window of ``k`` layers with ``z > c`` throughout; NaN = never."""
    above = run_min(z, k) > np.asarray(c)[..., None]
    first = above.argmax(-1)
    lay = np.asarray(layers, dtype=np.float64)
    return np.where(above.any(-1), lay[first], np.nan)
