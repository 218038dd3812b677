"""``figures``: regenerate every figure a results directory allows (never a live model)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from polylens.pipelines.config import check, input_path, opt, output_dir


@dataclass(frozen=True, kw_only=True)
class FiguresConfig:
    """Render every figure a results directory allows (PNG + SVG)."""

    command: ClassVar[str] = "figures"
    results: Path = opt(help="results directory written by the analysis")
    out: Path = opt(help="output directory for <figure>.png / <figure>.svg")
    formats: tuple[Literal["png", "svg", "pdf"], ...] = opt(("png", "svg"), "file formats to write")
    only: tuple[str, ...] | None = opt(None, "render only these figures (default: all)")

    def __post_init__(self) -> None:
        """The results must exist; the output must be a writable directory path."""
        output_dir(self, "out")
        check(self.only is None or bool(self.only), "only", "give at least one figure name")
        check(bool(self.formats), "formats", "give at least one format")


def run(config: FiguresConfig) -> dict[str, list[Path]]:
    """Render the figures; returns figure name -> files written."""
    from polylens.figures import render_all
    from polylens.storage.integrity import atomic_dir, resource_guard, stamp

    resource_guard()
    input_path(config, "results", kind="dir")
    with atomic_dir(config.out) as tmp:
        made = render_all(config.results, tmp, formats=config.formats, only=config.only)
        stamp(tmp, "figures", source=config.results)  # the report refuses figures of another run
    return {name: [Path(config.out) / p.name for p in paths] for name, paths in made.items()}


def summary(result: dict[str, list[Path]]) -> str:
    """One line per figure: ``name: file, file``."""
    return "\n".join(f"{name}: " + ", ".join(str(p) for p in paths) for name, paths in result.items())


#: the CLI commands of this module: command path -> (config class, run, summary)
COMMANDS = {
    "figures": (FiguresConfig, run, summary),
}
