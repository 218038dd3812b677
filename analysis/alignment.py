"""Cross-lingual alignment analysis (issue 5): metrics, commitment, bootstrap CIs, tests, outputs.

Pipeline::

    ds (variant, lang, unit, layer, d)  --core.unit_metrics-->  per-unit metrics (no d axis)
        --analyze()-->  results Dataset (curves + CIs, summaries, commitment, sweep)
        --run_analysis()-->  out_dir/{alignment.nc, alignment_curves.json, commitment_matrix.csv,
                                       stats.csv, failure_cases.csv}

Only ``core.unit_metrics`` reads the ``d`` axis (lazily, per dask chunk); everything here is
vectorized over (variant, lang, unit, layer) with bootstrap resampling as weight matrices
(``analysis.stats``). Variant tests live in ``analysis.variant_tests``, the files in
``analysis.alignment_io``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from jaxtyping import Bool, Float

from . import stats as st
from .alignment_io import write_results
from .commitment import commitment_free, commitment_layer, layer_labels, threshold_sweep
from .core import unit_dim_of, unit_metrics
from .null_effects import null_vars
from .stats import first_run_above
from .summary import SUMMARY_FILE, headline_table
from .variant_tests import variant_tests

__all__ = ["analyze", "run_analysis", "DEFAULT_TAUS", "METHOD_VERSION", "CURVE_VARS"]

METHOD_VERSION = "alignment-2"
DEFAULT_TAUS = np.round(np.arange(0.50, 0.9901, 0.05), 2)
#: per-unit metrics whose mean-over-units curves get bootstrap CIs
CURVE_VARS = ("cos", "cos_centred", "margin", "margin_z", "retrieval_fwd", "retrieval_bwd", "retrieval_mexa")
DIMS3 = ("variant", "lang", "layer")
DIMS2 = ("variant", "lang")
NOTES = (
    "margin = matched cos - mean mismatched cos (row+col of the ref x lang cosine matrix, "
    "units present in both); CIs: percentile bootstrap over units, exact (Clopper-Pearson) for "
    "proportions (retrieval, MEXA, committed fraction); commitment CI bound inf = never commits; "
    "each curve has its own per-layer null (analysis.null_effects): <null>_mean/_std/_q95, <m>_diff, <m>_z"
)
CENTRED_NULL = ("null_centred_mean", "null_centred_std", "null_centred_q95")
#: curves whose peak gets a selection-aware CI and peak-layer distribution (``peak_<m>...``)
PEAK_VARS = ("cos_centred", "retrieval_mexa")
Vars = dict[str, Any]  # name -> (dims, values): the data_vars of the results Dataset


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


def _ci(
    boot: Float[np.ndarray, "*shape boot"], level: float, never_is_inf: bool = False
) -> Float[np.ndarray, "*shape 2"]:
    """Percentile CI of resamples; with ``never_is_inf`` a NaN (never) resample counts as +inf."""
    b = np.where(np.isnan(boot), np.inf, boot) if never_is_inf else boot
    return st.percentile_ci(b, level)


def _curve_ci(
    name: str,
    unit_values: Float[np.ndarray, "variant lang layer unit"],
    boot: Float[np.ndarray, "*shape boot"],
    level: float,
) -> Float[np.ndarray, "*shape 2"]:
    """Exact (Clopper-Pearson) CI for 0/1 retrieval proportions, percentile bootstrap otherwise."""
    if not name.startswith("retrieval"):
        return _ci(boot, level)
    ok = ~np.isnan(unit_values)
    hits = np.where(ok, unit_values, 0).sum(-1).round().astype(np.int64)
    return st.proportion_ci(hits, ok.sum(-1), level)


def _peak(
    a: Float[np.ndarray, "*shape"], axis: int, layers: Float[np.ndarray, " layer"]
) -> tuple[Float[np.ndarray, "*rest"], Float[np.ndarray, "*rest"]]:
    """(max value, layer label of the max) along the layer ``axis``; NaN for all-NaN curves."""
    filled = np.where(np.isnan(a), -np.inf, a)
    allnan = np.isnan(a).all(axis)
    return (
        np.where(allnan, np.nan, filled.max(axis)),
        np.where(allnan, np.nan, layers[filled.argmax(axis)]),
    )


def _curves(
    pu: xr.Dataset, um: xr.Dataset, w: Float[np.ndarray, "boot unit"], unit: str, level: float
) -> tuple[Vars, dict[str, Float[np.ndarray, "variant lang layer boot"]]]:
    """Mean-over-units curves with CIs, per-unit copies, null curves; and the curve resamples."""
    out: Vars = {}
    boots = {}
    for name in CURVE_VARS:
        point, boot = st.boot_means(pu[name].values, w)
        boots[name] = boot
        out[name] = (DIMS3, point.astype(np.float32))
        out[name + "_ci"] = (
            DIMS3 + ("ci",),
            _curve_ci(name, pu[name].values, boot, level).astype(np.float32),
        )
        out["unit_" + name] = (
            ("variant", "lang", unit, "layer"),
            pu[name].transpose("variant", "lang", unit, "layer").values,
        )
    for name in ("null_mean", "null_std", "null_q95_mean", "cka", "cka_debiased", *CENTRED_NULL):
        out[name] = (DIMS3, um[name].transpose(*DIMS3).values)
    null_mean, null_std = um.null_mean.transpose(*DIMS3).values, um.null_std.transpose(*DIMS3).values
    with np.errstate(divide="ignore", invalid="ignore"):
        out["margin_zscore"] = (DIMS3, ((out["cos"][1] - null_mean) / null_std).astype(np.float32))
    return out, boots


def _summaries(
    cos_pt: Float[np.ndarray, "variant lang layer"],
    boots: dict[str, Float[np.ndarray, "variant lang layer boot"]],
    mar_pt: Float[np.ndarray, "variant lang layer"],
    null_mean: Float[np.ndarray, "variant lang layer"],
    perm: Float[np.ndarray, "variant lang layer perm"],
    points: dict[str, Float[np.ndarray, "variant lang layer"]],
    layers: Float[np.ndarray, " layer"],
    tau: float,
    k: int,
    level: float,
) -> Vars:
    """Peak and commitment summaries of the mean cos curve with bootstrap CIs (layer axis -2 in boots)."""
    cos_bt, ci2 = boots["cos"], DIMS2 + ("ci",)
    pv, pl = _peak(cos_pt, -1, layers)
    pvb, plb = _peak(cos_bt, -2, layers)
    mvb, _ = _peak(boots["margin"], -2, layers)
    cl = commitment_layer(cos_pt, tau, k, axis=-1, layers=layers)
    clb = commitment_layer(cos_bt, tau, k, axis=-2, layers=layers)
    clf, crit = commitment_free(cos_pt, perm, k, layers)
    with np.errstate(divide="ignore", invalid="ignore"):  # a null with no spread: z is +-inf / NaN
        z_b = (boots["margin"] + (null_mean - perm.mean(-1))[..., None]) / perm.std(-1, ddof=1)[..., None]
    clfb = first_run_above(np.moveaxis(z_b, -1, -2), crit[..., None], k, layers)  # (v, g, boot)
    return {
        **_peaks(boots, points, layers, level),
        "commit_free_crit": (DIMS2, crit),
        "peak_cos": (DIMS2, pv),
        "peak_cos_ci": (ci2, _ci(pvb, level)),
        "peak_layer": (DIMS2, pl),
        "peak_layer_ci": (ci2, _ci(plb, level)),
        "peak_margin": (DIMS2, _peak(mar_pt, -1, layers)[0]),
        "peak_margin_ci": (ci2, _ci(mvb, level)),
        "commit_layer": (DIMS2, cl),
        "commit_layer_ci": (ci2, _ci(clb, level, never_is_inf=True)),
        "commit_p_never": (DIMS2, np.isnan(clb).mean(-1)),
        "commit_layer_free": (DIMS2, clf),
        "commit_layer_free_ci": (ci2, _ci(clfb, level, never_is_inf=True)),
    }


def _peak_points(out: Vars, n_layers: int) -> dict[str, Float[np.ndarray, "variant lang *layer"]]:
    """PEAK_VARS point curves plus the CI bounds at each curve's own peak layer (``<m>_lo/_hi``)."""
    points = {n: out[n][1].astype(np.float64) for n in PEAK_VARS}
    for n in PEAK_VARS:
        at = _peak(points[n], -1, np.arange(n_layers, dtype=np.float64))[1]
        idx = np.nan_to_num(at).astype(int)[..., None]
        ci = out[n + "_ci"][1]
        points[n + "_lo"] = np.take_along_axis(ci[..., 0], idx, -1)[..., 0]
        points[n + "_hi"] = np.take_along_axis(ci[..., 1], idx, -1)[..., 0]
    return points


