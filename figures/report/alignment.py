"""Report sections drawn from ``alignment.nc`` and its side files (issue 6), and the explorer data."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from jaxtyping import Float

from polylens.analysis.summary import SUMMARY_FILE, ci_decimals, headline_table
from polylens.probes.scripts import script_name

from ..alignment.draw import NULL_BAND
from ..results import Results
from ..style import lang_name, variant_style
from .html import esc, figures_html, layer, num, table

__all__ = ["explorer_data", "alignment_sections", "EXPLORER_METRICS"]

#: explorer metrics in menu order; the first is the default (lead metrics first, raw cosine last)
EXPLORER_METRICS = {
    "cos_centred": "centred cosine",
    "retrieval_mexa": "MEXA retrieval",
    "cos": "raw cosine (comparability)",
}


def _clean(a: Float[np.ndarray, "*shape"]) -> list[float | None]:
    """Values rounded to 6 decimals for JSON, non-finite ones as null."""
    return [None if not np.isfinite(v) else round(float(v), 6) for v in np.asarray(a, dtype=float).ravel()]


def explorer_data(res: Results) -> dict[str, Any]:
    """The explorer's inline JSON: per metric, stored curves, CIs and the metric's own null per cell."""
    ds = res.ds
    labels = (
        [str(x) for x in ds["layer_label"].values]
        if "layer_label" in ds.coords
        else [str(int(x)) for x in res.layers]
    )
    out: dict[str, Any] = {
        "ref": res.ref,
        "ref_name": lang_name(res.ref) if res.ref else "reference",
        "ci_level": res.attrs.get("analysis_ci_level", 0.95),
        "layers": [int(x) for x in res.layers],
        "layer_labels": labels,
        "variants": res.variants,
        "colors": {v: variant_style(v, res.variants)["color"] for v in res.variants},
        "langs": [
            {"code": g, "name": lang_name(g), "script": script_name(res.script(g) or "")} for g in res.langs
        ],
    }
    out["metrics"] = [{"key": k, "label": label} for k, label in EXPLORER_METRICS.items() if k in ds]
    out["default_metric"] = out["metrics"][0]["key"] if out["metrics"] else None
    series: dict[str, Any] = {}
    for m in EXPLORER_METRICS:
        if m not in ds:
            continue
        stem = NULL_BAND[m]
        parts = {"value": ds[m], "null_mean": ds.get(stem[0]), "null_q95": ds.get(stem[1])}
        if f"{m}_ci" in ds:
            parts.update(lo=ds[f"{m}_ci"].sel(ci="lo"), hi=ds[f"{m}_ci"].sel(ci="hi"))
        series[m] = {
            key: {v: {g: _clean(da.sel(variant=v, lang=g).values) for g in res.langs} for v in res.variants}
            for key, da in parts.items()
            if da is not None
        }
    out["series"] = series
    return out


def _metadata(res: Results) -> str:
    rows = []
    for k, v in res.attrs.items():
        if k == "analysis_notes":
            continue
        if isinstance(v, dict):
            v = "; ".join(f"{a}: {b}" for a, b in v.items())
        elif isinstance(v, list):
            v = ", ".join(str(x) for x in v)
        rows.append((esc(k), f"<code>{esc(str(v))}</code>"))
    meta = table(pd.DataFrame(rows, columns=["attribute", "value"]), "meta")
    return f"<details open><summary>Metadata (netCDF attributes of alignment.nc)</summary>{meta}</details>"


def _methods(res: Results) -> str:
    a = res.attrs
    unit = res.unit_dim
    level = a.get("analysis_ci_level", 0.95)
    n_units = int(res.ds["n_units"].max()) if "n_units" in res.ds else res.ds.sizes.get(unit, 0)
    model = a.get("model_id", "unknown model")
    parts = [
        f"Model <code>{esc(str(model))}</code>, variants {esc(', '.join(res.variants))}; weights "
        f"<code>{esc(str(a.get('processing_mode', '?')))}</code> (TransformerLens processing mode), residual stream "
        f"at {res.ds.sizes['layer']} points (layer 0 = embedding output, layer l = output of block l, before the "
        f"final norm), <code>{esc(str(a.get('pooling', '?')))}</code>-pooled over content tokens.",
        f"Alignment = cosine between a {unit}'s representation in each language and in the reference language "
        f"<b>{esc(lang_name(res.ref or ''))}</b>, averaged over up to {n_units} {unit}s "
        f"(probe set <code>{esc(str(a.get('probe_set', '?')))}</code>).",
        f"Bands are {level:.0%} percentile-bootstrap CIs over {unit}s ({a.get('analysis_n_boot', '?')} resamples). "
        f"The null is the mismatched-{unit} similarity (shown from its mean to the "
        f"{float(a.get('analysis_null_quantile', 0.95)) * 100:.0f}th percentile of the mean over random derangements).",
        f"Commitment layer = first layer from which the mean cosine stays at or above τ = {a.get('analysis_tau')} for "
        f"k = {a.get('analysis_k')} consecutive layers. Variant differences: paired sign-flip permutation tests over "
        f"{unit}s ({a.get('analysis_n_perm', '?')} permutations), Benjamini-Hochberg within each family.",
        "Every number and figure in this page is read from the stored results; nothing is recomputed here.",
    ]
    if "gemma-3-270m" in str(model).lower():
        parts.append(
            "The embedded Gemma-3-270m weights are Q4_K_M-dequantized: close to, not equal to, Google's "
            "bf16 checkpoint."
        )
    notes = a.get("analysis_notes")
    body = "".join(f"<p>{p}</p>" for p in parts)
    if notes:
        body += f'<p class="note">Analysis notes: {esc(str(notes))}</p>'
    return body


def _summary(res: Results) -> pd.DataFrame:
    """The stored ``summary.csv`` (``analysis.summary.headline_table``), or the same table read from alignment.nc."""
    if res.has(SUMMARY_FILE):
        return res.table(SUMMARY_FILE)
    ds = res.ds.copy()
    ds.attrs.setdefault("analysis_ref", res.ref)
    return headline_table(ds)


def _lead_cells(r: Any, m: str, pct: bool = False) -> tuple[str, str, str, str]:
    """(peak [CI], peak layer (share of resamples), null q95 at that layer, z) of lead metric ``m``."""
    g = lambda k: getattr(r, f"{m}_{k}")  # noqa: E731
    share = g("modal_share")
    where = f"{layer(g('layer'))}" + (
        f" <span class=ci>({share:.0%} of resamples at {layer(g('modal_layer'))})</span>"
        if np.isfinite(share)
        else ""
    )
    z = g("z")
    zs = "–" if not np.isfinite(z) and np.isnan(z) else ("∞" if np.isinf(z) else f"{z:.1f}")
    d = ci_decimals(g("peak_lo"), g("peak_hi"), 3)
    return (
        f"{num(g('peak'), d)} <span class=ci>[{num(g('peak_lo'), d)}, {num(g('peak_hi'), d)}]</span>",
        where,
        num(g("null")),
        zs,
    )


def _headline(res: Results) -> str:
    """The first table: centred cosine and MEXA (peak, CI, layer, own null, z), raw cosine for comparison."""
    t = _summary(res)
    if t.empty:
        return "<p>No languages besides the reference.</p>"
    level = res.attrs.get("analysis_ci_level", 0.95)
    q = float(res.attrs.get("analysis_null_quantile", 0.95)) * 100
    rows = [
        (
            esc(f"{lang_name(str(r.lang))} ({r.lang})"),
            esc(str(r.variant)),
            *_lead_cells(r, "centred"),
            *_lead_cells(r, "mexa"),
            f"{num(r.raw_cos_peak, rd)} <span class=ci>[{num(r.raw_cos_peak_lo, rd)}, {num(r.raw_cos_peak_hi, rd)}]"
            f" @{layer(r.raw_cos_layer)}</span>",
            f"{layer(r.commit)} / {layer(r.commit_free)}",
        )
        for r in t.itertuples(index=False)
        for rd in [ci_decimals(r.raw_cos_peak_lo, r.raw_cos_peak_hi, 3)]
    ]
    cols = ["language", "variant"]
    for name in ("centred cosine", "MEXA"):
        cols += [
            f"{name} peak [{level:.0%} CI]",
            f"{name} peak layer",
            f"{name} null (q{q:.0f})",
            f"{name} z",
        ]
    cols += [f"raw cosine peak [{level:.0%} CI] (comparability only)", "commitment: τ rule / null-calibrated"]
    note = (
        "<p>Peaks are selection-aware: the peak layer is re-selected in every bootstrap resample, so the "
        "interval covers the uncertainty of where the peak is; the share says how often the modal layer won. "
        "Each metric is compared with its own per-layer null (mismatched concepts / deranged pairing); z = "
        "(value − null mean) / null SD at the peak layer (∞: the null never varied). Raw cosine sits near 1 "
        "for any pair of inputs on anisotropic residual streams: it is shown only for comparison with the "
        "seed study.</p>"
    )
    return note + table(pd.DataFrame(rows, columns=cols), "headline")


def _stats(res: Results) -> str:
    t = res.table("stats.csv")
    if t.empty:
        return "<p>No variant tests (a single variant).</p>"
    t = t[t["scope"] == "language"] if "scope" in t else t
    rows = [
        (
            esc(str(r.metric)),
            esc(f"{lang_name(str(r.lang))} ({r.lang})"),
            esc(f"{r.variant_a} − {r.variant_b}"),
            f"{num(r.diff)} <span class=ci>[{num(r.diff_ci_lo)}, {num(r.diff_ci_hi)}]</span>",
            num(r.p_bh, 4),
            "yes" if bool(r.significant) else "no",
        )
        for r in t.itertuples(index=False)
    ]
    return table(
        pd.DataFrame(
            rows, columns=["metric", "language", "difference", "mean diff [CI]", "p (BH)", "significant"]
        ),
        "stats",
    )


def _failures(res: Results, limit: int = 100) -> str:
    t = res.table("failure_cases.csv")
    if t.empty:
        return "<p>No failure cases.</p>"
    if "failure" in t:
        t = t[t["failure"].astype(bool)]
    n = len(t)
    if n == 0:
        return "<p>No failure cases flagged.</p>"
    cols = [c for c in ("item", "lang", "variant", "categories", "model_evidence", "text") if c in t.columns]
    shown = t[cols].head(limit).fillna("")
    body = table(shown.map(lambda x: esc(str(x))), "failures")
    more = f"<p>{n - limit} more in <code>failure_cases.csv</code>.</p>" if n > limit else ""
    return f"<p>{n} flagged (variant worse than baseline beyond its CI).</p>{body}{more}"


def _explorer(res: Results) -> str:
    """The layer explorer: slider, SVG, table and the inline JSON its script reads."""
    data = json.dumps(explorer_data(res), allow_nan=False, ensure_ascii=True, separators=(",", ":"))
    data = data.replace("</", "<\\/")
    level = res.attrs.get("analysis_ci_level", 0.95)
    options = "".join(
        f'<option value="{esc(k)}"{" selected" if i == 0 else ""}>{esc(label)}</option>'
        for i, (k, label) in enumerate((m["key"], m["label"]) for m in explorer_data(res)["metrics"])
    )
    return (
        f"<p>Pick a metric and move the slider to see each language's alignment with "
        f"{esc(lang_name(res.ref or ''))} at one layer: dot = mean over concepts, bar = {level:.0%} CI, grey box = "
        "the metric's own null (mismatched concepts / deranged pairing, mean to q95).</p>"
        '<div id="explorer-controls"><label for="metric-select">metric</label>'
        f'<select id="metric-select">{options}</select><label for="layer-slider">layer</label>'
        '<input type="range" id="layer-slider" min="0" max="0" step="1" value="0">'
        '<span id="layer-readout" aria-live="polite"></span></div>'
        '<div id="explorer"><svg id="explorer-svg" xmlns="http://www.w3.org/2000/svg" role="img" '
        'aria-label="alignment at the selected layer"></svg></div>'
        '<table id="explorer-table"><thead><tr><th>language</th><th>variant</th><th id="explorer-metric">value</th>'
        f"<th>{level:.0%} CI</th><th>null (mean, q95)</th></tr></thead><tbody></tbody></table>"
        f'<script type="application/json" id="explorer-data">{data}</script>'
    )


def alignment_sections(res: Results) -> list[tuple[str, str, str]]:
    """Sections drawn from alignment.nc and its side files (issue 6)."""
    sections = [("methods", "Methods and metadata", _methods(res) + _metadata(res))]
    if res.has("commitment_matrix.csv"):
        sections.append(("headline", "Headline results", _headline(res)))
    if res.has("stats.csv"):
        sections.append(("tests", "Variant comparisons", _stats(res)))
    sections.append(("explorer", "Layer explorer", _explorer(res)))
    sections.append(("figures", "Figures", figures_html(res)))
    if res.has("failure_cases.csv"):
        sections.append(("failures", "Failure cases", _failures(res)))
    return sections
