"""Commitment layers, vectorized along the layer axis.

Seed definition: the commitment layer is the first layer whose metric is >= ``tau`` for ``k``
consecutive layers (the run must fit inside the network). A unit/curve that never satisfies
this "never commits": its layer is NaN and it is counted explicitly.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["first_run", "commitment_layer", "threshold_sweep"]


def first_run(cond: np.ndarray, k: int, axis: int = -1) -> np.ndarray:
    """Float[...]: index of the first position where ``cond`` holds for ``k`` consecutive steps.

    ``cond: Bool[..., layer]`` (``axis`` is the layer axis). NaN where it never happens. The
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


def commitment_layer(
    metric: np.ndarray, tau: float = 0.85, k: int = 3, axis: int = -1, layers: np.ndarray | None = None
) -> np.ndarray:
    """Seed commitment layer of ``metric: Float[..., layer]`` (NaN metric counts as below tau).

    ``tau`` may itself be an array broadcasting against ``metric`` (e.g. a per-layer null
    threshold for the threshold-free variant). Returns the layer coordinate (``layers[i]``),
    NaN for never.
    """
    metric = np.moveaxis(np.asarray(metric, dtype=np.float64), axis, -1)
    tau = np.asarray(tau, dtype=np.float64)
    if tau.ndim:
        tau = np.moveaxis(tau, axis, -1) if tau.ndim == metric.ndim else tau
    with np.errstate(invalid="ignore"):
        cond = metric >= tau
    idx = first_run(cond, k)
    if layers is None:
        return idx
    layers = np.asarray(layers, dtype=np.float64)
    safe = np.where(np.isnan(idx), 0, idx).astype(np.int64)
    return np.where(np.isnan(idx), np.nan, layers[safe])


def threshold_sweep(metric: np.ndarray, taus: np.ndarray, k: int = 3, axis: int = -1) -> np.ndarray:
    """Float[tau, ...]: commitment index of ``metric: Float[..., layer]`` at every tau (broadcast)."""
    metric = np.moveaxis(np.asarray(metric, dtype=np.float64), axis, -1)
    taus = np.asarray(taus, dtype=np.float64).reshape((-1,) + (1,) * metric.ndim)
    with np.errstate(invalid="ignore"):
        cond = metric[None] >= taus
    return first_run(cond, k)
