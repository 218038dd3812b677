"""Alignment curves: the lead metrics' three panels first, then raw cosine by layer and rise-peak-collapse."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from jaxtyping import Float
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from ..common import LAYER_LABEL, finish, tag_errorbar
from ..registry import figure
from ..results import Results
from ..style import GREY, OKABE_ITO, lang_label, variant_style
from .choices import annotated_choice, collapse_layer, three_panel_langs
from .draw import by_layer, ci_null_handles, curve, null_band, ref_name, variant_legend

__all__ = ["alignment_curves", "three_panel", "rise_peak_collapse"]

COLLAPSE_COLOR = OKABE_ITO["vermillion"]
#: keyword arguments of every annotation label on the rise-peak-collapse figure
_NOTE: dict[str, Any] = dict(textcoords="offset points", va="top", fontsize=8)


#: the three-panel figure's rows: (metric, y label, y limits); each row draws the metric's own null
THREE_PANEL_ROWS = (
    ("cos_centred", "centred cosine", None),
    ("retrieval_mexa", "MEXA retrieval", (-0.03, 1.03)),
)


@figure(
    "three_panel",
    needs=["alignment.nc:cos_centred", "alignment.nc:cos_centred_ci"],
    title="Three scripts: Latin, Indic, Ethiopic",
    description="The seed study's headline figure, on the lead metrics: language-centred cosine (top) and "
    "MEXA retrieval (bottom) for a Latin-script, an Indic and an Ethiopic language (chosen from the data's "
    "script coordinate), variants overlaid, each with its CI and its own per-layer null band.",
)
def three_panel(res: Results) -> Figure:
    """Centred cosine and MEXA of a Latin-script, an Indic and an Ethiopic language, own nulls per row."""
    picks = three_panel_langs(res)
    rows = [r for r in THREE_PANEL_ROWS if r[0] in res.ds]
    fig, grid = plt.subplots(
        len(rows), len(picks), figsize=(3.6 * len(picks), 3.0 * len(rows)), sharey="row", squeeze=False
    )
    for i, (var, ylabel, ylim) in enumerate(rows):
        for ax, (g, label) in zip(grid[i], picks):
            for v in res.variants:
                null_band(ax, res, v, g, var)
            for v in res.variants:
                curve(ax, res, var, v, g)
            if ylim:
                ax.set_ylim(*ylim)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_gid(f"panel:{g}" if i == 0 else f"panel_{var}:{g}")
            if i == 0:
                ax.set_title(f"{lang_label(g)} — {label}")
            if i == len(rows) - 1:
                ax.set_xlabel(LAYER_LABEL)
        grid[i][0].set_ylabel(f"{ylabel} to {ref_name(res)}")
    variant_legend(fig, res, ci_null_handles(res))
    return finish(fig, top=0.9)


@figure(
    "alignment_curves",
    needs=["alignment.nc:cos", "alignment.nc:cos_ci"],
    title="Raw cosine by layer (comparability with the seed study)",
    description="Mean raw cosine similarity between each language's concept representation and the "
    "reference language's, per layer, variants overlaid, with bootstrap CI bands over concepts and raw "
    "cosine's own mismatched-concept null band. Raw cosine sits near 1 for any pair of inputs on "
    "anisotropic residual streams; the centred-cosine and MEXA figures are the ones to read.",
)
def alignment_curves(res: Results) -> Figure:
    """Per-language small multiples of the mean cosine to the reference, with CI and null bands."""
    return by_layer(res, "cos", f"cosine to {ref_name(res)}", ci=True, null=True)


def _mark_peak(ax: Axes, s: xr.Dataset, layers: Float[np.ndarray, " layer"], color: str) -> float:
    """Shade the rise, draw the stored peak with its CI and label it; returns the CI's upper bound."""
    peak_l, peak_c = float(s.peak_layer), float(s.peak_cos)
    lo, hi = (float(x) for x in s.peak_cos_ci.values)
    if not np.isfinite(peak_l):
        return hi
    ax.axvspan(layers[0], peak_l, color=color, alpha=0.05, linewidth=0, gid="rise")
    eb = ax.errorbar(
        [peak_l], [peak_c], yerr=[[peak_c - lo], [hi - peak_c]], fmt="o", color=color, capsize=3, ms=6
    )
    tag_errorbar(eb, "peak", "peak_ci")
    ax.annotate(
        f"peak: layer {peak_l:g}\ncos {peak_c:.3f} [{lo:.3f}, {hi:.3f}]",
        xy=(peak_l, hi),
        xytext=(-14, 10),
        textcoords="offset points",
        ha="right",
        va="bottom",
        fontsize=8,
        gid="peak_label",
    )
    ax.text(layers[0] + 0.2, ax.get_ylim()[0], "rise", color=GREY, va="bottom", fontsize=8)
    return hi


