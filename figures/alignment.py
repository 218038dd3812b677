"""Alignment figures (issue 6), drawn from ``alignment.nc`` / ``commitment_matrix.csv`` only.

Every artist that carries data has a ``gid`` (``"<var>:<variant>:<lang>"``, ``"peak"``, ...) so
tests and the SVG output can find exactly what was drawn. Nothing here computes a statistic: the
values, CIs, peaks, commitment layers and sweeps are all read from the results files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from polylens.probes.scripts import script_name

from .registry import figure
from .results import Results
from .style import (
    GREY,
    INDIC_SCRIPTS,
    NULL_COLOR,
    OKABE_ITO,
    lang_label,
    lang_name,
    variant_style,
)

__all__ = ["three_panel_langs", "annotated_choice", "collapse_layer", "SEED_PANELS"]

CI_ALPHA = 0.18
NULL_ALPHA = 0.35
LAYER_LABEL = "layer (0 = embedding output)"
COLLAPSE_COLOR = OKABE_ITO["vermillion"]
NEVER_COLOR = "#ffffff"

#: the seed study's three panels: (group label, script test, preferred languages)
SEED_PANELS = (
    ("Latin script", lambda s: s == "Latn", ("sw", "yo", "fr", "es")),
    ("Indic script", lambda s: s in INDIC_SCRIPTS, ("hi", "bn", "ta")),
    ("Ethiopic script", lambda s: s == "Ethi", ("am",)),
)


# ----------------------------------------------------------------------------- helpers
def _facets(n: int, ncols: int = 4, panel=(3.1, 2.4), sharey: bool = True):
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel[0] * ncols, panel[1] * nrows + 0.6),
        sharex=True,
        sharey=sharey,
        squeeze=False,
    )
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    for i, ax in enumerate(flat[:n]):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax._pl_bottom = i + ncols >= n  # no visible panel below: show x tick labels and label
        ax._pl_left = i % ncols == 0
        if ax._pl_bottom:
            ax.xaxis.set_tick_params(labelbottom=True)
    return fig, flat[:n]


def _facet_labels(axes, xlabel: str, ylabel: str):
    for ax in axes:
        if ax._pl_left:
            ax.set_ylabel(ylabel)
        if ax._pl_bottom:
            ax.set_xlabel(xlabel)


def _ref_name(res: Results) -> str:
    return lang_name(res.ref) if res.ref else "reference"


def _curve(ax, res: Results, var: str, v: str, g: str, ci: bool = True, **kw):
    """Line of stored ``var[v, g, :]`` and, if stored, its ``var_ci`` band."""
    ds, layers = res.ds, res.layers
    st = variant_style(v, res.variants)
    if ci and f"{var}_ci" in ds:
        band = ds[f"{var}_ci"].sel(variant=v, lang=g)
        ax.fill_between(
            layers,
            band.sel(ci="lo").values,
            band.sel(ci="hi").values,
            color=st["color"],
            alpha=CI_ALPHA,
            linewidth=0,
            gid=f"{var}_ci:{v}:{g}",
        )
    ax.plot(
        layers,
        ds[var].sel(variant=v, lang=g).values,
        color=st["color"],
        linestyle=st["linestyle"],
        label=v,
        gid=f"{var}:{v}:{g}",
        **kw,
    )


def _null_band(ax, res: Results, v: str, g: str):
    """Mismatched-concept null of the mean curve: from its mean to its 95th percentile (stored)."""
    ds = res.ds
    if "null_mean" not in ds or "null_q95_mean" not in ds:
        return
    lo = ds["null_mean"].sel(variant=v, lang=g).values
    hi = ds["null_q95_mean"].sel(variant=v, lang=g).values
    ax.fill_between(
        res.layers,
        lo,
        hi,
        facecolor=NULL_COLOR,
        alpha=NULL_ALPHA,
        edgecolor=GREY,
        hatch="////",
        linewidth=0,
        gid=f"null:{v}:{g}",
    )


def _variant_legend(fig, res: Results, extra: Sequence = (), loc="upper center", ncol=None):
    handles = [Line2D([], [], label=v, **variant_style(v, res.variants)) for v in res.variants]
    handles += list(extra)
    fig.legend(handles=handles, loc=loc, ncol=ncol or len(handles), frameon=False, bbox_to_anchor=(0.5, 1.0))


def _ci_null_handles(res: Results, null: bool = True):
    level = res.attrs.get("analysis_ci_level", 0.95)
    out = [Patch(facecolor=GREY, alpha=0.35, label=f"{level:.0%} bootstrap CI")]
    if null:
        q = res.attrs.get("analysis_null_quantile", 0.95)
        out.append(
            Patch(
                facecolor=NULL_COLOR,
                alpha=NULL_ALPHA,
                edgecolor=GREY,
                hatch="////",
                linewidth=0,
                label=f"null: mismatched concepts (mean to q{q * 100:.0f})",
            )
        )
    return out


def _finish(fig, top: float = 0.9):
    fig.tight_layout(rect=(0, 0, 1, top))
    return fig


def _lang_title(res: Results, g: str) -> str:
    s = res.script(g)
    return f"{lang_label(g)}" + (f" · {script_name(s)}" if s else "")


# ----------------------------------------------------------------------------- choices
def three_panel_langs(res: Results) -> list[tuple[str, str]]:
    """[(lang, group label)]: a Latin-script, an Indic and an Ethiopic language from the data's
    ``script`` coordinate (seed languages preferred); missing groups are filled with other languages."""
    langs = res.langs
    chosen: list[tuple[str, str]] = []
    for label, test, prefer in SEED_PANELS:
        cands = [g for g in langs if test(res.script(g) or "") and g not in [c for c, _ in chosen]]
        if cands:
            pick = next((p for p in prefer if p in cands), cands[0])
            chosen.append((pick, label))
    for g in langs:  # fill up to three panels
        if len(chosen) >= 3:
            break
        if g not in [c for c, _ in chosen]:
            s = res.script(g)
            chosen.append((g, f"{script_name(s)} script" if s else "other"))
    return chosen[:3]


def annotated_choice(res: Results) -> tuple[str, str]:
    """(variant, lang) of the annotated curve: the baseline variant, the Indic seed panel (Hindi in
    the seed study) when present, else the first compared language."""
    picks = three_panel_langs(res)
    lang = next((g for g, label in picks if label == "Indic script"), picks[0][0] if picks else res.langs[0])
    return res.baseline, lang


def collapse_layer(res: Results, variant: str, lang: str) -> float:
    """Layer where the stored curve has collapsed after its peak (a display rule, not a statistic).

    Uses a stored ``collapse_layer`` variable when the analysis provides one. Otherwise, reading
    only stored values: the first layer after ``peak_layer`` whose CI upper bound (``cos_ci`` hi)
    lies below the analysis threshold ``analysis_tau`` (alignment is no longer committed); if the
    peak itself never reaches tau, the first layer after the peak whose CI upper bound lies below
    the peak's lower CI bound (``peak_cos_ci`` lo). NaN when neither happens.
    """
    ds = res.ds
    if "collapse_layer" in ds:
        return float(ds["collapse_layer"].sel(variant=variant, lang=lang))
    peak = float(ds["peak_layer"].sel(variant=variant, lang=lang))
    if not np.isfinite(peak):
        return float("nan")
    peak_lo = float(ds["peak_cos_ci"].sel(variant=variant, lang=lang, ci="lo"))
    peak_cos = float(ds["peak_cos"].sel(variant=variant, lang=lang))
    tau = res.attrs.get("analysis_tau")
    level = float(tau) if tau is not None and peak_cos >= float(tau) else peak_lo
    hi = ds["cos_ci"].sel(variant=variant, lang=lang, ci="hi").values
    layers = res.layers
    after = (layers > peak) & (hi < level)
    return float(layers[np.argmax(after)]) if after.any() else float("nan")


# ----------------------------------------------------------------------------- figures
@figure(
    "alignment_curves",
    needs=["alignment.nc:cos", "alignment.nc:cos_ci"],
    title="Cross-lingual alignment by layer",
    description="Mean cosine similarity between each language's concept representation and the reference "
    "language's, per layer, variants overlaid, with bootstrap CI bands over concepts and the "
    "mismatched-concept null band.",
)
def alignment_curves(res: Results):
    fig, axes = _facets(len(res.langs))
    for ax, g in zip(axes, res.langs):
        for v in res.variants:
            _null_band(ax, res, v, g)
        for v in res.variants:
            _curve(ax, res, "cos", v, g)
        ax.set_title(_lang_title(res, g))
    _facet_labels(axes, LAYER_LABEL, f"cosine to {_ref_name(res)}")
    _variant_legend(fig, res, _ci_null_handles(res))
    return _finish(fig, top=1 - 0.45 / fig.get_figheight())


@figure(
    "three_panel",
    needs=["alignment.nc:cos", "alignment.nc:cos_ci"],
    title="Three scripts: Latin, Indic, Ethiopic",
    description="The seed study's headline figure: alignment curves for a Latin-script, an Indic and an "
    "Ethiopic language (chosen from the data's script coordinate), variants overlaid.",
)
def three_panel(res: Results):
    picks = three_panel_langs(res)
    fig, axes = plt.subplots(1, len(picks), figsize=(3.6 * len(picks), 3.3), sharey=True, squeeze=False)
    axes = list(axes.ravel())
    for ax, (g, label) in zip(axes, picks):
        for v in res.variants:
            _null_band(ax, res, v, g)
        for v in res.variants:
            _curve(ax, res, "cos", v, g)
        ax.set_title(f"{lang_label(g)} — {label}")
        ax.set_xlabel(LAYER_LABEL)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_gid(f"panel:{g}")
    axes[0].set_ylabel(f"cosine to {_ref_name(res)}")
    _variant_legend(fig, res, _ci_null_handles(res))
    return _finish(fig, top=0.86)


@figure(
    "rise_peak_collapse",
    needs=["alignment.nc:cos", "alignment.nc:cos_ci", "alignment.nc:peak_layer", "alignment.nc:peak_cos_ci"],
    title="Rise, peak and collapse (annotated)",
    description="One alignment curve with the stored peak (with its CI), the stored commitment layer and "
    "the collapse: the first layer after the peak whose CI lies wholly below the peak's CI.",
)
def rise_peak_collapse(res: Results):
    v, g = annotated_choice(res)
    ds, layers = res.ds, res.layers
    s = ds.sel(variant=v, lang=g)
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    _null_band(ax, res, v, g)
    _curve(ax, res, "cos", v, g)
    st = variant_style(v, res.variants)
    peak_l, peak_c = float(s.peak_layer), float(s.peak_cos)
    lo, hi = (float(x) for x in s.peak_cos_ci.values)
    if np.isfinite(peak_l):
        ax.axvspan(layers[0], peak_l, color=st["color"], alpha=0.05, linewidth=0, gid="rise")
        eb = ax.errorbar(
            [peak_l],
            [peak_c],
            yerr=[[peak_c - lo], [hi - peak_c]],
            fmt="o",
            color=st["color"],
            capsize=3,
            ms=6,
        )
        eb.lines[0].set_gid("peak")
        eb.lines[2][0].set_gid("peak_ci")
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
    cl = float(s.commit_layer) if "commit_layer" in s else float("nan")
    if np.isfinite(cl):
        tau, k = res.attrs.get("analysis_tau"), res.attrs.get("analysis_k")
        ax.axvline(cl, color=GREY, linestyle=":", linewidth=1, gid="commit")
        ax.axhline(tau, color=GREY, linestyle=":", linewidth=0.8, gid="tau")
        ax.annotate(
            f"commits: layer {cl:g}\n(τ = {tau}, k = {k})",
            xy=(cl, tau),
            xytext=(6, -30),
            textcoords="offset points",
            ha="left",
            va="top",
            fontsize=8,
            gid="commit_label",
        )
    col = collapse_layer(res, v, g)
    if np.isfinite(col):
        cc = float(s.cos.sel(layer=col))
        ax.axvspan(col, layers[-1], color=COLLAPSE_COLOR, alpha=0.08, linewidth=0, gid="collapse_region")
        ax.plot([col], [cc], marker="v", ms=8, color=COLLAPSE_COLOR, linestyle="none", gid="collapse")
        ax.annotate(
            f"collapse from layer {col:g}\ncos {cc:.3f}; last layer {float(s.cos[-1]):.3f}",
            xy=(col, cc),
            xytext=(-10, -30),
            textcoords="offset points",
            ha="right",
            va="top",
            fontsize=8,
            gid="collapse_label",
        )
    ax.set_ylim(top=max(ax.get_ylim()[1], hi + 0.12))
    ax.set_title(f"{lang_label(g)}, {v}: rise, peak and collapse")
    ax.set_xlabel(LAYER_LABEL)
    ax.set_ylabel(f"cosine to {_ref_name(res)}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(
        handles=[Line2D([], [], label=f"{v} mean cosine", **st)] + _ci_null_handles(res),
        loc="center",
        frameon=False,
        fontsize=8,
        ncol=1,
        bbox_to_anchor=(0.6, 0.25),
    )
    return _finish(fig, top=1.0)


def _cell_text(value: float, lo: float, hi: float) -> str:
    if not np.isfinite(value):
        return "never"
    hi_s = "never" if not np.isfinite(hi) else f"{hi:g}"
    lo_s = "never" if not np.isfinite(lo) else f"{lo:g}"
    return f"{value:g}\n[{lo_s}, {hi_s}]"


@figure(
    "commitment_heatmap",
    needs=["commitment_matrix.csv"],
    title="Commitment layer: language x variant",
    description="First layer at which the mean cosine stays above tau for k consecutive layers (from "
    "commitment_matrix.csv), with its bootstrap CI; 'never' = does not commit within the network.",
)
def commitment_heatmap(res: Results):
    t = res.table("commitment_matrix.csv")
    langs = list(dict.fromkeys(t["lang"].astype(str)))
    variants = list(dict.fromkeys(t["variant"].astype(str)))
    idx = t.assign(lang=t["lang"].astype(str), variant=t["variant"].astype(str)).set_index(
        ["lang", "variant"]
    )
    mat = np.array(
        [
            [idx.loc[(g, v), "commit_layer"] if (g, v) in idx.index else np.nan for v in variants]
            for g in langs
        ],
        dtype=float,
    )
    fig, ax = plt.subplots(figsize=(1.3 * len(variants) + 2.8, 0.42 * len(langs) + 1.6))
    cmap = plt.get_cmap().with_extremes(bad=NEVER_COLOR)
    n_layers = res.ds.sizes["layer"] if res.has("alignment.nc") else None
    im = ax.imshow(
        np.ma.masked_invalid(mat),
        cmap=cmap,
        aspect="auto",
        vmin=0,
        vmax=(n_layers - 1) if n_layers else None,
        gid="commitment",
    )
    for i, g in enumerate(langs):
        for j, v in enumerate(variants):
            if (g, v) not in idx.index:
                continue
            r = idx.loc[(g, v)]
            val = mat[i, j]
            dark = np.isfinite(val) and im.norm(val) < 0.55
            ax.text(
                j,
                i,
                _cell_text(val, r["commit_ci_lo"], r["commit_ci_hi"]),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if dark else "black",
                gid=f"cell:{g}:{v}",
            )
    ax.set_xticks(range(len(variants)), variants)
    ax.set_yticks(range(len(langs)), [lang_label(g) for g in langs])
    ax.grid(False)
    ax.tick_params(length=0)
    ax.set_xticks(np.arange(len(variants) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(langs) + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="#999999", linewidth=0.5)
    ax.tick_params(which="minor", length=0)
    tau, k = t["tau"].iloc[0], t["k"].iloc[0]
    ax.set_title(f"Commitment layer (τ = {tau:g}, k = {k:g}); white = never")
    fig.colorbar(im, ax=ax, label="commitment layer", fraction=0.05)
    return _finish(fig, top=1.0)


@figure(
    "commitment_by_concept",
    needs=["alignment.nc:commit_unit"],
    title="Commitment layer: concept x language",
    description="Per-unit commitment layer (same tau and k), one panel per variant; white = never commits.",
)
def commitment_by_concept(res: Results):
    unit = res.unit_dim
    ds = res.ds
    units = [str(u) for u in ds[unit].values]
    n_layers = ds.sizes["layer"]
    nv = len(res.variants)
    height = min(0.16 * len(units) + 1.8, 16)
    fig, axes = plt.subplots(
        1, nv, figsize=(0.5 * len(res.langs) * nv + 2.5 + 0.8 * nv, height), sharey=True, squeeze=False
    )
    cmap = plt.get_cmap().with_extremes(bad=NEVER_COLOR)
    im = None
    for ax, v in zip(axes.ravel(), res.variants):
        mat = ds["commit_unit"].sel(variant=v, lang=res.langs).transpose(unit, "lang").values
        im = ax.imshow(
            np.ma.masked_invalid(mat),
            cmap=cmap,
            aspect="auto",
            vmin=0,
            vmax=n_layers - 1,
            interpolation="nearest",
            gid=f"commit_unit:{v}",
        )
        ax.set_xticks(range(len(res.langs)), res.langs, rotation=90 if len(res.langs) > 8 else 0)
        ax.set_title(v)
        ax.grid(False)
        ax.tick_params(length=0)
    ax0 = axes.ravel()[0]
    if len(units) <= 80:
        ax0.set_yticks(range(len(units)), units, fontsize=6 if len(units) > 30 else 8)
    ax0.set_ylabel(unit)
    fig.colorbar(im, ax=list(axes.ravel()), label="commitment layer (white = never)", fraction=0.04)
    tau, k = res.attrs.get("analysis_tau"), res.attrs.get("analysis_k")
    fig.suptitle(f"Per-{unit} commitment layer (τ = {tau}, k = {k})")
    return fig


def _by_layer(res: Results, var: str, ylabel: str, ci: bool, ylim=None, null: bool = False, hline=None):
    fig, axes = _facets(len(res.langs))
    for ax, g in zip(axes, res.langs):
        if null:
            for v in res.variants:
                _null_band(ax, res, v, g)
        for v in res.variants:
            _curve(ax, res, var, v, g, ci=ci)
        if hline is not None:
            ax.axhline(hline, color=GREY, linewidth=0.8, linestyle=":")
        ax.set_title(_lang_title(res, g))
        if ylim:
            ax.set_ylim(*ylim)
    _facet_labels(axes, LAYER_LABEL, ylabel)
    _variant_legend(fig, res, _ci_null_handles(res, null=null) if ci or null else ())
    return _finish(fig, top=1 - 0.45 / fig.get_figheight())


@figure(
    "retrieval_by_layer",
    needs=["alignment.nc:retrieval_mexa", "alignment.nc:retrieval_mexa_ci"],
    title="Retrieval accuracy (MEXA) by layer",
    description="Share of units whose translation is the strictly nearest neighbour in both directions "
    "(MEXA alignment score), with bootstrap CI.",
)
def retrieval_by_layer(res: Results):
    return _by_layer(res, "retrieval_mexa", "MEXA retrieval accuracy", ci=True, ylim=(-0.03, 1.03))


@figure(
    "cka_by_layer",
    needs=["alignment.nc:cka"],
    title="Linear CKA by layer",
    description="Linear CKA between the reference and each language's concept matrices, per layer.",
)
def cka_by_layer(res: Results):
    return _by_layer(res, "cka", "linear CKA", ci=False, ylim=(-0.03, 1.03))


@figure(
    "cka_debiased_by_layer",
    needs=["alignment.nc:cka_debiased"],
    title="Debiased linear CKA by layer",
    description="Debiased linear CKA (unbiased HSIC), which corrects the small-sample upward bias of CKA.",
)
def cka_debiased_by_layer(res: Results):
    return _by_layer(res, "cka_debiased", "debiased linear CKA", ci=False, hline=0.0)


@figure(
    "centred_alignment_curves",
    needs=["alignment.nc:cos_centred", "alignment.nc:cos_centred_ci"],
    title="Language-centred alignment by layer",
    description="Cosine to the reference after subtracting each language's mean vector per layer "
    "(removes the shared anisotropic direction that pins raw cosine near 1), with CI.",
)
def centred_alignment_curves(res: Results):
    return _by_layer(res, "cos_centred", "centred cosine to reference", ci=True, hline=0.0)


@figure(
    "margin_by_layer",
    needs=["alignment.nc:margin", "alignment.nc:margin_ci"],
    title="Alignment margin over the null by layer",
    description="Matched cosine minus the mean mismatched-concept cosine, with bootstrap CI; 0 = no "
    "concept-specific alignment.",
)
def margin_by_layer(res: Results):
    return _by_layer(res, "margin", "cosine margin over null", ci=True, hline=0.0)


def _sweep(res: Results, var: str, ylabel: str, n_units_line: bool):
    ds = res.ds
    taus = ds["tau"].values
    tau0 = res.attrs.get("analysis_tau")
    fig, axes = _facets(len(res.langs))
    for ax, g in zip(axes, res.langs):
        for v in res.variants:
            st = variant_style(v, res.variants)
            ax.plot(
                taus,
                ds[var].sel(variant=v, lang=g).values,
                marker="o",
                ms=3,
                label=v,
                gid=f"{var}:{v}:{g}",
                **st,
            )
        if n_units_line and "n_units" in ds:
            ax.axhline(
                float(ds["n_units"].sel(lang=g).max()),
                color=GREY,
                linewidth=0.8,
                linestyle=":",
                gid=f"n_units:{g}",
            )
        if tau0 is not None:
            ax.axvline(float(tau0), color=GREY, linewidth=0.8, linestyle="--", gid=f"tau:{g}")
        ax.set_title(_lang_title(res, g))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    _facet_labels(axes, "threshold τ", ylabel)
    extra = [Line2D([], [], color=GREY, linestyle="--", label=f"analysis τ = {tau0}")]
    _variant_legend(fig, res, extra)
    return _finish(fig, top=1 - 0.45 / fig.get_figheight())


@figure(
    "threshold_sweep",
    needs=["alignment.nc:sweep_n_committed"],
    title="Threshold sweep: units committed",
    description="How many units commit (k consecutive layers above tau) as the threshold tau varies; the "
    "dotted line is the number of units present, the dashed line the tau used in the analysis.",
)
def threshold_sweep(res: Results):
    return _sweep(res, "sweep_n_committed", "units committed", n_units_line=True)


@figure(
    "threshold_sweep_layer",
    needs=["alignment.nc:sweep_commit_layer"],
    title="Threshold sweep: commitment layer of the mean curve",
    description="Commitment layer of the mean cosine curve as tau varies (gaps = never commits).",
)
def threshold_sweep_layer(res: Results):
    return _sweep(res, "sweep_commit_layer", "commitment layer", n_units_line=False)
