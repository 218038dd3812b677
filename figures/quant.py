"""Quantization figures (issue 7), drawn from ``hooks.quant_pipeline`` output only:
``evaluate.nc`` (degradation, disparity, predictors, fits), ``weights.nc`` (weight outlier
statistics), ``sinks.nc`` (attention-sink mass), ``heads.nc`` (language-specific heads).

Every data artist has a ``gid`` (``"rel_degradation:<variant>:<resource>"``, ...) so tests can
check exactly what was drawn. Nothing here computes a statistic: values, CI bounds, the fit line
and its band are read from the files (``evaluate.nc:fit_y`` etc. are written by the pipeline).
Choices made here are display-only: ordering languages by stored value, grouping variants that
differ only in ``keep_percent`` into one intervention curve.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from .alignment import CI_ALPHA, _facets, _finish
from .registry import figure
from .results import Results, decode_attr
from .style import (
    GREY,
    OKABE_ITO,
    RESOURCE_COLORS,
    RESOURCE_MARKERS,
    RESOURCE_ORDER,
    lang_label,
    matrix_style,
    variant_style,
)

__all__ = ["intervention_families", "degradation_order", "quant_attrs", "FERTILITY"]

#: predictors drawn in the fertility figure (stored in ``evaluate.nc:predictor``), in order
FERTILITY = {
    "fertility_tokens_per_byte": "tokens per byte (rel. to English)",
    "fertility_tokens_per_unit": "tokens per parallel unit (rel. to English)",
}
PARITY_COLOR = GREY


def quant_attrs(res: Results, name: str = "evaluate.nc") -> dict:
    return {k: decode_attr(v) for k, v in res.dataset(name).attrs.items()}


def _variants(ev: xr.Dataset) -> list[str]:
    return [str(v) for v in ev["variant"].values]


def _resources(ev: xr.Dataset) -> list[str]:
    present = {str(r) for r in ev["resource"].values} if "resource" in ev.coords else set()
    return [r for r in RESOURCE_ORDER if r in present] + sorted(present - set(RESOURCE_ORDER))


def _res_color(r: str) -> str:
    return RESOURCE_COLORS.get(r, GREY)


def _resource_handles(ev: xr.Dataset) -> list:
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
    """Display order of languages: by resource level (high, medium, low), within a level by the
    stored relative degradation of the last variant (largest first), as in ``summary_evaluate.md``."""
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


def _hline(ax, y: float, gid: str, label: str | None = None):
    ax.axhline(y, color=PARITY_COLOR, linestyle=":", linewidth=1.0, gid=gid, label=label)


# ----------------------------------------------------------------------------- evaluate.nc
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
def quant_degradation_by_language(res: Results):
    ev = res.dataset("evaluate.nc")
    order = degradation_order(ev)
    variants = _variants(ev)
    fig, axes = _facets(len(variants), ncols=4, panel=(3.0, 0.2 * len(order) + 1.0), sharey=True)
    ypos = {g: i for i, g in enumerate(order)}
    for ax, v in zip(axes, variants):
        s = ev.sel(variant=v)
        for r in _resources(ev):
            langs = [g for g in order if str(ev["resource"].sel(lang=g).values) == r]
            y = [ypos[g] for g in langs]
            x = s["rel_degradation"].sel(lang=langs).values
            lo = s["rel_degradation_lo"].sel(lang=langs).values
            hi = s["rel_degradation_hi"].sel(lang=langs).values
            eb = ax.errorbar(
                x,
                y,
                xerr=[x - lo, hi - x],
                fmt=RESOURCE_MARKERS.get(r, "o"),
                ms=4,
                capsize=0,
                color=_res_color(r),
                elinewidth=1.2,
            )
            eb.lines[0].set_gid(f"rel_degradation:{v}:{r}")
            eb.lines[2][0].set_gid(f"rel_degradation_ci:{v}:{r}")
        ax.axvline(0, color=GREY, linewidth=0.8, linestyle=":")
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.set_title(v)
        ax.grid(axis="y", visible=False)
    axes[0].set_yticks(range(len(order)), [lang_label(g) for g in order], fontsize=7)
    axes[0].set_ylim(len(order) - 0.5, -0.5)
    for ax in axes:
        if ax._pl_bottom:
            ax.set_xlabel("relative bpb degradation")
            ax.xaxis.set_tick_params(labelbottom=True)
    fig.legend(
        handles=_resource_handles(ev) + [Line2D([], [], color=GREY, label="95% bootstrap CI")],
        loc="upper center",
        ncol=4,
        frameon=False,
        bbox_to_anchor=(0.5, 1.0),
    )
    return _finish(fig, top=1 - 0.4 / fig.get_figheight())


@figure(
    "quant_disparity_by_config",
    needs=["evaluate.nc:disparity_ratio", "evaluate.nc:disparity_ratio_lo", "evaluate.nc:disparity_ratio_hi"],
    title="Disparity ratio per quantization config",
    description="Mean relative degradation of low-resource languages divided by that of high-resource languages, "
    "per config, with 95% paired bootstrap CIs; 1 = parity (both groups lose equally).",
)
def quant_disparity_by_config(res: Results):
    ev = res.dataset("evaluate.nc")
    variants = _variants(ev)
    fig, ax = plt.subplots(figsize=(max(4.5, 0.9 * len(variants) + 1.5), 3.4))
    x = np.arange(len(variants))
    y, lo, hi = (ev[k].values for k in ("disparity_ratio", "disparity_ratio_lo", "disparity_ratio_hi"))
    _hline(ax, 1.0, "parity", "parity (ratio 1)")
    eb = ax.errorbar(x, y, yerr=[y - lo, hi - y], fmt="o", color=OKABE_ITO["black"], capsize=3, ms=5)
    eb.lines[0].set_gid("disparity_ratio")
    eb.lines[2][0].set_gid("disparity_ratio_ci")
    ax.set_xticks(
        x, variants, rotation=30 if len(variants) > 4 else 0, ha="right" if len(variants) > 4 else "center"
    )
    ax.set_ylabel("disparity ratio (low / high resource)")
    ax.set_title("Relative degradation: low- vs high-resource languages")
    ax.legend(
        handles=[
            Line2D([], [], color=OKABE_ITO["black"], marker="o", label="ratio, 95% bootstrap CI"),
            Line2D([], [], color=PARITY_COLOR, linestyle=":", label="parity"),
        ],
        frameon=False,
        fontsize=8,
    )
    return _finish(fig, top=1.0)


def _keep_formatter(x, _pos):
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
def quant_disparity_vs_keep(res: Results):
    ev = res.dataset("evaluate.nc")
    fams = intervention_families(ev)
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    _hline(ax, 1.0, "parity")
    handles = []
    for i, ((bits, group), vs) in enumerate(fams.items()):
        st = variant_style(f"fam{i}", [f"fam{j}" for j in range(len(fams))])
        k = ev["keep_percent"].sel(variant=vs).values.astype(float)
        s = ev.sel(variant=vs)
        label = _family_label(bits, group)
        ax.fill_between(
            k,
            s["disparity_ratio_lo"].values,
            s["disparity_ratio_hi"].values,
            color=st["color"],
            alpha=CI_ALPHA,
            linewidth=0,
            gid=f"disparity_ratio_ci:{label}",
        )
        ax.plot(
            k,
            s["disparity_ratio"].values,
            marker="o",
            ms=4,
            gid=f"disparity_ratio:{label}",
            label=label,
            **st,
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
    ax.set_ylabel("disparity ratio (low / high resource)")
    ax.set_title("Keeping outliers: does it close the gap?")
    handles += [
        Patch(facecolor=GREY, alpha=0.35, label="95% bootstrap CI"),
        Line2D([], [], color=PARITY_COLOR, linestyle=":", label="parity"),
    ]
    ax.legend(handles=handles, frameon=False, fontsize=8)
    return _finish(fig, top=1.0)


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
def quant_fertility_vs_degradation(res: Results):
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
            s = ev.sel(variant=v, corr_predictor=p)
            y = s["rel_degradation"].values
            ax.fill_between(
                s["fit_x"].values,
                s["fit_y_lo"].values,
                s["fit_y_hi"].values,
                color=GREY,
                alpha=0.25,
                linewidth=0,
                gid=f"fit_ci:{p}:{v}",
            )
            ax.plot(
                s["fit_x"].values,
                s["fit_y"].values,
                color=OKABE_ITO["black"],
                linewidth=1.2,
                gid=f"fit:{p}:{v}",
            )
            ax.scatter(
                x, y, c=colors, s=22, edgecolors="white", linewidths=0.5, zorder=3, gid=f"points:{p}:{v}"
            )
            if "correlation" in ev:
                c = s["correlation"]
                g = lambda k: float(c.sel(stat=k))  # noqa: E731
                ax.text(
                    0.03,
                    0.97,
                    f"r = {g('pearson_r'):.2f} [{g('pearson_lo'):.2f}, {g('pearson_hi'):.2f}]\n"
                    f"perm. p = {g('pearson_p'):.2g}, n = {int(g('n'))}",
                    transform=ax.transAxes,
                    va="top",
                    fontsize=7,
                    gid=f"r:{p}:{v}",
                )
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
            if i == 0:
                ax.set_title(v)
            ax.set_xlabel(f"fertility: {FERTILITY[p]}", fontsize=8)
            if j == 0:
                ax.set_ylabel("relative bpb degradation")
    fig.legend(
        handles=_resource_handles(ev)
        + [
            Line2D([], [], color=OKABE_ITO["black"], label="least-squares fit"),
            Patch(facecolor=GREY, alpha=0.35, label="95% bootstrap band"),
        ],
        loc="upper center",
        ncol=5,
        frameon=False,
        bbox_to_anchor=(0.5, 1.0),
    )
    return _finish(fig, top=1 - 0.35 / fig.get_figheight())


# ----------------------------------------------------------------------------- weights.nc
@figure(
    "quant_weight_kurtosis",
    needs=["weights.nc:kurtosis"],
    title="Weight excess kurtosis by layer",
    description="Excess kurtosis of each decoder linear matrix (all entries pooled; 0 = Gaussian tails), per "
    "layer and matrix type; attention matrices solid, MLP matrices dashed. Exact statistics of the "
    "weights (no sampling, so no CI).",
)
def quant_weight_kurtosis(res: Results):
    w = res.dataset("weights.nc")
    kinds = [str(m) for m in w["matrix"].values]
    layers = w["layer"].values
    fig, ax = plt.subplots(figsize=(7.2, 4.0))
    for m in kinds:
        ax.plot(
            layers,
            w["kurtosis"].sel(matrix=m).values,
            marker="o",
            ms=3,
            label=m,
            gid=f"kurtosis:{m}",
            **matrix_style(m, kinds),
        )
    ax.axhline(0, color=GREY, linewidth=0.8, linestyle=":")
    ax.set_xlabel("layer (decoder block)")
    ax.set_ylabel("excess kurtosis")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    model = quant_attrs(res, "weights.nc").get("model_id")
    ax.set_title(f"Weight outliers by layer{f' ({model})' if model else ''}")
    ax.legend(frameon=False, ncol=4, fontsize=8, loc="upper right")
    return _finish(fig, top=1.0)


# ----------------------------------------------------------------------------- sinks.nc / heads.nc
@figure(
    "quant_sink_by_layer",
    needs=["sinks.nc:layer_sink"],
    title="Attention-sink mass by layer",
    description="Mean attention from query positions >= 1 to the first (BOS) position, averaged over languages, "
    "units and heads, per block, with its 95% bootstrap CI over units when stored; the text gives the "
    "stored correlation over blocks with the blocks' mean weight kurtosis.",
)
def quant_sink_by_layer(res: Results):
    s = res.dataset("sinks.nc")
    blocks = s["block"].values
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    color = OKABE_ITO["bluish_green"]
    if "layer_sink_lo" in s and "layer_sink_hi" in s:
        ax.fill_between(
            blocks,
            s["layer_sink_lo"].values,
            s["layer_sink_hi"].values,
            color=color,
            alpha=CI_ALPHA,
            linewidth=0,
            gid="layer_sink_ci",
        )
    ax.plot(blocks, s["layer_sink"].values, marker="o", ms=3, color=color, gid="layer_sink")
    if "sink_kurtosis_correlation" in s and "all" in s["kurtosis_of"].values:
        c = s["sink_kurtosis_correlation"].sel(kurtosis_of="all")
        g = lambda k: float(c.sel(stat=k))  # noqa: E731
        ax.text(
            0.02,
            0.04,
            f"r with mean weight kurtosis over blocks: {g('pearson_r'):.2f} "
            f"[{g('pearson_lo'):.2f}, {g('pearson_hi'):.2f}], perm. p = {g('pearson_p'):.2g}",
            transform=ax.transAxes,
            fontsize=7,
            gid="sink_kurtosis_r",
        )
    ax.set_ylim(0, 1)
    ax.set_xlabel("layer (decoder block)")
    ax.set_ylabel("attention mass on BOS")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Attention sinks by layer")
    return _finish(fig, top=1.0)


@figure(
    "quant_specific_heads_by_layer",
    needs=["heads.nc:specific_share"],
    title="Language-specific heads by layer",
    description="Share of each block's heads whose sink mass / attention entropy differs across languages "
    "(within-unit permutation test, BH q < alpha) with effect size eta^2 >= the stored cut; the "
    "outline shows the share that is significant at any effect size.",
)
def quant_specific_heads_by_layer(res: Results):
    h = res.dataset("heads.nc")
    a = quant_attrs(res, "heads.nc")
    metrics = [str(m) for m in h["metric"].values]
    blocks = h["block"].values
    width = 0.8 / len(metrics)
    colors = [OKABE_ITO["blue"], OKABE_ITO["orange"], OKABE_ITO["reddish_purple"], OKABE_ITO["bluish_green"]]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(blocks) + 2), 3.6))
    for i, m in enumerate(metrics):
        x = blocks + (i - (len(metrics) - 1) / 2) * width
        col = colors[i % len(colors)]
        if "significant_share" in h:
            ax.bar(
                x,
                h["significant_share"].sel(metric=m).values,
                width,
                facecolor="none",
                edgecolor=col,
                linewidth=0.8,
                gid=f"significant_share:{m}",
            )
        ax.bar(
            x, h["specific_share"].sel(metric=m).values, width, color=col, label=m, gid=f"specific_share:{m}"
        )
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("layer (decoder block)")
    ax.set_ylabel("share of heads")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    cut, alpha = a.get("min_eta2"), a.get("alpha")
    ax.set_title(f"Language-specific heads (q < {alpha}, η² ≥ {cut})")
    handles = [Patch(color=colors[i % len(colors)], label=f"{m}: specific") for i, m in enumerate(metrics)]
    handles.append(Patch(facecolor="none", edgecolor=GREY, label="significant (any η²)"))
    ax.legend(
        handles=handles, frameon=False, fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.18)
    )
    return _finish(fig, top=1.0)
