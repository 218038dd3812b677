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

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

Command = tuple[type, Callable[[Any], Any], Callable[[Any], str]]

#: modules of this package that are not jobs
INFRASTRUCTURE = frozenset({"config"})


def _collect() -> dict[str, Command]:
    """Every job module's ``COMMANDS``, in module-name order (job modules are discovered)."""
    commands: dict[str, Command] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name not in INFRASTRUCTURE and not info.name.startswith("_"):
            commands.update(getattr(importlib.import_module(f"{__name__}.{info.name}"), "COMMANDS", {}))
    return commands


#: command path (words separated by spaces) -> (config class, run, summary)
COMMANDS: dict[str, Command] = _collect()

#: help of the command groups (a group's sub-commands are the COMMANDS under it)
GROUPS = {
    "probes": "Stimulus sets: list, validate, rebuild.",
    "quant": "Quantization disparity: weights, evaluate, sinks, heads.",
}
