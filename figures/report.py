"""One self-contained HTML report from a results directory (no server, no network, no CDN).

``build_report(results_dir, out_html)`` embeds: methods and metadata (from the netCDF attrs),
headline tables with CIs (``commitment_matrix.csv``), variant tests (``stats.csv``), failure
cases (``failure_cases.csv``), every available figure as a base64 PNG, and an interactive layer
explorer (plain JS over inline JSON copied from ``alignment.nc``: per-language alignment with CI
and the null band at the layer chosen with a slider). Same results -> byte-identical HTML.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from polylens.errors import StorageError
from polylens.probes.scripts import script_name

from .registry import available, make_figure
from .results import Results, decode_attr
from .style import lang_name, to_png_bytes, variant_style

__all__ = ["build_report", "explorer_data"]

_e = html.escape


def _num(x: Any, nd: int = 3) -> str:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return _e(str(x))
    if math.isnan(f):
        return "–"
    if math.isinf(f):
        return "never"
    return f"{f:.{nd}f}"


def _layer(x: Any) -> str:
    f = float(x)
    return "never" if not math.isfinite(f) else f"{f:g}"


def _clean(a: Iterable) -> list:
    return [None if not np.isfinite(v) else round(float(v), 6) for v in np.asarray(a, dtype=float).ravel()]


def explorer_data(res: Results) -> dict[str, Any]:
    """The explorer's inline JSON: stored curves, CIs and null per (variant, lang, layer)."""
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
    for key, var, sel in (
        ("cos", "cos", None),
        ("lo", "cos_ci", "lo"),
        ("hi", "cos_ci", "hi"),
        ("null_mean", "null_mean", None),
        ("null_q95", "null_q95_mean", None),
    ):
        if var not in ds:
            continue
        da = ds[var] if sel is None else ds[var].sel(ci=sel)
        out[key] = {v: {g: _clean(da.sel(variant=v, lang=g).values) for g in res.langs} for v in res.variants}
    return out


def _table(df: pd.DataFrame, cls: str = "") -> str:
    head = "".join(f"<th>{_e(str(c))}</th>" for c in df.columns)
    rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in df.itertuples(index=False))
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _metadata(res: Results) -> str:
    rows = []
    for k, v in res.attrs.items():
        if k == "analysis_notes":
            continue
        if isinstance(v, dict):
            v = "; ".join(f"{a}: {b}" for a, b in v.items())
        elif isinstance(v, list):
            v = ", ".join(str(x) for x in v)
        rows.append((_e(k), f"<code>{_e(str(v))}</code>"))
    table = _table(pd.DataFrame(rows, columns=["attribute", "value"]), "meta")
    return f"<details open><summary>Metadata (netCDF attributes of alignment.nc)</summary>{table}</details>"


