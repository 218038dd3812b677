"""``regress``: exit 1 when NEW results degrade significantly vs OLD (CI-aware)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from polylens.pipelines.config import opt, positive


@dataclass(frozen=True, kw_only=True)
class RegressConfig:
    """Exit 1 when NEW results degrade significantly vs OLD."""

    command: ClassVar[str] = "regress"
    old: Path = opt(help="results directory of the reference run", positional=True)
    new: Path = opt(help="results directory of the run under test", positional=True)
    langs: tuple[str, ...] | None = opt(None, "languages to check (default: all)")
    tol: float = opt(0.02, "smallest cosine/margin drop that counts")
    tol_layers: float = opt(1.0, "smallest commitment delay (layers) that counts")

    def __post_init__(self) -> None:
        """Tolerances are >= 0."""
        positive(self, "tol", "tol_layers", allow_zero=True)


@dataclass(frozen=True)
class RegressResult:
    """The comparison table (a DataFrame) and whether anything degraded."""

    table: Any
    failed: bool

    @property
    def exit_code(self) -> int:
        """1 on a significant degradation (for CI), else 0."""
        return 1 if self.failed else 0


def run(config: RegressConfig) -> RegressResult:
    """Compare the two result sets."""
    from polylens.analysis.regress import regress

    table, failed = regress(
        config.old, config.new, langs=config.langs, tol=config.tol, tol_layers=config.tol_layers
    )
    return RegressResult(table, failed)


def summary(result: RegressResult) -> str:
    """The table and the verdict."""
    verdict = "REGRESSION: significant degradation" if result.failed else "ok: no significant degradation"
    return f"{result.table.to_string(index=False)}\n{verdict}"


#: the CLI commands of this module: command path -> (config class, run, summary)
COMMANDS = {
    "regress": (RegressConfig, run, summary),
}
