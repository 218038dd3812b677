"""The live-model runs of model diffing (issue 8): pooled captures, patching KL, alpha sweeps.

Everything here returns plain numpy arrays; the statistics over them live in
``analysis.diffing`` and the sequencing in ``pipelines.diff``. Maps are passed as plain
``numpy -> numpy`` callables so this module never imports ``analysis``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from jaxtyping import Float

from polylens.hooks import patching
from polylens.hooks.capture import pool_batch
from polylens.hooks.models import HookedModel

Transform = Callable[[np.ndarray], np.ndarray]
SweepKL = dict[tuple[int, int], Float[np.ndarray, " prompt"]]  # (raw=0 | mapped=1, alpha index) -> KL


def pooled_resid(
    model: HookedModel, texts: Sequence[str], pooling: str, strip: bool, chunk: int
) -> Float[np.ndarray, "layer n d"]:
    """Pooled ``resid`` at every layer from the capture engine (``hooks.capture``)."""
    texts = list(texts)
    parts = [
        pool_batch(model, texts[i : i + chunk], pooling, ("resid",), strip_trailing_punct=strip).acts["resid"]
        for i in range(0, len(texts), chunk)
    ]
    return np.concatenate(parts).transpose(1, 0, 2)


def kl_both_directions(
    ma: HookedModel,
    mb: HookedModel,
    batch: patching.Batch,
    positions: str,
    chunk: int,
    layers: Sequence[int],
    n_points: int,
) -> Float[np.ndarray, "direction layer prompt"]:
    """Raw cross-model patch KL at ``layers`` (NaN elsewhere): A into B, then B into A."""
    ab = patching.Patcher(ma, mb, batch, positions, chunk)
    ba = patching.Patcher(mb, ma, batch, positions, chunk)
    kl = np.full((2, n_points, len(batch)), np.nan)
    kl[0, list(layers)] = ab.kl_by_layer("resid_post", layers)
    kl[1, list(layers)] = ba.kl_by_layer("resid_post", layers)
    return kl


def site_activations(
    ma: HookedModel, mb: HookedModel, batch: patching.Batch, site: str, layers: Sequence[int], chunk: int
) -> tuple[Float[np.ndarray, "layer rows d_a"], Float[np.ndarray, "layer rows d_b"]]:
    """Both models' ``site`` activations at the batch's map-training positions."""
    xa = patching.capture(ma, batch, site, layers, pool="positions", chunk=chunk)
    xb = patching.capture(mb, batch, site, layers, pool="positions", chunk=chunk)
    return xa, xb


def alpha_sweep(
    patcher: patching.Patcher,
    site: str,
    layer: int,
    transform: Transform,
    alphas: Float[np.ndarray, " alpha"],
) -> SweepKL:
    """KL of B patched with ``alpha * A`` (raw, 0) and ``alpha * map(A)`` (mapped, 1) per alpha.

    ``alpha = 0`` is one zero-ablation run shared by both patterns.
    """
    x = patcher.values(site, layer)
    mapped = transform(x)
    kls: SweepKL = {}
    for ai, alpha in enumerate(alphas):
        for pi, vals in enumerate((x, mapped)):
            if alpha == 0 and pi == 1:
                kls[pi, ai] = kls[0, ai]
            else:
                kls[pi, ai] = patcher.kl(site, layer, alpha * vals)
    return kls


def control_kls(
    patcher: patching.Patcher,
    site: str,
    layer: int,
    kls: SweepKL,
    alphas: Float[np.ndarray, " alpha"],
    mismatched: Transform,
    shuffled: Transform,
) -> dict[str, Float[np.ndarray, " prompt"]]:
    """KL per prompt of the raw / mapped patch (alpha = 1) and the three controls."""
    x = patcher.values(site, layer)
    one = int(np.argmin(np.abs(alphas - 1.0)))
    zero = int(np.argmin(np.abs(alphas - 0.0)))
    return {
        "raw": kls[0, one],
        "mapped": kls[1, one],
        "mismatched_layer": patcher.kl(site, layer, mismatched(x)),
        "shuffled_pairs": patcher.kl(site, layer, shuffled(x)),
        "ablate": kls[0, zero] if alphas[zero] == 0 else patcher.kl(site, layer, 0 * x),
    }
