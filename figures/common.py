"""Drawing primitives shared by every figure module (facet grids, CI bands, legends, gids).

Each helper draws exactly what its callers drew before it existed; none computes a statistic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from jaxtyping import Float
from matplotlib.axes import Axes
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from .results import Results, decode_attr
from .style import GREY

__all__ = [
    "CI_ALPHA",
    "LAYER_LABEL",
    "NEVER_COLOR",
    "Facets",
    "facets",
    "facet_labels",
    "finish",
    "finish_below_legend",
    "band_line",
    "ci_bounds",
    "ci_patch",
    "ref_line",
    "tag_errorbar",
    "top_legend",
    "never_heatmap",
    "stat_getter",
    "dataset_attrs",
]

CI_ALPHA = 0.18
LAYER_LABEL = "layer (0 = embedding output)"
NEVER_COLOR = "#ffffff"

#: a 1-axis array of x or y values of one drawn line
Line = Float[np.ndarray, " x"]


@dataclass(frozen=True)
class Facets:
    """A grid of small multiples: the figure, its visible axes and each panel's edge flags."""

    fig: Figure
    axes: list[Axes]
    bottom: list[bool]  # no visible panel below: shows x tick labels and the x label
    left: list[bool]  # first column: shows the y label


def facets(n: int, ncols: int = 4, panel: tuple[float, float] = (3.1, 2.4), sharey: bool = True) -> Facets:
    """``n`` panels in rows of ``ncols`` sharing x (and y), surplus panels hidden."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, grid = plt.subplots(
        nrows,
        ncols,
        figsize=(panel[0] * ncols, panel[1] * nrows + 0.6),
        sharex=True,
        sharey=sharey,
        squeeze=False,
    )
    flat = list(grid.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    bottom = [i + ncols >= n for i in range(n)]
    for ax, low in zip(flat[:n], bottom):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if low:
            ax.xaxis.set_tick_params(labelbottom=True)
    return Facets(fig, flat[:n], bottom, [i % ncols == 0 for i in range(n)])


def facet_labels(grid: Facets, xlabel: str, ylabel: str) -> None:
    """Y label on the first column, x label on the bottom panels."""
    for ax, low, left in zip(grid.axes, grid.bottom, grid.left):
        if left:
            ax.set_ylabel(ylabel)
        if low:
            ax.set_xlabel(xlabel)


def finish(fig: Figure, top: float = 0.9) -> Figure:
    """Tight layout below ``top`` (figure fraction) and return the figure."""
    fig.tight_layout(rect=(0, 0, 1, top))
    return fig


def finish_below_legend(fig: Figure, inches: float) -> Figure:
    """Tight layout leaving ``inches`` at the top for a figure legend."""
    return finish(fig, top=1 - inches / fig.get_figheight())


def band_line(
    ax: Axes,
    x: Line,
    y: Line,
    band: tuple[Line, Line] | None,
    color: str,
    var: str,
    key: str | None = None,
    **line: Any,
) -> Line2D:
    """Stored line (gid ``var:key``) over its stored CI band (gid ``var_ci:key``) when given."""
    suffix = f":{key}" if key else ""
    if band is not None:
        ax.fill_between(
            x, band[0], band[1], color=color, alpha=CI_ALPHA, linewidth=0, gid=f"{var}_ci{suffix}"
        )
    return ax.plot(x, y, color=color, gid=f"{var}{suffix}", **line)[0]


def ci_bounds(ci: xr.DataArray) -> tuple[Line, Line]:
    """(lo, hi) values of a stored CI array with a ``ci`` axis."""
    return ci.sel(ci="lo").values, ci.sel(ci="hi").values


def ci_patch(label: str = "95% bootstrap CI") -> Patch:
    """Legend handle of a grey CI band."""
    return Patch(facecolor=GREY, alpha=0.35, label=label)


def ref_line(ax: Axes, y: float, gid: str | None = None) -> None:
    """Thin dotted grey horizontal reference line."""
    ax.axhline(y, color=GREY, linewidth=0.8, linestyle=":", gid=gid)


def tag_errorbar(eb: ErrorbarContainer, gid: str | None, ci_gid: str) -> None:
    """Give an errorbar's data line the gid ``gid`` and its CI segments ``ci_gid``."""
    if gid is not None:
        eb.lines[0].set_gid(gid)  # type: ignore[union-attr]
    eb.lines[2][0].set_gid(ci_gid)


def top_legend(fig: Figure, handles: Sequence[Any], ncol: int | None = None) -> None:
    """Frameless figure legend centred along the top edge (one row by default)."""
    fig.legend(
        handles=handles,
        loc="upper center",
        ncol=ncol or len(handles),
        frameon=False,
        bbox_to_anchor=(0.5, 1.0),
    )


def never_heatmap(
    ax: Axes, mat: Float[np.ndarray, "row col"], vmax: float | None, gid: str, **kw: Any
) -> AxesImage:
    """Layer heatmap whose NaN cells ("never") are white; grid lines and ticks marks off."""
    im = ax.imshow(
        np.ma.masked_invalid(mat),
        cmap=plt.get_cmap().with_extremes(bad=NEVER_COLOR),
        aspect="auto",
        vmin=0,
        vmax=vmax,
        gid=gid,
        **kw,
    )
    ax.grid(False)
    ax.tick_params(length=0)
    return im


def stat_getter(c: xr.DataArray) -> Callable[[str], float]:
    """``get(name)``: one stored statistic of a ``stat``-indexed correlation record."""
    return lambda k: float(c.sel(stat=k))


def dataset_attrs(res: Results, name: str) -> dict[str, Any]:
    """The decoded netCDF attributes of one results file."""
    return {k: decode_attr(v) for k, v in res.dataset(name).attrs.items()}
