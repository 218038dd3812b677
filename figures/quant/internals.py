"""Quantization figures of the model's internals: weight kurtosis (``weights.nc``), attention
sinks (``sinks.nc``) and language-specific heads (``heads.nc``)."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, PercentFormatter

from ..common import band_line, dataset_attrs, finish, ref_line, stat_getter
from ..registry import figure
from ..results import Results
from ..style import GREY, OKABE_ITO, matrix_style

__all__ = ["quant_weight_kurtosis", "quant_sink_by_layer", "quant_specific_heads_by_layer"]

BLOCK_LABEL = "layer (decoder block)"
HEAD_COLORS = (OKABE_ITO["blue"], OKABE_ITO["orange"], OKABE_ITO["reddish_purple"], OKABE_ITO["bluish_green"])


@figure(
    "quant_weight_kurtosis",
    needs=["weights.nc:kurtosis"],
    title="Weight excess kurtosis by layer",
    description="Excess kurtosis of each decoder linear matrix (all entries pooled; 0 = Gaussian tails), per "
    "layer and matrix type; attention matrices solid, MLP matrices dashed. Exact statistics of the "
    "weights (no sampling, so no CI).",
)
def quant_weight_kurtosis(res: Results) -> Figure:
    """Excess kurtosis of each weight-matrix type by layer."""
    w = res.dataset("weights.nc")
    kinds = [str(m) for m in w["matrix"].values]
    layers = w["layer"].values
    fig, ax = plt.subplots(figsize=(7.2, 4.0))
    for m in kinds:
        y = w["kurtosis"].sel(matrix=m).values
        ax.plot(layers, y, marker="o", ms=3, label=m, gid=f"kurtosis:{m}", **matrix_style(m, kinds))
    ref_line(ax, 0)
    ax.set_xlabel(BLOCK_LABEL)
    ax.set_ylabel("excess kurtosis")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    model = dataset_attrs(res, "weights.nc").get("model_id")
    ax.set_title(f"Weight outliers by layer{f' ({model})' if model else ''}")
    ax.legend(frameon=False, ncol=4, fontsize=8, loc="upper right")
    return finish(fig, top=1.0)


@figure(
    "quant_sink_by_layer",
    needs=["sinks.nc:layer_sink"],
    title="Attention-sink mass by layer",
    description="Mean attention from query positions >= 1 to the first (BOS) position, averaged over languages, "
    "units and heads, per block, with its 95% bootstrap CI over units when stored; the text gives the "
    "stored correlation over blocks with the blocks' mean weight kurtosis.",
)
def quant_sink_by_layer(res: Results) -> Figure:
    """Attention mass on BOS by block with its stored CI and sink-kurtosis correlation."""
    s = res.dataset("sinks.nc")
    blocks = s["block"].values
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    band = (
        (s["layer_sink_lo"].values, s["layer_sink_hi"].values)
        if "layer_sink_lo" in s and "layer_sink_hi" in s
        else None
    )
    band_line(
        ax, blocks, s["layer_sink"].values, band, OKABE_ITO["bluish_green"], "layer_sink", marker="o", ms=3
    )
    if "sink_kurtosis_correlation" in s and "all" in s["kurtosis_of"].values:
        g = stat_getter(s["sink_kurtosis_correlation"].sel(kurtosis_of="all"))
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
    ax.set_xlabel(BLOCK_LABEL)
    ax.set_ylabel("attention mass on BOS")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Attention sinks by layer")
    return finish(fig, top=1.0)


@figure(
    "quant_specific_heads_by_layer",
    needs=["heads.nc:specific_share"],
    title="Language-specific heads by layer",
    description="Share of each block's heads whose sink mass / attention entropy differs across languages "
    "(within-unit permutation test, BH q < alpha) with effect size eta^2 >= the stored cut; the "
    "outline shows the share that is significant at any effect size.",
)
def quant_specific_heads_by_layer(res: Results) -> Figure:
    """Share of language-specific (and of significant) heads per block and metric."""
    h = res.dataset("heads.nc")
    a = dataset_attrs(res, "heads.nc")
    metrics = [str(m) for m in h["metric"].values]
    blocks = h["block"].values
    width = 0.8 / len(metrics)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(blocks) + 2), 3.6))
    for i, m in enumerate(metrics):
        x = blocks + (i - (len(metrics) - 1) / 2) * width
        col = HEAD_COLORS[i % len(HEAD_COLORS)]
        if "significant_share" in h:
            sig = h["significant_share"].sel(metric=m).values
            ax.bar(
                x, sig, width, facecolor="none", edgecolor=col, linewidth=0.8, gid=f"significant_share:{m}"
            )
        ax.bar(
            x, h["specific_share"].sel(metric=m).values, width, color=col, label=m, gid=f"specific_share:{m}"
        )
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(BLOCK_LABEL)
    ax.set_ylabel("share of heads")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    cut, alpha = a.get("min_eta2"), a.get("alpha")
    ax.set_title(f"Language-specific heads (q < {alpha}, η² ≥ {cut})")
    handles = [
        Patch(color=HEAD_COLORS[i % len(HEAD_COLORS)], label=f"{m}: specific") for i, m in enumerate(metrics)
    ]
    handles.append(Patch(facecolor="none", edgecolor=GREY, label="significant (any η²)"))
    ax.legend(
        handles=handles, frameon=False, fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.18)
    )
    return finish(fig, top=1.0)
