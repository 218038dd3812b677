"""Latent-language figures in the style of Wendler et al. 2024, drawn from ``lens_stats.nc`` only.

- ``lens_curves``: per target language, P(English answer) and P(target answer) per layer with
  95% bootstrap bands (one panel per language, first variant solid, others dashed);
  the x axis is the depth fraction; Llama-2-7B's English peak (Wendler's data, zh only) is
  marked on the Chinese panel.
- ``lens_heatmap``: language x layer heatmap of P(English) - P(target) (first variant),
  languages ordered by their largest English lead.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from polylens.analysis.lens import anchor_values

from .registry import figure
from .results import Results
from .style import OKABE_ITO, lang_label

STATS = "lens_stats.nc"
EN_COLOR, TARGET_COLOR = OKABE_ITO["orange"], OKABE_ITO["blue"]


def _band(ax, x, stats: xr.Dataset, key: str, variant: str, color: str, dash: str, label: str | None) -> None:
    """One mean curve with its CI band."""
    sel = stats.sel(variant=variant)
    ax.fill_between(x, sel[f"{key}_lo"].values, sel[f"{key}_hi"].values, color=color, alpha=0.2, lw=0)
    ax.plot(x, sel[f"{key}_mean"].values, color=color, ls=dash, lw=1.5, label=label)


def _mark_anchor(ax, lang: str) -> None:
    """Llama-2-7B's English peak (depth, P) on the panel of the language Wendler publishes."""
    ref = anchor_values()["values"]["Llama-2-7B"]
    if lang == ref["lang"]:
        ax.plot(
            [ref["peak_depth"]],
            [ref["peak_p_en"]],
            marker="*",
            ms=9,
            color=EN_COLOR,
            mec="black",
            ls="none",
            label="Llama-2-7B English peak",
        )


@figure(
    "lens_curves",
    needs=[f"{STATS}:p_en_mean"],
    title="Latent language: P(English) vs P(target) per layer",
    description="logit/tuned lens at the last prompt position; bands are 95% bootstrap CIs over concepts",
)
def lens_curves(res: Results):
    """Small multiples: P(en) and P(target) per layer with bands, one panel per target language."""
    stats = res.dataset(STATS)
    langs = [str(v) for v in stats.lang.values]
    variants = [str(v) for v in stats.variant.values]
    n_layers = len(stats.layer) - 1
    x = stats.layer.values / n_layers
    ncol = min(6, len(langs))
    nrow = math.ceil(len(langs) / ncol)
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(2.3 * ncol, 1.9 * nrow + 0.6), sharex=True, sharey=True, squeeze=False
    )
    for ax, lang in zip(axes.flat, langs):
        one = stats.sel(lang=lang)
        for k, variant in enumerate(variants):
            dash = "-" if k == 0 else "--"
            first = lang == langs[0]
            _band(ax, x, one, "p_en", variant, EN_COLOR, dash, f"English ({variant})" if first else None)
            _band(
                ax, x, one, "p_target", variant, TARGET_COLOR, dash, f"target ({variant})" if first else None
            )
        _mark_anchor(ax, lang)
        ax.set_title(f"{lang_label(lang)} (n={int(one['n_concepts'])})", fontsize=8)
        ax.set_ylim(0, 1)
    for ax in axes.flat[len(langs) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("depth (layer / L)")
    for ax in axes[:, 0]:
        ax.set_ylabel("probability")
    fig.legend(
        loc="lower center", bbox_to_anchor=(0.5, 0.0), ncol=2 * len(variants) + 1, fontsize=8, frameon=False
    )
    kind = f"{stats.attrs.get('lens_kind', '')} lens, {stats.attrs.get('prompt_kind', '')} prompts"
    fig.suptitle(kind, fontsize=9)
    fig.tight_layout(rect=(0, 0.1, 1, 0.96))
    return fig


@figure(
    "lens_heatmap",
    needs=[f"{STATS}:p_en_mean"],
    title="P(English) - P(target) per language and layer",
    description="first variant; languages ordered by their largest English lead",
)
def lens_heatmap(res: Results):
    """Language x layer heatmap of P(English) - P(target) (diverging, centred on 0)."""
    stats = res.dataset(STATS).isel(variant=0)
    diff: np.ndarray = stats["p_en_mean"].values - stats["p_target_mean"].values
    order = np.argsort(-np.nan_to_num(np.nanmax(diff, axis=1), nan=-np.inf), kind="stable")
    langs = [str(stats.lang.values[i]) for i in order]
    fig, ax = plt.subplots(figsize=(0.35 * len(stats.layer) + 2, 0.28 * len(langs) + 1.2))
    lim = max(float(np.nanmax(np.abs(diff))) if np.isfinite(diff).any() else 1.0, 1e-3)
    im = ax.imshow(diff[order], aspect="auto", cmap="PuOr_r", vmin=-lim, vmax=lim, interpolation="nearest")
    ax.set_yticks(range(len(langs)), [lang_label(lang) for lang in langs], fontsize=7)
    ax.set_xticks(range(len(stats.layer)), [str(v) for v in stats.layer.values], fontsize=7)
    ax.set_xlabel("layer (0 = embeddings)")
    fig.colorbar(im, ax=ax, label="P(English) - P(target)")
    ax.set_title(f"{stats.attrs.get('lens_kind', '')} lens, variant {stats.variant.item()}", fontsize=9)
    fig.tight_layout()
    return fig
