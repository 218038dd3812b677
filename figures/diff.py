"""Model-diffing figures (issue 8), drawn from ``diff.nc`` (``analysis.diffing.write_results``).

Contract: ``docs/CONVENTIONS.md`` "Model diffing results". Every data artist has a ``gid``
(``"cka:<kind>"``, ``"kl:<direction>"``, ``"sweep_kl:<site>:<layer>:<patch>"``,
``"control_kl:<site>:<layer>"`` ...). Nothing is computed: means, CIs, alpha* and the controls
are the stored values (validation prompts for the sweep and the controls).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from .alignment import CI_ALPHA, _finish
from .registry import figure
from .results import Results, decode_attr
from .style import CONDITION_COLORS, DIRECTION_COLORS, GREY, KIND_COLORS, OKABE_ITO

__all__ = ["diff_attrs", "model_names", "CONTROL_BARS", "DIRECTION_LABELS"]

LAYER_LABEL = "layer (0 = embedding output)"
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


def diff_attrs(res: Results) -> dict:
    return {k: decode_attr(v) for k, v in res.dataset("diff.nc").attrs.items()}


def model_names(res: Results) -> tuple[str, str]:
    a = diff_attrs(res)
    return str(a.get("a_name", "A")), str(a.get("b_name", "B"))


DIRECTION_LABELS = {"a_to_b": "A → B: {a} into {b}", "b_to_a": "B → A: {b} into {a}"}


def _band_line(ax, x, y, lo, hi, color, var: str, key: str, label=None, **kw):
    """Stored line ``var`` (gid ``var:key``) over its stored CI band (gid ``var_ci:key``)."""
    ax.fill_between(x, lo, hi, color=color, alpha=CI_ALPHA, linewidth=0, gid=f"{var}_ci:{key}")
    return ax.plot(x, y, color=color, gid=f"{var}:{key}", label=label, marker="o", ms=3, **kw)[0]


@figure(
    "diff_cka_by_layer",
    needs=["diff.nc:cka", "diff.nc:cka_ci"],
    title="Model diff: CKA by layer",
    description="CKA between the two models' pooled residual-stream representations of the same prompts, per "
    "layer: linear and debiased (unbiased HSIC), with 95% bootstrap CIs over prompts. 1 = the same "
    "representation up to rotation and scale.",
)
def diff_cka_by_layer(res: Results):
    ds = res.dataset("diff.nc")
    a, b = model_names(res)
    layers = ds["layer"].values
    fig, ax = plt.subplots(figsize=(6.6, 3.8))
    for kind in [str(k) for k in ds["kind"].values]:
        ci = ds["cka_ci"].sel(kind=kind)
        _band_line(
            ax,
            layers,
            ds["cka"].sel(kind=kind).values,
            ci.sel(ci="lo").values,
            ci.sel(ci="hi").values,
            KIND_COLORS.get(kind, GREY),
            "cka",
            kind,
            label=f"{kind} CKA",
            linestyle="-" if kind == "linear" else "--",
        )
    ax.axhline(1.0, color=GREY, linewidth=0.8, linestyle=":")
    ax.set_xlabel(LAYER_LABEL)
    ax.set_ylabel(f"CKA({a}, {b})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"Representation similarity: {a} vs {b}")
    handles = ax.get_legend_handles_labels()[0] + [
        Patch(facecolor=GREY, alpha=0.35, label="95% bootstrap CI")
    ]
    ax.legend(handles=handles, frameon=False, fontsize=8)
    return _finish(fig, top=1.0)


@figure(
    "diff_kl_by_layer",
    needs=["diff.nc:kl", "diff.nc:kl_ci"],
    title="Model diff: patching KL by layer",
    description="Cross-model activation patching: mean KL divergence (nats) of the next-token distribution "
    "when one model's residual stream at a layer is replaced by the other's, in both directions, "
    "with 95% bootstrap CIs over prompts. Layers not run are gaps. Dotted lines: the peak-KL and "
    "control layers used for mapped patching.",
)
def diff_kl_by_layer(res: Results):
    ds = res.dataset("diff.nc")
    attrs = diff_attrs(res)
    a, b = model_names(res)
    layers = ds["layer"].values
    fig, ax = plt.subplots(figsize=(7.0, 4.0))
    for d in [str(x) for x in ds["direction"].values]:
        ci = ds["kl_ci"].sel(direction=d)
        label = DIRECTION_LABELS.get(d, d).format(a=a, b=b)
        _band_line(
            ax,
            layers,
            ds["kl"].sel(direction=d).values,
            ci.sel(ci="lo").values,
            ci.sel(ci="hi").values,
            DIRECTION_COLORS.get(d, GREY),
            "kl",
            d,
            label=label,
            linestyle="-" if d == "a_to_b" else "--",
        )
    for key, text in (("peak_kl_layer", "peak"), ("control_layer", "control")):
        if key in attrs:
            ax.axvline(float(attrs[key]), color=GREY, linewidth=0.8, linestyle=":", gid=key)
            ax.text(
                float(attrs[key]),
                1.0,
                f" {text}",
                transform=ax.get_xaxis_transform(),
                fontsize=7,
                color=GREY,
                va="top",
            )
    ax.set_xlabel(LAYER_LABEL)
    ax.set_ylabel("KL(patched || clean), nats")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0)
    ax.set_title(f"Patching KL by layer: {a} vs {b}")
    handles = ax.get_legend_handles_labels()[0] + [
        Patch(facecolor=GREY, alpha=0.35, label="95% bootstrap CI")
    ]
    ax.legend(handles=handles, frameon=False, fontsize=8, loc="upper left")
    return _finish(fig, top=1.0)


def _site_layer_grid(ds, panel=(3.4, 2.8)):
    sites = [str(s) for s in ds["site"].values]
    pls = [int(p) for p in ds["patch_layer"].values]
    fig, axes = plt.subplots(
        len(sites), len(pls), figsize=(panel[0] * len(pls) + 0.6, panel[1] * len(sites) + 0.7), squeeze=False
    )
    return fig, axes, sites, pls


@figure(
    "diff_alpha_sweep",
    needs=["diff.nc:sweep_kl", "diff.nc:sweep_kl_ci"],
    title="Model diff: alpha sweep of mapped patching",
    description="KL (nats, validation prompts) when the patched vector is alpha times A's activation (raw) or "
    "alpha times its transport-mapped version (mapped), per site and patch layer, with 95% bootstrap "
    "CIs; alpha = 0 is zero-ablation of the site. The dotted line marks alpha* chosen on training "
    "prompts.",
)
def diff_alpha_sweep(res: Results):
    ds = res.dataset("diff.nc")
    fig, axes, sites, pls = _site_layer_grid(ds)
    alphas = ds["alpha"].values
    for i, site in enumerate(sites):
        for j, pl in enumerate(pls):
            ax = axes[i, j]
            for p in [str(x) for x in ds["patch"].values]:
                sel = dict(sweep_split="val", site=site, patch_layer=pl, patch=p)
                ci = ds["sweep_kl_ci"].sel(**sel)
                _band_line(
                    ax,
                    alphas,
                    ds["sweep_kl"].sel(**sel).values,
                    ci.sel(ci="lo").values,
                    ci.sel(ci="hi").values,
                    PATCH_COLORS.get(p, GREY),
                    "sweep_kl",
                    f"{site}:{pl}:{p}",
                    linestyle="-" if p == "mapped" else "--",
                )
            if "best_alpha_train" in ds:
                best = float(ds["best_alpha_train"].sel(site=site, patch_layer=pl))
                if np.isfinite(best):
                    ax.axvline(best, color=GREY, linestyle=":", linewidth=1, gid=f"best_alpha:{site}:{pl}")
            ax.set_title(f"{site}, layer {pl}")
            ax.set_xlabel("alpha")
            if j == 0:
                ax.set_ylabel("KL, nats (val)")
            ax.set_ylim(bottom=0)
    handles = [
        Line2D([], [], color=PATCH_COLORS["raw"], linestyle="--", marker="o", ms=3, label="raw: alpha · A"),
        Line2D([], [], color=PATCH_COLORS["mapped"], marker="o", ms=3, label="mapped: alpha · map(A)"),
        Patch(facecolor=GREY, alpha=0.35, label="95% bootstrap CI"),
        Line2D([], [], color=GREY, linestyle=":", label="alpha* (train prompts)"),
    ]
    fig.legend(handles=handles, loc="upper center", ncol=4, frameon=False, bbox_to_anchor=(0.5, 1.0))
    return _finish(fig, top=1 - 0.4 / fig.get_figheight())


@figure(
    "diff_controls",
    needs=["diff.nc:control_kl", "diff.nc:control_kl_ci"],
    title="Model diff: mapped patching vs controls",
    description="Mean KL (nats, validation prompts, alpha = 1) of B patched with A's raw activation, with the "
    "transport-mapped activation, and with two controls: a map fit at a mismatched layer and a map "
    "fit on shuffled prompt pairs; 95% bootstrap CIs. Dashed line: zero-ablation of the site.",
)
def diff_controls(res: Results):
    ds = res.dataset("diff.nc")
    fig, axes, sites, pls = _site_layer_grid(ds, panel=(3.2, 2.8))
    conds = [c for c in CONTROL_BARS if c in [str(x) for x in ds["condition"].values]]
    x = np.arange(len(conds))
    for i, site in enumerate(sites):
        for j, pl in enumerate(pls):
            ax = axes[i, j]
            vals = ds["control_kl"].sel(site=site, patch_layer=pl, condition=conds).values
            ci = ds["control_kl_ci"].sel(site=site, patch_layer=pl, condition=conds)
            lo, hi = ci.sel(ci="lo").values, ci.sel(ci="hi").values
            ax.bar(
                x,
                vals,
                0.7,
                color=[CONDITION_COLORS.get(c, GREY) for c in conds],
                gid=f"control_kl:{site}:{pl}",
            )
            eb = ax.errorbar(x, vals, yerr=[vals - lo, hi - vals], fmt="none", ecolor=GREY, capsize=3)
            eb.lines[2][0].set_gid(f"control_kl_ci:{site}:{pl}")
            if "ablate" in ds["condition"].values:
                ab = float(ds["control_kl"].sel(site=site, patch_layer=pl, condition="ablate"))
                if np.isfinite(ab):
                    ax.axhline(
                        ab,
                        color=CONDITION_COLORS["ablate"],
                        linestyle="--",
                        linewidth=1,
                        gid=f"ablate:{site}:{pl}",
                    )
            ax.set_xticks(
                x,
                [
                    CONDITION_LABELS[c].replace(" ", "\n", 1)
                    if len(CONDITION_LABELS[c]) > 8
                    else CONDITION_LABELS[c]
                    for c in conds
                ],
                fontsize=7,
            )
            ax.set_title(f"{site}, layer {pl}")
            if j == 0:
                ax.set_ylabel("KL, nats (val)")
            ax.grid(axis="x", visible=False)
    handles = [Patch(color=CONDITION_COLORS[c], label=CONDITION_LABELS[c]) for c in conds]
    handles.append(Line2D([], [], color=CONDITION_COLORS["ablate"], linestyle="--", label="zero-ablation"))
    fig.legend(
        handles=handles, loc="upper center", ncol=len(handles), frameon=False, bbox_to_anchor=(0.5, 1.0)
    )
    return _finish(fig, top=1 - 0.4 / fig.get_figheight())
