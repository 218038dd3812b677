"""The report's Model diffing section (issue 8): setup, controls table with KL CIs, figures."""

from __future__ import annotations

from typing import Any

import pandas as pd
import xarray as xr

from ..common import dataset_attrs
from ..results import Results
from .html import ci_cell, esc, figures_html, table

__all__ = ["diff_section"]

_COLUMNS = ["site", "patch layer", "condition", "KL, nats [95% CI]", "KL reduction vs raw [95% CI]"]


def _setup(ds: xr.Dataset, a: dict[str, Any]) -> str:
    """Which models, prompts and settings were compared, with which CIs."""
    an, bn = str(a.get("a_name", "A")), str(a.get("b_name", "B"))
    return (
        f"<p>Model A <code>{esc(an)}</code> (weights <code>{esc(str(a.get('a_weights_sha256', '?'))[:16])}</code>) vs "
        f"model B <code>{esc(bn)}</code> (weights <code>{esc(str(a.get('b_weights_sha256', '?'))[:16])}</code>); probe set "
        f"<code>{esc(str(a.get('probe_set', '?')))}</code>, languages {esc(str(a.get('langs', '?')))}, "
        f"{ds.sizes.get('prompt', 0)} prompts kept by the shared-vocabulary filter "
        f"({a.get('fairness_n_kept', '?')} / {a.get('fairness_n_total', '?')}). CKA on "
        f"<code>{esc(str(a.get('pooling', '?')))}</code>-pooled residual streams; KL = {esc(str(a.get('kl', '')))}; "
        f"{esc(str(a.get('alpha', '')))}. CIs: {float(a.get('ci_level', 0.95)):.0%} percentile bootstrap over prompts "
        f"({a.get('n_boot', '?')} resamples).</p>"
    )


def _controls(ds: xr.Dataset, a: dict[str, Any]) -> str:
    """Mapped patching vs controls: stored KL and KL reduction with CIs per (site, layer, condition)."""
    intro = (
        f"<h3>Mapped patching and controls</h3><p>Validation prompts ({a.get('n_val_prompts', '?')}; maps fit on "
        f"{a.get('n_train_prompts', '?')} training prompts with <code>{esc(str(a.get('patch_map', '?')))}</code>), "
        "alpha = 1. KL reduction = 1 − mean KL(condition) / mean KL(raw patch).</p>"
    )
    rows = []
    for site in ds["site"].values:
        for pl in ds["patch_layer"].values:
            for c in ds["condition"].values:
                sel: dict[str, Any] = dict(site=site, patch_layer=pl, condition=c)
                kl, kci = ds["control_kl"].sel(**sel), ds["control_kl_ci"].sel(**sel)
                red, rci = ds["kl_reduction"].sel(**sel), ds["kl_reduction_ci"].sel(**sel)
                rows.append(
                    (
                        esc(str(site)),
                        f"{int(pl)}",
                        esc(str(c).replace("_", " ")),
                        ci_cell(kl, kci.sel(ci="lo"), kci.sel(ci="hi"), 3, sig=True),
                        ci_cell(red, rci.sel(ci="lo"), rci.sel(ci="hi"), 3),
                    )
                )
    return intro + table(pd.DataFrame(rows, columns=_COLUMNS), "diff-controls")


def diff_section(res: Results) -> str:
    """Model diffing (issue 8): setup, controls table (KL and reduction with CIs), the figures."""
    ds = res.dataset("diff.nc")
    a = dataset_attrs(res, "diff.nc")
    out = _setup(ds, a)
    if a.get("patching_skipped"):
        out += f'<p class="note">Patching skipped: {esc(str(a["patching_skipped"]))} (CKA only).</p>'
    if "control_kl" in ds:
        out += _controls(ds, a)
    return out + figures_html(res, "diff")
