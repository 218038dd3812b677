"""Model-diffing figures (issue 8), drawn from ``diff.nc`` (``analysis.diffing.write_results``).

Contract: ``docs/CONVENTIONS.md`` "Model diffing results". Every data artist has a ``gid``
(``"cka:<kind>"``, ``"kl:<direction>"``, ``"sweep_kl:<site>:<layer>:<patch>"``,
``"control_kl:<site>:<layer>"`` ...). Nothing is computed: means, CIs, alpha* and the controls
are the stored values (validation prompts for the sweep and the controls).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from .common import (
    LAYER_LABEL,
    band_line,
    ci_bounds,
    ci_patch,
    dataset_attrs,
    finish,
    finish_below_legend,
    ref_line,
    tag_errorbar,
    top_legend,
)
from .registry import figure
from .results import Results
from .style import CONDITION_COLORS, DIRECTION_COLORS, GREY, KIND_COLORS, OKABE_ITO

__all__ = ["model_names", "CONTROL_BARS", "DIRECTION_LABELS"]

#: the controls drawn as bars (``ablate``, alpha = 0, is drawn as a reference line)
CONTROL_BARS = ("raw", "mapped", "mismatched_layer", "shuffled_pairs")
CONDITION_LABELS = {
    "raw": "raw patch",
    "mapped": "mapped",
    "mismatched_layer": "mismatched layer",
    "shuffled_pairs": "shuffled pairs",
    "ablate": "zero-ablation",
}
PATCH_COLORS = {"raw": OKABE_ITO["black"], "mapped": OKABE_ITO["blue"]}
DIRECTION_LABELS = {"a_to_b": "A → B: {a} into {b}", "b_to_a": "B → A: {b} into {a}"}
KL_VAL_LABEL = "KL, nats (val)"


def model_names(res: Results) -> tuple[str, str]:
    """Display names of models A and B (``a_name`` / ``b_name`` attributes of ``diff.nc``)."""
    a = dataset_attrs(res, "diff.nc")
    return str(a.get("a_name", "A")), str(a.get("b_name", "B"))


def _by_layer(
    ax: Axes, ds: xr.Dataset, var: str, dim: str, colors: dict[str, str], solid: str, labels: dict[str, str]
) -> None:
    """One CI-banded line of stored ``var`` per value of ``dim`` (``solid`` solid, others dashed)."""
    for key in (str(x) for x in ds[dim].values):
        band = ci_bounds(ds[f"{var}_ci"].sel({dim: key}))
        y = ds[var].sel({dim: key}).values
        band_line(
            ax,
            ds["layer"].values,
            y,
            band,
            colors.get(key, GREY),
            var,
            key,
            label=labels[key],
            marker="o",
            ms=3,
            linestyle="-" if key == solid else "--",
        )


def _layer_axes(ax: Axes, ylabel: str, title: str) -> None:
    ax.set_xlabel(LAYER_LABEL)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)


@figure(
    "diff_cka_by_layer",
    needs=["diff.nc:cka", "diff.nc:cka_ci"],
    title="Model diff: CKA by layer",
    description="CKA between the two models' pooled residual-stream representations of the same prompts, per "
    "layer: linear and debiased (unbiased HSIC), with 95% bootstrap CIs over prompts. 1 = the same "
    "representation up to rotation and scale.",
)
def diff_cka_by_layer(res: Results) -> Figure:
    """Linear and debiased CKA between the two models by layer, with CI bands."""
    ds = res.dataset("diff.nc")
    a, b = model_names(res)
    fig, ax = plt.subplots(figsize=(6.6, 3.8))
    labels = {k: f"{k} CKA" for k in (str(x) for x in ds["kind"].values)}
    _by_layer(ax, ds, "cka", "kind", KIND_COLORS, "linear", labels)
    ref_line(ax, 1.0)
    _layer_axes(ax, f"CKA({a}, {b})", f"Representation similarity: {a} vs {b}")
    ax.legend(handles=ax.get_legend_handles_labels()[0] + [ci_patch()], frameon=False, fontsize=8)
    return finish(fig, top=1.0)


@figure(
    "diff_kl_by_layer",
    needs=["diff.nc:kl", "diff.nc:kl_ci"],
    title="Model diff: patching KL by layer",
    description="Cross-model activation patching: mean KL divergence (nats) of the next-token distribution "
    "when one model's residual stream at a layer is replaced by the other's, in both directions, "
    "with 95% bootstrap CIs over prompts. Layers not run are gaps. Dotted lines: the peak-KL and "
    "control layers used for mapped patching.",
)
def diff_kl_by_layer(res: Results) -> Figure:
    """Patching KL by layer in both directions, with CI bands and the peak/control layers."""
    ds = res.dataset("diff.nc")
    attrs = dataset_attrs(res, "diff.nc")
    a, b = model_names(res)
    fig, ax = plt.subplots(figsize=(7.0, 4.0))
    labels = {
        d: DIRECTION_LABELS.get(d, d).format(a=a, b=b) for d in (str(x) for x in ds["direction"].values)
    }
    _by_layer(ax, ds, "kl", "direction", DIRECTION_COLORS, "a_to_b", labels)
    for key, text in (("peak_kl_layer", "peak"), ("control_layer", "control")):
        if key in attrs:
            x = float(attrs[key])
            ax.axvline(x, color=GREY, linewidth=0.8, linestyle=":", gid=key)
            ax.text(x, 1.0, f" {text}", transform=ax.get_xaxis_transform(), fontsize=7, color=GREY, va="top")
    ax.set_ylim(bottom=0)
    _layer_axes(ax, "KL(patched || clean), nats", f"Patching KL by layer: {a} vs {b}")
    handles = ax.get_legend_handles_labels()[0] + [ci_patch()]
    ax.legend(handles=handles, frameon=False, fontsize=8, loc="upper left")
    return finish(fig, top=1.0)


def _site_layer_grid(
    ds: xr.Dataset, panel: tuple[float, float]
) -> tuple[Figure, Iterator[tuple[Axes, str, int, bool]]]:
    """Figure with one panel per (site, patch layer) and an iterator of (ax, site, layer, first column)."""
    sites = [str(s) for s in ds["site"].values]
    pls = [int(p) for p in ds["patch_layer"].values]
    size = (panel[0] * len(pls) + 0.6, panel[1] * len(sites) + 0.7)
    fig, axes = plt.subplots(len(sites), len(pls), figsize=size, squeeze=False)
    cells = ((axes[i, j], site, pl, j == 0) for i, site in enumerate(sites) for j, pl in enumerate(pls))
    return fig, cells


def _panel_frame(ax: Axes, site: str, pl: int, first_col: bool) -> None:
    ax.set_title(f"{site}, layer {pl}")
    if first_col:
        ax.set_ylabel(KL_VAL_LABEL)


def _sweep_panel(ax: Axes, ds: xr.Dataset, site: str, pl: int) -> None:
    """Raw and mapped KL against alpha (validation prompts) with CI bands and alpha* (train)."""
    for p in [str(x) for x in ds["patch"].values]:
        sel: dict[str, Any] = dict(sweep_split="val", site=site, patch_layer=pl, patch=p)
        band = ci_bounds(ds["sweep_kl_ci"].sel(**sel))
        band_line(
            ax,
            ds["alpha"].values,
            ds["sweep_kl"].sel(**sel).values,
            band,
            PATCH_COLORS.get(p, GREY),
            "sweep_kl",
            f"{site}:{pl}:{p}",
            label=None,
            marker="o",
            ms=3,
            linestyle="-" if p == "mapped" else "--",
        )
    if "best_alpha_train" in ds:
        best = float(ds["best_alpha_train"].sel(site=site, patch_layer=pl))
        if np.isfinite(best):
            ax.axvline(best, color=GREY, linestyle=":", linewidth=1, gid=f"best_alpha:{site}:{pl}")


@figure(
    "diff_alpha_sweep",
    needs=["diff.nc:sweep_kl", "diff.nc:sweep_kl_ci"],
    title="Model diff: alpha sweep of mapped patching",
    description="KL (nats, validation prompts) when the patched vector is alpha times A's activation (raw) or "
    "alpha times its transport-mapped version (mapped), per site and patch layer, with 95% bootstrap "
    "CIs; alpha = 0 is zero-ablation of the site. The dotted line marks alpha* chosen on training "
    "prompts.",
)
def diff_alpha_sweep(res: Results) -> Figure:
    """KL against alpha, raw vs mapped patching, one panel per (site, patch layer)."""
    ds = res.dataset("diff.nc")
    fig, cells = _site_layer_grid(ds, panel=(3.4, 2.8))
    for ax, site, pl, first_col in cells:
        _sweep_panel(ax, ds, site, pl)
        _panel_frame(ax, site, pl, first_col)
        ax.set_xlabel("alpha")
        ax.set_ylim(bottom=0)
    handles = [
        Line2D([], [], color=PATCH_COLORS["raw"], linestyle="--", marker="o", ms=3, label="raw: alpha · A"),
        Line2D([], [], color=PATCH_COLORS["mapped"], marker="o", ms=3, label="mapped: alpha · map(A)"),
        ci_patch(),
        Line2D([], [], color=GREY, linestyle=":", label="alpha* (train prompts)"),
    ]
    top_legend(fig, handles)
    return finish_below_legend(fig, 0.4)


def _condition_tick(c: str) -> str:
    label = CONDITION_LABELS[c]
    return label.replace(" ", "\n", 1) if len(label) > 8 else label


def _controls_panel(ax: Axes, ds: xr.Dataset, site: str, pl: int, conds: list[str]) -> None:
    """Bars of the stored control KLs with CIs and the zero-ablation line of one (site, layer)."""
    x = np.arange(len(conds))
    vals = ds["control_kl"].sel(site=site, patch_layer=pl, condition=conds).values
    lo, hi = ci_bounds(ds["control_kl_ci"].sel(site=site, patch_layer=pl, condition=conds))
    colors = [CONDITION_COLORS.get(c, GREY) for c in conds]
    ax.bar(x, vals, 0.7, color=colors, gid=f"control_kl:{site}:{pl}")
    eb = ax.errorbar(x, vals, yerr=[vals - lo, hi - vals], fmt="none", ecolor=GREY, capsize=3)
    tag_errorbar(eb, None, f"control_kl_ci:{site}:{pl}")
    if "ablate" in ds["condition"].values:
        ab = float(ds["control_kl"].sel(site=site, patch_layer=pl, condition="ablate"))
        if np.isfinite(ab):
            ax.axhline(
                ab, color=CONDITION_COLORS["ablate"], linestyle="--", linewidth=1, gid=f"ablate:{site}:{pl}"
            )
    ax.set_xticks(x, [_condition_tick(c) for c in conds], fontsize=7)


@figure(
    "diff_controls",
    needs=["diff.nc:control_kl", "diff.nc:control_kl_ci"],
    title="Model diff: mapped patching vs controls",
    description="Mean KL (nats, validation prompts, alpha = 1) of B patched with A's raw activation, with the "
    "transport-mapped activation, and with two controls: a map fit at a mismatched layer and a map "
    "fit on shuffled prompt pairs; 95% bootstrap CIs. Dashed line: zero-ablation of the site.",
)
def diff_controls(res: Results) -> Figure:
    """Bars of raw, mapped and control patching KL with CIs, one panel per (site, patch layer)."""
    ds = res.dataset("diff.nc")
    fig, cells = _site_layer_grid(ds, panel=(3.2, 2.8))
    conds = [c for c in CONTROL_BARS if c in [str(x) for x in ds["condition"].values]]
    for ax, site, pl, first_col in cells:
        _controls_panel(ax, ds, site, pl, conds)
        _panel_frame(ax, site, pl, first_col)
        ax.grid(axis="x", visible=False)
    handles: list = [Patch(color=CONDITION_COLORS[c], label=CONDITION_LABELS[c]) for c in conds]
    handles.append(Line2D([], [], color=CONDITION_COLORS["ablate"], linestyle="--", label="zero-ablation"))
    top_legend(fig, handles)
    return finish_below_legend(fig, 0.4)
