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
    _legacy,
    analyze,
    capture,
    figures,
    merge,
    models,
    probes,
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
    # --- TEMPORARY (lead: at the merge of p2's branch, replace these five entries by
    # "diff": (diff.DiffConfig, diff.run, diff.summary) and
    # "quant weights|evaluate|sinks|heads": (quant.WeightsConfig|EvaluateConfig|SinksConfig|
    # HeadsConfig, quant.run, quant.summary), importing diff and quant from polylens.pipelines,
    # and delete pipelines/_legacy.py)
    "diff": (_legacy.DiffConfig, _legacy.run_diff, _legacy.summary_diff),
    "quant weights": (_legacy.WeightsConfig, _legacy.run_quant, _legacy.summary_quant),
    "quant evaluate": (_legacy.EvaluateConfig, _legacy.run_quant, _legacy.summary_quant),
    "quant sinks": (_legacy.SinksConfig, _legacy.run_quant, _legacy.summary_quant),
    "quant heads": (_legacy.HeadsConfig, _legacy.run_quant, _legacy.summary_quant),
}

#: help of the command groups (a group's sub-commands are the COMMANDS under it)
GROUPS = {
    "probes": "Stimulus sets: list, validate, rebuild.",
    "quant": "Quantization disparity: weights, evaluate, sinks, heads.",
}
