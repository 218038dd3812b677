"""Quantization figures (issue 7), drawn from ``hooks.quant_pipeline`` output only.

``evaluate.nc`` (degradation, disparity, predictors, fits) in :mod:`.evaluate`; ``weights.nc``
(weight outlier statistics), ``sinks.nc`` (attention-sink mass) and ``heads.nc``
(language-specific heads) in :mod:`.internals`.

Every data artist has a ``gid`` (``"rel_degradation:<variant>:<resource>"``, ...) so tests can
check exactly what was drawn. Nothing here computes a statistic: values, CI bounds, the fit line
and its band are read from the files (``evaluate.nc:fit_y`` etc. are written by the pipeline).
Importing this package registers its figures, module by module in report order.
"""

import importlib

#: figure modules in registration (= report) order
FIGURE_MODULES = ("evaluate", "internals")

for _module in FIGURE_MODULES:
    importlib.import_module(f"{__name__}.{_module}")
