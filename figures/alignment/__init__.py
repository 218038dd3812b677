"""Alignment figures (issue 6), drawn from ``alignment.nc`` / ``commitment_matrix.csv`` only.

Every artist that carries data has a ``gid`` (``"<var>:<variant>:<lang>"``, ``"peak"``, ...) so
tests and the SVG output can find exactly what was drawn. Nothing here computes a statistic: the
values, CIs, peaks, commitment layers and sweeps are all read from the results files.

Importing this package registers its figures, module by module in report order.
"""

import importlib

#: figure modules in registration (= report) order: curves, commitment maps, per-layer metrics
FIGURE_MODULES = ("curves", "commitment", "layers")

for _module in FIGURE_MODULES:
    importlib.import_module(f"{__name__}.{_module}")
