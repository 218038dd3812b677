"""``report``: one self-contained interactive HTML page from a results directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from polylens.pipelines.config import opt


@dataclass(frozen=True, kw_only=True)
class ReportConfig:
    """One self-contained interactive HTML report from a results directory."""

    command: ClassVar[str] = "report"
    results: Path = opt(help="results directory written by the analysis")
    out: Path = opt(Path("report.html"), "output HTML file")
    title: str | None = opt(None, "page title (default: from the results)")


def run(config: ReportConfig) -> Path:
    """Build the report; returns its path."""
    from polylens.figures.report import build_report

    return build_report(config.results, config.out, title=config.title)


def summary(result: Path) -> str:
    """``wrote FILE``."""
    return f"wrote {result}"


#: the CLI commands of this module: command path -> (config class, run, summary)
COMMANDS = {
    "report": (ReportConfig, run, summary),
}
