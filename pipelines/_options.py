"""Field and validation helpers shared by the ``quant`` and ``diff`` configs."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from polylens.errors import ConfigError


def opt(default: Any = dataclasses.MISSING, help: str = "") -> Any:
    """A config field with its ``--help`` text (no default: a required option)."""
    return dataclasses.field(default=default, metadata={"help": help})


def flag(name: str) -> str:
    """The command-line flag of config field ``name``."""
    return "--" + name.replace("_", "-")


def check(ok: bool, name: str, message: str) -> None:
    """Raise a one-line :class:`ConfigError` naming the flag of field ``name`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"{flag(name)}: {message}")


def positive(config: Any, *names: str, allow_zero: bool = False) -> None:
    """Check that each named numeric field (when set, also each item of a tuple) is finite and > 0."""
    for name in names:
        value = getattr(config, name)
        for v in value if isinstance(value, (tuple, list)) else () if value is None else (value,):
            ok = math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
            check(ok, name, f"must be {'>= 0' if allow_zero else '> 0'}, got {v}")


def fraction(config: Any, *names: str) -> None:
    """Check that each named field lies in the open interval (0, 1)."""
    for name in names:
        v = getattr(config, name)
        check(math.isfinite(v) and 0 < v < 1, name, f"must be in (0, 1), got {v}")
