"""Headline table of an alignment result set: one row per (variant, lang), every value with its CI and null.

Lead metrics (the ones a reader should look at first): language-centred cosine (``centred``) and
MEXA retrieval (``mexa``). Each gets the selection-aware peak of ``analysis.stats.peaks`` as
stored by ``analysis.alignment`` (the peak layer is re-selected in every bootstrap resample;
MEXA's interval is also widened to the exact Clopper-Pearson interval at the selected layer),
the distribution of the peak layer (modal layer and its share of resamples), and the metric's
own per-layer null at the peak layer (``analysis.null_effects``). Column names, for readers
of ``summary.csv`` (e.g. the README results block)::

    <m>_peak, <m>_peak_lo, <m>_peak_hi, <m>_layer, <m>_layer_lo, <m>_layer_hi, <m>_modal_layer,
    <m>_modal_share, <m>_null (null q95 at the peak layer), <m>_null_mean, <m>_diff, <m>_z

for m in ``centred``, ``mexa``; ``ckad_peak`` / ``ckad_layer`` / ``ckad_null`` / ``ckad_z``
(debiased CKA, point peak); ``raw_cos_peak`` (+ ``_lo``, ``_hi``, ``raw_cos_layer``) and
``margin_peak`` (+ ``_lo``, ``_hi``) are raw-cosine comparability columns (raw cosine sits near
1 for any pair of inputs on anisotropic residual streams); then ``commit``, ``commit_free``,
``layer0_raw_cos``, ``layer0_margin``, ``n_units``. The reference language is left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["headline_table", "format_headline", "ci_decimals", "LEAD", "SUMMARY_FILE"]

#: lead metric -> results variable (its ``peak_<var>...`` summaries, ``<var>_z``, null stem)
LEAD = {"centred": ("cos_centred", "null_centred"), "mexa": ("retrieval_mexa", "null_mexa")}
#: the stored summary written next to ``alignment.nc``
SUMMARY_FILE = "summary.csv"


def _lead(r: xr.Dataset, name: str, var: str, stem: str) -> dict[str, Any]:
    """Selection-aware peak, peak-layer distribution and null/effect at the peak layer of one metric."""
    layer = float(r[f"peak_{var}_layer"])
    at = r.sel(layer=layer) if np.isfinite(layer) else None

    def there(v: str) -> float:
        """``v`` at the peak layer (NaN when the curve is all NaN or ``v`` is not stored)."""
        return float(at[v]) if at is not None and v in at else float("nan")

    ci, lci = r[f"peak_{var}_ci"].values, r[f"peak_{var}_layer_ci"].values
    return {
        f"{name}_peak": float(r[f"peak_{var}"]),
        f"{name}_peak_lo": float(ci[0]),
        f"{name}_peak_hi": float(ci[1]),
        f"{name}_layer": layer,
        f"{name}_layer_lo": float(lci[0]),
        f"{name}_layer_hi": float(lci[1]),
        f"{name}_modal_layer": float(r[f"peak_{var}_modal_layer"]),
        f"{name}_modal_share": float(r[f"peak_{var}_modal_share"]),
        f"{name}_null": there(f"{stem}_q95"),
        f"{name}_null_mean": there(f"{stem}_mean"),
        f"{name}_diff": there(f"{var}_diff"),
        f"{name}_z": there(f"{var}_z"),
    }


def _row(r: xr.Dataset) -> dict[str, Any]:
    """One headline row from the (variant, lang) selection ``r`` of a results Dataset."""
    row: dict[str, Any] = {
        "variant": str(r["variant"].values),
        "lang": str(r["lang"].values),
        "resource": str(r["resource"].values) if "resource" in r.coords else "",
    }
    for name, (var, stem) in LEAD.items():
        row.update(_lead(r, name, var, stem))
    ckad = r["cka_debiased"].fillna(-np.inf)
    kl = int(ckad.argmax("layer")) if bool(r["cka_debiased"].notnull().any()) else None
    at = r.isel(layer=kl) if kl is not None else None
    nan = float("nan")
    row.update(
        ckad_peak=float(at["cka_debiased"]) if at is not None else nan,
        ckad_layer=float(at["layer"]) if at is not None else nan,
        ckad_null=float(at["null_cka_debiased_q95"])
        if at is not None and "null_cka_debiased_q95" in at
        else nan,
        ckad_z=float(at["cka_debiased_z"]) if at is not None and "cka_debiased_z" in at else nan,
        raw_cos_peak=float(r["peak_cos"]),
        raw_cos_peak_lo=float(r["peak_cos_ci"][0]),
        raw_cos_peak_hi=float(r["peak_cos_ci"][1]),
        raw_cos_layer=float(r["peak_layer"]),
        margin_peak=float(r["peak_margin"]),
        margin_peak_lo=float(r["peak_margin_ci"][0]),
        margin_peak_hi=float(r["peak_margin_ci"][1]),
        commit=float(r["commit_layer"]),
        commit_free=float(r["commit_layer_free"]),
        layer0_raw_cos=float(r["cos"].isel(layer=0)),
        layer0_margin=float(r["margin"].isel(layer=0)),
        n_units=int(r["n_units"]) if "n_units" in r else -1,
    )
    return row


def headline_table(res: xr.Dataset) -> pd.DataFrame:
    """Per (variant, lang) but the reference: centred cosine and MEXA first (peak, CI, layer, null, z).

    Every peak is the stored selection-aware one (``peak_<var>``); nothing is re-selected here.
    """
    ref = res.attrs.get("analysis_ref")
    rows = [
        _row(res.sel(variant=v, lang=g))
        for v in res["variant"].values
        for g in res["lang"].values
        if str(g) != ref
    ]
    return pd.DataFrame(rows)


def ci_decimals(lo: float, hi: float, nd: int = 2, most: int = 6) -> int:
    """Decimals (>= ``nd``) at which a printed interval with ``lo < hi`` does not read as ``[x, x]``."""
    while nd < most and np.isfinite(lo) and np.isfinite(hi) and lo < hi and f"{lo:.{nd}f}" == f"{hi:.{nd}f}":
        nd += 1
    return nd


def _ci(x: float, lo: float, hi: float) -> str:
    """``x [lo,hi]`` with as many decimals as the interval needs to stay visibly non-degenerate."""
    d = ci_decimals(lo, hi)
    return f"{x:.{d}f} [{lo:.{d}f},{hi:.{d}f}]"


def _z(x: float) -> str:
    """A z score for print: ``inf`` when the null never varied, ``-`` when undefined."""
    return "-" if np.isnan(x) else ("inf" if np.isinf(x) else f"{x:.1f}")


def format_headline(table: pd.DataFrame) -> str:
    """Plain-text rendering used by the CLI (``never`` for NaN commitment)."""

    def layer(x: float) -> str:
        """A layer number, or ``never`` for NaN."""
        return "never" if np.isnan(x) else f"{x:.0f}"

    lines = [
        f"{'variant':<8} {'lang':<4} {'res':<6} {'centred cos [95% CI] @L (share)':<31} {'null':>5} {'z':>5}  "
        f"{'MEXA [95% CI] @L (share)':<31} {'null':>5} {'z':>5}  {'CKAd':>5}  "
        f"{'raw cos (comparability)':<22} {'commit':>6} {'free':>5}"
    ]
    for t in table.itertuples():
        lines.append(
            f"{t.variant:<8} {t.lang:<4} {t.resource:<6} "
            f"{_ci(t.centred_peak, t.centred_peak_lo, t.centred_peak_hi):<17} "
            f"@{layer(t.centred_layer):<5} ({t.centred_modal_share:.2f}) "
            f"{t.centred_null:>5.2f} {_z(t.centred_z):>5}  "
            f"{_ci(t.mexa_peak, t.mexa_peak_lo, t.mexa_peak_hi):<17} "
            f"@{layer(t.mexa_layer):<5} ({t.mexa_modal_share:.2f}) "
            f"{t.mexa_null:>5.2f} {_z(t.mexa_z):>5}  {t.ckad_peak:>5.2f}  "
            f"{_ci(t.raw_cos_peak, t.raw_cos_peak_lo, t.raw_cos_peak_hi):<17} @{layer(t.raw_cos_layer):<3} "
            f"{layer(t.commit):>6} {layer(t.commit_free):>5}"
        )
    return "\n".join(lines)
