"""Token-count control: how much of per-concept alignment token count explains, and alignment without it.

Longer stimuli (more content tokens pooled) align differently from one-token ones, and
low-resource languages are split into more tokens, so part of a language's alignment can be a
length effect. Per (variant, language, metric), at the metric's headline (peak) layer:

- ``share``: R^2 of the least-squares fit of per-concept alignment on the target stimulus'
  content-token count (the share of the alignment variance token count explains), with a
  percentile bootstrap CI over concepts;
- ``controlled``: alignment residualised on token count and evaluated at the reference
  language's mean token count over the same concepts (``mean(y) + slope * (ref_tokens -
  mean(x))``: what the language would score with stimuli as long as the reference's), CI by
  bootstrap over concepts (slope re-fitted in each resample);
- ``matched``: the mean over the length-matched subset (concepts whose target stimulus has as
  many content tokens as the reference one), a check that needs no linear model;
- ``headline``: ``controlled`` where ``share >= threshold`` (``uses_controlled``), the raw
  alignment otherwise. The threshold is recorded as ``THRESHOLD`` in the results metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from jaxtyping import Float

from . import stats as st

__all__ = ["token_control", "write_token_control", "token_control_dataset", "THRESHOLD", "METRICS", "COLUMNS"]

#: share of per-concept alignment variance explained by token count above which the headline
#: uses the token-controlled alignment
THRESHOLD = 0.10
#: per-unit metrics controlled (``unit_<m>`` in the results), each at its own peak layer
METRICS = ("cos_centred", "retrieval_mexa")
COLUMNS = (
    "variant", "lang", "metric", "layer", "n", "ref_tokens", "mean_tokens", "slope",
    "share", "share_lo", "share_hi", "alignment", "alignment_lo", "alignment_hi",
    "controlled", "controlled_lo", "controlled_hi", "n_matched", "matched", "matched_lo",
    "matched_hi", "uses_controlled", "headline", "headline_lo", "headline_hi",
)  # fmt: skip


def _wmoments(
    x: Float[np.ndarray, " unit"], y: Float[np.ndarray, " unit"], w: Float[np.ndarray, "boot unit"]
) -> dict[str, Float[np.ndarray, " boot"]]:
    """Weighted means, variances and covariance of (x, y) under each weight row (NaN if no weight)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        sw = w.sum(-1)
        mx, my = w @ x / sw, w @ y / sw
        vx = w @ (x * x) / sw - mx * mx
        vy = w @ (y * y) / sw - my * my
        cxy = w @ (x * y) / sw - mx * my
    return {"mx": mx, "my": my, "vx": vx, "vy": vy, "cxy": cxy}