def _peaks(
    boots: dict[str, Float[np.ndarray, "variant lang layer boot"]],
    points: dict[str, Float[np.ndarray, "variant lang layer"]],
    layers: Float[np.ndarray, " layer"],
    level: float,
) -> Vars:
    """Selection-aware peak of each PEAK_VARS curve: value, CI, layer, modal layer and its share."""
    out: Vars = {}
    for name in PEAK_VARS:
        p = st.peak_summary(points[name], boots[name], layers, level)
        ci = p["ci"]
        if name.startswith("retrieval"):  # widen by the exact CI at the selected layer (0-of-n > 0)
            ci = np.stack(
                [np.fmin(ci[..., 0], points[name + "_lo"]), np.fmax(ci[..., 1], points[name + "_hi"])], -1
            )
        out[f"peak_{name}"] = (DIMS2, p["value"])
        out[f"peak_{name}_ci"] = (DIMS2 + ("ci",), ci)
        out[f"peak_{name}_layer"] = (DIMS2, p["layer"])
        out[f"peak_{name}_layer_ci"] = (DIMS2 + ("ci",), p["layer_ci"])
        out[f"peak_{name}_modal_layer"] = (DIMS2, p["modal_layer"])
        out[f"peak_{name}_modal_share"] = (DIMS2, p["modal_share"])
    return out


