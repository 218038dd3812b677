"""Failure cases: text evidence (``taxonomy``) + model evidence (variant worse than Base beyond the CI)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from polylens.hooks.method import EDGE_KEYS, check_compatible

from .commitment import commitment_layer
from .core import unit_dim_of, unit_metrics
from .taxonomy import classify_text

__all__ = ["failure_cases"]


def _half_width(ci: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        hw = (ci[..., 1] - ci[..., 0]) / 2
    return np.where(np.isfinite(hw), hw, np.nan)


def failure_cases(
    edge_ds: xr.Dataset,
    results: xr.Dataset | None = None,
    baseline: str = "base",
    ref: str | None = None,
    tau: float | None = None,
    k: int | None = None,
    min_delta: float = 0.05,
    min_layers: float = 1.0,
    text_var: str = "text",
) -> pd.DataFrame:
    """One row per (variant != baseline, lang != ref, item present): evidence and a ``failure`` flag.

    Model evidence for an item in language g under variant v, against ``baseline`` (Base):
    ``worse_alignment`` when peak cos(item, ref translation) is lower than Base's by more than
    ``thr_peak`` = max(min_delta, half-width of Base's 95% bootstrap CI of the peak for g in the
    concept ``results``); ``worse_commitment`` when the item commits later than Base by more than
    ``thr_commit`` = max(min_layers, half-width of Base's commitment CI), or Base commits and v
    never does. ``failure`` = either. Text evidence = ``taxonomy.classify_text`` categories.
    Refuses (IncompatibleVariantsError) when the model/method attrs differ from ``results``.
    """
    unit = unit_dim_of(edge_ds)
    if results is not None:
        check_compatible(results.attrs, edge_ds.attrs, EDGE_KEYS, what="edge-case data and concept results")
        ref = ref or results.attrs.get("analysis_ref")
        tau = tau if tau is not None else float(results.attrs.get("analysis_tau", 0.85))
        k = k if k is not None else int(results.attrs.get("analysis_k", 3))
    ref, tau, k = ref or "en", 0.85 if tau is None else tau, 3 if k is None else k
    variants = [str(v) for v in edge_ds["variant"].values]
    langs = [str(g) for g in edge_ds["lang"].values]
    items = [str(u) for u in edge_ds[unit].values]
    layers = edge_ds["layer"].values.astype(float)
    n_layers = len(layers)
    have_model = ref in langs and baseline in variants
    if have_model:
        um = unit_metrics(edge_ds, ref=ref).compute()
        cos = um["cos"].transpose("variant", "lang", unit, "layer").values.astype(float)  # (v, g, u, L)
        peak = np.where(np.isnan(cos).all(-1), np.nan, np.nanmax(np.where(np.isnan(cos), -np.inf, cos), -1))
        commit = commitment_layer(cos, tau, k, axis=-1, layers=layers)
        commit_c = np.where(np.isnan(commit), float(n_layers), commit)  # never = after the last layer
        b = variants.index(baseline)
        thr_peak = np.full(len(langs), min_delta)
        thr_commit = np.full(len(langs), min_layers)
        if results is not None:
            rl = [str(g) for g in results["lang"].values]
            rb = results.sel(variant=baseline) if baseline in results["variant"].values else None
            for gi, g in enumerate(langs):  # per-language thresholds (tiny loop over labels, not data)
                if rb is not None and g in rl:
                    hw = _half_width(rb["peak_cos_ci"].sel(lang=g).values)
                    hc = _half_width(rb["commit_layer_ci"].sel(lang=g).values)
                    thr_peak[gi] = np.nanmax([min_delta, hw])
                    thr_commit[gi] = np.nanmax([min_layers, hc])
        d_peak = peak - peak[b][None]
        d_commit = commit_c - commit_c[b][None]
        worse_align = d_peak < -thr_peak[None, :, None]
        worse_commit = (d_commit > thr_commit[None, :, None]) | (
            ~np.isnan(commit[b])[None] & np.isnan(commit)
        )
    text = edge_ds[text_var] if text_var in edge_ds else None
    coord = {c: edge_ds[c] for c in ("script", "resource", "target_variant") if c in edge_ds.coords}
    rows = []
    for gi, g in enumerate(langs):
        if g == ref:
            continue
        script = str(coord["script"].values[gi]) if "script" in coord else None
        resource = str(coord["resource"].values[gi]) if "resource" in coord else None
        target = str(coord["target_variant"].values[gi]) if "target_variant" in coord else None
        for ui, it in enumerate(items):
            t = "" if text is None else str(text.values[gi, ui]) if text.ndim == 2 else str(text.values[ui])
            if have_model and np.isnan(cos[:, gi, ui]).all():
                continue  # item absent in this language
            findings = classify_text(t, g, script, resource)
            for vi, v in enumerate(variants):
                if v == baseline:
                    continue
                row = {
                    "item": it,
                    "lang": g,
                    "variant": v,
                    "target_variant": target,
                    "text": t,
                    "categories": ";".join(f.category for f in findings),
                    "text_evidence": " | ".join(f"{f.category}: {f.evidence}" for f in findings),
                }
                if have_model:
                    row.update(
                        {
                            "peak_base": peak[b, gi, ui],
                            "peak_variant": peak[vi, gi, ui],
                            "delta_peak": d_peak[vi, gi, ui],
                            "thr_peak": thr_peak[gi],
                            "commit_base": commit[b, gi, ui],
                            "commit_variant": commit[vi, gi, ui],
                            "thr_commit": thr_commit[gi],
                            "worse_alignment": bool(worse_align[vi, gi, ui]),
                            "worse_commitment": bool(worse_commit[vi, gi, ui]),
                        }
                    )
                    row["failure"] = row["worse_alignment"] or row["worse_commitment"]
                    ev = []
                    if row["worse_alignment"]:
                        ev.append(
                            f"peak cos {row['peak_variant']:.3f} vs base {row['peak_base']:.3f} (thr {row['thr_peak']:.3f})"
                        )
                    if row["worse_commitment"]:
                        ev.append(
                            f"commit {row['commit_variant']} vs base {row['commit_base']} (thr {row['thr_commit']:.1f})"
                        )
                    row["model_evidence"] = "; ".join(ev)
                else:
                    row["failure"] = False
                    row["model_evidence"] = "no model evidence (ref language or baseline missing)"
                rows.append(row)
    return pd.DataFrame(rows)
