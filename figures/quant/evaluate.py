"""Quantization figures from ``evaluate.nc``: degradation per language, disparity per config,
the kept-outlier intervention curve, fertility vs degradation.

Choices made here are display-only: ordering languages by stored value, grouping variants that
differ only in ``keep_percent`` into one intervention curve.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from jaxtyping import Float
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from ..common import (
    band_line,
    ci_patch,
    facets,
    finish,
    finish_below_legend,
    stat_getter,
    tag_errorbar,
    top_legend,
)
from ..registry import figure
from ..results import Results
from ..style import (
    GREY,
    OKABE_ITO,
    RESOURCE_COLORS,
    RESOURCE_MARKERS,
    RESOURCE_ORDER,
    lang_label,
    variant_style,
)

__all__ = ["intervention_families", "degradation_order", "FERTILITY"]

#: predictors drawn in the fertility figure (stored in ``evaluate.nc:predictor``), in order
FERTILITY = {
    "fertility_tokens_per_byte": "tokens per byte (rel. to English)",
    "fertility_tokens_per_unit": "tokens per parallel unit (rel. to English)",
}
PARITY_COLOR = GREY
RATIO_LABEL = "disparity ratio (low / high resource)"
_RATIO = ("disparity_ratio", "disparity_ratio_lo", "disparity_ratio_hi")


def _variants(ev: xr.Dataset) -> list[str]:
    return [str(v) for v in ev["variant"].values]


def _resources(ev: xr.Dataset) -> list[str]:
    present = {str(r) for r in ev["resource"].values} if "resource" in ev.coords else set()
    return [r for r in RESOURCE_ORDER if r in present] + sorted(present - set(RESOURCE_ORDER))


def _res_color(r: str) -> str:
    return RESOURCE_COLORS.get(r, GREY)


def _resource_handles(ev: xr.Dataset) -> list[Line2D]:
    return [
        Line2D(
            [],
            [],
            color=_res_color(r),
            marker=RESOURCE_MARKERS.get(r, "o"),
            linestyle="none",
            label=f"{r} resource",
        )
        for r in _resources(ev)
    ]


def degradation_order(ev: xr.Dataset) -> list[str]:
    """Display order of languages: by resource level, within a level by stored degradation.

    Levels run high, medium, low; within a level the stored relative degradation of the last
    variant orders languages largest first, as in ``summary_evaluate.md``.
    """
    last = ev["rel_degradation"].isel(variant=-1)
    out = []
    for r in _resources(ev):
        langs = [str(g) for g in ev["lang"].values[ev["resource"].values == r]]
        out += sorted(
            langs, key=lambda g: -float(last.sel(lang=g)) if np.isfinite(last.sel(lang=g)) else np.inf
        )
    return out


def intervention_families(ev: xr.Dataset) -> dict[tuple[int, int], list[str]]:
    """(bits, group) -> variants that differ only in ``keep_percent`` (>= 2 of them), sorted by k."""
    fams: dict[tuple[int, int], list[str]] = {}
    for v in _variants(ev):
        s = ev.sel(variant=v)
        fams.setdefault((int(s["bits"]), int(s["group"])), []).append(v)
    return {
        k: sorted(vs, key=lambda v: float(ev["keep_percent"].sel(variant=v)))
        for k, vs in fams.items()
        if len(vs) >= 2
    }


def _family_label(bits: int, group: int) -> str:
    return f"int{bits} {'per-channel' if not group else f'g{group}'}"


def _parity(ax: Axes, label: str | None = None) -> None:
    ax.axhline(1.0, color=PARITY_COLOR, linestyle=":", linewidth=1.0, gid="parity", label=label)


def _parity_handle() -> Line2D:
    return Line2D([], [], color=PARITY_COLOR, linestyle=":", label="parity")


def _degradation_panel(ax: Axes, ev: xr.Dataset, v: str, order: list[str]) -> None:
    """One config's relative degradation per language with CI, one errorbar series per resource level."""
    s = ev.sel(variant=v)
    ypos = {g: i for i, g in enumerate(order)}
    for r in _resources(ev):
        langs = [g for g in order if str(ev["resource"].sel(lang=g).values) == r]
        x, lo, hi = (
            s[k].sel(lang=langs).values
            for k in ("rel_degradation", "rel_degradation_lo", "rel_degradation_hi")
        )
        eb = ax.errorbar(
            x,
            [ypos[g] for g in langs],
            xerr=[x - lo, hi - x],
            fmt=RESOURCE_MARKERS.get(r, "o"),
            ms=4,
            capsize=0,
            color=_res_color(r),
            elinewidth=1.2,
        )
        tag_errorbar(eb, f"rel_degradation:{v}:{r}", f"rel_degradation_ci:{v}:{r}")
    ax.axvline(0, color=GREY, linewidth=0.8, linestyle=":")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.set_title(v)
    ax.grid(axis="y", visible=False)


