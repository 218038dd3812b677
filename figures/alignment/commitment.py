"""Commitment-layer maps: language x variant (``commitment_matrix.csv``), concept x language."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from jaxtyping import Float
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..common import finish, never_heatmap
from ..registry import figure
from ..results import Results
from ..style import lang_label

__all__ = ["commitment_heatmap", "commitment_by_concept"]


def _layer_text(x: float) -> str:
    return "never" if not np.isfinite(x) else f"{x:g}"


def _cell_text(value: float, lo: float, hi: float) -> str:
    if not np.isfinite(value):
        return "never"
    return f"{value:g}\n[{_layer_text(lo)}, {_layer_text(hi)}]"


def _commit_matrix(
    idx: pd.DataFrame, langs: list[str], variants: list[str]
) -> Float[np.ndarray, "lang variant"]:
    """Stored commitment layer per (language, variant); NaN where the table has no row."""
    return np.array(
        [
            [idx.loc[(g, v), "commit_layer"] if (g, v) in idx.index else np.nan for v in variants]
            for g in langs
        ],
        dtype=float,
    )


def _grid_lines(ax: Axes, n_cols: int, n_rows: int) -> None:
    """Thin cell borders (minor ticks between cells, no tick marks)."""
    ax.set_xticks(np.arange(n_cols + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(n_rows + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="#999999", linewidth=0.5)
    ax.tick_params(which="minor", length=0)


@figure(
    "commitment_heatmap",
    needs=["commitment_matrix.csv"],
    title="Commitment layer: language x variant",
    description="First layer at which the mean cosine stays above tau for k consecutive layers (from "
    "commitment_matrix.csv), with its bootstrap CI; 'never' = does not commit within the network.",
)
def commitment_heatmap(res: Results) -> Figure:
    """Language x variant heatmap of the stored commitment layer, with its CI as cell text."""
    t = res.table("commitment_matrix.csv")
    langs = list(dict.fromkeys(t["lang"].astype(str)))
    variants = list(dict.fromkeys(t["variant"].astype(str)))
    idx = t.assign(lang=t["lang"].astype(str), variant=t["variant"].astype(str)).set_index(
        ["lang", "variant"]
    )
    mat = _commit_matrix(idx, langs, variants)
    fig, ax = plt.subplots(figsize=(1.3 * len(variants) + 2.8, 0.42 * len(langs) + 1.6))
    n_layers = res.ds.sizes["layer"] if res.has("alignment.nc") else None
    im = never_heatmap(ax, mat, (n_layers - 1) if n_layers else None, "commitment")
    for i, g in enumerate(langs):
        for j, v in enumerate(variants):
            if (g, v) not in idx.index:
                continue
            r = idx.loc[(g, v)]
            val = float(mat[i, j])
            dark = np.isfinite(val) and bool(np.asarray(im.norm(np.asarray(val))) < 0.55)
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
    _grid_lines(ax, len(variants), len(langs))
    tau, k = t["tau"].iloc[0], t["k"].iloc[0]
    ax.set_title(f"Commitment layer (τ = {tau:g}, k = {k:g}); white = never")
    fig.colorbar(im, ax=ax, label="commitment layer", fraction=0.05)
    return finish(fig, top=1.0)


@figure(
    "commitment_by_concept",
    needs=["alignment.nc:commit_unit"],
    title="Commitment layer: concept x language",
    description="Per-unit commitment layer (same tau and k), one panel per variant; white = never commits.",
)
def commitment_by_concept(res: Results) -> Figure:
    """Concept x language heatmap of the per-unit commitment layer, one panel per variant."""
    unit = res.unit_dim
    ds = res.ds
    units = [str(u) for u in ds[unit].values]
    nv = len(res.variants)
    height = min(0.16 * len(units) + 1.8, 16)
    fig, grid = plt.subplots(
        1, nv, figsize=(0.5 * len(res.langs) * nv + 2.5 + 0.8 * nv, height), sharey=True, squeeze=False
    )
    axes = list(grid.ravel())
    for ax, v in zip(axes, res.variants):
        mat = ds["commit_unit"].sel(variant=v, lang=res.langs).transpose(unit, "lang").values
        im = never_heatmap(ax, mat, ds.sizes["layer"] - 1, f"commit_unit:{v}", interpolation="nearest")
        ax.set_xticks(range(len(res.langs)), res.langs, rotation=90 if len(res.langs) > 8 else 0)
        ax.set_title(v)
    if len(units) <= 80:
        axes[0].set_yticks(range(len(units)), units, fontsize=6 if len(units) > 30 else 8)
    axes[0].set_ylabel(unit)
    fig.colorbar(im, ax=axes, label="commitment layer (white = never)", fraction=0.04)
    tau, k = res.attrs.get("analysis_tau"), res.attrs.get("analysis_k")
    fig.suptitle(f"Per-{unit} commitment layer (τ = {tau}, k = {k})")
    return fig
