"""``run``: the main job, capture -> analyze -> figures -> report for each probe set."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from polylens.pipelines import analyze, capture, figures, report
from polylens.pipelines.config import check, opt, positive, write_config

logger = logging.getLogger(__name__)

EDGE = "edge_cases+en"


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Main job: cache -> analyze -> figures -> report."""

    command: ClassVar[str] = "run"
    model: tuple[str, ...] = opt(("gemma-3-270m",), "model, or variants compared against the first (base)")
    device: str | None = opt(None, "cuda | mps | cpu (default: best available)")
    probes: tuple[str, ...] = opt(("concepts", "medical"), "probe sets (udhr is long: ~200k tokens)")
    out: Path = opt(Path("runs/gemma-3-270m"), "run directory (stores/, results/, config.toml)")
    limit: int | None = opt(None, "first N units per set (smoke runs)")
    batch_size: int = opt(16, "stimuli per forward pass")
    n_boot: int = opt(1000, "bootstrap resamples over concepts")

    def __post_init__(self) -> None:
        """Check ranges."""
        positive(self, "limit", "batch_size", "n_boot")
        check(bool(self.model), "model", "give at least one model")
        check(bool(self.probes), "probes", "give at least one probe set")


def run(config: RunConfig) -> Path:
    """Capture every probe set (plus the edge cases), analyze, render figures and reports."""

    root = Path(config.out)
    write_config(config, root)
    stores: dict[str, Path] = {}
    for probes_name in [EDGE, *config.probes]:
        logger.info(f"== cache {probes_name} on {','.join(config.model)}")
        store = capture.run(
            capture.CaptureConfig(
                models=config.model,
                probes=probes_name,
                out=root / "stores" / probes_name,
                limit=config.limit,
                batch_size=config.batch_size,
                device=config.device,
            )
        )
        assert store is not None  # not sharded
        stores[probes_name] = store
    edge = stores.pop(EDGE)
    for probes_name, store in stores.items():
        out = root / "results" / probes_name
        logger.info(f"== analyze {probes_name} -> {out}")
        res = analyze.run(
            analyze.AnalyzeConfig(
                store=store,
                out=out,
                n_boot=config.n_boot,
                edge_store=edge if probes_name == "concepts" else None,
            )
        )
        logger.info(analyze.headline(res.results))
        figs = figures.run(figures.FiguresConfig(results=out, out=out / "figures"))
        html = report.run(report.ReportConfig(results=out, out=out / "report.html"))
        logger.info(f"{len(figs)} figures in {out / 'figures'}; report {html}")
    return root


def summary(result: Path) -> str:
    """Where the run went."""
    return f"done: {result} (reproduce with `python cli.py run --config {result / 'config.toml'}`)"


#: the CLI commands of this module: command path -> (config class, run, summary)
COMMANDS = {
    "run": (RunConfig, run, summary),
}
