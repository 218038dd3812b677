"""Cross-lingual alignment analysis (issue 5): metrics, commitment, bootstrap CIs, tests, outputs.

Pipeline::

    ds (variant, lang, unit, layer, d)  --core.unit_metrics-->  per-unit metrics (no d axis)
        --analyze()-->  results Dataset (curves + CIs, summaries, commitment, sweep)
        --run_analysis()-->  out_dir/{alignment.nc, alignment_curves.json, commitment_matrix.csv,
                                       stats.csv, failure_cases.csv}

Only ``core.unit_metrics`` reads the ``d`` axis (lazily, per dask chunk); everything here is
vectorized over (variant, lang, unit, layer) with bootstrap resampling as weight matrices.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from polylens.hooks.method import netcdf_attrs

from . import stats as st
from .commitment import commitment_layer, threshold_sweep
from .core import unit_dim_of, unit_metrics

__all__ = ["analyze", "run_analysis", "variant_tests", "DEFAULT_TAUS", "METHOD_VERSION", "CURVE_VARS"]

METHOD_VERSION = "alignment-1"
DEFAULT_TAUS = np.round(np.arange(0.50, 0.9901, 0.05), 2)
#: per-unit metrics whose mean-over-units curves get bootstrap CIs
CURVE_VARS = ("cos", "cos_centred", "margin", "margin_z", "retrieval_fwd", "retrieval_bwd", "retrieval_mexa")


def _per_unit(um: xr.Dataset) -> xr.Dataset:
    """Derived per-unit metrics (variant, lang, unit, layer)."""
    margin = um.cos - um.null_mean_u
    with np.errstate(divide="ignore", invalid="ignore"):
        margin_z = margin / um.null_std_u
    mexa = um.retr_fwd_u * um.retr_bwd_u
    return xr.Dataset(
        {
            "cos": um.cos,
            "cos_centred": um.cos_centred,
            "margin": margin,
            "margin_z": margin_z,
            "retrieval_fwd": um.retr_fwd_u,
            "retrieval_bwd": um.retr_bwd_u,
            "retrieval_mexa": mexa,
            "null_q95_u": um.null_q95_u,
        }
    )


def _layer_values(boot_idx: np.ndarray, layers: np.ndarray) -> np.ndarray:
    safe = np.where(np.isnan(boot_idx), 0, boot_idx).astype(np.int64)
    return np.where(np.isnan(boot_idx), np.nan, layers[safe])


def _ci(boot: np.ndarray, level: float, never_is_inf: bool = False) -> np.ndarray:
    b = np.where(np.isnan(boot), np.inf, boot) if never_is_inf else boot
    return st.percentile_ci(b, level)


def analyze(
    ds: xr.Dataset,
    ref: str = "en",
    tau: float = 0.85,
    k: int = 3,
    n_boot: int = 1000,
    seed: int = 0,
    taus: Sequence[float] | None = None,
    null_quantile: float = 0.95,
    ci_level: float = 0.95,
    n_perm_null: int = 200,
    um: xr.Dataset | None = None,
) -> xr.Dataset:
    """All metrics of issue 5 as one labelled results Dataset (in memory; input may be dask-backed).

    Dimensions of the result: ``variant, lang, <unit>, layer, ci (lo, hi), tau``.

    - curves ``Float[variant, lang, layer]``: ``<m>`` (mean over units) and ``<m>_ci
      Float[variant, lang, layer, ci]`` for m in CURVE_VARS; ``null_mean``, ``null_std``,
      ``null_q95_mean`` (mismatched-concept null), ``margin_zscore`` (mean cos vs null in null SDs),
      ``cka``, ``cka_debiased``
    - per unit ``Float[variant, lang, unit, layer]``: ``unit_<m>``
    - summaries ``Float[variant, lang]`` (+ ``_ci``): ``peak_cos``, ``peak_layer``, ``peak_margin``,
      ``commit_layer`` (seed definition on the mean cos curve; NaN = never, CI bound inf = never
      within the network), ``commit_p_never``, ``commit_layer_free`` (mean cos above the q95 of
      the derangement null for k layers), ``frac_committed``; counts ``n_units``,
      ``n_committed``, ``n_never``, ``n_committed_free``, ``n_never_free``
    - per-unit commitment ``Float[variant, lang, unit]``: ``commit_unit``, ``commit_unit_free``
    - sweep ``Float[tau, variant, lang]``: ``sweep_n_committed``, ``sweep_commit_layer``
    """
    unit = unit_dim_of(ds)
    if um is None:
        um = unit_metrics(ds, ref=ref, n_perm_null=n_perm_null, seed=seed, q=null_quantile).compute()
    taus = DEFAULT_TAUS if taus is None else np.asarray(taus, dtype=float)
    layers = np.asarray(um["layer"].values, dtype=np.float64)
    n_layers = layers.size
    pu = _per_unit(um).transpose("variant", "lang", "layer", unit)  # unit axis last
    n_units = pu.sizes[unit]
    w = st.bootstrap_weights(st.bootstrap_indices(n_units, n_boot, seed))
    dims3 = ("variant", "lang", "layer")
    out: dict[str, Any] = {}
    boots = {}
    for name in CURVE_VARS:
        point, boot = st.boot_means(pu[name].values, w)
        boots[name] = boot
        out[name] = (dims3, point.astype(np.float32))
        out[name + "_ci"] = (dims3 + ("ci",), _ci(boot, ci_level).astype(np.float32))
        out["unit_" + name] = (
            ("variant", "lang", unit, "layer"),
            pu[name].transpose("variant", "lang", unit, "layer").values,
        )
    for name in ("null_mean", "null_std", "null_q95_mean", "cka", "cka_debiased"):
        out[name] = (dims3, um[name].transpose(*dims3).values)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["margin_zscore"] = (
            dims3,
            (
                (out["cos"][1] - um.null_mean.transpose(*dims3).values) / um.null_std.transpose(*dims3).values
            ).astype(np.float32),
        )

    # ---- summaries of the mean cos curve, with bootstrap CIs (layer axis = -2 in boot arrays)
    cos_pt = out["cos"][1].astype(np.float64)
    cos_bt = boots["cos"]  # (v, g, L, B)
    mar_pt, mar_bt = out["margin"][1].astype(np.float64), boots["margin"]

    def _peak(a, axis):
        filled = np.where(np.isnan(a), -np.inf, a)
        allnan = np.isnan(a).all(axis)
        return (
            np.where(allnan, np.nan, filled.max(axis)),
            np.where(allnan, np.nan, layers[filled.argmax(axis)]),
        )

    dims2 = ("variant", "lang")
    pv, pl = _peak(cos_pt, -1)
    pvb, plb = _peak(cos_bt, -2)
    out["peak_cos"] = (dims2, pv)
    out["peak_cos_ci"] = (dims2 + ("ci",), _ci(pvb, ci_level))
    out["peak_layer"] = (dims2, pl)
    out["peak_layer_ci"] = (dims2 + ("ci",), _ci(plb, ci_level))
    mv, _ = _peak(mar_pt, -1)
    mvb, _ = _peak(mar_bt, -2)
    out["peak_margin"] = (dims2, mv)
    out["peak_margin_ci"] = (dims2 + ("ci",), _ci(mvb, ci_level))

    cl = commitment_layer(cos_pt, tau, k, axis=-1, layers=layers)
    clb = commitment_layer(cos_bt, tau, k, axis=-2, layers=layers)
    out["commit_layer"] = (dims2, cl)
    out["commit_layer_ci"] = (dims2 + ("ci",), _ci(clb, ci_level, never_is_inf=True))
    out["commit_p_never"] = (dims2, np.isnan(clb).mean(-1))
    q95 = um.null_q95_mean.transpose(*dims3).values.astype(np.float64)
    clf = commitment_layer(cos_pt, q95, k, axis=-1, layers=layers)
    clfb = commitment_layer(cos_bt, q95[..., None], k, axis=-2, layers=layers)
    out["commit_layer_free"] = (dims2, clf)
    out["commit_layer_free_ci"] = (dims2 + ("ci",), _ci(clfb, ci_level, never_is_inf=True))

    # ---- per-unit commitment (seed definition and threshold-free), counts
    cos_u = pu["cos"].values.astype(np.float64)  # (v, g, L, u)
    present = ~np.isnan(cos_u).all(-2)  # (v, g, u)
    cu = commitment_layer(cos_u, tau, k, axis=-2, layers=layers)
    beyond = np.where(np.isnan(cos_u), -np.inf, cos_u) > pu["null_q95_u"].values
    cuf = commitment_layer(beyond.astype(float), 0.5, k, axis=-2, layers=layers)
    cu = np.where(present, cu, np.nan)
    cuf = np.where(present, cuf, np.nan)
    out["commit_unit"] = (("variant", "lang", unit), cu)
    out["commit_unit_free"] = (("variant", "lang", unit), cuf)
    n_present = present.sum(-1)
    out["n_units"] = (dims2, n_present)
    out["n_committed"] = (dims2, (~np.isnan(cu)).sum(-1))
    out["n_never"] = (dims2, (present & np.isnan(cu)).sum(-1))
    out["n_committed_free"] = (dims2, (~np.isnan(cuf)).sum(-1))
    out["n_never_free"] = (dims2, (present & np.isnan(cuf)).sum(-1))
    committed = np.where(present, (~np.isnan(cu)).astype(float), np.nan)
    fc, fcb = st.boot_means(committed, w)
    out["frac_committed"] = (dims2, fc)
    out["frac_committed_ci"] = (dims2 + ("ci",), _ci(fcb, ci_level))
    with np.errstate(invalid="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out["median_unit_commit"] = (dims2, np.nanmedian(cu, -1))

    # ---- threshold sweep: how many units commit at each tau; commitment of the mean curve
    sw_u = threshold_sweep(cos_u, taus, k, axis=-2)  # (T, v, g, u)
    out["sweep_n_committed"] = (("tau",) + dims2, (~np.isnan(sw_u)).sum(-1))
    out["sweep_commit_layer"] = (
        ("tau",) + dims2,
        _layer_values(threshold_sweep(cos_pt, taus, k, axis=-1), layers),
    )

    coords = {c: um[c] for c in um.coords if set(um[c].dims) <= {"variant", "lang", unit, "layer"}}
    coords.update({"ci": ["lo", "hi"], "tau": taus})
    res = xr.Dataset(out, coords=coords)
    attrs = dict(ds.attrs)
    attrs.update(
        {
            "analysis_ref": ref,
            "analysis_tau": float(tau),
            "analysis_k": int(k),
            "analysis_n_boot": int(n_boot),
            "analysis_seed": int(seed),
            "analysis_null_quantile": float(null_quantile),
            "analysis_ci_level": float(ci_level),
            "analysis_n_perm_null": int(n_perm_null),
            "analysis_unit_dim": unit,
            "analysis_method_version": METHOD_VERSION,
            "analysis_n_layers": int(n_layers),
            "analysis_notes": (
                "margin = matched cos - mean mismatched cos (row+col of the ref x lang cosine matrix, "
                "units present in both); CIs: percentile bootstrap over units; commitment CI bound inf = "
                "never commits; retrieval bootstrap resamples fixed per-unit indicators"
            ),
        }
    )
    res.attrs = attrs
    return res


def _pairs(variants: Sequence[str], baseline: str | None) -> list[tuple[str, str]]:
    if baseline is not None and baseline in variants:
        return [(v, baseline) for v in variants if v != baseline]
    return list(itertools.combinations(variants, 2))


TEST_COLUMNS = [
    "scope",
    "metric",
    "variant_a",
    "variant_b",
    "lang",
    "layer",
    "n",
    "mean_a",
    "mean_b",
    "diff",
    "diff_ci_lo",
    "diff_ci_hi",
    "dz",
    "p",
    "p_bh",
    "significant",
]


def variant_tests(
    res: xr.Dataset,
    baseline: str | None = "base",
    n_perm: int = 10000,
    seed: int = 0,
    alpha: float = 0.05,
    exclude_ref: bool = True,
) -> pd.DataFrame:
    """Paired (over units) sign-flip permutation tests between variants, per language and per layer.

    Families (BH within each): scope ``language`` x metric in {cos_auc, margin_auc, peak_cos,
    commit} and scope ``layer`` x metric in {cos, margin}. ``commit`` uses per-unit commitment
    with never = n_layers (censored, worst). Columns: scope, metric, variant_a, variant_b, lang,
    layer, n, mean_a, mean_b, diff (a - b), diff_ci_lo, diff_ci_hi, dz, p, p_bh, significant.
    """
    unit = res.attrs.get("analysis_unit_dim") or unit_dim_of(res.rename({"unit_cos": "resid"}))
    ref = res.attrs.get("analysis_ref")
    level = float(res.attrs.get("analysis_ci_level", 0.95))
    variants = [str(v) for v in res["variant"].values]
    langs = [str(g) for g in res["lang"].values if not (exclude_ref and g == ref)]
    pairs = _pairs(variants, baseline)
    if not pairs or not langs:  # single variant: no tests, but a well-formed (empty) table
        return pd.DataFrame(columns=TEST_COLUMNS)
    n_units = res.sizes[unit]
    w = st.bootstrap_weights(
        st.bootstrap_indices(n_units, int(res.attrs.get("analysis_n_boot", 1000)), seed + 1)
    )
    sub = res.sel(lang=langs)
    n_layers = sub.sizes["layer"]

    def unit_arr(name):  # (variant, lang, layer, unit)
        return sub[name].transpose("variant", "lang", "layer", unit).values.astype(np.float64)

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cos_u, mar_u = unit_arr("unit_cos"), unit_arr("unit_margin")
        commit = sub["commit_unit"].transpose("variant", "lang", unit).values
        present = ~np.isnan(cos_u).all(2)
        per_lang = {
            "cos_auc": np.nanmean(cos_u, 2),
            "margin_auc": np.nanmean(mar_u, 2),
            "peak_cos": np.nanmax(np.where(np.isnan(cos_u), -np.inf, cos_u), 2),
            "commit": np.where(present, np.where(np.isnan(commit), float(n_layers), commit), np.nan),
        }
        per_lang["peak_cos"] = np.where(present, per_lang["peak_cos"], np.nan)
    per_layer = {"cos": cos_u, "margin": mar_u}
    ia = [variants.index(a) for a, _ in pairs]
    ib = [variants.index(b) for _, b in pairs]
    rows = []
    layer_vals = sub["layer"].values
    for scope, metrics in (("language", per_lang), ("layer", per_layer)):
        for metric, arr in metrics.items():
            a, b = arr[ia], arr[ib]  # (pair, lang, [layer,] unit)
            diff = a - b
            t = st.signflip_test(diff, n_perm=n_perm, seed=seed + 2)
            dz = st.cohens_dz(diff)
            ci = st.percentile_ci(st.nanmean_weighted(diff, w), level)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                ma, mb = (
                    np.nanmean(np.where(np.isnan(diff), np.nan, a), -1),
                    np.nanmean(np.where(np.isnan(diff), np.nan, b), -1),
                )
            p_bh = st.bh_adjust(t["p"])
            for idx in np.ndindex(diff.shape[:-1]):
                pi, li = idx[0], idx[1]
                rows.append(
                    {
                        "scope": scope,
                        "metric": metric,
                        "variant_a": pairs[pi][0],
                        "variant_b": pairs[pi][1],
                        "lang": langs[li],
                        "layer": int(layer_vals[idx[2]]) if scope == "layer" else -1,
                        "n": int(t["n"][idx]),
                        "mean_a": ma[idx],
                        "mean_b": mb[idx],
                        "diff": t["stat"][idx],
                        "diff_ci_lo": ci[idx + (0,)],
                        "diff_ci_hi": ci[idx + (1,)],
                        "dz": dz[idx],
                        "p": t["p"][idx],
                        "p_bh": p_bh[idx],
                        "significant": bool(p_bh[idx] < alpha),
                    }
                )
    return pd.DataFrame(rows)


def _curves_json(res: xr.Dataset) -> dict[str, Any]:
    """Seed shape {variant: {lang: [per-layer mean cosine]}}; CI under '_ci', metadata under '_meta'."""

    def clean(a):
        return [None if not np.isfinite(x) else round(float(x), 6) for x in a]

    out: dict[str, Any] = {}
    ci: dict[str, Any] = {}
    for v in res["variant"].values:
        out[str(v)] = {str(g): clean(res["cos"].sel(variant=v, lang=g).values) for g in res["lang"].values}
        ci[str(v)] = {
            str(g): {
                "lo": clean(res["cos_ci"].sel(variant=v, lang=g, ci="lo").values),
                "hi": clean(res["cos_ci"].sel(variant=v, lang=g, ci="hi").values),
            }
            for g in res["lang"].values
        }
    out["_ci"] = ci
    out["_meta"] = {
        "layers": [int(x) for x in res["layer"].values],
        "ref": res.attrs.get("analysis_ref"),
        "ci_level": res.attrs.get("analysis_ci_level"),
        "note": "keys starting with '_' are not variants",
    }
    return out


def _commitment_table(res: xr.Dataset, exclude_ref: bool = True) -> pd.DataFrame:
    ref = res.attrs.get("analysis_ref")
    rows = []
    for v in res["variant"].values:
        for g in res["lang"].values:
            if exclude_ref and g == ref:
                continue
            s = res.sel(variant=v, lang=g)
            rows.append(
                {
                    "variant": str(v),
                    "lang": str(g),
                    **{
                        c: str(s[c].values) for c in ("script", "resource", "target_variant") if c in s.coords
                    },
                    "tau": res.attrs["analysis_tau"],
                    "k": res.attrs["analysis_k"],
                    "commit_layer": float(s.commit_layer),
                    "commit_ci_lo": float(s.commit_layer_ci[0]),
                    "commit_ci_hi": float(s.commit_layer_ci[1]),
                    "commit_p_never": float(s.commit_p_never),
                    "commit_layer_free": float(s.commit_layer_free),
                    "commit_free_ci_lo": float(s.commit_layer_free_ci[0]),
                    "commit_free_ci_hi": float(s.commit_layer_free_ci[1]),
                    "median_unit_commit": float(s.median_unit_commit),
                    "n_units": int(s.n_units),
                    "n_committed": int(s.n_committed),
                    "n_never": int(s.n_never),
                    "n_committed_free": int(s.n_committed_free),
                    "n_never_free": int(s.n_never_free),
                    "peak_cos": float(s.peak_cos),
                    "peak_cos_ci_lo": float(s.peak_cos_ci[0]),
                    "peak_cos_ci_hi": float(s.peak_cos_ci[1]),
                    "peak_layer": float(s.peak_layer),
                    "peak_margin": float(s.peak_margin),
                }
            )
    return pd.DataFrame(rows)


def run_analysis(
    ds: xr.Dataset,
    out_dir: str | os.PathLike,
    ref: str = "en",
    tau: float = 0.85,
    k: int = 3,
    n_boot: int = 1000,
    seed: int = 0,
    *,
    edge_ds: xr.Dataset | None = None,
    baseline: str = "base",
    n_perm: int = 10000,
    taus: Sequence[float] | None = None,
    null_quantile: float = 0.95,
) -> xr.Dataset:
    """Run everything and write the results directory; returns the results Dataset.

    Files: ``alignment.nc`` (``analyze`` output; attrs = dataset attrs + ``analysis_*`` params),
    ``alignment_curves.json`` (seed shape + ``_ci``/``_meta``), ``commitment_matrix.csv`` (one
    row per variant x lang), ``stats.csv`` (``variant_tests``), ``failure_cases.csv`` (only when
    ``edge_ds`` is given; see ``analysis.failures``). Same inputs + seed -> identical files.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    res = analyze(ds, ref=ref, tau=tau, k=k, n_boot=n_boot, seed=seed, taus=taus, null_quantile=null_quantile)
    res.attrs["analysis_baseline"] = baseline
    res.attrs["analysis_n_perm"] = int(n_perm)
    tests = variant_tests(res, baseline=baseline, n_perm=n_perm, seed=seed)
    enc = {v: {"zlib": True, "complevel": 1} for v in res.data_vars}
    tosave = res.copy()
    tosave.attrs = netcdf_attrs(res.attrs)
    for c in tosave.coords:  # object string coords -> fixed str for netCDF
        if tosave[c].dtype == object:
            tosave[c] = tosave[c].astype(str)
    tmp = out / "alignment.nc.tmp"
    tosave.to_netcdf(tmp, encoding=enc)
    os.replace(tmp, out / "alignment.nc")
    (out / "alignment_curves.json").write_text(json.dumps(_curves_json(res), indent=1))
    _commitment_table(res).to_csv(out / "commitment_matrix.csv", index=False, float_format="%.6g")
    tests.to_csv(out / "stats.csv", index=False, float_format="%.6g")
    if edge_ds is not None:
        from .failures import failure_cases  # noqa: PLC0415

        failure_cases(edge_ds, res, baseline=baseline).to_csv(
            out / "failure_cases.csv", index=False, float_format="%.6g"
        )
    return res


@xr.register_dataset_accessor("alignment")
class AlignmentAccessor:
    """``ds.alignment.unit_metrics(ref)``, ``ds.alignment.analyze(...)``, ``ds.alignment.run(out_dir, ...)``."""

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    def unit_metrics(self, ref: str = "en", **kw) -> xr.Dataset:
        return unit_metrics(self._ds, ref=ref, **kw)

    def analyze(self, **kw) -> xr.Dataset:
        return analyze(self._ds, **kw)

    def run(self, out_dir, **kw) -> xr.Dataset:
        return run_analysis(self._ds, out_dir, **kw)
