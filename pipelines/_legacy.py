"""TEMPORARY thin configs for ``diff`` and ``quant weights|evaluate|sinks|heads``.

They call today's ``analysis.diffing.run_diff`` / ``hooks.quant_pipeline`` so those commands
keep working until helper p2's ``pipelines/diff.py`` and ``pipelines/quant.py`` are merged;
the lead deletes this module (and its entries in ``pipelines.COMMANDS``) at that merge.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from polylens.pipelines.config import opt, positive

MapMethod = Literal["ridge", "ridge_residual", "procrustes", "procrustes_whitened"]


@dataclass(frozen=True, kw_only=True)
class DiffConfig:
    """Model diffing: CKA, cross-model patching, transport maps."""

    command: ClassVar[str] = "diff"
    a: str = opt(help="variant A (registry name, folder, hub id, or BASE@int4-g128 simulated quantization)")
    b: str = opt(help="variant B")
    probes: str = opt("udhr", "parallel probe set")
    langs: tuple[str, ...] | None = opt(None, "languages (default: all)")
    limit: int | None = opt(None, "first N units of the probe set")
    positions: Literal["last", "all"] = opt("last", "patch the last content token or all content tokens")
    k_positions: int = opt(8, "positions per prompt for maps")
    sites: tuple[str, ...] = opt(("resid_post", "attn_out", "mlp_out"), "hook sites")
    map: MapMethod = opt("ridge", "map used for mapped patching")
    patch_layers: tuple[int, ...] | None = opt(
        None, "mapped-patching layers (default: peak-KL and control layer)"
    )
    kl_layers: tuple[int, ...] | None = opt(None, "layers for KL by layer (default: all)")
    control_layer: int | None = opt(None, "early-layer control (default: round(L / 4))")
    alphas: tuple[float, ...] = opt(
        (0.0, 0.25, 0.5, 0.75, 1.0, 1.25), "interpolation weights of mapped patching"
    )
    min_shared_ratio: float = opt(0.65, "least share of prompts both tokenizers split alike")
    max_tokens: int = opt(48, "prompts are truncated to this many tokens")
    n_boot: int = opt(1000, "bootstrap resamples")
    seed: int = opt(0, "random seed")
    skip_maps: bool = opt(False, "CKA and patching KL only (no transport maps or mapped patching)")
    allow_cka_only: bool = opt(
        False, "for pairs that cannot be patched (e.g. different tokenizers): CKA only"
    )
    out: Path = opt(help="results directory")
    device: str | None = opt(None, "cuda | mps | cpu (default: best available)")
    dtype: Literal["float32", "bfloat16", "float16"] = opt("float32", "dtype the models compute in")
    processing: Literal["raw", "compat"] = opt("raw", "raw bridge weights or enable_compatibility_mode()")

    def __post_init__(self) -> None:
        """Check ranges."""
        positive(self, "limit", "k_positions", "max_tokens", "n_boot", "min_shared_ratio")


def run_diff(config: DiffConfig) -> tuple[Any, Path]:
    """Run today's ``analysis.diffing.run_diff`` and write its results."""
    from polylens.analysis import diffing

    ds = diffing.run_diff(
        diffing.DiffConfig(
            a=config.a,
            b=config.b,
            probes=config.probes,
            langs=list(config.langs) if config.langs else None,
            limit=config.limit,
            positions=config.positions,
            k_positions=config.k_positions,
            sites=list(config.sites),
            map_method=config.map,
            patch_layers=list(config.patch_layers) if config.patch_layers else None,
            control_layer=config.control_layer,
            alphas=list(config.alphas),
            min_shared_ratio=config.min_shared_ratio,
            n_boot=config.n_boot,
            seed=config.seed,
            device=config.device,
            dtype=config.dtype,
            processing=config.processing,
            require_patching=not config.allow_cka_only,
            max_tokens=config.max_tokens,
            kl_layers=list(config.kl_layers) if config.kl_layers else None,
            maps=not config.skip_maps,
        )
    )
    return ds, diffing.write_results(ds, config.out)


