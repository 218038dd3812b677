"""``quant weights|evaluate|sinks|heads``: the quantization-disparity study (issue 7).

Output directory layout (default ``runs/quant/``):

- ``scores/<variant>[.detail]/``: raw per-text scores of one model variant
  (``hooks.quant_measure.score_texts``), one part per language with a ledger
  (``pipelines.quant_scores``): an interrupted run resumes at the first unfinished language,
  later commands reuse finished parts.
- ``weights.nc``, ``evaluate.nc``, ``sinks.nc``, ``heads.nc``: results with CI bounds and
  the method metadata (model provenance, quant config, probe-set sha256).
- ``summary_<command>.md``: a short markdown summary of each (what the CLI prints).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from polylens.pipelines.config import (
    at_most,
    check,
    check_device,
    check_threads,
    fraction,
    opt,
    output_dir,
    positive,
    threads_opt,
)

if TYPE_CHECKING:
    import xarray as xr

    from polylens.hooks.models import HookedModel

logger = logging.getLogger(__name__)
DEFAULT_OUT = Path("runs/quant")
Log = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class WeightsConfig:
    """Weight outlier statistics + super-weight candidates."""

    command: ClassVar[str] = "quant weights"
    model: str = opt("gemma-3-270m", "registry name (may carry @<quant>, e.g. gemma-3-270m@int4-g128)")
    device: str | None = opt(None, "cuda | mps | cpu")
    out: Path = opt(DEFAULT_OUT, "results directory")
    threads: int | None = threads_opt()

    def __post_init__(self) -> None:
        """The results directory must be writable; the device must exist."""
        output_dir(self, "out")
        check_device(self.device)
        check_threads(self)


@dataclass(frozen=True, kw_only=True)
class _DataConfig(WeightsConfig):
    """The parallel texts a measurement runs on."""

    probes: str = opt("udhr", "parallel probe set")
    langs: tuple[str, ...] | None = opt(None, "languages (default: all)")
    units: int | None = opt(None, "first N units only")
    n_perm: int = opt(5000, "permutations for the p-values")

    def __post_init__(self) -> None:
        """Check ranges, then the weights job's checks (output directory, device, threads)."""
        positive(self, "units", "n_perm")
        at_most(self, "n_perm", 10_000_000)
        check(
            self.langs is None or (bool(self.langs) and all(self.langs)),
            "langs",
            "give at least one language",
        )
        super().__post_init__()


@dataclass(frozen=True, kw_only=True)
class EvaluateConfig(_DataConfig):
    """Per-language bits-per-byte degradation, disparity, drift."""

    command: ClassVar[str] = "quant evaluate"
    n_boot: int = opt(2000, "bootstrap resamples for the CIs")
    configs: tuple[str, ...] = opt(
        ("int8-pc", "int4-g128", "int3-g128", "gguf-q8_0", "gguf-q4_0"),
        "quant specs, e.g. int4-g128 int3-pc-keep0.1 gguf-q4_0 (llama.cpp formats via the gguf package)",
    )

    def __post_init__(self) -> None:
        """Check ranges and that at least one quant spec is given."""
        super().__post_init__()
        positive(self, "n_boot")
        at_most(self, "n_boot", 1_000_000)
        check(bool(self.configs), "configs", "give at least one quantization spec")


@dataclass(frozen=True, kw_only=True)
class SinksConfig(_DataConfig):
    """Attention-sink mass per language/layer/head vs kurtosis."""

    command: ClassVar[str] = "quant sinks"
    n_boot: int = opt(2000, "bootstrap resamples for the CIs")

    def __post_init__(self) -> None:
        """Check ranges."""
        super().__post_init__()
        positive(self, "n_boot")


@dataclass(frozen=True, kw_only=True)
class HeadsConfig(_DataConfig):
    """Language-specific heads (permutation test)."""

    command: ClassVar[str] = "quant heads"
    n_perm: int = opt(2000, "within-unit permutations for the p-values")
    alpha: float = opt(0.05, "BH q threshold")
    min_eta2: float = opt(0.5, "effect size a significant head also needs to count as specific")

    def __post_init__(self) -> None:
        """Check ranges."""
        super().__post_init__()
        fraction(self, "alpha")
        check(0 <= self.min_eta2 <= 1, "min_eta2", f"must be in [0, 1], got {self.min_eta2}")


@dataclass(frozen=True)
class QuantResult:
    """One quant step's result dataset, the file it was written to, and its markdown summary."""

    dataset: xr.Dataset
    path: Path
    markdown: str


# ----------------------------------------------------------------------------- scores
def _atomic_write(ds: xr.Dataset, path: Path) -> None:
    """Write one results file via a temporary sibling (the quant directory accumulates steps)."""
    from polylens.storage.integrity import atomic_file, writing

    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        ds.to_netcdf(tmp)


def probe_selection(config: _DataConfig):  # -> probes.ProbeSet
    """The config's probe set restricted to its languages and first N units."""
    from polylens import probes

    ps = probes.load_probe_set(config.probes)
    langs = list(config.langs) if config.langs else list(ps.languages)
    unit_ids = ps.units[: config.units] if config.units else list(ps.units)
    return ps.select(langs=langs, units=unit_ids)


