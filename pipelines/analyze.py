"""``analyze``: every analysis of one activation store, written to a results directory (no model)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from polylens.pipelines.cluster import ClusterOptions, check_cluster, on_cluster
from polylens.pipelines.config import at_most, check, input_path, opt, output_dir, positive, write_config

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class AnalyzeConfig(ClusterOptions):
    """Alignment, commitment, statistics, failure cases."""

    command: ClassVar[str] = "analyze"
    store: Path = opt(help="activation store dir or .nc file")
    edge_store: Path | None = opt(None, "store of edge_cases+en (failure cases)")
    out: Path = opt(help="results directory")
    ref: str = opt("en", "reference language")
    tau: float = opt(0.85, "commitment threshold (cosine)")
    k: int = opt(3, "consecutive layers for commitment")
    n_boot: int = opt(1000, "bootstrap resamples over concepts")
    n_perm: int = opt(10000, "permutations for the variant tests")
    seed: int = opt(0, "random seed of the resampling")
    baseline: str = opt("base", "variant the others are tested against")
    include_flagged: bool = opt(False, "keep stimuli with hygiene flags (identical to English, ...)")

    def __post_init__(self) -> None:
        """Check ranges."""
        positive(self, "k", "n_boot", "n_perm")
        positive(self, "seed", allow_zero=True)
        at_most(self, "n_boot", 1_000_000)
        at_most(self, "n_perm", 10_000_000)
        at_most(self, "k", 64)
        at_most(self, "seed", 2**32 - 1)
        check(-1.0 <= self.tau <= 1.0, "tau", f"must be a cosine in [-1, 1], got {self.tau}")
        check(bool(self.ref.strip()), "ref", "must not be empty")
        check(bool(self.baseline.strip()), "baseline", "must not be empty")
        output_dir(self, "out")
        check_cluster(self)


@dataclass(frozen=True)
class AnalyzeResult:
    """Where the results went and the results Dataset (``xr.Dataset``)."""

    out: Path
    results: Any


@on_cluster
def run(config: AnalyzeConfig) -> AnalyzeResult:
    """Run every analysis on one store and write the results directory."""
    from polylens.storage.assemble import open_activations
    from polylens.storage.encoding import ALIGNED
    from polylens.storage.integrity import atomic_dir, resource_guard, stamp

    resource_guard()
    input_path(config, "store")  # inputs are checked when the job starts, outputs when parsed
    input_path(config, "edge_store")
    ds = open_activations(config.store, chunks=ALIGNED)  # each stored chunk decoded once
    excluded = None
    if not config.include_flagged:
        from polylens.analysis.hygiene import exclude_flagged, format_excluded

        ds, excluded = exclude_flagged(ds)
        logger.info(format_excluded(excluded))
    edge = open_activations(config.edge_store, chunks=None) if config.edge_store else None
    _check_against(config, ds)
    with atomic_dir(config.out) as tmp:
        if excluded is not None:  # written with the results, so a refused run leaves nothing behind
            excluded.to_csv(tmp / "excluded_stimuli.csv", index=False)
        res = _analyze(config, ds, edge, tmp)
        from polylens.analysis.seed_claims import write_seed_claims
        from polylens.analysis.token_control import write_token_control

        if "n_tokens" in ds:
            write_token_control(res, ds["n_tokens"], tmp)
        write_seed_claims(res, tmp)
        write_config(config, tmp)
        stamp(tmp, config.command)
    return AnalyzeResult(config.out, res)


def _check_against(config: AnalyzeConfig, ds: Any) -> None:
    """--ref must be a language of the store; --baseline a variant of a multi-variant store."""
    langs = [str(v) for v in ds["lang"].values]
    variants = [str(v) for v in ds["variant"].values]
    check(
        config.ref in langs,
        "ref",
        f"{config.ref[:40]!r} is not a language of {config.store}: {', '.join(langs)}",
    )
    check(
        len(variants) == 1 or config.baseline in variants,
        "baseline",
        f"{config.baseline[:40]!r} is not a variant of {config.store}: {', '.join(variants)}",
    )


def _analyze(config: AnalyzeConfig, ds: Any, edge: Any, out: Path) -> Any:
    """Every analysis of ``ds`` written into ``out``."""
    from polylens.analysis.alignment import run_analysis

    return run_analysis(
        ds,
        out,
        ref=config.ref,
        tau=config.tau,
        k=config.k,
        n_boot=config.n_boot,
        seed=config.seed,
        edge_ds=edge,
        baseline=config.baseline,
        n_perm=config.n_perm,
    )


def headline(results: Any) -> str:
    """The per-(variant, language) headline table of a results Dataset."""
    from polylens.analysis.summary import format_headline, headline_table

    return format_headline(headline_table(results))


def summary(result: AnalyzeResult) -> str:
    """The files written and the headline table."""
    files = ", ".join(sorted(p.name for p in result.out.iterdir()))
    return f"wrote {result.out}: {files}\n{headline(result.results)}"


#: the CLI commands of this module: command path -> (config class, run, summary)
COMMANDS = {
    "analyze": (AnalyzeConfig, run, summary),
}