def _mark_commit(ax: Axes, res: Results, s: xr.Dataset) -> None:
    """Dotted lines at the stored commitment layer and the threshold tau, with a label."""
    cl = float(s.commit_layer) if "commit_layer" in s else float("nan")
    if not np.isfinite(cl):
        return
    tau, k = res.attrs.get("analysis_tau"), res.attrs.get("analysis_k")
    ax.axvline(cl, color=GREY, linestyle=":", linewidth=1, gid="commit")
    ax.axhline(tau, color=GREY, linestyle=":", linewidth=0.8, gid="tau")  # type: ignore[arg-type]
    ax.annotate(
        f"commits: layer {cl:g}\n(τ = {tau}, k = {k})",
        xy=(cl, tau),
        xytext=(6, -30),
        ha="left",
        gid="commit_label",
        **_NOTE,
    )


def _mark_collapse(ax: Axes, res: Results, v: str, g: str, s: xr.Dataset) -> None:
    """Shade and label the collapse (first layer after the peak that falls below it)."""
    col = collapse_layer(res, v, g)
    if not np.isfinite(col):
        return
    cc = float(s.cos.sel(layer=col))
    ax.axvspan(col, res.layers[-1], color=COLLAPSE_COLOR, alpha=0.08, linewidth=0, gid="collapse_region")
    ax.plot([col], [cc], marker="v", ms=8, color=COLLAPSE_COLOR, linestyle="none", gid="collapse")
    ax.annotate(
        f"collapse from layer {col:g}\ncos {cc:.3f}; last layer {float(s.cos[-1]):.3f}",
        xy=(col, cc),
        xytext=(-10, -30),
        ha="right",
        gid="collapse_label",
        **_NOTE,
    )


@figure(
    "rise_peak_collapse",
    needs=["alignment.nc:cos", "alignment.nc:cos_ci", "alignment.nc:peak_layer", "alignment.nc:peak_cos_ci"],
    title="Rise, peak and collapse (annotated)",
    description="One alignment curve with the stored peak (with its CI), the stored commitment layer and "
    "the collapse: the first layer after the peak whose CI lies wholly below the peak's CI.",
)
def rise_peak_collapse(res: Results) -> Figure:
    """One annotated curve: the rise, the stored peak and commitment layer, and the collapse."""
    v, g = annotated_choice(res)
    s = res.ds.sel(variant=v, lang=g)
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    null_band(ax, res, v, g)
    curve(ax, res, "cos", v, g)
    st = variant_style(v, res.variants)
    hi = _mark_peak(ax, s, res.layers, st["color"])
    _mark_commit(ax, res, s)
    _mark_collapse(ax, res, v, g, s)
    ax.set_ylim(top=max(ax.get_ylim()[1], hi + 0.12))
    ax.set_title(f"{lang_label(g)}, {v}: rise, peak and collapse")
    ax.set_xlabel(LAYER_LABEL)
    ax.set_ylabel(f"cosine to {ref_name(res)}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(
        handles=[Line2D([], [], label=f"{v} mean cosine", **st)] + ci_null_handles(res),
        loc="center",
        frameon=False,
        fontsize=8,
        ncol=1,
        bbox_to_anchor=(0.6, 0.25),
    )
    return finish(fig, top=1.0)