def score_variant(
    name: str,
    config: _DataConfig,
    detail: bool = False,
    max_tokens: int = 768,
    model: HookedModel | None = None,
) -> xr.Dataset:
    """Scores of model variant ``name`` on the config's texts: resumable per language
    (``pipelines.quant_scores``: ledger + parts in ``out/scores/<variant>``), on this job's
    share of the CPUs (``--threads``), re-read after every language."""
    from polylens.hooks.threads import ThreadShare
    from polylens.pipelines.quant_scores import scores

    with ThreadShare(config.threads) as share:
        ps = probe_selection(config)
        return scores(
            name, ps, Path(config.out), config.device, detail, max_tokens, model, lambda _: share.apply()
        )


def _write(ds: xr.Dataset, config: WeightsConfig, markdown: str) -> QuantResult:
    """Write ``<step>.nc`` and ``summary_<step>.md`` into the config's out directory."""
    path = Path(config.out) / f"{config.command.split()[-1]}.nc"
    _atomic_write(ds, path)
    md = path.with_name(f"summary_{path.stem}.md")
    from polylens.storage.integrity import atomic_write_text

    atomic_write_text(md, markdown)
    logger.info("wrote %s and %s", path, md)
    return QuantResult(ds, path, markdown)


# ----------------------------------------------------------------------------- steps
def run_weights(config: WeightsConfig) -> QuantResult:
    """Weight outlier statistics per (layer, matrix) + super-weight candidates -> weights.nc."""
    from polylens.analysis import quant_report
    from polylens.hooks.models import load_model
    from polylens.hooks.quant_weights import super_weights, weight_report

    model = load_model(config.model, device=config.device)
    ds = weight_report(model)
    sw = super_weights(model)
    for k in sw.data_vars:
        ds[f"sw_{k}"] = ("layer", sw[k].values)
    ds.attrs["sw_text"] = sw.attrs["text"]
    return _write(ds, config, quant_report.weights_summary(ds, config.model))


def run_evaluate(config: EvaluateConfig) -> QuantResult:
    """Per-language bits-per-byte degradation, disparity ratio, drift, predictors -> evaluate.nc."""
    from polylens.analysis import quant_report, quant_results
    from polylens.hooks.models import load_model
    from polylens.hooks.quant_weights import matrix_records
    from polylens.hooks.quantize import parse_quant

    quant = [parse_quant(c) for c in config.configs]
    configs = [q.tag for q in quant]
    t0 = time.time()
    model = load_model(config.model, device=config.device)  # once: base scores + weight records
    base = score_variant(config.model, config, detail=True, model=model)
    records = matrix_records(model, configs)
    del model
    per = {}
    for c in configs:
        q = score_variant(f"{config.model}@{c}", config)
        per[c] = (quant_results.variant_degradation(base, q, config.n_boot), q.attrs)
    ds = quant_results.evaluate_dataset(base, per, quant, records, config.n_boot, config.n_perm)
    ds.attrs.update(
        quant_results.method_attrs(
            base,
            configs=configs,
            n_boot=config.n_boot,
            n_perm=config.n_perm,
            disparity="mean rel. degradation low / high resource",
            ci="95% percentile bootstrap over units (paired); correlations: bootstrap over languages",
            base_model=config.model,
            double_quantization=quant_results.DOUBLE_QUANT_NOTE,
            wall_seconds=round(time.time() - t0, 1),
        )
    )
    return _write(ds, config, quant_report.evaluate_summary(ds))


def run_sinks(config: SinksConfig) -> QuantResult:
    """Attention-sink mass per (lang, block, head) with CIs; vs weight kurtosis per layer."""
    from polylens.analysis import quant_report, quant_results
    from polylens.hooks.models import load_model
    from polylens.hooks.quant_weights import kurtosis_by_kind

    base = score_variant(config.model, config, detail=True)
    kurtosis = kurtosis_by_kind(load_model(config.model, device=config.device))
    ds = quant_results.sinks_dataset(base, kurtosis, config.n_boot, config.n_perm)
    return _write(ds, config, quant_report.sinks_summary(ds, config.model, base.sizes["unit"]))


def run_heads(config: HeadsConfig) -> QuantResult:
    """Language-specific heads: language effect on sink mass and attention entropy per head."""
    from polylens.analysis import quant_report, quant_results

    base = score_variant(config.model, config, detail=True)
    ds = quant_results.heads_dataset(base, config.n_perm, config.alpha, config.min_eta2)
    text = quant_report.heads_summary(ds, config.model, base.sizes["lang"], base.sizes["unit"])
    return _write(ds, config, text)


def run(config: WeightsConfig) -> QuantResult:
    """Run the quant step ``config`` stands for (its type picks weights/evaluate/sinks/heads)."""
    from polylens.hooks.registry import resolve

    resolve(config.model)  # fail fast on a bad name or quantization spec
    if isinstance(config, EvaluateConfig):
        return run_evaluate(config)
    if isinstance(config, SinksConfig):
        return run_sinks(config)
    if isinstance(config, HeadsConfig):
        return run_heads(config)
    return run_weights(config)


def summary(result: QuantResult) -> str:
    """The step's markdown summary (also written to ``summary_<step>.md``)."""
    return result.markdown


#: the CLI commands of this module: command path -> (config class, run, summary)
COMMANDS = {
    "quant weights": (WeightsConfig, run, summary),
    "quant evaluate": (EvaluateConfig, run, summary),
    "quant sinks": (SinksConfig, run, summary),
    "quant heads": (HeadsConfig, run, summary),
}