@figure(
    "quant_degradation_by_language",
    needs=[
        "evaluate.nc:rel_degradation",
        "evaluate.nc:rel_degradation_lo",
        "evaluate.nc:rel_degradation_hi",
        "evaluate.nc:resource",
    ],
    title="Quantization degradation by language",
    description="Relative increase in bits per byte after quantization (bpb_q / bpb_fp - 1) per language, one "
    "panel per quantization config, with 95% paired bootstrap CIs over units; languages grouped and "
    "coloured by resource level.",
)
def quant_degradation_by_language(res: Results) -> Figure:
    """Relative bpb degradation per language with CI, one panel per config."""
    ev = res.dataset("evaluate.nc")
    order = degradation_order(ev)
    variants = _variants(ev)
    grid = facets(len(variants), ncols=4, panel=(3.0, 0.2 * len(order) + 1.0), sharey=True)
    for ax, v in zip(grid.axes, variants):
        _degradation_panel(ax, ev, v, order)
    grid.axes[0].set_yticks(range(len(order)), [lang_label(g) for g in order], fontsize=7)
    grid.axes[0].set_ylim(len(order) - 0.5, -0.5)
    for ax, low in zip(grid.axes, grid.bottom):
        if low:
            ax.set_xlabel("relative bpb degradation")
            ax.xaxis.set_tick_params(labelbottom=True)
    top_legend(
        grid.fig, _resource_handles(ev) + [Line2D([], [], color=GREY, label="95% bootstrap CI")], ncol=4
    )
    return finish_below_legend(grid.fig, 0.4)


@figure(
    "quant_disparity_by_config",
    needs=["evaluate.nc:disparity_ratio", "evaluate.nc:disparity_ratio_lo", "evaluate.nc:disparity_ratio_hi"],
    title="Disparity ratio per quantization config",
    description="Mean relative degradation of low-resource languages divided by that of high-resource languages, "
    "per config, with 95% paired bootstrap CIs; 1 = parity (both groups lose equally).",
)
def quant_disparity_by_config(res: Results) -> Figure:
    """Disparity ratio (low / high resource degradation) per config with CI and the parity line."""
    ev = res.dataset("evaluate.nc")
    variants = _variants(ev)
    fig, ax = plt.subplots(figsize=(max(4.5, 0.9 * len(variants) + 1.5), 3.4))
    x = np.arange(len(variants))
    y, lo, hi = (ev[k].values for k in _RATIO)
    _parity(ax, "parity (ratio 1)")
    eb = ax.errorbar(x, y, yerr=[y - lo, hi - y], fmt="o", color=OKABE_ITO["black"], capsize=3, ms=5)
    tag_errorbar(eb, "disparity_ratio", "disparity_ratio_ci")
    wide = len(variants) > 4
    ax.set_xticks(x, variants, rotation=30 if wide else 0, ha="right" if wide else "center")
    ax.set_ylabel(RATIO_LABEL)
    ax.set_title("Relative degradation: low- vs high-resource languages")
    ratio = Line2D([], [], color=OKABE_ITO["black"], marker="o", label="ratio, 95% bootstrap CI")
    ax.legend(handles=[ratio, _parity_handle()], frameon=False, fontsize=8)
    return finish(fig, top=1.0)


def _keep_formatter(x: float, _pos: int) -> str:
    return f"{x:g}%"


@figure(
    "quant_disparity_vs_keep",
    needs=[
        "evaluate.nc:disparity_ratio",
        "evaluate.nc:disparity_ratio_lo",
        "evaluate.nc:disparity_ratio_hi",
        "evaluate.nc:keep_percent",
    ],
    title="Intervention curve: disparity vs kept outliers",
    description="Disparity ratio (low / high resource relative degradation) as the share k of largest-magnitude "
    "weights kept in full precision grows, for each bit width and grouping evaluated at several k; "
    "band = 95% bootstrap CI, dotted line = parity. x axis symmetric-log (k = 0 included).",
)
def quant_disparity_vs_keep(res: Results) -> Figure:
    """Disparity ratio against the kept-outlier share k, one CI-banded curve per (bits, group)."""
    ev = res.dataset("evaluate.nc")
    fams = intervention_families(ev)
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    _parity(ax)
    handles: list = []
    for i, ((bits, group), vs) in enumerate(fams.items()):
        st = variant_style(f"fam{i}", [f"fam{j}" for j in range(len(fams))])
        k = ev["keep_percent"].sel(variant=vs).values.astype(float)
        y, lo, hi = (ev.sel(variant=vs)[name].values for name in _RATIO)
        label = _family_label(bits, group)
        band_line(
            ax,
            k,
            y,
            (lo, hi),
            st["color"],
            "disparity_ratio",
            label,
            marker="o",
            ms=4,
            label=label,
            linestyle=st["linestyle"],
        )
        handles.append(Line2D([], [], marker="o", label=label, **st))
    if not fams:
        ax.text(
            0.5,
            0.5,
            "no config was evaluated at more than one k",
            transform=ax.transAxes,
            ha="center",
            color=GREY,
            gid="no_families",
        )
    positive = ev["keep_percent"].values[ev["keep_percent"].values > 0]
    ax.set_xscale("symlog", linthresh=float(positive.min()) if positive.size else 0.01)
    ax.xaxis.set_major_formatter(FuncFormatter(_keep_formatter))
    ax.set_xlabel("k: largest-|w| weights kept in full precision (% of each matrix)")
    ax.set_ylabel(RATIO_LABEL)
    ax.set_title("Keeping outliers: does it close the gap?")
    ax.legend(handles=handles + [ci_patch(), _parity_handle()], frameon=False, fontsize=8)
    return finish(fig, top=1.0)