def _fit(
    x: Float[np.ndarray, " unit"],
    y: Float[np.ndarray, " unit"],
    xref: Float[np.ndarray, " unit"],
    w: Float[np.ndarray, "boot unit"],
) -> dict[str, Float[np.ndarray, " boot"]]:
    """Per weight row: raw mean, slope, R^2, reference mean token count, controlled mean."""
    m = _wmoments(x, y, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        const_x = m["vx"] <= 1e-12 * np.maximum(1.0, m["mx"] ** 2)
        slope = np.where(const_x, 0.0, m["cxy"] / m["vx"])
        r2 = np.where(const_x | (m["vy"] <= 0), 0.0, m["cxy"] ** 2 / (m["vx"] * m["vy"]))
        ref = w @ xref / w.sum(-1)
    return {
        "mean": m["my"],
        "slope": slope,
        "share": np.clip(r2, 0.0, 1.0),
        "ref": ref,
        "mx": m["mx"],
        "controlled": m["my"] + slope * (ref - m["mx"]),
    }


def _one(
    x: Float[np.ndarray, " unit"],
    y: Float[np.ndarray, " unit"],
    xref: Float[np.ndarray, " unit"],
    w: Float[np.ndarray, "boot unit"],
    level: float,
    threshold: float,
) -> dict[str, float]:
    """Every column (but the labels) of one (variant, lang, metric) row."""
    ok = ~(np.isnan(x) | np.isnan(y) | np.isnan(xref)) & (x > 0) & (xref > 0)
    x, y, xref, w = x[ok], y[ok], xref[ok], w[:, ok]
    pt = {k: float(v[0]) for k, v in _fit(x, y, xref, np.ones((1, x.size))).items()}
    bt = _fit(x, y, xref, w)
    ci = {k: st.percentile_ci(bt[k], level) for k in ("share", "mean", "controlled")}
    same = (x == xref).astype(np.float64)
    matched_pt, matched_bt = st.boot_means(np.where(same > 0, y, np.nan), w)
    matched_ci = st.percentile_ci(matched_bt, level)
    uses = bool(pt["share"] >= threshold)
    head = "controlled" if uses else "mean"
    return {
        "n": int(ok.sum()), "ref_tokens": pt["ref"], "mean_tokens": pt["mx"], "slope": pt["slope"],
        "share": pt["share"], "share_lo": float(ci["share"][0]), "share_hi": float(ci["share"][1]),
        "alignment": pt["mean"], "alignment_lo": float(ci["mean"][0]), "alignment_hi": float(ci["mean"][1]),
        "controlled": pt["controlled"], "controlled_lo": float(ci["controlled"][0]),
        "controlled_hi": float(ci["controlled"][1]), "n_matched": int(same.sum()),
        "matched": float(matched_pt), "matched_lo": float(matched_ci[0]), "matched_hi": float(matched_ci[1]),
        "uses_controlled": uses, "headline": pt[head],
        "headline_lo": float(ci[head][0]), "headline_hi": float(ci[head][1]),
    }  # fmt: skip


def _peak_layer(res: xr.Dataset, metric: str, variant: object, lang: object) -> Any:
    """The layer label of the metric's headline peak (``peak_<m>_layer``, else argmax of the curve)."""
    name = f"peak_{metric}_layer"
    if name in res:
        value = float(res[name].sel(variant=variant, lang=lang))
        if np.isfinite(value):
            return res["layer"].values[np.argmin(np.abs(res["layer"].values - value))]
    curve = res[metric].sel(variant=variant, lang=lang).fillna(-np.inf)
    return res["layer"].values[int(curve.argmax("layer"))]


def token_control(
    res: xr.Dataset,
    n_tokens: xr.DataArray,
    *,
    metrics: tuple[str, ...] = METRICS,
    threshold: float = THRESHOLD,
    n_boot: int | None = None,
    seed: int | None = None,
    level: float | None = None,
) -> pd.DataFrame:
    """One row per (variant, non-reference language, metric): the ``COLUMNS`` of this module.

    ``res``: an ``analysis.alignment.analyze`` result (``unit_<m>`` per-unit curves);
    ``n_tokens``: the store's content-token counts ``(variant, lang, <unit>)`` (0 = no stimulus).
    Bootstrap defaults (resamples, seed, level) are the analysis run's own.
    """
    unit = str(res.attrs.get("analysis_unit_dim", "concept"))
    ref = res.attrs.get("analysis_ref", "en")
    n_boot = int(n_boot if n_boot is not None else res.attrs.get("analysis_n_boot", 1000))
    seed = int(seed if seed is not None else res.attrs.get("analysis_seed", 0))
    level = float(level if level is not None else res.attrs.get("analysis_ci_level", 0.95))
    tok = n_tokens.astype(np.float64).where(n_tokens > 0).sel({unit: res[unit].values})
    w = st.resample_weights(res.sizes[unit], n_boot, seed)
    rows = []
    for v in res["variant"].values:
        xref = tok.sel(variant=v, lang=ref).values
        for g in res["lang"].values:
            if g == ref:
                continue
            x = tok.sel(variant=v, lang=g).values
            for m in metrics:
                layer = _peak_layer(res, m, v, g)
                y = res["unit_" + m].sel(variant=v, lang=g, layer=layer).transpose(unit).values
                row = {"variant": str(v), "lang": str(g), "metric": m, "layer": int(layer)}
                row.update(_one(x, y.astype(np.float64), xref, w, level, threshold))
                rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def token_control_dataset(table: pd.DataFrame, threshold: float = THRESHOLD) -> xr.Dataset:
    """The table as a (variant, lang, metric) Dataset with the threshold in its attrs (netCDF)."""
    ds = table.set_index(["variant", "lang", "metric"]).to_xarray()
    ds["uses_controlled"] = ds["uses_controlled"].astype(bool)
    ds.attrs.update(
        token_control_threshold=float(threshold),
        token_control_rule=(
            "headline = alignment residualised on content-token count, evaluated at the reference "
            "language's mean token count, where share (R^2 of alignment on token count) >= threshold"
        ),
    )
    return ds


def write_token_control(res: xr.Dataset, n_tokens: xr.DataArray, out: Path) -> pd.DataFrame:
    """``token_control.csv`` and ``token_control.nc`` (threshold in attrs) in ``out``; returns the table."""
    table = token_control(res, n_tokens)
    table.to_csv(out / "token_control.csv", index=False, float_format="%.6g")
    ds = token_control_dataset(table)
    for c in ds.coords:  # object string coords -> fixed str for netCDF
        ds[c] = ds[c].astype(str)
    ds.to_netcdf(out / "token_control.nc")
    return table
