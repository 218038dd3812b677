"""The report's Quantization section (issue 7): setup, disparity per config with CIs, figures."""

from __future__ import annotations

import pandas as pd
import xarray as xr

from ..common import dataset_attrs
from ..results import Results
from .html import ci_cell, esc, figures_html, table

__all__ = ["QUANT_FILES", "quant_section"]

QUANT_FILES = ("evaluate.nc", "weights.nc", "sinks.nc", "heads.nc")
_COLUMNS = [
    "config",
    "bits",
    "group",
    "kept outliers",
    "disparity ratio (low / high) [95% CI]",
    "low − high rel. degradation [95% CI]",
    "ratio of absolute bpb increase [95% CI]",
]


def _setup(res: Results, ev: xr.Dataset) -> str:
    """What was quantized and evaluated, on which probes and languages, with which CIs."""
    a = dataset_attrs(res, "evaluate.nc")
    resource = [str(r) for r in ev["resource"].values] if "resource" in ev.coords else []
    counts = ", ".join(f"{resource.count(r)} {r}" for r in ("low", "medium", "high") if r in resource)
    n_units = int(ev["n_units"].max()) if "n_units" in ev else "?"
    return (
        f"<p>Model <code>{esc(str(a.get('model_id', a.get('base_model', '?'))))}</code> (weights "
        f"<code>{esc(str(a.get('weights_sha256', '?'))[:16])}</code>), simulated weight-only round-to-nearest "
        f"quantization of the decoder linear matrices; probe set <code>{esc(str(a.get('probe_set', '?')))}</code>, "
        f"{ev.sizes['lang']} languages ({esc(counts)} resource), up to {n_units} units each. Degradation = "
        f"bits per byte after / before - 1 per language; disparity ratio = {esc(str(a.get('disparity', '')))}. "
        f"CIs: {esc(str(a.get('ci', '95% bootstrap')))} ({a.get('n_boot', '?')} resamples).</p>"
    )


def _config_row(s: xr.Dataset, v: str) -> tuple[str, ...]:
    """One config's row of the disparity table (stored values and CIs)."""
    group = int(s["group"]) if "group" in s.coords else 0
    return (
        f"<code>{esc(str(v))}</code>",
        f"{int(s['bits'])}" if "bits" in s.coords else "–",
        "per channel" if not group else f"{group}",
        f"{float(s['keep_percent']):g}%" if "keep_percent" in s.coords else "–",
        ci_cell(s["disparity_ratio"], s["disparity_ratio_lo"], s["disparity_ratio_hi"], 2),
        ci_cell(s["disparity_diff"], s["disparity_diff_lo"], s["disparity_diff_hi"], 3, pct=True)
        if "disparity_diff" in s
        else "–",
        ci_cell(s["disparity_ratio_abs"], s["disparity_ratio_abs_lo"], s["disparity_ratio_abs_hi"], 2)
        if "disparity_ratio_abs" in s
        else "–",
    )


def _evaluated(res: Results) -> str:
    """Setup paragraph and the disparity-per-config table of ``evaluate.nc``."""
    ev = res.dataset("evaluate.nc")
    rows = [_config_row(ev.sel(variant=v), v) for v in ev["variant"].values]
    return (
        _setup(res, ev)
        + "<h3>Disparity per config</h3>"
        + table(pd.DataFrame(rows, columns=_COLUMNS), "quant-headline")
    )


def quant_section(res: Results) -> str:
    """Quantization (issue 7): what was run, the disparity headline table, the figures."""
    if res.has("evaluate.nc"):
        head = _evaluated(res)
    else:
        a = dataset_attrs(res, next(f for f in QUANT_FILES if res.has(f)))
        head = (
            f"<p>Model <code>{esc(str(a.get('model_id', '?')))}</code>; no <code>evaluate.nc</code> in this "
            f"directory, so no disparity table.</p>"
        )
    present = ", ".join(f"<code>{f}</code>" for f in QUANT_FILES if res.has(f))
    files = (
        f'<p class="note">Files: {present} (and <code>summary_*.md</code>), written by '
        "<code>python cli.py quant ...</code>.</p>"
    )
    return head + files + figures_html(res, "quant")
