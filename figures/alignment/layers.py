"""Per-layer alignment metrics (retrieval, CKA, centred cosine, margin) and threshold sweeps.

Each figure here is one row of a table: the stored variable it draws and how, registered in
table order (= report order).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from ..common import facet_labels, facets, finish_below_legend
from ..registry import figure
from ..results import Results
from ..style import GREY, variant_style
from .draw import by_layer, lang_title, variant_legend

__all__ = ["LayerFigure", "LAYER_FIGURES", "SweepFigure", "SWEEP_FIGURES", "sweep"]


@dataclass(frozen=True)
class LayerFigure:
    """A per-language small-multiples figure of one stored ``alignment.nc`` variable by layer."""

    name: str
    var: str
    ylabel: str
    ci: bool
    title: str
    description: str
    ylim: tuple[float, float] | None = None
    hline: float | None = None
    null: bool = False

    def draw(self, res: Results) -> Figure:
        """Draw this figure from a results directory (with the metric's own null band if ``null``)."""
        return by_layer(
            res, self.var, self.ylabel, ci=self.ci, ylim=self.ylim, hline=self.hline, null=self.null
        )


LAYER_FIGURES = (
    LayerFigure(
        "retrieval_by_layer",
        "retrieval_mexa",
        "MEXA retrieval accuracy",
        ci=True,
        ylim=(-0.03, 1.03),
        null=True,
        title="Retrieval accuracy (MEXA) by layer",
        description="Share of units whose translation is the strictly nearest neighbour in both directions "
        "(MEXA alignment score), with exact CI and its own null band: the MEXA score of deranged pairings.",
    ),
    LayerFigure(
        "cka_by_layer",
        "cka",
        "linear CKA",
        ci=False,
        ylim=(-0.03, 1.03),
        title="Linear CKA by layer",
        description="Linear CKA between the reference and each language's concept matrices, per layer.",
    ),
    LayerFigure(
        "cka_debiased_by_layer",
        "cka_debiased",
        "debiased linear CKA",
        ci=False,
        hline=0.0,
        null=True,
        title="Debiased linear CKA by layer",
        description="Debiased linear CKA (unbiased HSIC), which corrects the small-sample upward bias of CKA, "
        "with its own null band: exact permutation mean to q95 (normal approximation) of permuted pairings.",
    ),
    LayerFigure(
        "centred_alignment_curves",
        "cos_centred",
        "centred cosine to reference",
        ci=True,
        hline=0.0,
        null=True,
        title="Language-centred alignment by layer",
        description="Cosine to the reference after subtracting each language's mean vector per layer "
        "(removes the shared anisotropic direction that pins raw cosine near 1), with CI and its own null "
        "band (centred cosine of mismatched concepts).",
    ),
    LayerFigure(
        "margin_by_layer",
        "margin",
        "cosine margin over null",
        ci=True,
        hline=0.0,
        title="Alignment margin over the null by layer",
        description="Matched cosine minus the mean mismatched-concept cosine, with bootstrap CI; 0 = no "
        "concept-specific alignment.",
    ),
)


def sweep(res: Results, var: str, ylabel: str, n_units_line: bool) -> Figure:
    """Per-language small multiples of a stored threshold sweep ``var`` against tau."""
    ds = res.ds
    taus = ds["tau"].values
    tau0 = res.attrs.get("analysis_tau")
    grid = facets(len(res.langs))
    for ax, g in zip(grid.axes, res.langs):
        for v in res.variants:
            st = variant_style(v, res.variants)
            y = ds[var].sel(variant=v, lang=g).values
            ax.plot(taus, y, marker="o", ms=3, label=v, gid=f"{var}:{v}:{g}", **st)
        if n_units_line and "n_units" in ds:
            n = float(ds["n_units"].sel(lang=g).max())
            ax.axhline(n, color=GREY, linewidth=0.8, linestyle=":", gid=f"n_units:{g}")
        if tau0 is not None:
            ax.axvline(float(tau0), color=GREY, linewidth=0.8, linestyle="--", gid=f"tau:{g}")
        ax.set_title(lang_title(res, g))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    facet_labels(grid, "threshold τ", ylabel)
    extra = [Line2D([], [], color=GREY, linestyle="--", label=f"analysis τ = {tau0}")]
    variant_legend(grid.fig, res, extra)
    return finish_below_legend(grid.fig, 0.45)


@dataclass(frozen=True)
class SweepFigure:
    """A threshold-sweep figure of one stored ``alignment.nc`` sweep variable."""

    name: str
    var: str
    ylabel: str
    n_units_line: bool
    title: str
    description: str

    def draw(self, res: Results) -> Figure:
        """Draw this figure from a results directory."""
        return sweep(res, self.var, self.ylabel, self.n_units_line)


SWEEP_FIGURES = (
    SweepFigure(
        "threshold_sweep",
        "sweep_n_committed",
        "units committed",
        n_units_line=True,
        title="Threshold sweep: units committed",
        description="How many units commit (k consecutive layers above tau) as the threshold tau varies; the "
        "dotted line is the number of units present, the dashed line the tau used in the analysis.",
    ),
    SweepFigure(
        "threshold_sweep_layer",
        "sweep_commit_layer",
        "commitment layer",
        n_units_line=False,
        title="Threshold sweep: commitment layer of the mean curve",
        description="Commitment layer of the mean cosine curve as tau varies (gaps = never commits).",
    ),
)


def _register(spec: LayerFigure | SweepFigure, needs: list[str]) -> None:
    """Register ``spec.draw`` under the spec's name as a plain function of this module."""
    draw: Callable[[Results], Figure] = spec.draw

    def func(res: Results) -> Figure:
        """Draw the spec's figure (the docstring is replaced by the spec's title below)."""
        return draw(res)

    func.__name__ = func.__qualname__ = spec.name
    func.__doc__ = spec.title
    figure(spec.name, needs=needs, title=spec.title, description=spec.description)(func)


for _spec in LAYER_FIGURES:
    _register(_spec, [f"alignment.nc:{_spec.var}"] + ([f"alignment.nc:{_spec.var}_ci"] if _spec.ci else []))
for _sweep in SWEEP_FIGURES:
    _register(_sweep, [f"alignment.nc:{_sweep.var}"])
