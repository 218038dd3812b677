"""Figures and the HTML report, regenerated from stored results only (never a live model).

Public API:

- :func:`render_all(results_dir, out_dir, formats=("png", "svg"), only=None)` -> ``{name: [paths]}``
- :func:`available(results_dir)` -> the :class:`FigureSpec` s whose needs the directory satisfies
- :func:`make_figure(name, results_dir)` -> an open matplotlib Figure (tests, notebooks)
- :func:`figure` decorator + :data:`REGISTRY` to add figures (quantization, diffing, ...)
- :class:`Results`: read-only view of a results directory
- :func:`figures.report.build_report(results_dir, out_html)`: one self-contained HTML file

Importing this package never imports torch, transformer_lens or ``hooks``.
"""

from polylens.figures.registry import REGISTRY, FigureSpec, available, figure, make_figure, render_all
from polylens.figures.results import Results

__all__ = ["REGISTRY", "FigureSpec", "Results", "available", "figure", "make_figure", "render_all"]
