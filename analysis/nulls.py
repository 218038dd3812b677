"""Per-layer permutation nulls of MEXA retrieval and linear CKA, computed inside the stage-1 kernel.

Both nulls break the concept pairing between the reference and the other language and keep
everything else (the similarity structure of each language) as observed:

- :func:`mexa_perm_null`: the MEXA score of the *mismatched* pairing ``ref i <-> lang pi(i)``
  for random derangements ``pi`` (the same derangements as the cosine nulls): the share of
  units whose mismatched partner is the strict mutual nearest neighbour. Uses the top-2 of
  every row and column of the cosine matrix, so each derangement costs O(unit), not O(unit^2).
- :func:`cka_null_moments`: the exact mean and SD of CKA over *all* permutations of the pairing
  within the units present in both languages (no sampling). Such a permutation maps the joint
  set onto itself, so the (U-)centred Gram matrices ``A, B`` permute with it and their norms do
  not change. Debiased CKA (U-centred: zero diagonal, zero row sums) has permutation mean 0 and
  variance exactly ``2 / (n (n - 3))`` (counting index coincidences in ``E[G^2]``; the
  ``n(n-3)/2`` degrees of freedom of Szekely & Rizzo's U-centred inner product). Plain CKA has
  permutation mean ``tr A tr B / ((n - 1) |A| |B|)`` (its small-sample bias; Josse et al. 2008's
  RV mean); its SD is not given in closed form here (NaN).
- :func:`cka_perm_null`: the same null by explicit permutations (``CKA_perm = <A, B[s][:, s]> /
  (|A| |B|)``, exact per draw, O(unit^2) each): the reference the moments are tested against.

The summaries (mean, SD, quantile, effect size and z) come from ``analysis.stats.nulls``.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Bool, Float, Int

from .cka import center_gram, cka_with_null_mean

__all__ = ["mexa_perm_null", "cka_null_moments", "cka_perm_null", "joint_permutations"]

#: permutations gathered at once in the CKA null (bounds the (lang, perm, unit, unit) temporary)
_CKA_CHUNK = 8


def _top2(
    a: Float[np.ndarray, "*batch n"],
) -> tuple[Int[np.ndarray, "*batch"], Float[np.ndarray, "*batch"], Float[np.ndarray, "*batch"]]:
    """(argmax, max, second largest value) along the last axis (-inf padded)."""
    arg = a.argmax(-1)
    first = np.take_along_axis(a, arg[..., None], -1)[..., 0]
    second = np.partition(a, -2, axis=-1)[..., -2] if a.shape[-1] > 1 else np.full_like(first, -np.inf)
    return arg, first, second


def mexa_perm_null(
    S: Float[np.ndarray, "*batch lang unit_ref unit"],
    joint: Bool[np.ndarray, "*batch lang unit"],
    perms: Int[np.ndarray, "perm unit"],
) -> Float[np.ndarray, "*batch lang perm"]:
    """MEXA score of the pairing ``i <-> perms[p, i]`` per derangement (pairs of joint units only)."""
    n = S.shape[-1]
    both = joint[..., :, None] & joint[..., None, :]
    Sm = np.where(both, S, -np.inf)
    r_arg, r1, r2 = _top2(Sm)  # rows: ref unit i against every lang unit j
    c_arg, c1, c2 = _top2(np.swapaxes(Sm, -1, -2))  # columns: lang unit j against every ref unit
    lead = joint.shape[:-1] + perms.shape  # (..., G, P, U)
    pj = np.broadcast_to(perms, lead)
    rows = np.arange(n)
    s_pair = S[..., rows[None, :], perms]  # S[i, pi(i)]: (..., G, P, U)
    row_other = np.where(r_arg[..., None, :] == pj, r2[..., None, :], r1[..., None, :])

    def at_partner(a: Float[np.ndarray, "*batch lang unit"]) -> Float[np.ndarray, "*batch lang perm unit"]:
        """``a[..., pi(i)]`` for every derangement."""
        return np.take_along_axis(np.broadcast_to(a[..., None, :], lead), pj, -1)

    col_other = np.where(at_partner(c_arg) == rows, at_partner(c2), at_partner(c1))
    valid = joint[..., None, :] & at_partner(joint)
    hit = valid & (s_pair > row_other) & (s_pair > col_other)
    with np.errstate(divide="ignore", invalid="ignore"):
        return hit.sum(-1) / valid.sum(-1)


def joint_permutations(
    joint: Bool[np.ndarray, "*batch unit"], perms: Int[np.ndarray, "perm unit"]
) -> Int[np.ndarray, "*batch perm unit"]:
    """Permutations s of the units that map the joint set onto itself (uniform on it), one per row of ``perms``.

    The k-th joint unit (in index order) goes to the k-th joint unit in the random order that
    ``perms[p]`` (a random ranking) induces; units outside the set map among themselves.
    """
    n = joint.shape[-1]
    lead = joint.shape[:-1] + perms.shape
    out_rank = np.where(joint, 0, n)[..., None, :]  # joint units first
    sorted_idx = np.argsort(np.broadcast_to(out_rank + np.arange(n), lead), -1, kind="stable")
    shuffled = np.argsort(np.broadcast_to(out_rank, lead) + perms, -1, kind="stable")
    sigma = np.empty(lead, dtype=np.int64)
    np.put_along_axis(sigma, sorted_idx, shuffled, -1)
    return sigma


def cka_perm_null(
    grams: Float[np.ndarray, "*batch lang unit unit"],
    joint: Bool[np.ndarray, "*batch lang unit"],
    ref_idx: int,
    perms: Int[np.ndarray, "perm unit"],
    debiased: bool = False,
) -> Float[np.ndarray, "*batch lang perm"]:
    """Linear CKA (ref vs lang) after permuting the pairing within the joint units, one per row of ``perms``."""
    kr = center_gram(grams[..., ref_idx : ref_idx + 1, :, :], joint, unbiased=debiased)  # (..., G, U, U)
    kl = center_gram(grams, joint, unbiased=debiased)
    with np.errstate(divide="ignore", invalid="ignore"):
        norm = np.sqrt(np.einsum("...ij,...ij->...", kr, kr) * np.einsum("...ij,...ij->...", kl, kl))
    sigma = joint_permutations(joint, perms)  # (..., G, P, U)
    hsic = np.empty(sigma.shape[:-1])
    for start in range(0, perms.shape[0], _CKA_CHUNK):
        s = sigma[..., start : start + _CKA_CHUNK, :]
        rows = np.take_along_axis(kl[..., None, :, :], s[..., :, None], -2)  # Kl[s, :]
        perm_k = np.take_along_axis(rows, np.broadcast_to(s[..., None, :], rows.shape), -1)  # Kl[s][:, s]
        hsic[..., start : start + _CKA_CHUNK] = np.einsum("...ij,...pij->...p", kr, perm_k)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = hsic / norm[..., None]
    n_ok = joint.sum(-1)[..., None]
    return np.where(n_ok >= (4 if debiased else 2), out, np.nan)


def cka_null_moments(
    gram_ref: Float[np.ndarray, "*batch one unit unit"],
    grams: Float[np.ndarray, "*batch lang unit unit"],
    joint: Bool[np.ndarray, "*batch lang unit"],
    debiased: bool = False,
) -> tuple[Float[np.ndarray, "*batch lang"], Float[np.ndarray, "*batch lang"]]:
    """Exact (mean, SD) of CKA ref vs lang over all permutations of the pairing within the joint units.

    Debiased: (0, sqrt(2 / (n (n - 3)))). Plain: (tr A tr B / ((n - 1) |A| |B|), NaN).
    """
    n = joint.sum(-1).astype(np.float64)
    if debiased:
        with np.errstate(divide="ignore", invalid="ignore"):
            sd = np.sqrt(2.0 / (n * (n - 3)))
        ok = n >= 4
        return np.where(ok, 0.0, np.nan), np.where(ok, sd, np.nan)
    mean = cka_with_null_mean(gram_ref, grams, joint)[1]
    return mean, np.full(mean.shape, np.nan)