def summary_diff(result: tuple[Any, Path]) -> str:
    """CKA (and KL) by layer with CIs, mapped-patching reductions, the file written."""
    from polylens.analysis.diffing import summarize

    ds, path = result
    s = summarize(ds)
    kl = "kl_a_to_b" in s
    lines = [f"{s['a']} vs {s['b']}: {s['prompts']} prompts ({s['fairness']})"]
    lines.append("layer  CKA linear [95% CI]" + ("      KL a->b [95% CI]        KL b->a" if kl else ""))
    for i, (l, c, lo, hi) in enumerate(s["cka_linear"]):
        row = f"{l:>5}  {c:.3f} [{lo:.3f}, {hi:.3f}]"
        if kl:
            _, k, klo, khi = s["kl_a_to_b"][i]
            row += f"   {k:.4f} [{klo:.4f}, {khi:.4f}]   {s['kl_b_to_a'][i][1]:.4f}"
        lines.append(row)
    for key, conds in s.get("kl_reduction", {}).items():
        cells = ", ".join(
            f"{c} {v[0]:+.1%} [{v[1]:+.1%}, {v[2]:+.1%}]" for c, v in conds.items() if c != "raw"
        )
        lines.append(f"  mapped patching {key}: {cells}")
    return "\n".join([*lines, f"wrote {path}"])


@dataclass(frozen=True, kw_only=True)
class WeightsConfig:
    """Weight outlier statistics + super-weight candidates."""

    command: ClassVar[str] = "quant weights"
    model: str = opt("gemma-3-270m", "registry name (may carry @<quant>, e.g. gemma-3-270m@int4-g128)")
    device: str | None = opt(None, "cuda | mps | cpu")
    out: Path = opt(Path("runs/quant"), "results directory")


@dataclass(frozen=True, kw_only=True)
class _DataConfig(WeightsConfig):
    """The parallel data a quant measurement runs on."""

    probes: str = opt("udhr", "parallel probe set")
    langs: tuple[str, ...] | None = opt(None, "languages (default: all)")
    units: int | None = opt(None, "first N units only")
    n_perm: int = opt(5000, "permutations")

    def __post_init__(self) -> None:
        """Check ranges."""
        positive(self, "units", "n_perm", *(["n_boot"] if hasattr(self, "n_boot") else []))


@dataclass(frozen=True, kw_only=True)
class EvaluateConfig(_DataConfig):
    """Per-language bits-per-byte degradation, disparity, drift."""

    command: ClassVar[str] = "quant evaluate"
    n_boot: int = opt(2000, "bootstrap resamples")
    configs: tuple[str, ...] = opt(
        ("int8-pc", "int4-g128", "int3-g128"), "quant specs, e.g. int4-g128 int3-pc-keep0.1"
    )


@dataclass(frozen=True, kw_only=True)
class SinksConfig(_DataConfig):
    """Attention-sink mass per language/layer/head vs kurtosis."""

    command: ClassVar[str] = "quant sinks"
    n_boot: int = opt(2000, "bootstrap resamples")


@dataclass(frozen=True, kw_only=True)
class HeadsConfig(_DataConfig):
    """Language-specific heads (permutation test)."""

    command: ClassVar[str] = "quant heads"
    n_perm: int = opt(2000, "permutations")
    alpha: float = opt(0.05, "BH q threshold")
    min_eta2: float = opt(0.5, "effect size a significant head also needs to count as specific")


def run_quant(config: WeightsConfig) -> Path:
    """Run today's ``hooks.quant_pipeline`` step for ``config``; returns the summary file."""
    from polylens.hooks import quant_pipeline as qp
    from polylens.hooks.registry import resolve

    resolve(config.model)  # fail fast on a bad name or quantization spec
    common: dict[str, Any] = dict(model_name=config.model, out=Path(config.out), device=config.device)
    if isinstance(config, _DataConfig):
        langs = list(config.langs) if config.langs else None
        data: dict[str, Any] = dict(probe_set=config.probes, langs=langs, units=config.units)
    if isinstance(config, EvaluateConfig):
        qp.run_evaluate(
            configs=list(config.configs), n_boot=config.n_boot, n_perm=config.n_perm, **common, **data
        )
    elif isinstance(config, SinksConfig):
        qp.run_sinks(n_boot=config.n_boot, n_perm=config.n_perm, **common, **data)
    elif isinstance(config, HeadsConfig):
        qp.run_heads(n_perm=config.n_perm, alpha=config.alpha, min_eta2=config.min_eta2, **common, **data)
    else:
        qp.run_weights(**common)
    return Path(config.out) / f"summary_{config.command.split()[-1]}.md"


def summary_quant(result: Path) -> str:
    """The markdown summary the step wrote."""
    return result.read_text() if result.exists() else ""
