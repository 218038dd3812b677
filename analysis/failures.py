"""Failure cases: text evidence (``taxonomy``) + model evidence (variant worse than Base beyond the CI)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from jaxtyping import Bool, Float

from polylens.hooks.method import EDGE_KEYS, check_compatible

from .commitment import commitment_layer
from .core import unit_dim_of, unit_metrics
from .taxonomy import classify_text

__all__ = ["failure_cases"]


def _half_width(ci: Float[np.ndarray, "*batch ci"]) -> Float[np.ndarray, "*batch"]:
    with np.errstate(invalid="ignore"):
        hw = (ci[..., 1] - ci[..., 0]) / 2
    return np.where(np.isfinite(hw), hw, np.nan)


@dataclass(frozen=True)
class _ModelEvidence:
    """Per (variant, lang, item) peak/commitment of the edge cases against the baseline variant."""

    cos: Float[np.ndarray, "variant lang item layer"]
    peak: Float[np.ndarray, "variant lang item"]
    commit: Float[np.ndarray, "variant lang item"]
    d_peak: Float[np.ndarray, "variant lang item"]
    thr_peak: Float[np.ndarray, " lang"]
    thr_commit: Float[np.ndarray, " lang"]
    worse_align: Bool[np.ndarray, "variant lang item"]
    worse_commit: Bool[np.ndarray, "variant lang item"]
    b: int


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
    ref, tau, k = _analysis_params(results, ref, tau, k)
    variants = [str(v) for v in edge_ds["variant"].values]
    langs = [str(g) for g in edge_ds["lang"].values]
    ev = None
    if ref in langs and baseline in variants:
        thr_peak, thr_commit = _thresholds(results, baseline, langs, min_delta, min_layers)
        ev = _model_evidence(edge_ds, ref, tau, k, variants.index(baseline), thr_peak, thr_commit)
    text = edge_ds[text_var] if text_var in edge_ds else None
    coord = {c: edge_ds[c] for c in ("script", "resource", "target_variant") if c in edge_ds.coords}
    rows = []
    for gi, g in enumerate(langs):
        if g == ref:
            continue
        script, resource, target = (
            str(coord[c].values[gi]) if c in coord else None for c in ("script", "resource", "target_variant")
        )
        for ui, it in enumerate(str(u) for u in edge_ds[unit].values):
            t = "" if text is None else str(text.values[gi, ui]) if text.ndim == 2 else str(text.values[ui])
            if ev is not None and np.isnan(ev.cos[:, gi, ui]).all():
                continue  # item absent in this language
            findings = classify_text(t, g, script, resource)
            for vi, v in enumerate(variants):
                if v == baseline:
                    continue
                row: dict[str, object] = {
                    "item": it,
                    "lang": g,
                    "variant": v,
                    "target_variant": target,
                    "text": t,
                    "categories": ";".join(f.category for f in findings),
                    "text_evidence": " | ".join(f"{f.category}: {f.evidence}" for f in findings),
                }
                rows.append(row | _model_row(ev, vi, gi, ui))
    return pd.DataFrame(rows)


def _analysis_params(
    results: xr.Dataset | None, ref: str | None, tau: float | None, k: int | None
) -> tuple[str, float, int]:
    """``ref``, ``tau`` and ``k`` as given, else as recorded in ``results``, else the defaults."""
    if results is not None:
        ref = ref or results.attrs.get("analysis_ref")
        tau = tau if tau is not None else float(results.attrs.get("analysis_tau", 0.85))
        k = k if k is not None else int(results.attrs.get("analysis_k", 3))
    return ref or "en", 0.85 if tau is None else tau, 3 if k is None else k


def _thresholds(
    results: xr.Dataset | None, baseline: str, langs: list[str], min_delta: float, min_layers: float
) -> tuple[Float[np.ndarray, " lang"], Float[np.ndarray, " lang"]]:
    """Per-language peak and commitment thresholds, widened to Base's CI half-widths in ``results``."""
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
    return thr_peak, thr_commit


def _model_evidence(
    edge_ds: xr.Dataset,
    ref: str,
    tau: float,
    k: int,
    b: int,
    thr_peak: Float[np.ndarray, " lang"],
    thr_commit: Float[np.ndarray, " lang"],
) -> _ModelEvidence:
    """Peak cosine and commitment layer per (variant, lang, item), compared with variant index ``b``."""
    unit = unit_dim_of(edge_ds)
    layers = edge_ds["layer"].values.astype(float)
    um = unit_metrics(edge_ds, ref=ref).compute()
    cos = um["cos"].transpose("variant", "lang", unit, "layer").values.astype(float)  # (v, g, u, L)
    peak = np.where(np.isnan(cos).all(-1), np.nan, np.nanmax(np.where(np.isnan(cos), -np.inf, cos), -1))
    commit = commitment_layer(cos, tau, k, axis=-1, layers=layers)
    commit_c = np.where(np.isnan(commit), float(len(layers)), commit)  # never = after the last layer
    d_peak = peak - peak[b][None]
    d_commit = commit_c - commit_c[b][None]
    worse_align = d_peak < -thr_peak[None, :, None]
    worse_commit = (d_commit > thr_commit[None, :, None]) | (~np.isnan(commit[b])[None] & np.isnan(commit))
    return _ModelEvidence(cos, peak, commit, d_peak, thr_peak, thr_commit, worse_align, worse_commit, b)


def _model_row(ev: _ModelEvidence | None, vi: int, gi: int, ui: int) -> dict[str, object]:
    """The model-evidence columns of one row (or the note that there is none)."""
    if ev is None:
        return {"failure": False, "model_evidence": "no model evidence (ref language or baseline missing)"}
    b = ev.b
    row: dict[str, object] = {
        "peak_base": ev.peak[b, gi, ui],
        "peak_variant": ev.peak[vi, gi, ui],
        "delta_peak": ev.d_peak[vi, gi, ui],
        "thr_peak": ev.thr_peak[gi],
        "commit_base": ev.commit[b, gi, ui],
        "commit_variant": ev.commit[vi, gi, ui],
        "thr_commit": ev.thr_commit[gi],
        "worse_alignment": bool(ev.worse_align[vi, gi, ui]),
        "worse_commitment": bool(ev.worse_commit[vi, gi, ui]),
    }
    worse_align, worse_commit = bool(ev.worse_align[vi, gi, ui]), bool(ev.worse_commit[vi, gi, ui])
    notes = []
    if worse_align:
        notes.append(
            f"peak cos {ev.peak[vi, gi, ui]:.3f} vs base {ev.peak[b, gi, ui]:.3f} (thr {ev.thr_peak[gi]:.3f})"
        )
    if worse_commit:
        notes.append(
            f"commit {ev.commit[vi, gi, ui]} vs base {ev.commit[b, gi, ui]} (thr {ev.thr_commit[gi]:.1f})"
        )
    return row | {"failure": worse_align or worse_commit, "model_evidence": "; ".join(notes)}