def _methods(res: Results) -> str:
    a = res.attrs
    unit = res.unit_dim
    level = a.get("analysis_ci_level", 0.95)
    n_units = int(res.ds["n_units"].max()) if "n_units" in res.ds else res.ds.sizes.get(unit, 0)
    model = a.get("model_id", "unknown model")
    parts = [
        f"Model <code>{_e(str(model))}</code>, variants {_e(', '.join(res.variants))}; weights "
        f"<code>{_e(str(a.get('processing_mode', '?')))}</code> (TransformerLens processing mode), residual stream "
        f"at {res.ds.sizes['layer']} points (layer 0 = embedding output, layer l = output of block l, before the "
        f"final norm), <code>{_e(str(a.get('pooling', '?')))}</code>-pooled over content tokens.",
        f"Alignment = cosine between a {unit}'s representation in each language and in the reference language "
        f"<b>{_e(lang_name(res.ref or ''))}</b>, averaged over up to {n_units} {unit}s "
        f"(probe set <code>{_e(str(a.get('probe_set', '?')))}</code>).",
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
        body += f'<p class="note">Analysis notes: {_e(str(notes))}</p>'
    return body


def _headline(res: Results) -> str:
    t = res.table("commitment_matrix.csv")
    if t.empty:
        return "<p>No languages besides the reference.</p>"
    level = res.attrs.get("analysis_ci_level", 0.95) if res.has("alignment.nc") else 0.95
    rows = []
    for r in t.itertuples(index=False):
        rows.append(
            (
                _e(f"{lang_name(str(r.lang))} ({r.lang})"),
                _e(str(r.variant)),
                f"{_num(r.peak_cos)} <span class=ci>[{_num(r.peak_cos_ci_lo)}, {_num(r.peak_cos_ci_hi)}]</span>",
                _layer(r.peak_layer),
                f"{_layer(r.commit_layer)} <span class=ci>[{_layer(r.commit_ci_lo)}, {_layer(r.commit_ci_hi)}]</span>",
                f"{int(r.n_committed)} / {int(r.n_units)}",
            )
        )
    cols = [
        "language",
        "variant",
        f"peak cosine [{level:.0%} CI]",
        "peak layer",
        f"commitment layer [{level:.0%} CI]",
        "units committed",
    ]
    return _table(pd.DataFrame(rows, columns=cols), "headline")


def _stats(res: Results) -> str:
    t = res.table("stats.csv")
    if t.empty:
        return "<p>No variant tests (a single variant).</p>"
    t = t[t["scope"] == "language"] if "scope" in t else t
    rows = [
        (
            _e(str(r.metric)),
            _e(f"{lang_name(str(r.lang))} ({r.lang})"),
            _e(f"{r.variant_a} − {r.variant_b}"),
            f"{_num(r.diff)} <span class=ci>[{_num(r.diff_ci_lo)}, {_num(r.diff_ci_hi)}]</span>",
            _num(r.p_bh, 4),
            "yes" if bool(r.significant) else "no",
        )
        for r in t.itertuples(index=False)
    ]
    return _table(
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
    body = _table(shown.map(lambda x: _e(str(x))), "failures")
    more = f"<p>{n - limit} more in <code>failure_cases.csv</code>.</p>" if n > limit else ""
    return f"<p>{n} flagged (variant worse than baseline beyond its CI).</p>{body}{more}"


#: figure module -> report section that embeds its figures (others go to "Figures")
_SECTION_OF_MODULE = {"polylens.figures.quant": "quant", "polylens.figures.diff": "diff"}


def _section_of(spec) -> str:
    return _SECTION_OF_MODULE.get(spec.func.__module__, "figures")


def _figures(res: Results, section: str = "figures") -> str:
    out = []
    for spec in available(res):
        if _section_of(spec) != section:
            continue
        png = to_png_bytes(make_figure(spec.name, res))
        import matplotlib.pyplot as plt  # noqa: PLC0415

        plt.close("all")
        b64 = base64.b64encode(png).decode("ascii")
        out.append(
            f'<figure id="fig-{_e(spec.name)}"><img alt="{_e(spec.title)}" src="data:image/png;base64,{b64}">'
            f"<figcaption><b>{_e(spec.title)}.</b> {_e(spec.description)} "
            f"<span class=file>({_e(spec.name)}.png / .svg)</span></figcaption></figure>"
        )
    return "\n".join(out)


QUANT_FILES = ("evaluate.nc", "weights.nc", "sinks.nc", "heads.nc")


def _attrs_of(res: Results, name: str) -> dict:
    return {k: decode_attr(v) for k, v in res.dataset(name).attrs.items()}


def _ci_cell(x: Any, lo: Any, hi: Any, nd: int = 3, pct: bool = False, sig: bool = False) -> str:
    if sig:  # significant digits (KL values span orders of magnitude)
        f = lambda v: f"{float(v):.{nd}g}" if math.isfinite(float(v)) else "–"  # noqa: E731
    elif pct:
        f = lambda v: _num(float(v) * 100, max(nd - 2, 1)) + "%"  # noqa: E731
    else:
        f = lambda v: _num(v, nd)  # noqa: E731
    return f"{f(x)} <span class=ci>[{f(lo)}, {f(hi)}]</span>"


def _quant_section(res: Results) -> str:
    """Quantization (issue 7): what was run, the disparity headline table, the figures."""
    parts = []
    if res.has("evaluate.nc"):
        ev = res.dataset("evaluate.nc")
        a = _attrs_of(res, "evaluate.nc")
        resource = [str(r) for r in ev["resource"].values] if "resource" in ev.coords else []
        counts = ", ".join(f"{resource.count(r)} {r}" for r in ("low", "medium", "high") if r in resource)
        n_units = int(ev["n_units"].max()) if "n_units" in ev else "?"
        parts.append(
            f"<p>Model <code>{_e(str(a.get('model_id', a.get('base_model', '?'))))}</code> (weights "
            f"<code>{_e(str(a.get('weights_sha256', '?'))[:16])}</code>), simulated weight-only round-to-nearest "
            f"quantization of the decoder linear matrices; probe set <code>{_e(str(a.get('probe_set', '?')))}</code>, "
            f"{ev.sizes['lang']} languages ({_e(counts)} resource), up to {n_units} units each. Degradation = "
            f"bits per byte after / before - 1 per language; disparity ratio = {_e(str(a.get('disparity', '')))}. "
            f"CIs: {_e(str(a.get('ci', '95% bootstrap')))} ({a.get('n_boot', '?')} resamples).</p>"
        )
        rows = []
        for v in ev["variant"].values:
            s = ev.sel(variant=v)
            group = int(s["group"]) if "group" in s.coords else 0
            rows.append(
                (
                    f"<code>{_e(str(v))}</code>",
                    f"{int(s['bits'])}" if "bits" in s.coords else "–",
                    "per channel" if not group else f"{group}",
                    f"{float(s['keep_percent']):g}%" if "keep_percent" in s.coords else "–",
                    _ci_cell(s["disparity_ratio"], s["disparity_ratio_lo"], s["disparity_ratio_hi"], 2),
                    _ci_cell(s["disparity_diff"], s["disparity_diff_lo"], s["disparity_diff_hi"], 3, pct=True)
                    if "disparity_diff" in s
                    else "–",
                    _ci_cell(
                        s["disparity_ratio_abs"], s["disparity_ratio_abs_lo"], s["disparity_ratio_abs_hi"], 2
                    )
                    if "disparity_ratio_abs" in s
                    else "–",
                )
            )
        cols = [
            "config",
            "bits",
            "group",
            "kept outliers",
            "disparity ratio (low / high) [95% CI]",
            "low − high rel. degradation [95% CI]",
            "ratio of absolute bpb increase [95% CI]",
        ]
        parts.append(
            "<h3>Disparity per config</h3>" + _table(pd.DataFrame(rows, columns=cols), "quant-headline")
        )
    else:
        name = next(f for f in QUANT_FILES if res.has(f))
        a = _attrs_of(res, name)
        parts.append(
            f"<p>Model <code>{_e(str(a.get('model_id', '?')))}</code>; no <code>evaluate.nc</code> in this "
            f"directory, so no disparity table.</p>"
        )
    present = ", ".join(f"<code>{f}</code>" for f in QUANT_FILES if res.has(f))
    parts.append(
        f'<p class="note">Files: {present} (and <code>summary_*.md</code>), written by '
        "<code>python cli.py quant ...</code>.</p>"
    )
    parts.append(_figures(res, "quant"))
    return "".join(parts)


def _diff_section(res: Results) -> str:
    """Model diffing (issue 8): setup, controls table (KL and reduction with CIs), the figures."""
    ds = res.dataset("diff.nc")
    a = _attrs_of(res, "diff.nc")
    an, bn = str(a.get("a_name", "A")), str(a.get("b_name", "B"))
    parts = [
        f"<p>Model A <code>{_e(an)}</code> (weights <code>{_e(str(a.get('a_weights_sha256', '?'))[:16])}</code>) vs "
        f"model B <code>{_e(bn)}</code> (weights <code>{_e(str(a.get('b_weights_sha256', '?'))[:16])}</code>); probe set "
        f"<code>{_e(str(a.get('probe_set', '?')))}</code>, languages {_e(str(a.get('langs', '?')))}, "
        f"{ds.sizes.get('prompt', 0)} prompts kept by the shared-vocabulary filter "
        f"({a.get('fairness_n_kept', '?')} / {a.get('fairness_n_total', '?')}). CKA on "
        f"<code>{_e(str(a.get('pooling', '?')))}</code>-pooled residual streams; KL = {_e(str(a.get('kl', '')))}; "
        f"{_e(str(a.get('alpha', '')))}. CIs: {float(a.get('ci_level', 0.95)):.0%} percentile bootstrap over prompts "
        f"({a.get('n_boot', '?')} resamples).</p>"
    ]
    if a.get("patching_skipped"):
        parts.append(f'<p class="note">Patching skipped: {_e(str(a["patching_skipped"]))} (CKA only).</p>')
    if "control_kl" in ds:
        parts.append(
            f"<h3>Mapped patching and controls</h3><p>Validation prompts ({a.get('n_val_prompts', '?')}; maps fit on "
            f"{a.get('n_train_prompts', '?')} training prompts with <code>{_e(str(a.get('patch_map', '?')))}</code>), "
            "alpha = 1. KL reduction = 1 − mean KL(condition) / mean KL(raw patch).</p>"
        )
        rows = []
        for site in ds["site"].values:
            for pl in ds["patch_layer"].values:
                for c in ds["condition"].values:
                    sel = dict(site=site, patch_layer=pl, condition=c)
                    kl, kci = ds["control_kl"].sel(**sel), ds["control_kl_ci"].sel(**sel)
                    red, rci = ds["kl_reduction"].sel(**sel), ds["kl_reduction_ci"].sel(**sel)
                    rows.append(
                        (
                            _e(str(site)),
                            f"{int(pl)}",
                            _e(str(c).replace("_", " ")),
                            _ci_cell(kl, kci.sel(ci="lo"), kci.sel(ci="hi"), 3, sig=True),
                            _ci_cell(red, rci.sel(ci="lo"), rci.sel(ci="hi"), 3),
                        )
                    )
        parts.append(
            _table(
                pd.DataFrame(
                    rows,
                    columns=[
                        "site",
                        "patch layer",
                        "condition",
                        "KL, nats [95% CI]",
                        "KL reduction vs raw [95% CI]",
                    ],
                ),
                "diff-controls",
            )
        )
    parts.append(_figures(res, "diff"))
    return "".join(parts)


_CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:0 auto;max-width:1200px;padding:0 20px 40px;color:#222}
h1{font-size:1.5em;margin-top:24px}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f4f4f4}.ci{color:#666;font-size:12px}code{font-size:12px;word-break:break-all}
figure{margin:20px 0}figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:13px;color:#444}
.file{color:#888}.note{color:#666;font-size:12px}nav a{margin-right:12px}
#explorer-controls{display:flex;align-items:center;gap:14px;margin:10px 0}
#layer-slider{width:420px}#layer-readout{font-weight:bold;min-width:260px}
#explorer svg text{font-family:"DejaVu Sans",Arial,sans-serif;font-size:12px}
"""

_JS = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("explorer-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var slider = document.getElementById("layer-slider");
  var readout = document.getElementById("layer-readout");
  var svg = document.getElementById("explorer-svg");
  var tbody = document.querySelector("#explorer-table tbody");
  var W = 900, left = 190, right = 30, rowH = 18 * D.variants.length + 14, top = 30;
  var H = top + rowH * D.langs.length + 30;
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  svg.setAttribute("width", W); svg.setAttribute("height", H);
  var lo = 0, hi = 1;
  ["lo", "null_mean", "cos"].forEach(function (k) {
    if (!D[k]) return;
    D.variants.forEach(function (v) { D.langs.forEach(function (g) {
      D[k][v][g.code].forEach(function (x) { if (x !== null && x < lo) lo = x; });
    }); });
  });
  lo = Math.floor(lo * 10) / 10;
  function X(x) { return left + (x - lo) / (hi - lo) * (W - left - right); }
  function el(name, attrs, text) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmt(x) { return x === null || x === undefined ? "–" : x.toFixed(3); }
  function get(k, v, g, l) { return D[k] ? D[k][v][g][l] : null; }
  function render(l) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    for (var t = Math.ceil(lo * 5) * 2; t <= 10; t += 2) {
      var x = X(t / 10);
      svg.appendChild(el("line", {x1: x, x2: x, y1: top - 6, y2: H - 24, stroke: "#e5e5e5"}));
      svg.appendChild(el("text", {x: x, y: H - 8, "text-anchor": "middle", fill: "#555"}, (t / 10).toFixed(1)));
    }
    svg.appendChild(el("text", {x: left, y: 16, fill: "#333"},
      "mean cosine to " + D.ref_name + " at layer " + D.layers[l] + " (" + D.layer_labels[l] + ")"));
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    D.langs.forEach(function (g, gi) {
      var y0 = top + gi * rowH;
      svg.appendChild(el("text", {x: left - 10, y: y0 + rowH / 2, "text-anchor": "end", "dominant-baseline": "middle"},
        g.name + " (" + g.code + ")"));
      D.variants.forEach(function (v, vi) {
        var y = y0 + 10 + vi * 18, c = D.colors[v];
        var nm = get("null_mean", v, g.code, l), nq = get("null_q95", v, g.code, l);
        if (nm !== null && nq !== null) svg.appendChild(el("rect", {x: X(Math.min(nm, nq)), y: y - 6,
          width: Math.max(1, Math.abs(X(nq) - X(nm))), height: 12, fill: "#bdbdbd", opacity: 0.6, "class": "null"}));
        var m = get("cos", v, g.code, l), a = get("lo", v, g.code, l), b = get("hi", v, g.code, l);
        if (a !== null && b !== null) svg.appendChild(el("line", {x1: X(a), x2: X(b), y1: y, y2: y, stroke: c,
          "stroke-width": 3, opacity: 0.6, "class": "ci"}));
        if (m !== null) svg.appendChild(el("circle", {cx: X(m), cy: y, r: 5, fill: c, "class": "point",
          "data-variant": v, "data-lang": g.code, "data-value": m}));
        var tr = document.createElement("tr");
        [g.name + " (" + g.code + ")", v, fmt(m), "[" + fmt(a) + ", " + fmt(b) + "]",
         "[" + fmt(nm) + ", " + fmt(nq) + "]"].forEach(function (s) {
          var td = document.createElement("td"); td.textContent = s; tr.appendChild(td);
        });
        tbody.appendChild(tr);
      });
    });
    readout.textContent = "layer " + D.layers[l] + " of " + D.layers[D.layers.length - 1] + " — " + D.layer_labels[l];
  }
  slider.min = 0; slider.max = D.layers.length - 1; slider.step = 1;
  slider.addEventListener("input", function () { render(parseInt(slider.value, 10)); });
  render(parseInt(slider.value, 10));
})();
"""


def build_report(results_dir: str | Path, out_html: str | Path, title: str | None = None) -> Path:
    """Write one self-contained HTML report for a results directory; returns its path."""
    res = Results(results_dir)
    has_align, has_diff = res.has("alignment.nc"), res.has("diff.nc")
    has_quant = any(res.has(f) for f in QUANT_FILES)
    if not (has_align or has_quant or has_diff):
        raise StorageError(
            f"{res.path} has no alignment.nc, quantization results ({', '.join(QUANT_FILES)}) or "
            "diff.nc; the report needs analysis results"
        )
    if has_align:
        default = res.attrs.get("model_id", "results")
    elif has_quant:
        default = _attrs_of(res, next(f for f in QUANT_FILES if res.has(f))).get("model_id", "quantization")
    else:
        d = _attrs_of(res, "diff.nc")
        default = f"{d.get('a_name', 'A')} vs {d.get('b_name', 'B')}"
    title = title or f"polylens report: {default}"
    sections = _alignment_sections(res) if has_align else []
    if has_quant:
        sections.append(("quantization", "Quantization", _quant_section(res)))
    if has_diff:
        sections.append(("diffing", "Model diffing", _diff_section(res)))
    other = _figures(res, "figures") if not has_align else ""
    if other:
        sections.append(("figures", "Figures", other))
    nav = "".join(f'<a href="#{sid}">{_e(name)}</a>' for sid, name, _ in sections)
    body = "".join(
        f'<section id="{sid}"><h2>{_e(name)}</h2>{content}</section>' for sid, name, content in sections
    )
    script = f"<script>{_JS}</script>" if has_align else ""
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1><nav>{nav}</nav>{body}{script}</body></html>\n"
    )
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def _alignment_sections(res: Results) -> list[tuple[str, str, str]]:
    """Sections drawn from alignment.nc and its side files (issue 6)."""
    a = res.attrs
    sections = [("methods", "Methods and metadata", _methods(res) + _metadata(res))]
    if res.has("commitment_matrix.csv"):
        sections.append(("headline", "Headline results", _headline(res)))
    if res.has("stats.csv"):
        sections.append(("tests", "Variant comparisons", _stats(res)))
    data = json.dumps(explorer_data(res), allow_nan=False, ensure_ascii=True, separators=(",", ":"))
    data = data.replace("</", "<\\/")
    level = a.get("analysis_ci_level", 0.95)
    explorer = (
        f"<p>Move the slider to see each language's mean alignment with {_e(lang_name(res.ref or ''))} at one layer: "
        f"dot = mean cosine, bar = {level:.0%} CI, grey box = mismatched-concept null (mean to q95).</p>"
        '<div id="explorer-controls"><label for="layer-slider">layer</label>'
        '<input type="range" id="layer-slider" min="0" max="0" step="1" value="0">'
        '<span id="layer-readout" aria-live="polite"></span></div>'
        '<div id="explorer"><svg id="explorer-svg" xmlns="http://www.w3.org/2000/svg" role="img" '
        'aria-label="alignment at the selected layer"></svg></div>'
        '<table id="explorer-table"><thead><tr><th>language</th><th>variant</th><th>mean cosine</th>'
        f"<th>{level:.0%} CI</th><th>null (mean, q95)</th></tr></thead><tbody></tbody></table>"
        f'<script type="application/json" id="explorer-data">{data}</script>'
    )
    sections.append(("explorer", "Layer explorer", explorer))
    sections.append(("figures", "Figures", _figures(res)))
    if res.has("failure_cases.csv"):
        sections.append(("failures", "Failure cases", _failures(res)))
    return sections
