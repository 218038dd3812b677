"""Drawing helpers of the alignment figures: stored curves, null bands, variant legends, titles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from polylens.probes.scripts import script_name

from ..common import (
    LAYER_LABEL,
    band_line,
    ci_bounds,
    ci_patch,
    facet_labels,
    facets,
    finish_below_legend,
    ref_line,
    top_legend,
)
from ..results import Results
from ..style import GREY, NULL_COLOR, lang_label, lang_name, variant_style

__all__ = [
    "curve", "null_band", "variant_legend", "ci_null_handles", "lang_title", "ref_name", "by_layer", "NULL_BAND",
]  # fmt: skip

#: each metric's own per-layer null band (stored): (lower edge = null mean, upper edge = null q95)
NULL_BAND = {
    "cos": ("null_mean", "null_q95_mean"),
    "cos_centred": ("null_centred_mean", "null_centred_q95"),
    "retrieval_mexa": ("null_mexa_mean", "null_mexa_q95"),
    "cka_debiased": ("null_cka_debiased_mean", "null_cka_debiased_q95"),
}

NULL_ALPHA = 0.35
#: the null band's look, shared by the band and its legend handle
_NULL_LOOK: dict[str, Any] = dict(
    facecolor=NULL_COLOR, alpha=NULL_ALPHA, edgecolor=GREY, hatch="////", linewidth=0
)


def ref_name(res: Results) -> str:
    """English name of the reference language."""
    return lang_name(res.ref) if res.ref else "reference"


def lang_title(res: Results, g: str) -> str:
    """Panel title: language label and, when stored, its script."""
    s = res.script(g)
    return f"{lang_label(g)}" + (f" · {script_name(s)}" if s else "")


def curve(ax: Axes, res: Results, var: str, v: str, g: str, ci: bool = True, **kw: Any) -> None:
    """Line of stored ``var[v, g, :]`` and, if stored, its ``var_ci`` band."""
    ds = res.ds
    st = variant_style(v, res.variants)
    band = ci_bounds(ds[f"{var}_ci"].sel(variant=v, lang=g)) if ci and f"{var}_ci" in ds else None
    y = ds[var].sel(variant=v, lang=g).values
    band_line(ax, res.layers, y, band, st["color"], var, f"{v}:{g}", linestyle=st["linestyle"], label=v, **kw)


def null_band(ax: Axes, res: Results, v: str, g: str, var: str = "cos") -> None:
    """``var``'s own per-layer null (``NULL_BAND``): from its mean to its 95th percentile (stored)."""
    ds = res.ds
    lo_var, hi_var = NULL_BAND[var]
    if lo_var not in ds or hi_var not in ds:
        return
    lo = ds[lo_var].sel(variant=v, lang=g).values
    hi = ds[hi_var].sel(variant=v, lang=g).values
    gid = f"null:{v}:{g}" if var == "cos" else f"null_{var}:{v}:{g}"
    ax.fill_between(res.layers, lo, hi, **_NULL_LOOK, gid=gid)


def variant_legend(fig: Figure, res: Results, extra: Sequence[Any] = ()) -> None:
    """Figure legend: one line per variant, then ``extra`` handles."""
    handles = [Line2D([], [], label=v, **variant_style(v, res.variants)) for v in res.variants]
    top_legend(fig, handles + list(extra))


def ci_null_handles(res: Results, null: bool = True) -> list[Patch]:
    """Legend handles of the CI band and (optionally) the null band (each metric's own)."""
    level = res.attrs.get("analysis_ci_level", 0.95)
    out = [ci_patch(f"{level:.0%} CI")]
    if null:
        q = res.attrs.get("analysis_null_quantile", 0.95)
        label = f"null of this metric: mismatched concepts (mean to q{q * 100:.0f})"
        out.append(Patch(**_NULL_LOOK, label=label))
    return out


def by_layer(
    res: Results,
    var: str,
    ylabel: str,
    ci: bool,
    ylim: tuple[float, float] | None = None,
    null: bool = False,
    hline: float | None = None,
) -> Figure:
    """Per-language small multiples of stored ``var`` by layer, variants overlaid."""
    grid = facets(len(res.langs))
    for ax, g in zip(grid.axes, res.langs):
        if null:
            for v in res.variants:
                null_band(ax, res, v, g, var)
        for v in res.variants:
            curve(ax, res, var, v, g, ci=ci)
        if hline is not None:
            ref_line(ax, hline)
        ax.set_title(lang_title(res, g))
        if ylim:
            ax.set_ylim(*ylim)
    facet_labels(grid, LAYER_LABEL, ylabel)
    variant_legend(grid.fig, res, ci_null_handles(res, null=null) if ci or null else ())
    return finish_below_legend(grid.fig, 0.45)