def _fertility_panel(
    ax: Axes, s: xr.Dataset, x: Float[np.ndarray, " lang"], colors: list[str], key: str
) -> None:
    """Stored fit line and band, the languages' points and the stored correlation of one panel."""
    ax.fill_between(
        s["fit_x"].values,
        s["fit_y_lo"].values,
        s["fit_y_hi"].values,
        color=GREY,
        alpha=0.25,
        linewidth=0,
        gid=f"fit_ci:{key}",
    )
    ax.plot(s["fit_x"].values, s["fit_y"].values, color=OKABE_ITO["black"], linewidth=1.2, gid=f"fit:{key}")
    ax.scatter(
        x,
        s["rel_degradation"].values,
        c=colors,
        s=22,
        edgecolors="white",
        linewidths=0.5,
        zorder=3,
        gid=f"points:{key}",
    )
    if "correlation" in s:
        g = stat_getter(s["correlation"])
        ax.text(
            0.03,
            0.97,
            f"r = {g('pearson_r'):.2f} [{g('pearson_lo'):.2f}, {g('pearson_hi'):.2f}]\n"
            f"perm. p = {g('pearson_p'):.2g}, n = {int(g('n'))}",
            transform=ax.transAxes,
            va="top",
            fontsize=7,
            gid=f"r:{key}",
        )
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))


@figure(
    "quant_fertility_vs_degradation",
    needs=[
        "evaluate.nc:predictor_value",
        "evaluate.nc:rel_degradation",
        "evaluate.nc:fit_x",
        "evaluate.nc:fit_y",
        "evaluate.nc:fit_y_lo",
        "evaluate.nc:fit_y_hi",
    ],
    title="Tokenizer fertility vs quantization degradation",
    description="Each language's fertility (relative to English) against its relative bpb degradation, for the "
    "configs without kept outliers; the line is the stored least-squares fit over languages with its "
    "95% pairs-bootstrap band, and r the stored Pearson correlation with its bootstrap CI and "
    "permutation p.",
)
def quant_fertility_vs_degradation(res: Results) -> Figure:
    """Fertility against degradation per language, one panel per predictor and k = 0 config."""
    ev = res.dataset("evaluate.nc")
    preds = [p for p in FERTILITY if p in [str(x) for x in ev["predictor"].values]]
    keep = ev["keep_percent"].values if "keep_percent" in ev.coords else np.zeros(ev.sizes["variant"])
    variants = [v for v, k in zip(_variants(ev), keep) if float(k) == 0] or _variants(ev)
    fig, axes = plt.subplots(
        len(preds),
        len(variants),
        figsize=(3.1 * len(variants) + 0.4, 2.9 * len(preds) + 0.5),
        squeeze=False,
        sharey="col",
    )
    colors = [_res_color(str(r)) for r in ev["resource"].values]
    for i, p in enumerate(preds):
        x = ev["predictor_value"].sel(predictor=p).values
        for j, v in enumerate(variants):
            ax = axes[i, j]
            _fertility_panel(ax, ev.sel(variant=v, corr_predictor=p), x, colors, f"{p}:{v}")
            if i == 0:
                ax.set_title(v)
            ax.set_xlabel(f"fertility: {FERTILITY[p]}", fontsize=8)
            if j == 0:
                ax.set_ylabel("relative bpb degradation")
    fit = Line2D([], [], color=OKABE_ITO["black"], label="least-squares fit")
    top_legend(fig, _resource_handles(ev) + [fit, ci_patch("95% bootstrap band")], ncol=5)
    return finish_below_legend(fig, 0.35)
