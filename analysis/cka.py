"""Linear CKA (Kornblith et al. 2019), batched over leading axes, NaN-aware, width-agnostic.

Everything works on Gram matrices ``K = X X^T`` (units x units), so two representations of
different widths (e.g. two model variants with different ``d``) compare directly. Leading axes
broadcast (``(..., n, n)``), so one call covers every (variant, lang, layer) cell.

Missing units (rows containing NaN) are excluded *per pair*: the centering and the debiased
estimator use only units present in both representations, so one missing cell never turns a
whole language's CKA into NaN.

Reference values (google-research ``representation_similarity`` demo)::

    np.random.seed(1337); X = np.random.randn(100, 10); Y = np.random.randn(100, 10) + X
    linear_cka(X, Y) == 0.55761...; linear_cka(X, Y, debiased=True) == 0.51346...

No torch here: this module is reused by model diffing and by the router.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Bool, Float, Int

__all__ = [
    "gram_linear",
    "center_gram",
    "cka_from_grams",
    "cka_with_null_mean",
    "linear_cka",
    "pairwise_linear_cka",
    "valid_rows",
]


def valid_rows(x: Float[np.ndarray, "*batch n p"]) -> Bool[np.ndarray, "*batch n"]:
    """Bool[..., n]: rows of ``x: Float[..., n, p]`` without any NaN."""
    return ~np.isnan(x).any(axis=-1)


def gram_linear(
    x: Float[np.ndarray, "*batch n p"], mask: Bool[np.ndarray, "*batch n"] | None = None
) -> Float[np.ndarray, "*batch n n"]:
    """Float[..., n, n] linear Gram of ``x: Float[..., n, p]``; rows outside ``mask`` are zero.

    Features are pre-centred over the valid rows (CKA is invariant to it; it keeps float32
    accurate when residual streams carry large constant offsets).
    """
    x = np.asarray(x)
    if mask is None:
        mask = valid_rows(x)
    m = mask[..., None]
    x0 = np.where(m, x, 0.0)
    n = np.maximum(mask.sum(-1), 1)[..., None, None]
    x0 = np.where(m, x0 - x0.sum(-2, keepdims=True) / n, 0.0)
    return x0 @ np.swapaxes(x0, -1, -2)


def center_gram(
    gram: Float[np.ndarray, "*batch n n"],
    mask: Bool[np.ndarray, "*batch n"] | None = None,
    unbiased: bool = False,
) -> Float[np.ndarray, "*batch n n"]:
    """Centre ``gram: Float[..., n, n]`` over the units in ``mask: Bool[..., n]`` (all if None).

    ``unbiased=True`` gives the U-statistic centering of Song et al. (2012) used for debiased
    CKA (diagonal set to 0). Entries outside ``mask`` are returned as 0.
    """
    gram = np.asarray(gram, dtype=np.float64)
    n_units = gram.shape[-1]
    if mask is None:
        mask = np.ones(gram.shape[:-1], dtype=bool)
    m = mask.astype(np.float64)
    pair = m[..., :, None] * m[..., None, :]
    n = m.sum(-1)[..., None]  # (..., 1)
    g = gram * pair
    if unbiased:
        eye = np.eye(n_units, dtype=bool)
        g = np.where(eye, 0.0, g)
        with np.errstate(divide="ignore", invalid="ignore"):
            means = g.sum(-1) / (n - 2)
            means = means - (means * m).sum(-1, keepdims=True) / (2 * (n - 1))
        g = g - means[..., :, None] - means[..., None, :]
        g = np.where(eye, 0.0, g)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            means = g.sum(-1) / n
            means = means - (means * m).sum(-1, keepdims=True) / (2 * n)
        g = g - means[..., :, None] - means[..., None, :]
    return g * pair


def _centred(
    gram_x: Float[np.ndarray, "*batch n n"],
    gram_y: Float[np.ndarray, "*batch n n"],
    mask: Bool[np.ndarray, "*batch n"] | None,
    unbiased: bool,
) -> tuple[Float[np.ndarray, "*batch n n"], Float[np.ndarray, "*batch n n"], Int[np.ndarray, "*batch"]]:
    """Both grams centred over the (broadcast) ``mask``, and the number of valid units."""
    shape = np.broadcast_shapes(gram_x.shape, gram_y.shape)[:-1]
    mask = np.ones(shape, dtype=bool) if mask is None else np.broadcast_to(mask, shape)
    return center_gram(gram_x, mask, unbiased), center_gram(gram_y, mask, unbiased), mask.sum(-1)


def _frob(k: Float[np.ndarray, "*batch n n"]) -> Float[np.ndarray, "*batch"]:
    """Frobenius norm over the last two axes."""
    return np.sqrt(np.einsum("...ij,...ij->...", k, k))


def cka_from_grams(
    gram_x: Float[np.ndarray, "*batch n n"],
    gram_y: Float[np.ndarray, "*batch n n"],
    mask: Bool[np.ndarray, "*batch n"] | None = None,
    debiased: bool = False,
) -> Float[np.ndarray, "*batch"]:
    """Float[...] CKA between ``gram_x, gram_y: Float[..., n, n]`` over units ``mask: Bool[..., n]``.

    Leading axes broadcast. Returns NaN where fewer than 4 (debiased) / 2 units are valid.
    """
    kx, ky, n = _centred(gram_x, gram_y, mask, debiased)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.einsum("...ij,...ij->...", kx, ky) / (_frob(kx) * _frob(ky))
    return np.where(n >= (4 if debiased else 2), out, np.nan)


def cka_with_null_mean(
    gram_x: Float[np.ndarray, "*batch n n"],
    gram_y: Float[np.ndarray, "*batch n n"],
    mask: Bool[np.ndarray, "*batch n"] | None = None,
) -> tuple[Float[np.ndarray, "*batch"], Float[np.ndarray, "*batch"]]:
    """Plain CKA and its exact mean over all re-pairings of the units, tr Kx tr Ky / ((n - 1) |Kx| |Ky|),
    from one centring of the grams (NaN below 2 valid units)."""
    kx, ky, n = _centred(gram_x, gram_y, mask, False)
    norm = _frob(kx) * _frob(ky)
    tr = np.trace(kx, axis1=-2, axis2=-1) * np.trace(ky, axis1=-2, axis2=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cka, mean = np.einsum("...ij,...ij->...", kx, ky) / norm, tr / ((n - 1) * norm)
    return np.where(n >= 2, cka, np.nan), np.where(n >= 2, mean, np.nan)


def linear_cka(
    x: Float[np.ndarray, "*batch n p"], y: Float[np.ndarray, "*batch n q"], debiased: bool = False
) -> Float[np.ndarray, "*batch"]:
    """Linear CKA between ``x: Float[..., n, p]`` and ``y: Float[..., n, q]`` (p may differ from q).

    Rows with NaN in either input are dropped (per leading index). Returns Float[...].
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mask = valid_rows(x) & valid_rows(y)
    return cka_from_grams(gram_linear(x, mask), gram_linear(y, mask), mask, debiased=debiased)


def pairwise_linear_cka(
    x: Float[np.ndarray, "*batch g n p"], debiased: bool = False
) -> Float[np.ndarray, "*batch g g"]:
    """Float[..., g, g]: CKA between every pair of groups of ``x: Float[..., g, n, p]``.

    E.g. ``x`` = one layer's (lang, concept, d) matrix gives the lang x lang CKA matrix; units
    are restricted per pair to those present in both languages.
    """
    x = np.asarray(x, dtype=np.float64)
    valid = valid_rows(x)  # (..., g, n)
    grams = gram_linear(x, valid)  # (..., g, n, n)
    mask = valid[..., :, None, :] & valid[..., None, :, :]  # (..., g, g, n)
    return cka_from_grams(grams[..., :, None, :, :], grams[..., None, :, :, :], mask, debiased=debiased)
