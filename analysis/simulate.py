"""Synthetic activation blocks for calibrating commitment rules (null and planted signal)."""

from __future__ import annotations

import numpy as np
from jaxtyping import Float

from .commitment import commitment_free
from .core import block_metrics, derangements

__all__ = ["synthetic_block", "free_commitment_layers"]


def synthetic_block(
    n_data: int,
    n_units: int,
    n_layers: int,
    d: int,
    seed: int,
    planted_layer: int | None = None,
    signal: float = 1.0,
) -> Float[np.ndarray, "data layer lang unit d"]:
    """Reference + one language per dataset: AR(1) over layers, a shared anisotropic offset.

    Null (``planted_layer=None``): the language's units are independent of the reference's, so
    matched and mismatched pairs are exchangeable. Planted: from ``planted_layer`` on, each
    language unit adds ``signal`` times its matched reference unit.
    """
    rng = np.random.default_rng(seed)
    x = np.empty((n_data, n_layers, 2, n_units, d), np.float32)
    offset = rng.normal(size=(n_data, 1, 2, 1, d)) * 2.0  # anisotropy: high raw cosine for any pair
    cur = rng.normal(size=(n_data, 2, n_units, d))
    for layer in range(n_layers):
        cur = 0.8 * cur + 0.6 * rng.normal(size=cur.shape)
        x[:, layer] = cur
    if planted_layer is not None:
        x[:, planted_layer:, 1] += signal * x[:, planted_layer:, 0]
    return x + offset


def free_commitment_layers(
    x: Float[np.ndarray, "data layer lang unit d"], k: int = 3, n_perm: int = 200, seed: int = 0
) -> Float[np.ndarray, " data"]:
    """Threshold-free (FWER-controlled) commitment layer of the mean raw-cosine curve per dataset."""
    perms = derangements(x.shape[-2], n_perm, seed)
    out = block_metrics(x, 0, perms)
    cos = np.nanmean(out[0][..., 1, :], -1)  # (data, layer): mean matched cos of language 1
    perm = out[-1][..., 1, :]  # (data, layer, perm)
    layers = np.arange(x.shape[1], dtype=np.float64)
    return commitment_free(cos, perm, k, layers)[0]
