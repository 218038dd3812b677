"""``probes list|validate|build``: the stimulus sets: counts, validation, rebuild from upstream."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from polylens.pipelines.config import check, opt

DATA_DIR = Path(__file__).resolve().parents[1] / "probes" / "data"


@dataclass(frozen=True, kw_only=True)
class ListConfig:
    """Sets, counts per language, verified share."""

    command: ClassVar[str] = "probes list"


def _share(value: float | None) -> str:
    """A share as a percentage, ``-`` when unknown."""
    return "-" if value is None else f"{value:.0%}"


def run_list(config: ListConfig) -> list[str]:
    """One table row per committed probe set."""
    from polylens import probes

    rows = [
        f"{'set':<15} {'kind':<11} {'units':>5} {'langs':>5} {'stimuli':>7} {'verified':>8}  per language"
    ]
    for row in probes.list_probe_sets():
        counts = " ".join(f"{k}:{v}" for k, v in row["counts"].items())
        rows.append(
            f"{row['name']:<15} {row['kind']:<11} {row['n_units']:>5} {row['n_languages']:>5} "
            f"{row['n_stimuli']:>7} {_share(row['verified_share']):>8}  {counts}"
        )
    return rows


@dataclass(frozen=True, kw_only=True)
class ValidateConfig:
    """Validate probe files (exit 2 naming file/item/lang)."""

    command: ClassVar[str] = "probes validate"
    paths: tuple[Path, ...] = opt(help="probe files to validate", positional=True)
    normalize: bool = opt(False, "NFC-normalise instead of warning")

    def __post_init__(self) -> None:
        """Need at least one file."""
        check(bool(self.paths), "paths", "give at least one probe file")


def run_validate(config: ValidateConfig) -> list[str]:
    """Validate each file (the first bad one raises ProbeError); one ``ok:`` line per file."""
    from polylens import probes

    lines = []
    for path in config.paths:
        ps = probes.validate(path, normalize=config.normalize)
        lines.append(
            f"ok: {path}: {ps.kind} set {ps.name!r}, {len(ps.units)} units, "
            f"{len(ps.languages)} languages, {len(ps.stimuli)} stimuli"
        )
    return lines


@dataclass(frozen=True, kw_only=True)
class BuildConfig:
    """Regenerate the committed sets from upstream packages."""

    command: ClassVar[str] = "probes build"
    out: Path = opt(DATA_DIR, "directory for the probe files")


def run_build(config: BuildConfig) -> list[str]:
    """Rebuild every committed probe file; one ``wrote`` line per file."""
    from polylens.probes.build import build_all

    return [f"wrote {path}" for path in build_all(config.out)]


def summary(result: list[str]) -> str:
    """The lines."""
    return "\n".join(result)


#: the CLI commands of this module: command path -> (config class, run, summary)
COMMANDS = {
    "probes list": (ListConfig, run_list, summary),
    "probes validate": (ValidateConfig, run_validate, summary),
    "probes build": (BuildConfig, run_build, summary),
}
