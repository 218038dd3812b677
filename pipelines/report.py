"""``report``: one self-contained interactive HTML page from a results directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from polylens.pipelines.config import check, input_path, opt, output_dir


@dataclass(frozen=True, kw_only=True)
class ReportConfig:
    """One self-contained interactive HTML report from a results directory."""

    command: ClassVar[str] = "report"
    results: Path = opt(help="results directory written by the analysis")
    out: Path = opt(Path("report.html"), "output HTML file")
    title: str | None = opt(None, "page title (default: from the results)")

    def __post_init__(self) -> None:
        """The results must be a directory; the report a writable file path."""
        output_dir(self, "out", is_file=True)
        check(self.title is None or len(self.title) <= 200, "title", "at most 200 characters")


def run(config: ReportConfig) -> Path:
    """Build the report; returns its path."""
    from polylens.figures.report import build_report
    from polylens.storage.integrity import atomic_file, check_run_ids, resource_guard

    resource_guard()
    input_path(config, "results", kind="dir")
    check_run_ids(config.results)
    with atomic_file(config.out) as tmp:
        build_report(config.results, tmp, title=config.title)
    return Path(config.out)


def summary(result: Path) -> str:
    """``wrote FILE``."""
    return f"wrote {result}"


#: the CLI commands of this module: command path -> (config class, run, summary)
COMMANDS = {
    "report": (ReportConfig, run, summary),
}