def _unit_commitment(
    cos_u: Float[np.ndarray, "variant lang layer unit"],
    null_q95_u: Float[np.ndarray, "variant lang layer unit"],
    w: Float[np.ndarray, "boot unit"],
    layers: Float[np.ndarray, " layer"],
    tau: float,
    k: int,
    unit: str,
    level: float,
) -> Vars:
    """Per-unit commitment (seed definition and threshold-free), counts, committed fraction + CI."""
    present: Bool[np.ndarray, "variant lang unit"] = ~np.isnan(cos_u).all(-2)
    cu = commitment_layer(cos_u, tau, k, axis=-2, layers=layers)
    beyond = np.where(np.isnan(cos_u), -np.inf, cos_u) > null_q95_u
    cuf = commitment_layer(beyond.astype(float), 0.5, k, axis=-2, layers=layers)
    cu = np.where(present, cu, np.nan)
    cuf = np.where(present, cuf, np.nan)
    committed = np.where(present, (~np.isnan(cu)).astype(float), np.nan)
    fc = st.boot_means(committed, w[:1])[0]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(cu, -1)
    return {
        "commit_unit": (("variant", "lang", unit), cu),
        "commit_unit_free": (("variant", "lang", unit), cuf),
        "n_units": (DIMS2, present.sum(-1)),
        "n_committed": (DIMS2, (~np.isnan(cu)).sum(-1)),
        "n_never": (DIMS2, (present & np.isnan(cu)).sum(-1)),
        "n_committed_free": (DIMS2, (~np.isnan(cuf)).sum(-1)),
        "n_never_free": (DIMS2, (present & np.isnan(cuf)).sum(-1)),
        "frac_committed": (DIMS2, fc),
        "frac_committed_ci": (
            DIMS2 + ("ci",),
            st.proportion_ci((~np.isnan(cu)).sum(-1), present.sum(-1), level),
        ),
        "median_unit_commit": (DIMS2, median),
    }


def _sweep(
    cos_u: Float[np.ndarray, "variant lang layer unit"],
    cos_pt: Float[np.ndarray, "variant lang layer"],
    taus: Float[np.ndarray, " tau"],
    k: int,
    layers: Float[np.ndarray, " layer"],
) -> Vars:
    """Threshold sweep: units committed at each tau; commitment layer of the mean curve."""
    sw_u = threshold_sweep(cos_u, taus, k, axis=-2)  # (T, v, g, u)
    return {
        "sweep_n_committed": (("tau",) + DIMS2, (~np.isnan(sw_u)).sum(-1)),
        "sweep_commit_layer": (
            ("tau",) + DIMS2,
            layer_labels(threshold_sweep(cos_pt, taus, k, axis=-1), layers),
        ),
    }


