"""``run``: the main job, capture -> analyze -> figures -> report for each probe set."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from polylens.pipelines import analyze, capture, figures, report
from polylens.pipelines.cluster import ClusterOptions, check_cluster
from polylens.pipelines.config import check, check_threads, opt, positive, threads_opt, write_config

logger = logging.getLogger(__name__)

EDGE = "edge_cases+en"
#: target languages of the lens step: the anchor's four (fr, de, ru, zh) plus four scripts/tiers
LENS_LANGS = ("fr", "de", "ru", "zh", "ja", "hi", "ar", "sw")


@dataclass(frozen=True, kw_only=True)
class RunConfig(ClusterOptions):
    """Main job: cache -> analyze -> figures -> report (capture and analysis on a dask cluster with
    ``--workers`` / ``--scheduler``)."""

    command: ClassVar[str] = "run"
    model: tuple[str, ...] = opt(("gemma-3-270m",), "model, or variants compared against the first (base)")
    device: str | None = opt(None, "cuda | mps | cpu (default: best available)")
    probes: tuple[str, ...] = opt(("concepts", "medical"), "probe sets (udhr is long: ~200k tokens)")
    out: Path = opt(Path("runs/gemma-3-270m"), "run directory (stores/, results/, config.toml)")
    limit: int | None = opt(None, "first N units per set (smoke runs)")
    batch_size: int | None = opt(None, "fixed stimuli per forward pass (default: token-budget batches)")
    threads: int | None = threads_opt()
    n_boot: int = opt(1000, "bootstrap resamples over concepts")
    figures: bool = opt(True, "render figures and an HTML report per probe set (off: numbers only)")
    lens_concepts: int = opt(
        40, "latent-language logit lens on the first N concepts of fr,de,ru,zh,ja,hi,ar,sw (0: skip)"
    )

    def __post_init__(self) -> None:
        """Check ranges."""
        positive(self, "limit", "batch_size", "n_boot")
        positive(self, "lens_concepts", allow_zero=True)
        check(bool(self.model), "model", "give at least one model")
        check(bool(self.probes), "probes", "give at least one probe set")
        check_threads(self)
        check_cluster(self)


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
                threads=config.threads,
                **_cluster(config),
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
                **_cluster(config),
            )
        )
        logger.info(analyze.headline(res.results))
        if config.figures:
            figs = figures.run(figures.FiguresConfig(results=out, out=out / "figures"))
            html = report.run(report.ReportConfig(results=out, out=out / "report.html"))
            logger.info(f"{len(figs)} figures in {out / 'figures'}; report {html}")
    if config.lens_concepts:
        _lens(config, root)
    return root


def _cluster(config: RunConfig) -> dict[str, Any]:
    """The run's ``--scheduler`` / ``--workers``, passed on to capture and analysis."""
    return {"scheduler": config.scheduler, "workers": config.workers}


def _lens(config: RunConfig, root: Path) -> None:
    """The latent-language lens of the run's variants on a fixed language subset."""
    from polylens.pipelines import lens

    logger.info(f"== lens ({config.lens_concepts} concepts x {len(LENS_LANGS)} languages)")
    cfg = lens.LensConfig(
        models=config.model,
        out=root / "results" / "lens",
        langs=LENS_LANGS,
        concepts=config.lens_concepts,
        device=config.device,
        figures=config.figures,
        threads=config.threads,
    )
    logger.info(lens.summary(lens.run(cfg)))


def summary(result: Path) -> str:
    """Where the run went."""
    return f"done: {result} (reproduce with `python cli.py run --config {result / 'config.toml'}`)"


#: the CLI commands of this module: command path -> (config class, run, summary)
COMMANDS = {
    "run": (RunConfig, run, summary),
}
