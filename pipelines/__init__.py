"""Pipelines: one typed config and one ``run(config)`` per job; the only layer that sequences steps.

Convention for every job module ``pipelines/<job>.py``:

- one or more ``@dataclass(frozen=True)`` configs whose fields carry
  ``metadata={"help": "..."}``; field types are drawn from ``str``, ``int``, ``float``,
  ``bool``, ``Path``, ``Literal[...]`` (choices), ``tuple[str, ...]`` / ``tuple[int, ...]`` /
  ``tuple[float, ...]`` and ``X | None``. ``__post_init__`` validates ranges and raises
  :class:`polylens.errors.ConfigError` naming the option;
- ``run(config) -> result``: opens models, sequences steps, writes results;
- ``summary(result) -> str``: the text the CLI prints.

``cli.py`` binds these configs to argparse (and to ``--config FILE.toml``) and does nothing else.
A config's class docstring is its command's help; ``command`` (a ClassVar) names the command,
which is also the table of its config file (``[run]``, ``[quant.evaluate]``). ``run`` logs
progress to the ``polylens.pipelines`` logger (the CLI prints it). A result may carry
``exit_code`` (returned by the CLI after the summary) and ``error`` (a ToolkitError raised after
the summary is printed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from polylens.pipelines import (
    analyze,
    capture,
    diff,
    figures,
    merge,
    models,
    probes,
    quant,
    quickstart,
    regress,
    report,
    route,
    run,
)

Command = tuple[type, Callable[[Any], Any], Callable[[Any], str]]

#: command path (words separated by spaces) -> (config class, run, summary)
COMMANDS: dict[str, Command] = {
    "models": (models.ModelsConfig, models.run, models.summary),
    "quickstart": (quickstart.QuickstartConfig, quickstart.run, quickstart.summary),
    "cache": (capture.CaptureConfig, capture.run, capture.summary),
    "merge": (merge.MergeConfig, merge.run, merge.summary),
    "analyze": (analyze.AnalyzeConfig, analyze.run, analyze.summary),
    "regress": (regress.RegressConfig, regress.run, regress.summary),
    "run": (run.RunConfig, run.run, run.summary),
    "figures": (figures.FiguresConfig, figures.run, figures.summary),
    "report": (report.ReportConfig, report.run, report.summary),
    "probes list": (probes.ListConfig, probes.run_list, probes.summary),
    "probes validate": (probes.ValidateConfig, probes.run_validate, probes.summary),
    "probes build": (probes.BuildConfig, probes.run_build, probes.summary),
    "route": (route.RouteConfig, route.run, route.summary),
    "diff": (diff.DiffConfig, diff.run, diff.summary),
    "quant weights": (quant.WeightsConfig, quant.run, quant.summary),
    "quant evaluate": (quant.EvaluateConfig, quant.run, quant.summary),
    "quant sinks": (quant.SinksConfig, quant.run, quant.summary),
    "quant heads": (quant.HeadsConfig, quant.run, quant.summary),
}

#: help of the command groups (a group's sub-commands are the COMMANDS under it)
GROUPS = {
    "probes": "Stimulus sets: list, validate, rebuild.",
    "quant": "Quantization disparity: weights, evaluate, sinks, heads.",
}