def _attrs(ds: xr.Dataset, unit: str, n_layers: int, **params: Any) -> dict[str, Any]:
    """The input's attrs plus every ``analysis_*`` parameter of this run."""
    attrs = dict(ds.attrs)
    attrs.update({f"analysis_{name}": value for name, value in params.items()})
    attrs.update(
        {
            "analysis_unit_dim": unit,
            "analysis_method_version": METHOD_VERSION,
            "analysis_n_layers": int(n_layers),
            "analysis_notes": NOTES,
        }
    )
    return attrs


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
    taus_ = DEFAULT_TAUS if taus is None else np.asarray(taus, dtype=float)
    layers = np.asarray(um["layer"].values, dtype=np.float64)
    pu = _per_unit(um).transpose("variant", "lang", "layer", unit)  # unit axis last
    w = st.resample_weights(pu.sizes[unit], n_boot, seed)
    out, boots = _curves(pu, um, w, unit, ci_level)
    out.update(null_vars(out, um, unit, null_quantile))
    cos_pt = out["cos"][1].astype(np.float64)
    mar_pt = out["margin"][1].astype(np.float64)
    null_mean = um.null_mean.transpose(*DIMS3).values.astype(np.float64)
    perm = um.null_perm_cos.transpose(*DIMS3, "perm").values.astype(np.float64)
    points = _peak_points(out, layers.size)
    out.update(_summaries(cos_pt, boots, mar_pt, null_mean, perm, points, layers, tau, k, ci_level))
    cos_u = pu["cos"].values.astype(np.float64)  # (v, g, L, u)
    out.update(_unit_commitment(cos_u, pu["null_q95_u"].values, w, layers, tau, k, unit, ci_level))
    out.update(_sweep(cos_u, cos_pt, taus_, k, layers))
    coords: dict[Hashable, Any] = {
        c: um[c] for c in um.coords if set(um[c].dims) <= {"variant", "lang", unit, "layer"}
    }
    coords.update({"ci": ["lo", "hi"], "tau": taus_})
    res = xr.Dataset(out, coords=coords)
    res.attrs = _attrs(
        ds, unit, layers.size, ref=ref, tau=float(tau), k=int(k), n_boot=int(n_boot), seed=int(seed),
        null_quantile=float(null_quantile), ci_level=float(ci_level), n_perm_null=int(n_perm_null),
    )  # fmt: skip
    return res


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
    ``edge_ds`` is given; see ``analysis.failures``), ``summary.csv`` (``analysis.summary.headline_table``). Same inputs + seed -> identical files.
    """
    res = analyze(ds, ref=ref, tau=tau, k=k, n_boot=n_boot, seed=seed, taus=taus, null_quantile=null_quantile)
    res.attrs["analysis_baseline"] = baseline
    res.attrs["analysis_n_perm"] = int(n_perm)
    tests = variant_tests(res, baseline=baseline, n_perm=n_perm, seed=seed)
    write_results(res, tests, Path(out_dir), edge_ds=edge_ds, baseline=baseline)
    headline_table(res).to_csv(Path(out_dir) / SUMMARY_FILE, index=False, float_format="%.6g")
    return res


@xr.register_dataset_accessor("alignment")
class AlignmentAccessor:
    """``ds.alignment.unit_metrics(ref)``, ``ds.alignment.analyze(...)``, ``ds.alignment.run(out_dir, ...)``."""

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    def unit_metrics(self, ref: str = "en", **kw: Any) -> xr.Dataset:
        """Per-unit metrics of this dataset against ``ref`` (``core.unit_metrics``)."""
        return unit_metrics(self._ds, ref=ref, **kw)

    def analyze(self, **kw: Any) -> xr.Dataset:
        """The results Dataset of :func:`analyze`."""
        return analyze(self._ds, **kw)

    def run(self, out_dir: str | os.PathLike, **kw: Any) -> xr.Dataset:
        """Write the results directory (:func:`run_analysis`)."""
        return run_analysis(self._ds, out_dir, **kw)
