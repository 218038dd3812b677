"""The generic binder between job configs (frozen dataclasses) and argparse / TOML files.

A config field becomes the flag ``--field-name`` (or a positional argument when its metadata
says ``positional=True``); its help text comes from ``metadata["help"]``. Command-line values
and TOML values go through one converter, so a bad value is the same one-line
:class:`ConfigError` whichever way it came in. Precedence: dataclass default < config file <
flag given on the command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from polylens.errors import ConfigError

C = TypeVar("C")
SCALARS: dict[type, Callable[[str], Any]] = {str: str, int: int, float: float, Path: Path}


def opt(default: Any = dataclasses.MISSING, help: str = "", positional: bool = False) -> Any:
    """A config field with its help text (and whether it is a positional argument)."""
    return dataclasses.field(default=default, metadata={"help": help, "positional": positional})


@dataclasses.dataclass(frozen=True)
class FieldType:
    """What a field annotation means for parsing: base type, choices, tuple-ness, optional."""

    base: type
    choices: tuple[Any, ...] | None = None
    is_tuple: bool = False
    optional: bool = False


def field_type(annotation: Any) -> FieldType:
    """Decode ``X``, ``X | None``, ``tuple[X, ...]`` and ``Literal[...]`` annotations."""
    optional = False
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        optional, annotation = True, inner[0]
        args = typing.get_args(annotation)
    is_tuple = typing.get_origin(annotation) is tuple
    if is_tuple:
        annotation = args[0]
    if typing.get_origin(annotation) is Literal:
        choices = typing.get_args(annotation)
        return FieldType(type(choices[0]), choices, is_tuple, optional)
    return FieldType(annotation, None, is_tuple, optional)


def flag(name: str) -> str:
    """The command-line spelling of a field name."""
    return "--" + name.replace("_", "-")


def _hints(cls: type) -> dict[str, FieldType]:
    hints = typing.get_type_hints(cls)
    return {f.name: field_type(hints[f.name]) for f in dataclasses.fields(cls)}


def _help(f: dataclasses.Field, ft: FieldType) -> str:
    text = f.metadata.get("help", "")
    if ft.is_tuple:
        text += " (comma- or space-separated)"
    if f.default is dataclasses.MISSING:
        return text + " (required)"
    default = f.default
    if isinstance(default, tuple):
        default = ",".join(str(v) for v in default)
    return f"{text} (default: {default})" if default is not None else text


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one flag (or positional) per field of the dataclass ``cls`` to ``parser``."""
    for f in dataclasses.fields(cls):
        ft = _hints(cls)[f.name]
        kw: dict[str, Any] = {"help": _help(f, ft), "default": argparse.SUPPRESS}
        if ft.base is bool and not ft.is_tuple:
            parser.add_argument(flag(f.name), action=argparse.BooleanOptionalAction, **kw)
            continue
        if ft.choices:
            kw["metavar"] = "{" + ",".join(str(c) for c in ft.choices) + "}"
        if f.metadata.get("positional"):
            nargs = "*" if ft.is_tuple else "?"
            parser.add_argument(f.name, nargs=nargs, **kw)
        else:
            kw.setdefault("metavar", f.name.upper())
            parser.add_argument(flag(f.name), nargs="+" if ft.is_tuple else None, **kw)


def _one(raw: Any, ft: FieldType, where: str) -> Any:
    """Convert one scalar (a command-line string or a TOML value) to ``ft.base``."""
    kind = {bool: "true or false", int: "an integer", float: "a number"}.get(ft.base, "a string")
    if ft.base is bool:
        if isinstance(raw, bool):
            return raw
        raise ConfigError(f"{where}: expected {kind}, got {raw!r}")
    wrong = isinstance(raw, bool) or (ft.base is int and isinstance(raw, float))
    wrong |= ft.base in (str, Path) and not isinstance(raw, str)
    try:
        value = None if wrong else SCALARS[ft.base](raw)
    except (TypeError, ValueError):
        value = None
    if value is None:
        raise ConfigError(f"{where}: expected {kind}, got {raw!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: must be finite, got {raw!r}")
    if ft.choices and value not in ft.choices:
        raise ConfigError(f"{where}: {raw!r} is not one of {', '.join(map(str, ft.choices))}")
    return value


def convert(raw: Any, ft: FieldType, where: str) -> Any:
    """Convert a raw value for a field of type ``ft``; ``where`` names the flag or key for errors."""
    if raw is None and ft.optional:
        return None
    if not ft.is_tuple:
        return _one(raw, ft, where)
    items = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list | tuple) else [raw]
    parts = [p.strip() for item in items for p in (item.split(",") if isinstance(item, str) else [item])]
    return tuple(_one(p, ft, where) for p in parts if p != "")


