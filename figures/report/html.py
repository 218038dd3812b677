"""HTML building blocks of the report: number formatting, tables, embedded figures."""

from __future__ import annotations

import base64
import html
import math
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from ..registry import FigureSpec, available, make_figure
from ..results import Results
from ..style import to_png_bytes

__all__ = ["esc", "num", "layer", "table", "ci_cell", "figures_html", "section_of"]

esc = html.escape

#: figure package -> report section that embeds its figures (others go to "Figures")
_SECTION_OF_PACKAGE = {"polylens.figures.quant": "quant", "polylens.figures.diff": "diff"}


def num(x: Any, nd: int = 3) -> str:
    """``x`` with ``nd`` decimals; "–" for NaN, "never" for infinity, escaped text otherwise."""
    try:
        f = float(x)
    except (TypeError, ValueError):
        return esc(str(x))
    if math.isnan(f):
        return "–"
    if math.isinf(f):
        return "never"
    return f"{f:.{nd}f}"


def layer(x: Any) -> str:
    """A layer number, or "never" when not finite."""
    f = float(x)
    return "never" if not math.isfinite(f) else f"{f:g}"


def table(df: pd.DataFrame, cls: str = "") -> str:
    """An HTML table of already-escaped cells, column names escaped."""
    head = "".join(f"<th>{esc(str(c))}</th>" for c in df.columns)
    rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in df.itertuples(index=False))
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _fmt(v: Any, nd: int, pct: bool, sig: bool) -> str:
    if sig:  # significant digits (KL values span orders of magnitude)
        return f"{float(v):.{nd}g}" if math.isfinite(float(v)) else "–"
    if pct:
        return num(float(v) * 100, max(nd - 2, 1)) + "%"
    return num(v, nd)


def ci_cell(x: Any, lo: Any, hi: Any, nd: int = 3, pct: bool = False, sig: bool = False) -> str:
    """A value and its CI, ``x [lo, hi]``, the interval in a muted span."""
    return (
        f"{_fmt(x, nd, pct, sig)} <span class=ci>[{_fmt(lo, nd, pct, sig)}, {_fmt(hi, nd, pct, sig)}]</span>"
    )


def section_of(spec: FigureSpec) -> str:
    """The report section that embeds a figure: by the figure package its function lives in."""
    module = spec.func.__module__
    for package, section in _SECTION_OF_PACKAGE.items():
        if module == package or module.startswith(package + "."):
            return section
    return "figures"


def figures_html(res: Results, section: str = "figures") -> str:
    """Every available figure of ``section`` as an inline base64 PNG with its caption."""
    out = []
    for spec in available(res):
        if section_of(spec) != section:
            continue
        png = to_png_bytes(make_figure(spec.name, res))
        plt.close("all")
        b64 = base64.b64encode(png).decode("ascii")
        out.append(
            f'<figure id="fig-{esc(spec.name)}"><img alt="{esc(spec.title)}" src="data:image/png;base64,{b64}">'
            f"<figcaption><b>{esc(spec.title)}.</b> {esc(spec.description)} "
            f"<span class=file>({esc(spec.name)}.png / .svg)</span></figcaption></figure>"
        )
    return "\n".join(out)
