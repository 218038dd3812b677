"""Commitment layers, vectorized along the layer axis.

Seed definition: the commitment layer is the first layer whose metric is >= ``tau`` for ``k``
consecutive layers (the run must fit inside the network). A unit/curve that never satisfies
this "never commits": its layer is NaN and it is counted explicitly.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Bool, Float
from numpy.lib.stride_tricks import sliding_window_view

from .stats import first_run_above, max_run_threshold

__all__ = ["first_run", "commitment_layer", "threshold_sweep", "layer_labels", "commitment_free", "null_z"]


def first_run(cond: Bool[np.ndarray, "*shape"], k: int, axis: int = -1) -> Float[np.ndarray, "*rest"]:
    """Index of the first position where ``cond`` holds for ``k`` consecutive steps along ``axis``.

    ``axis`` is the layer axis; the result drops it. NaN where it never happens. The
    rolling-window ``all`` is the boolean form of a rolling minimum along the layer axis.
    """
    cond = np.moveaxis(np.asarray(cond, dtype=bool), axis, -1)
    n_layers = cond.shape[-1]
    if k > n_layers:
        return np.full(cond.shape[:-1], np.nan)
    runs = sliding_window_view(cond, k, axis=-1).all(-1)  # (..., L - k + 1)
    hit = runs.any(-1)
    first = runs.argmax(-1).astype(np.float64)
    return np.where(hit, first, np.nan)


def layer_labels(
    idx: Float[np.ndarray, "*shape"], layers: Float[np.ndarray, " layer"]
) -> Float[np.ndarray, "*shape"]:
    """Layer coordinate ``layers[i]`` at float layer indices ``idx`` (NaN stays NaN = never)."""
    layers = np.asarray(layers, dtype=np.float64)
    safe = np.where(np.isnan(idx), 0, idx).astype(np.int64)
    return np.where(np.isnan(idx), np.nan, layers[safe])


def commitment_layer(
    metric: Float[np.ndarray, "*shape"],
    tau: float | Float[np.ndarray, "*tshape"] = 0.85,
    k: int = 3,
    axis: int = -1,
    layers: Float[np.ndarray, " layer"] | None = None,
) -> Float[np.ndarray, "*rest"]:
    """Seed commitment layer of ``metric`` along the layer ``axis`` (NaN metric counts as below tau).

    ``tau`` may itself be an array broadcasting against ``metric`` (e.g. a per-layer null
    threshold for the threshold-free variant). Returns the layer coordinate (``layers[i]``),
    NaN for never.
    """
    metric = np.moveaxis(np.asarray(metric, dtype=np.float64), axis, -1)
    thr = np.asarray(tau, dtype=np.float64)
    if thr.ndim:
        thr = np.moveaxis(thr, axis, -1) if thr.ndim == metric.ndim else thr
    with np.errstate(invalid="ignore"):
        cond = metric >= thr
    idx = first_run(cond, k)
    return idx if layers is None else layer_labels(idx, layers)


def threshold_sweep(
    metric: Float[np.ndarray, "*shape"], taus: Float[np.ndarray, " tau"], k: int = 3, axis: int = -1
) -> Float[np.ndarray, "tau ..."]:
    """Commitment index of ``metric`` (layer ``axis``) at every tau (broadcast), tau axis first."""
    metric = np.moveaxis(np.asarray(metric, dtype=np.float64), axis, -1)
    taus = np.asarray(taus, dtype=np.float64).reshape((-1,) + (1,) * metric.ndim)
    with np.errstate(invalid="ignore"):
        cond = metric[None] >= taus
    return first_run(cond, k)


def null_z(
    curve: Float[np.ndarray, "*batch layer"], perm_means: Float[np.ndarray, "*batch layer perm"]
) -> tuple[Float[np.ndarray, "*batch layer"], Float[np.ndarray, "*batch layer perm"]]:
    """``curve`` and each null curve standardised by the per-layer null mean and SD."""
    mu = np.nanmean(perm_means, -1)
    sd = np.nanstd(perm_means, -1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (curve - mu) / sd, (perm_means - mu[..., None]) / sd[..., None]


def commitment_free(
    curve: Float[np.ndarray, "*batch layer"],
    perm_means: Float[np.ndarray, "*batch layer perm"],
    k: int,
    layers: Float[np.ndarray, " layer"],
    alpha: float = 0.05,
) -> tuple[Float[np.ndarray, "*batch"], Float[np.ndarray, "*batch"]]:
    """Threshold-free commitment with family-wise error control over the layer scan.

    The curve is standardised per layer against its mismatched-concept null (derangement means
    ``perm_means``); it commits at the first layer starting ``k`` consecutive layers whose z
    all exceed c, the (1 - alpha) quantile of the null's own max-over-layers k-run minimum.
    Returns (commitment layer, NaN = never; critical value c).
    """
    z, zn = null_z(curve, perm_means)
    c = max_run_threshold(zn, k, alpha)
    return first_run_above(z, c, k, layers), c
