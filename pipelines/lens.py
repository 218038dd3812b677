"""``lens`` job: which language the model thinks in on the way (logit / tuned lens per language and variant).

``run(LensConfig(...))`` builds Wendler-style prompts from the CLDR concept set, applies the
first-token filter, runs the lens on every variant, and writes into ``out``:
``lens.nc`` (variant x lang x concept x layer x answer_lang), ``lens_stats.nc`` (curves with
CIs, verdicts, peaks, variant tests), ``lens_tuned_kl.csv`` (tuned lens only) and the figures.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from polylens.errors import ConfigError
from polylens.pipelines.config import check_threads, threads_opt
from polylens.probes import LANGUAGES, load_probe_set
from polylens.probes.lens_prompts import PROMPT_KINDS, REFERENCE_LANG, LensPrompt, build_prompts

if TYPE_CHECKING:  # heavy modules load inside the job, so `import polylens.cli` stays light
    import numpy as np
    import xarray as xr

    from polylens.hooks.threads import ThreadShare

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LensConfig:
    """Latent language: logit / tuned lens per target language and variant (Wendler et al. 2024)."""

    command: ClassVar[str] = "lens"

    models: tuple[str, ...] = field(
        default=("gemma-3-270m",),
        metadata={"help": "variants to compare (registry names); the first is the base"},
    )
    out: Path = field(default=Path("results/lens"), metadata={"help": "output directory"})
    langs: tuple[str, ...] = field(default=(), metadata={"help": "target languages (default: all but en)"})
    concepts: int | None = field(default=None, metadata={"help": "use only the first N concepts"})
    kind: Literal["translation", "repetition", "emoji"] = field(
        default="translation", metadata={"help": "prompt kind"}
    )
    lens: Literal["logit", "tuned"] = field(default="logit", metadata={"help": "logit lens or tuned lens"})
    source: str = field(default="fr", metadata={"help": "source language of translation prompts"})
    alt_source: str = field(default="de", metadata={"help": "source language when the target is --source"})
    shots: int = field(default=4, metadata={"help": "few-shot demonstrations per prompt"})
    batch_size: int = field(default=8, metadata={"help": "prompts per forward pass"})
    n_boot: int = field(default=2000, metadata={"help": "bootstrap resamples over concepts"})
    seed: int = field(default=0, metadata={"help": "seed of demonstrations and resampling"})
    tuned_steps: int = field(default=200, metadata={"help": "training steps of the tuned lens"})
    device: str | None = field(default=None, metadata={"help": "torch device (default: best available)"})
    figures: bool = field(default=True, metadata={"help": "render the figures"})
    threads: int | None = threads_opt()

    def __post_init__(self) -> None:
        unknown = [c for c in (*self.langs, self.source, self.alt_source) if c not in LANGUAGES]
        if unknown:
            raise ConfigError(f"lens: unknown language code(s) {unknown}")
        if REFERENCE_LANG in self.langs:
            raise ConfigError("lens: --langs must not include en (English is the reference answer)")
        if self.source == self.alt_source:
            raise ConfigError("lens: --source and --alt-source must differ")
        if self.kind not in PROMPT_KINDS:
            raise ConfigError(f"lens: --kind must be one of {PROMPT_KINDS}")
        if not self.models:
            raise ConfigError("lens: give at least one model")
        for name, value, low in (
            ("shots", self.shots, 1),
            ("batch-size", self.batch_size, 1),
            ("n-boot", self.n_boot, 10),
        ):
            if value < low:
                raise ConfigError(f"lens: --{name} must be >= {low}, not {value}")
        if self.concepts is not None and self.concepts < 2:
            raise ConfigError("lens: --concepts must be >= 2")
        check_threads(self)


@dataclass
class LensResult:
    """What a lens run produced."""

    out: Path
    stats: xr.Dataset
    survivors: dict[str, tuple[int, int]]  # lang -> (kept, built)
    n_prompts: int
    tuned_kl: dict[str, list[float]] | None
    seconds: float
    figures: list[str]


def prompts_for(config: LensConfig) -> tuple[list[LensPrompt], list[str], list[str]]:
    """(prompts, target languages, answer languages) of a config."""
    ps = load_probe_set("concepts")
    targets = list(config.langs) or [lang for lang in ps.languages if lang != REFERENCE_LANG]
    needed = {REFERENCE_LANG, *targets, config.source, config.alt_source}
    ps = ps.select(langs=[lang for lang in ps.languages if lang in needed], limit=config.concepts)
    prompts = build_prompts(
        ps, config.kind, targets, config.source, config.alt_source, config.shots, config.seed
    )
    return prompts, targets, list(ps.languages)


def _dataset(prompts, kept, answer_langs, targets, concepts, per_variant, attrs) -> xr.Dataset:
    """Assemble lens.nc from per-variant arrays of the kept prompts."""
    import numpy as np
    import xarray as xr

    n_points = next(iter(per_variant.values()))["prob"].shape[1]
    shape = (len(per_variant), len(targets), len(concepts), n_points)
    prob = np.full((*shape, len(answer_langs)), np.nan, dtype=np.float32)
    rank, entropy = prob.copy(), np.full(shape, np.nan, dtype=np.float32)
    keep = np.zeros((len(targets), len(concepts)), dtype=np.int8)
    ids = np.full((len(targets), len(concepts), len(answer_langs)), -1, dtype=np.int64)
    li, ci = {lang: i for i, lang in enumerate(targets)}, {c: i for i, c in enumerate(concepts)}
    where = [(li[prompts[k].lang], ci[prompts[k].concept]) for k in kept.index]
    for v, arrays in enumerate(per_variant.values()):
        for row, (i, j) in enumerate(where):
            prob[v, i, j], rank[v, i, j] = arrays["prob"][row], arrays["rank"][row]
            entropy[v, i, j] = arrays["entropy"][row]
    for k, p in enumerate(prompts):
        ids[li[p.lang], ci[p.concept]] = kept.token_ids[k]
        keep[li[p.lang], ci[p.concept]] = kept.keep[k]
    dims = ("variant", "lang", "concept", "layer")
    return xr.Dataset(
        {
            "prob": ((*dims, "answer_lang"), prob),
            "rank": ((*dims, "answer_lang"), rank),
            "entropy": (dims, entropy),
            "keep": (("lang", "concept"), keep),
            "first_token_id": (("lang", "concept", "answer_lang"), ids),
        },
        coords={
            "variant": list(per_variant),
            "lang": targets,
            "concept": concepts,
            "layer": np.arange(n_points),
            "answer_lang": answer_langs,
            "script": ("lang", [LANGUAGES[lang].script for lang in targets]),
        },
        attrs=attrs,
    )


def _udhr_split() -> tuple[list[str], list[str]]:
    """UDHR paragraphs in every language: the first three quarters of paragraphs train, the rest are held out."""
    udhr = load_probe_set("udhr")
    cut = int(len(udhr.units) * 0.75)
    first = set(udhr.units[:cut])
    train = [s.text for s in udhr.stimuli if s.unit in first]
    return train, [s.text for s in udhr.stimuli if s.unit not in first]


def _translators(config: LensConfig, model):
    """(translators, held-out KL table) for a tuned lens; (None, None) for the logit lens."""
    if config.lens != "tuned":
        return None, None
    from polylens.hooks.tuned_lens import TunedLensSettings, tuned_lens

    train, held = _udhr_split()
    return tuned_lens(model, train, held, TunedLensSettings(steps=config.tuned_steps, seed=config.seed))


def _method_attrs(config: LensConfig, n_prompts: int) -> dict[str, str]:
    """Method metadata of the run (what makes two lens datasets comparable)."""
    from importlib.metadata import version

    import numpy as np

    return {
        "lens_kind": config.lens,
        "prompt_kind": config.kind,
        "prompt_source": config.source,
        "prompt_alt_source": config.alt_source,
        "prompt_shots": str(config.shots),
        "prompt_seed": str(config.seed),
        "n_prompts": str(n_prompts),
        "probe_set": "concepts",
        "filter": "Wendler: answer first token (in context) usable and != English answer first token",
        "layer_axis": "0 = blocks.0.hook_resid_pre, l = blocks.{l-1}.hook_resid_post; last prompt position",
        "polylens_version": version("polylens"),
        "xarray_version": version("xarray"),
        "numpy_version": np.__version__,
    }


def run(config: LensConfig) -> LensResult:
    """Prompts -> filter (base tokenizer) -> lens on every variant -> lens.nc, lens_stats.nc, figures
    (on this job's share of the CPUs, ``--threads``, re-read before each variant)."""
    from polylens.hooks.threads import ThreadShare

    with ThreadShare(config.threads) as share:
        return _run(config, share)


def _run(config: LensConfig, share: ThreadShare) -> LensResult:
    """:func:`run` inside the thread share."""
    from polylens.errors import IncompatibleVariantsError
    from polylens.hooks.lens import run_lens, wendler_filter
    from polylens.hooks.models import load_model, tokenizer_fingerprint

    start = time.perf_counter()
    prompts, targets, answer_langs = prompts_for(config)
    concepts = list(dict.fromkeys(p.concept for p in prompts))
    per_variant: dict[str, dict[str, np.ndarray]] = {}
    attrs: dict[str, str] = {}
    kept, base_fp, tuned_kl = None, None, None
    for name in config.models:
        share.apply()  # re-read this job's share of the CPUs before each variant
        model = load_model(name, device=config.device)
        fp = tokenizer_fingerprint(model.tokenizer)
        if base_fp is not None and fp != base_fp:
            raise IncompatibleVariantsError(f"lens: {name} does not share the base model's tokenizer")
        if kept is None:
            base_fp, kept = fp, wendler_filter(model.tokenizer, prompts, answer_langs, REFERENCE_LANG)
        translators, kl = _translators(config, model)
        tuned_kl = tuned_kl or kl
        texts = [prompts[k].text for k in kept.index]
        logger.info(f"lens: {name}: {len(texts)} of {len(prompts)} prompts survive the first-token filter")
        label = model.variant if model.variant not in per_variant else name
        per_variant[label] = run_lens(
            model, texts, kept.token_ids[kept.index], config.batch_size, translators
        )
        prov = model.provenance()
        attrs = attrs or {k: str(v) for k, v in prov.items()}
        attrs[f"weights_sha256_{label}"] = prov["weights_sha256"]
        del model, translators
    assert kept is not None
    attrs |= _method_attrs(config, len(prompts))
    ds = _dataset(prompts, kept, answer_langs, targets, concepts, per_variant, attrs)
    langs = [p.lang for p in prompts]
    counts = {lang: (kept.survivors(langs)[lang], langs.count(lang)) for lang in targets}
    return _write(config, ds, counts, len(prompts), tuned_kl, start)


def _write(config: LensConfig, ds: xr.Dataset, survivors, n_prompts, tuned_kl, start: float) -> LensResult:
    """Write lens.nc, lens_stats.nc, the tuned-lens KL table and the figures."""
    from polylens.analysis.lens import lens_statistics

    config.out.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(config.out / "lens.nc")
    stats = lens_statistics(ds, n_boot=config.n_boot, seed=config.seed)
    stats["survivors"] = ("lang", [survivors.get(str(lang), (0, 0))[0] for lang in stats.lang.values])
    stats["prompts"] = ("lang", [survivors.get(str(lang), (0, 0))[1] for lang in stats.lang.values])
    stats.to_netcdf(config.out / "lens_stats.nc")
    if tuned_kl is not None:
        rows = zip(range(len(tuned_kl["logit"])), tuned_kl["logit"], tuned_kl["tuned"])
        text = "layer,kl_logit_lens,kl_tuned_lens\n" + "".join(f"{l},{a:.6g},{b:.6g}\n" for l, a, b in rows)
        (config.out / "lens_tuned_kl.csv").write_text(text)
    figures: list[str] = []
    if config.figures:
        from polylens.figures.registry import render_all

        figures = sorted(render_all(config.out, config.out / "figures", only=["lens_curves", "lens_heatmap"]))
    return LensResult(config.out, stats, survivors, n_prompts, tuned_kl, time.perf_counter() - start, figures)


def _fmt(stats: xr.Dataset, name: str, i: int, j: int, digits: int = 2) -> str:
    """``value [lo, hi]`` of a per (variant, lang) statistic."""
    import numpy as np

    v = stats[name].values[i, j]
    if np.isnan(v):
        return "-"
    lo, hi = stats[f"{name}_lo"].values[i, j], stats[f"{name}_hi"].values[i, j]
    f = f"{{:.{digits}f}}"
    return f"{f.format(v)} [{f.format(lo)}, {f.format(hi)}]"


def summary(result: LensResult) -> str:
    """Per variant and target language: survivors, peak P(en), depth, overtaking layer; Llama-2 beside."""
    from polylens.analysis.lens import anchor_values

    stats = result.stats
    anchor = anchor_values()["values"]["Llama-2-7B"]
    n_layers = len(stats.layer) - 1
    head = (
        f"lens ({stats.attrs.get('lens_kind')} lens, {stats.attrs.get('prompt_kind')} prompts, "
        f"{stats.attrs.get('model_model_id', stats.attrs.get('model_id'))}, {n_layers} layers; 95% bootstrap CIs over concepts)"
    )
    cols = (
        "variant",
        "lang",
        "kept",
        "peak P(en)",
        "depth of peak",
        "target overtakes en",
        "Llama-2-7B (peak P(en) / depth / overtake)",
    )
    lines = [head, " | ".join(cols), " | ".join("-" * len(c) for c in cols)]
    for i, variant in enumerate(stats.variant.values):
        for j, lang in enumerate(stats.lang.values):
            llama = "-"
            if lang == anchor["lang"]:
                llama = f"{anchor['peak_p_en']:.2f} / {anchor['peak_depth']:.2f} / {anchor['overtake_layer']} of {anchor['n_blocks']}"
            elif lang in ("fr", "de", "ru"):
                llama = "not published per layer"
            row = (
                str(variant),
                str(lang),
                f"{int(stats['survivors'].values[j])}/{int(stats['prompts'].values[j])}",
                _fmt(stats, "peak_p_en", i, j),
                _fmt(stats, "peak_depth", i, j),
                _fmt(stats, "overtake_layer", i, j, 0),
                llama,
            )
            lines.append(" | ".join(row))
    lines.append(
        "verdict per layer 0..L (E: English > target, T: target > English, paired sign-flip, BH q<0.05 over layers, mean P >= 0.05; .: neither)"
    )
    for i, variant in enumerate(stats.variant.values):
        for j, lang in enumerate(stats.lang.values):
            codes = stats["verdict"].values[i, j]
            lines.append(
                f"  {variant} {lang}: "
                + "".join({1: "E", -1: "T"}.get(int(c), ".") if c == c else "?" for c in codes)
            )
    if result.tuned_kl is not None:
        lines.append("held-out KL(final || lens), nats: layer: logit lens -> tuned lens")
        lines += [
            f"  {l}: {a:.4f} -> {b:.4f}"
            for l, (a, b) in enumerate(zip(result.tuned_kl["logit"], result.tuned_kl["tuned"]))
        ]
    lines.append(f"{result.n_prompts} prompts, {result.seconds:.1f} s; wrote {result.out}")
    return "\n".join(lines)


#: the CLI commands of this module: command path -> (config class, run, summary)
COMMANDS = {
    "lens": (LensConfig, run, summary),
}
