"""Stage 1: the only pass over the ``d`` axis. Per-unit and per-cell metrics from ``resid``.

For every (variant, layer) the block kernel builds, in one batched matmul, the cosine matrix
between the reference language's units and every language's units::

    S[..., lang, i, j] = cos(ref unit i, lang unit j)       Float[..., lang, unit_ref, unit]

The diagonal is the matched similarity, the off-diagonals (restricted to units present in both
languages) are the mismatched-concept null, row/column maxima give retrieval. Gram matrices
give CKA. Everything returned is small (no ``d`` axis), so stage 2 (bootstrap, commitment,
tests) only ever resamples ``Float[..., unit]`` arrays.

``unit_metrics(ds)`` wraps the kernel with ``xr.apply_ufunc(dask="parallelized")``; with a
dask-backed dataset chunked over ``variant`` and ``lang`` (every layer in a chunk, as stored)
it runs lazily, one block of languages and the reference in memory per worker, each stored
chunk decoded once; the kernel itself loops over layers.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from jaxtyping import Bool, Float, Int

from .cka import cka_from_grams, cka_with_null_mean
from .nulls import mexa_perm_null
from .stats import nanquantile_sorted

__all__ = ["unit_dim_of", "block_metrics", "unit_metrics", "derangements", "UNIT_VARS", "CELL_VARS"]

#: outputs of the kernel with a unit axis: Float[..., lang, unit]
UNIT_VARS = ("cos", "cos_centred", "null_mean_u", "null_std_u", "null_q95_u", "retr_fwd_u", "retr_bwd_u")
#: outputs per (…, lang) cell
CELL_VARS = (
    "null_mean", "null_std", "null_q95_mean", "cka", "cka_debiased",
    "null_centred_mean", "null_centred_std", "null_centred_q95", "null_cka_mean",
)  # fmt: skip
#: outputs per (…, lang, perm): the MEXA score of each mismatched pairing (``analysis.nulls``) and
#: the mean mismatched raw cosine under each derangement (last: ``analysis.simulate`` reads it)
PERM_VARS = ("null_perm_mexa", "null_perm_cos")

_CORE = ("variant", "lang", "layer", "d")

#: one per-unit output of the kernel
UnitArray = Float[np.ndarray, "*batch lang unit"]
#: one per-cell output of the kernel
CellArray = Float[np.ndarray, "*batch lang"]
#: the kernel's outputs: UNIT_VARS then CELL_VARS
KernelOutputs = tuple[
    UnitArray, UnitArray, UnitArray, UnitArray, UnitArray, UnitArray, UnitArray,
    CellArray, CellArray, CellArray, CellArray, CellArray, CellArray, CellArray, CellArray, CellArray,
    Float[np.ndarray, "*batch lang perm"], Float[np.ndarray, "*batch lang perm"],
]  # fmt: skip


def unit_dim_of(ds: xr.Dataset | xr.DataArray) -> str:
    """The unit dimension (``concept`` or ``item``) of an activation dataset."""
    dims = [d for d in (ds["resid"].dims if isinstance(ds, xr.Dataset) else ds.dims) if d not in _CORE]
    if len(dims) != 1:
        from polylens.errors import StorageError  # noqa: PLC0415

        raise StorageError(f"expected dims (variant, lang, concept|item, layer, d); got extra dims {dims}")
    return str(dims[0])


def derangements(n_units: int, n_perm: int, seed: int) -> Int[np.ndarray, "perm unit"]:
    """Int[n_perm, n_units]: random derangements (no unit keeps its partner), seeded.

    pi(sigma[t]) = sigma[(t + s) mod n] with random sigma and shift s in [1, n).
    """
    rng = np.random.default_rng(seed)
    if n_units < 2:
        return np.zeros((n_perm, n_units), dtype=np.int64)
    sigma = np.argsort(rng.random((n_perm, n_units)), axis=1)
    shift = rng.integers(1, n_units, size=(n_perm, 1))
    perm = np.empty_like(sigma)
    np.put_along_axis(
        perm, sigma, np.take_along_axis(sigma, (np.arange(n_units)[None] + shift) % n_units, 1), 1
    )
    return perm


def block_metrics(
    x: Float[np.ndarray, "*batch lang unit d"],
    ref_idx: int,
    perms: Int[np.ndarray, "perm unit"],
    q: float = 0.95,
) -> KernelOutputs:
    """Kernel on one block ``x: Float[..., lang, unit, d]`` (leading axes e.g. (variant, layer)).

    Returns, in order, UNIT_VARS as Float32[..., lang, unit] then CELL_VARS as Float32[..., lang]:

    - ``cos``: cos(ref_i, lang_i) (NaN unless unit i present in both)
    - ``cos_centred``: same after subtracting each language's mean vector over its units
    - ``null_mean_u/null_std_u/null_q95_u``: mismatched similarities of unit i, i.e. row i and
      column i of S without the diagonal (ref_i vs lang_j and ref_j vs lang_i, j != i)
    - ``retr_fwd_u``: 1 if S[i,i] > max_{j!=i} S[i,j] (ref -> lang retrieval), ``retr_bwd_u``:
      1 if S[i,i] > max_{j!=i} S[j,i] (lang -> ref); MEXA = both
    - ``null_mean/null_std``: over all mismatched pairs of the cell
    - ``null_q95_mean``: q-quantile of the *mean over units* of mismatched similarities under
      random derangements ``perms: Int[P, unit]`` (the null of the mean-cosine curve)
    - ``cka``/``cka_debiased``: linear CKA between ref and lang concept matrices (joint units)
    """
    is_ref = np.arange(x.shape[-3]) == ref_idx
    return block_metrics_vs(x, x[..., ref_idx : ref_idx + 1, :, :], perms, q, is_ref)


def block_metrics_vs(
    x: Float[np.ndarray, "*batch lang unit d"],
    x_ref: Float[np.ndarray, "*batch one unit d"],
    perms: Int[np.ndarray, "perm unit"],
    q: float = 0.95,
    is_ref: Bool[np.ndarray, " lang"] | None = None,
) -> KernelOutputs:
    """:func:`block_metrics` of every language in ``x`` against a separately given reference block.

    ``x_ref: Float[..., 1, unit, d]`` broadcasts over ``lang``, so a block holding a few languages
    (one dask chunk aligned with storage) needs the reference once, not a whole (variant, layer).
    ``is_ref`` marks the reference's own row(s) in ``x``: their self-similarity matrix is computed
    as ``a @ a.T`` (numpy's symmetric path), so values equal ``block_metrics`` bit for bit.
    """
    x, valid, norm = _masked_norms(x)
    x_ref, valid_ref, norm_ref = _masked_norms(x_ref)
    S = _cross(x_ref, x, is_ref, norm_ref, norm)  # cosine matrices: (..., G, U_ref, U)
    joint = valid & valid_ref  # (..., G, U)
    eye = np.eye(x.shape[-2], dtype=bool)
    pair = joint[..., :, None] & joint[..., None, :] & ~eye  # mismatched pairs within joint units
    cos = np.where(joint, np.diagonal(S, axis1=-2, axis2=-1), np.nan)
    null_mean_u, null_std_u, null_mean, null_std = _mismatch_moments(S, joint, pair)
    null_q95_u, retr_fwd_u, retr_bwd_u = _mismatch_quantile_and_retrieval(S, joint, pair, q)
    null_q95_mean, perm_cos = _derangement_null(S, joint, perms, q)
    perm_mexa = mexa_perm_null(S, joint, perms)
    del S, pair
    cos_centred, cka, cka_db, null_cka_mean, Sc = _centred_metrics(x, valid, joint, x_ref, valid_ref, is_ref)
    c_q, c_perm = _derangement_null(Sc, joint, perms, q)
    f32 = np.float32
    return (
        cos.astype(f32),
        cos_centred.astype(f32),
        null_mean_u.astype(f32),
        null_std_u.astype(f32),
        null_q95_u.astype(f32),
        retr_fwd_u.astype(f32),
        retr_bwd_u.astype(f32),
        null_mean.astype(f32),
        null_std.astype(f32),
        null_q95_mean.astype(f32),
        cka.astype(f32),
        cka_db.astype(f32),
        np.nanmean(c_perm, -1).astype(f32),
        np.nanstd(c_perm, -1, ddof=1).astype(f32),
        c_q.astype(f32),
        null_cka_mean.astype(f32),
        perm_mexa.astype(f32),
        perm_cos.astype(f32),
    )


def _cross(
    a_ref: Float[np.ndarray, "*batch one unit d"],
    a: Float[np.ndarray, "*batch lang unit d"],
    is_ref: Bool[np.ndarray, " lang"] | None,
    n_ref: Float[np.ndarray, "*batch one unit"],
    n: Float[np.ndarray, "*batch lang unit"],
) -> Float[np.ndarray, "*batch lang unit_ref unit"]:
    """Cosines ``a_ref @ a^T / (n_ref n^T)`` per language (``n``: row norms, 1 for zero rows); the
    reference's own rows as ``a_g @ a_g^T`` (see is_ref). Scaling the (U, U) product instead of
    the (U, d) inputs saves two passes over ``d``."""
    out = a_ref @ np.swapaxes(a, -1, -2)
    for g in np.flatnonzero(is_ref) if is_ref is not None else ():
        own = a[..., g, :, :]
        out[..., g, :, :] = own @ np.swapaxes(own, -1, -2)
    out /= n_ref[..., :, None] * n[..., None, :]
    return out


def _masked_norms(
    x: Float[np.ndarray, "*batch lang unit d"],
) -> tuple[
    Float[np.ndarray, "*batch lang unit d"],
    Bool[np.ndarray, "*batch lang unit"],
    Float[np.ndarray, "*batch lang unit"],
]:
    """float32 ``x`` with missing units zeroed, the valid-unit mask (present, non-zero) and the unit
    norms (1 where the unit is zero or missing, so dividing by them is safe)."""
    x = np.asarray(x, dtype=np.float32)
    sq = np.einsum("...d,...d->...", x, x)  # NaN iff the unit has a NaN (missing)
    valid = ~np.isnan(sq)  # (..., G, U)
    x = np.where(valid[..., None], x, np.float32(0))
    norm = np.sqrt(np.where(valid, sq, np.float32(0)))
    valid &= norm > 0
    return x, valid, np.where(norm > 0, norm, np.float32(1))


def _mismatch_moments(
    S: Float[np.ndarray, "*batch lang unit_ref unit"],
    joint: Bool[np.ndarray, "*batch lang unit"],
    pair: Bool[np.ndarray, "*batch lang unit_ref unit"],
) -> tuple[UnitArray, UnitArray, CellArray, CellArray]:
    """Mean and std of the mismatched similarities per unit (its row and column) and per cell."""
    S0 = np.where(pair, S, 0.0).astype(np.float64)
    nj = joint.sum(-1)  # (..., G)
    cnt_u = np.where(joint, 2.0 * (nj[..., None] - 1), 0.0)
    s1 = S0.sum(-1) + S0.sum(-2)
    s2 = (S0 * S0).sum(-1) + (S0 * S0).sum(-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        null_mean_u = np.where(cnt_u > 0, s1 / cnt_u, np.nan)
        null_var_u = (s2 - cnt_u * null_mean_u**2) / (cnt_u - 1)
    null_std_u = np.sqrt(np.maximum(np.where(cnt_u > 1, null_var_u, np.nan), 0))
    cnt = (nj * (nj - 1)).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        null_mean = np.where(cnt > 0, S0.sum((-1, -2)) / cnt, np.nan)
        null_std = np.sqrt(np.maximum((S0**2).sum((-1, -2)) - cnt * null_mean**2, 0) / (cnt - 1))
    null_std = np.where(cnt > 1, null_std, np.nan)
    return null_mean_u, null_std_u, null_mean, null_std


def _mismatch_quantile_and_retrieval(
    S: Float[np.ndarray, "*batch lang unit_ref unit"],
    joint: Bool[np.ndarray, "*batch lang unit"],
    pair: Bool[np.ndarray, "*batch lang unit_ref unit"],
    q: float,
) -> tuple[UnitArray, UnitArray, UnitArray]:
    """Per unit: q-quantile of its mismatched similarities, forward and backward retrieval hits."""
    diag = np.diagonal(S, axis1=-2, axis2=-1)
    Snan = np.where(pair, S, np.nan)
    rowcol = np.concatenate([Snan, np.swapaxes(Snan, -1, -2)], axis=-1)  # (..., G, U, 2U)
    del Snan
    null_q95_u = np.where(joint, nanquantile_sorted(rowcol, q, axis=-1), np.nan)
    del rowcol
    Sm = np.where(pair, S, -np.inf)
    retr_fwd_u = np.where(joint, (diag > Sm.max(-1)).astype(np.float32), np.nan)
    retr_bwd_u = np.where(joint, (diag > Sm.max(-2)).astype(np.float32), np.nan)
    return null_q95_u, retr_fwd_u, retr_bwd_u


def _derangement_null(
    S: Float[np.ndarray, "*batch lang unit_ref unit"],
    joint: Bool[np.ndarray, "*batch lang unit"],
    perms: Int[np.ndarray, "perm unit"],
    q: float,
) -> tuple[CellArray, Float[np.ndarray, "*batch lang perm"]]:
    """q-quantile of mean_i S[i, pi(i)] over derangements pi (missing pairs skipped), and those means."""
    rows = np.arange(S.shape[-1])[None, :]
    g = S[..., rows, perms]  # (..., G, P, U)
    gv = joint[..., None, :] & np.take_along_axis(
        np.broadcast_to(joint[..., None, :], joint.shape[:-1] + perms.shape),
        np.broadcast_to(perms, joint.shape[:-1] + perms.shape),
        -1,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        perm_means = np.where(gv, g, 0).sum(-1) / gv.sum(-1)
    return nanquantile_sorted(perm_means, q, axis=-1), perm_means


def _centre(
    x: Float[np.ndarray, "*batch lang unit d"], valid: Bool[np.ndarray, "*batch lang unit"]
) -> tuple[Float[np.ndarray, "*batch lang unit d"], Float[np.ndarray, "*batch lang unit"]]:
    """Each language's units minus its mean vector over valid units (``x``: missing units already 0,
    as ``_masked_norms`` returns it; they stay 0), and their norms."""
    nv = np.maximum(valid.sum(-1), 1)[..., None, None]
    mu = x.sum(-2, keepdims=True) / nv
    xc = np.where(valid[..., None], x - mu, np.float32(0))
    return xc, np.sqrt(np.einsum("...d,...d->...", xc, xc))


def _centred_metrics(
    x: Float[np.ndarray, "*batch lang unit d"],
    valid: Bool[np.ndarray, "*batch lang unit"],
    joint: Bool[np.ndarray, "*batch lang unit"],
    x_ref: Float[np.ndarray, "*batch one unit d"],
    valid_ref: Bool[np.ndarray, "*batch one unit"],
    is_ref: Bool[np.ndarray, " lang"] | None = None,
) -> tuple[UnitArray, CellArray, CellArray, CellArray, Float[np.ndarray, "*batch lang unit_ref unit"]]:
    """Centred cosine to the reference, CKA (plain, debiased), plain CKA's null mean, and the
    centred cosine matrix (for its null)."""
    xc, ncn = _centre(x, valid)
    xc_ref, ncn_ref = _centre(x_ref, valid_ref)
    one = np.float32(1)
    Sc = _cross(xc_ref, xc, is_ref, np.where(ncn_ref > 0, ncn_ref, one), np.where(ncn > 0, ncn, one))
    defined = joint & (ncn_ref > 0) & (ncn > 0)  # a zero centred vector has no direction
    cos_centred = np.where(defined, np.diagonal(Sc, axis1=-2, axis2=-1), np.nan)
    # CKA ref vs lang over joint units (grams of already-centred features)
    grams = xc @ np.swapaxes(xc, -1, -2)  # (..., G, U, U)
    kr = xc_ref @ np.swapaxes(xc_ref, -1, -2)
    del xc, xc_ref
    cka, null_cka_mean = cka_with_null_mean(kr, grams, joint)  # the plain-CKA null from the same centring
    cka_db = cka_from_grams(kr, grams, joint, debiased=True)
    return cos_centred, cka, cka_db, null_cka_mean, Sc


def _layer_loop(
    x: Float[np.ndarray, "*batch lang unit layer d"],
    x_ref: Float[np.ndarray, "*batch one unit layer d"],
    is_ref: Bool[np.ndarray, "*batch lang"],
    perms: Int[np.ndarray, "perm unit"],
    q: float,
) -> KernelOutputs:
    """:func:`block_metrics_vs` one layer at a time on a block holding every layer (as stored).

    Returns UNIT_VARS as Float32[..., lang, unit, layer], CELL_VARS as Float32[..., lang, layer]
    and PERM_VARS as Float32[..., lang, layer, perm]; temporaries never exceed one layer.
    """
    own = np.asarray(np.asarray(is_ref).reshape(-1, is_ref.shape[-1]).any(0), dtype=bool)  # per language
    per_layer = [
        block_metrics_vs(
            np.ascontiguousarray(x[..., i, :]), np.ascontiguousarray(x_ref[..., i, :]), perms, q, own
        )
        for i in range(x.shape[-2])
    ]
    n_unit, n_cell = len(UNIT_VARS), len(CELL_VARS)
    axes = [-1] * (n_unit + n_cell) + [-2] * len(PERM_VARS)
    return tuple(  # type: ignore[return-value]
        np.stack([out[k] for out in per_layer], axis=ax) for k, ax in enumerate(axes)
    )


def unit_metrics(
    ds: xr.Dataset,
    ref: str = "en",
    n_perm_null: int = 200,
    seed: int = 0,
    q: float = 0.95,
    var: str = "resid",
) -> xr.Dataset:
    """Lazy-capable stage 1 over ``ds[var]: Float[variant, lang, unit, layer, d]``.

    Returns a Dataset with UNIT_VARS on (variant, lang, unit, layer) and CELL_VARS on
    (variant, lang, layer). Dask-backed input stays lazy (call ``.compute()``): one task per
    (variant, lang) chunk as opened, so a store opened with chunks aligned to its on-disk chunks
    (``storage.encoding.open_any(path, "aligned")``) is read and decoded exactly once, one block
    of languages (plus the reference) in memory per worker; chunks along ``unit``, ``layer`` and
    ``d`` are merged (core dimensions of the kernel).
    """
    from polylens.errors import StorageError  # noqa: PLC0415

    unit = unit_dim_of(ds)
    da = ds[var]
    langs = list(da["lang"].values)
    if ref not in langs:
        raise StorageError(f"reference language {ref!r} is not in the dataset (langs: {langs})")
    perms = derangements(da.sizes[unit], n_perm_null, seed + 7919)
    core = [unit, "layer", "d"]
    da = da.transpose("variant", "lang", *core)
    x_ref = da.sel(lang=ref, drop=True)  # one chunk per variant, shared by every language's task
    is_ref = xr.DataArray(np.asarray(langs) == ref, dims="lang", coords={"lang": da["lang"].values})
    if da.chunks is not None:  # lang/variant chunks stay as opened (aligned with storage)
        da = da.chunk(dict.fromkeys(core, -1))
        x_ref = x_ref.chunk(dict.fromkeys(core, -1))
        is_ref = is_ref.chunk({"lang": da.data.chunks[1]})
    outs = xr.apply_ufunc(
        _layer_loop,
        da,
        x_ref,
        is_ref,
        kwargs={"perms": perms, "q": q},
        input_core_dims=[core, core, []],
        output_core_dims=[[unit, "layer"]] * len(UNIT_VARS)
        + [["layer"]] * len(CELL_VARS)
        + [["layer", "perm"]] * len(PERM_VARS),
        dask="parallelized",
        dask_gufunc_kwargs={"output_sizes": {"perm": n_perm_null}},
        output_dtypes=[np.float32] * (len(UNIT_VARS) + len(CELL_VARS) + len(PERM_VARS)),
        keep_attrs=False,
    )
    res = xr.Dataset({name: o for name, o in zip(UNIT_VARS + CELL_VARS + PERM_VARS, outs)})
    order_u = ("variant", "lang", unit, "layer")
    res = res.transpose(*[d for d in order_u + ("perm",) if d in res.dims])
    keep = [c for c in ds.coords if set(ds[c].dims) <= set(res.dims)]
    return res.assign_coords({c: ds[c] for c in keep})