def from_args(cls: type[C], namespace: argparse.Namespace, file_values: Mapping[str, Any]) -> C:
    """Build ``cls`` from dataclass defaults, then ``file_values``, then the flags given."""
    hints = _hints(cls)
    given = vars(namespace)
    source = file_values.get("__file__", "the config file")
    for key in file_values:
        if key not in hints and key != "__file__":
            raise ConfigError(f"unknown key {key!r} in {source}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for name, ft in hints.items():
        label = name.upper() if fields[name].metadata.get("positional") else flag(name)
        if name in given:
            values[name] = convert(given[name], ft, label)
        elif name in file_values:
            values[name] = convert(file_values[name], ft, f"key {name!r} in {source}")
        elif fields[name].default is dataclasses.MISSING:
            raise ConfigError(f"missing required {label}")
    return cls(**values)


def load_config_file(path: str | Path, command: str) -> dict[str, Any]:
    """Values for ``command`` from a TOML file: its ``[command]`` table, else the top-level keys.

    A command path with spaces (``quant evaluate``) is the nested table ``[quant.evaluate]``.
    Tables of other commands are ignored; :func:`from_args` refuses unknown keys, naming the file.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    table: Any = data
    for word in command.split():
        table = table.get(word) if isinstance(table, dict) else None
    if not isinstance(table, dict):
        table = {k: v for k, v in data.items() if not isinstance(v, dict)}
    return {**table, "__file__": str(path)}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def to_toml(config: Any, command: str) -> str:
    """The resolved config as a TOML ``[command]`` table (None values are left out)."""
    lines = [f"[{command.replace(' ', '.')}]"]
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if value is not None:
            lines.append(f"{f.name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def write_config(config: Any, directory: Path) -> Path:
    """Write the resolved ``config`` as ``directory/config.toml`` (loadable with ``--config``)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.toml"
    path.write_text(to_toml(config, config.command), encoding="utf-8")
    return path


def check(ok: bool, name: str, message: str) -> None:
    """Raise a one-line :class:`ConfigError` naming the flag of field ``name`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"{flag(name)}: {message}")


def positive(config: Any, *names: str, allow_zero: bool = False) -> None:
    """Check that each named numeric field (when set; each item of a tuple) is finite and > 0 (or >= 0)."""
    for name in names:
        value = getattr(config, name)
        for v in value if isinstance(value, tuple | list) else () if value is None else (value,):
            ok = math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
            check(ok, name, f"must be {'>= 0' if allow_zero else '> 0'}, got {v}")


def fraction(config: Any, *names: str) -> None:
    """Check that each named field lies in the open interval (0, 1)."""
    for name in names:
        v = getattr(config, name)
        check(math.isfinite(v) and 0 < v < 1, name, f"must be in (0, 1), got {v}")


def at_most(config: Any, name: str, limit: float) -> None:
    """Check that a numeric field (when set) is at most ``limit``."""
    value = getattr(config, name)
    check(value is None or value <= limit, name, f"must be at most {limit}, got {value}")


def threads_opt() -> Any:
    """The ``--threads`` field of every job that runs a model (``hooks.threads.ThreadShare``)."""
    return opt(None, "CPU threads (default: an equal share of the CPUs this job may use)")


def check_threads(config: Any) -> None:
    """``--threads``, when given, is a count between 1 and 1024."""
    positive(config, "threads")
    at_most(config, "threads", 1024)


def output_dir(config: Any, name: str, is_file: bool = False) -> None:
    """Check an output path: not under /proc or /sys, not a file where a directory goes (or the
    reverse), and its nearest existing ancestor is a writable directory."""
    import os

    path = Path(getattr(config, name)).absolute()
    check(path.parts[1:2] not in (("proc",), ("sys",), ("dev",)), name, f"{path} is not a place for results")
    if path.exists():
        check(path.is_dir() != is_file, name, f"{path} is a {'directory' if path.is_dir() else 'file'}")
    parent = path if path.exists() and not is_file else path.parent
    while not parent.exists():
        parent = parent.parent
    check(parent.is_dir(), name, f"{parent} is not a directory")
    check(os.access(parent, os.W_OK | os.X_OK), name, f"{parent} is not writable")


def input_path(config: Any, name: str, kind: str = "any") -> None:
    """Check that an input path (when set) exists (and is a ``file`` / ``dir`` if asked)."""
    value = getattr(config, name)
    for v in value if isinstance(value, tuple | list) else () if value is None else (value,):
        path = Path(v)
        check(path.exists(), name, f"{path} does not exist")
        if kind == "dir":
            check(path.is_dir(), name, f"{path} is not a directory")
        if kind == "file":
            check(path.is_file(), name, f"{path} is not a file")


def check_device(device: str | None) -> None:
    """Refuse an unknown device, or one this machine does not have (``cuda`` without CUDA)."""
    if device is None or device == "cpu":
        return
    import re

    ok = re.fullmatch(r"(cuda(:\d+)?|mps|cpu)", device)
    if not ok:
        raise ConfigError(f"--device: unknown device {device[:40]!r}; use cpu, cuda, cuda:N or mps")
    import torch

    if device.startswith("cuda"):
        n = torch.cuda.device_count()
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= n:
            raise ConfigError(f"--device {device}: this machine has {n} CUDA device(s)")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("--device mps: MPS is not available on this machine")
