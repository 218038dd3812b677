"""``diff``: model diffing between two variants (issue 8), written to ``<out>/diff.nc``.

Steps: shared-vocabulary filter -> CKA by layer -> patching KL by layer both ways -> transport
maps per site and layer (split by unit) -> mapped patching with an alpha sweep and controls ->
layer/language change tests (``analysis.variant_tests.change_tests``). Definitions:
:mod:`polylens.analysis.diffing`; model runs: :mod:`polylens.hooks.diffing`. Different
tokenizers or shapes: CKA only (``--allow-cka-only``; reason in ``attrs["patching_skipped"]``).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from polylens.errors import IncompatibleVariantsError
from polylens.pipelines.config import check, check_threads, fraction, opt, positive, threads_opt

if TYPE_CHECKING:
    import xarray as xr

    from polylens.analysis import diffing as ad

logger = logging.getLogger(__name__)
MapMethod = Literal["ridge", "ridge_residual", "procrustes", "procrustes_whitened"]
MAP_METHODS = ("identity", "ridge", "ridge_residual", "procrustes", "procrustes_whitened")
SITES = ("resid_post", "attn_out", "mlp_out")
METRICS = ["r2", "cka", "cka_debiased", "cosine", "train_r2"]
DEFAULT_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25)  # patched-vector scales (0 = zero-ablation)


@dataclass(frozen=True, kw_only=True)
class DiffConfig:
    """Model diffing: CKA, cross-model patching, transport maps (all stored in the result's attrs)."""

    command: ClassVar[str] = "diff"
    a: str = opt(help="variant A (registry name, folder, hub id, or BASE@int4-g128 simulated quantization)")
    b: str = opt(help="variant B")
    out: Path = opt(help="results directory (diff.nc, summary.json)")
    probes: str = opt("udhr", "parallel probe set")
    langs: tuple[str, ...] | None = opt(None, "languages (default: all)")
    limit: int | None = opt(None, "first N units of the probe set")
    positions: Literal["last", "all"] = opt(
        "last", "patch the last content token (default) or all content tokens"
    )
    k_positions: int = opt(8, "positions per prompt for fitting transport maps")
    pooling: Literal["mean", "last"] = opt("mean", "pooling of the activations compared by CKA")
    sites: tuple[str, ...] = opt(SITES, "sites for transport maps and mapped patching")
    methods: tuple[str, ...] = opt(MAP_METHODS, "transport-map methods fitted and scored")
    map: MapMethod = opt("ridge", "map used for mapped patching (and the shuffled-pairs control)")
    patch_layers: tuple[int, ...] | None = opt(
        None, "mapped-patching layers (default: peak-KL layer and control layer)"
    )
    control_layer: int | None = opt(None, "early-layer control (default: round(L / 4))")
    alphas: tuple[float, ...] = opt(DEFAULT_ALPHAS, "scales of the patched vector (0 = zero-ablation)")
    val_frac: float = opt(0.3, "share of groups held out to validate maps and mapped patching")
    split_by: Literal["unit", "prompt"] = opt("unit", "unit: all translations of an item on one side")
    min_shared_ratio: float = opt(0.65, "least share of a prompt's tokens present in both vocabularies")
    allow_cka_only: bool = opt(
        False, "for pairs that cannot be patched (e.g. different tokenizers): CKA only"
    )
    max_tokens: int = opt(48, "prompts are truncated to this many tokens (incl. BOS)")
    kl_layers: tuple[int, ...] | None = opt(None, "layers for KL by layer (default: all)")
    skip_maps: bool = opt(False, "CKA and patching KL only (no transport maps or mapped patching)")
    n_boot: int = opt(1000, "bootstrap resamples for the CIs")
    seed: int = opt(0, "random seed (split, shuffled pairs, bootstrap)")
    device: str | None = opt(None, "cuda | mps | cpu (default: best available)")
    dtype: Literal["float32", "bfloat16", "float16"] = opt("float32", "dtype the models compute in")
    processing: Literal["raw", "compat"] = opt("raw", "raw bridge weights or enable_compatibility_mode()")
    chunk: int = opt(16, "prompts per forward pass")
    threads: int | None = threads_opt()
    skip_trailing_punct: bool = opt(True, "leave trailing punctuation/whitespace out of the content tokens")

    def __post_init__(self) -> None:
        """Check ranges, sites and map methods."""
        positive(self, "limit", "k_positions", "max_tokens", "n_boot", "chunk")
        check_threads(self)
        positive(self, "patch_layers", "kl_layers", "control_layer", allow_zero=True)
        fraction(self, "val_frac")
        ratio = self.min_shared_ratio
        check(0 <= ratio <= 1, "min_shared_ratio", f"must be in [0, 1], got {ratio}")
        check(bool(self.sites) and set(self.sites) <= set(SITES), "sites", f"choose from {', '.join(SITES)}")
        check(
            bool(self.methods) and set(self.methods) <= set(MAP_METHODS),
            "methods",
            f"choose from {', '.join(MAP_METHODS)}",
        )
        check(
            all(math.isfinite(a) for a in self.alphas) and bool(self.alphas), "alphas", "give finite numbers"
        )
        check(self.langs is None or bool(self.langs), "langs", "give at least one language")


@dataclass(frozen=True)
class DiffResult:
    """The diff dataset and the ``diff.nc`` it was written to."""

    dataset: xr.Dataset
    path: Path


def run(config: DiffConfig, models: tuple[Any, Any] | None = None) -> DiffResult:
    """Load both variants (or use ``models``), diff them on this job's CPU share, write the results."""
    from polylens.hooks.models import load_model  # handles BASE@int4-g128 (hooks.quantize)
    from polylens.hooks.threads import ThreadShare

    with ThreadShare(config.threads):
        if models is None:
            logger.info("loading %s and %s", config.a, config.b)
            args = (config.device, config.dtype, config.processing)
            models = (load_model(config.a, *args), load_model(config.b, *args))
        ds = diff(config, *models)
    return DiffResult(ds, write_results(ds, config.out))


def diff(config: DiffConfig, ma: Any, mb: Any) -> xr.Dataset:
    """The labelled diff of loaded variants ``ma`` vs ``mb`` (not written)."""
    import numpy as np

    from polylens.analysis import diffing as ad
    from polylens.analysis.variant_tests import change_tests
    from polylens.hooks import patching

    if not config.allow_cka_only:
        patching.require_same_architecture(ma, mb)
    ps, stimuli, fair = _prompts(config, ma, mb)
    texts = [s.text for s in stimuli]
    L = max(ma.n_layers, mb.n_layers)
    ds = _cka(config, ma, mb, stimuli, L)
    attrs = _attrs(config, ma, mb, ps, fair)
    try:
        patching.require_same_architecture(ma, mb)
    except IncompatibleVariantsError as exc:
        if not config.allow_cka_only:
            raise
        attrs["patching_skipped"] = str(exc)
        ds = change_tests(ds, seed=config.seed)
        ds.attrs.update(attrs)
        logger.info("patching skipped: %s", exc)
        return ds
    batch = patching.encode(mb, texts, config.k_positions, config.skip_trailing_punct, config.max_tokens)
    ds = _kl(config, ma, mb, batch, ds, L)
    control = config.control_layer if config.control_layer is not None else max(1, round(L / 4))
    attrs.update(control_layer=control, peak_kl_layer=ad.peak_layer(ds))
    if config.skip_maps:
        attrs["maps_skipped"] = 1
    else:
        # the split group of each prompt: its unit, or the prompt itself
        groups = np.array([s.unit if config.split_by == "unit" else f"{s.unit}|{s.lang}" for s in stimuli])
        split = ad.split_rows(groups, batch.train_positions()[0], config.val_frac, config.seed)
        ds["split"] = (
            ("prompt",),
            np.where(np.isin(np.arange(len(texts)), split.val_prompts), "val", "train"),
        )
        ds, fitted = _transport(config, ma, mb, batch, split, ds, L)
        ds = _mapped(config, ma, mb, batch, split, fitted, ds, attrs, L)
        attrs["n_train_prompts"], attrs["n_val_prompts"] = len(split.train_prompts), len(split.val_prompts)
    ds = change_tests(ds, seed=config.seed)  # which layers / language changed (issue 18)
    ds.attrs.update(attrs)
    ad.describe(ds)
    return ds


def _prompts(config: DiffConfig, ma: Any, mb: Any) -> tuple[Any, list[Any], ad.FairnessReport]:
    """The probe subset, the stimuli kept by the shared-vocabulary filter, and its report."""
    from polylens import probes
    from polylens.analysis import diffing as ad

    ps = probes.load_probe_set(config.probes)
    ps = ps.select(langs=list(config.langs) if config.langs else None, limit=config.limit)
    same_vocab = ma.tokenizer.get_vocab() == mb.tokenizer.get_vocab()
    texts = [s.text for s in ps.stimuli]
    fair = ad.shared_vocab_filter(
        ma.tokenizer, mb.tokenizer, texts, 0.0 if same_vocab else config.min_shared_ratio
    )
    stimuli = [ps.stimuli[i] for i in fair.kept]
    logger.info("%s", fair.summary())
    if len(stimuli) < 8:
        raise IncompatibleVariantsError(
            f"only {len(stimuli)} prompts left after the shared-vocabulary filter; lower --min-shared-ratio"
        )
    return ps, stimuli, fair


def _cka(config: DiffConfig, ma: Any, mb: Any, stimuli: list[Any], L: int) -> xr.Dataset:
    """CKA by layer on pooled activations (each model with its own tokenizer, full texts)."""
    import numpy as np
    import xarray as xr

    from polylens.analysis import diffing as ad
    from polylens.analysis.variant_tests import relative_change
    from polylens.hooks.diffing import pooled_resid

    texts = [s.text for s in stimuli]
    logger.info("CKA by layer on %d prompts (%s pooling)", len(texts), config.pooling)
    pooled = [
        pooled_resid(m, texts, config.pooling, config.skip_trailing_punct, config.chunk) for m in (ma, mb)
    ]
    if pooled[0].shape[0] != pooled[1].shape[0]:
        raise IncompatibleVariantsError("CKA by layer needs equal depth (layer counts differ)")
    cka = ad.cka_by_layer(pooled[0], pooled[1], config.n_boot, config.seed)
    rel = relative_change(*pooled)
    ds = xr.Dataset(
        coords={
            "layer": np.arange(L + 1),
            "kind": ["linear", "debiased"],
            "ci": ["lo", "hi"],
            "prompt": [f"{s.unit}|{s.lang}" for s in stimuli],
            "lang": ("prompt", [s.lang for s in stimuli]),
            "unit": ("prompt", [s.unit for s in stimuli]),
        }
    )
    ds["cka"] = (("kind", "layer"), cka["cka"])
    ds["cka_ci"] = (("kind", "layer", "ci"), cka["ci"])
    ds["rel_change"] = (("layer", "prompt"), rel)
    return ds


def _kl(config: DiffConfig, ma: Any, mb: Any, batch: Any, ds: xr.Dataset, L: int) -> xr.Dataset:
    """Cross-model patching KL by layer in both directions, with CIs and the asymmetry."""
    from polylens.analysis import diffing as ad
    from polylens.hooks.diffing import kl_both_directions

    logger.info("patching KL by layer, both directions (%s positions)", config.positions)
    layers = list(range(L + 1)) if config.kl_layers is None else sorted(config.kl_layers)
    kl = kl_both_directions(ma, mb, batch, config.positions, config.chunk, layers, L + 1)
    return ds.merge(ad.kl_stats(kl, config.n_boot, config.seed))


def _transport(
    config: DiffConfig, ma: Any, mb: Any, batch: Any, split: ad.Split, ds: xr.Dataset, L: int
) -> tuple[xr.Dataset, dict[tuple[str, int], tuple[Any, Any]]]:
    """Fit and score every map method per site and layer; keep the patching map + shuffled control."""
    import numpy as np

    from polylens.analysis import diffing as ad
    from polylens.hooks.diffing import site_activations
    from polylens.hooks.sites import site_layers

    methods = list(config.methods) + ["shuffled_pairs"]
    tscores = np.full((len(config.sites), L + 1, len(methods), len(METRICS)), np.nan)
    fitted: dict[tuple[str, int], tuple[Any, Any]] = {}
    logger.info(
        "transport maps: %d train / %d val rows (%d/%d prompts), sites %s",
        *(len(split.train_rows), len(split.val_rows), len(split.train_prompts), len(split.val_prompts)),
        list(config.sites),
    )
    for si, site in enumerate(config.sites):
        lays = site_layers(site, L)
        xa_all, xb_all = site_activations(ma, mb, batch, site, lays, config.chunk)
        for j, l in enumerate(lays):
            sc, maps, shuffled = ad.fit_transport(
                *(xa_all[j], xb_all[j], split.row_groups, split.train_rows, split.val_rows),
                *(config.methods, config.seed, config.map),
            )
            for mi, m in enumerate(methods):
                if m in sc:
                    tscores[si, l, mi] = [sc[m][k] for k in METRICS]
            fitted[site, l] = (maps[config.map], shuffled)
        del xa_all, xb_all
    ds = ds.assign_coords(site=list(config.sites), map_method=methods, metric=METRICS)
    ds["transport"] = (("site", "layer", "map_method", "metric"), tscores)
    return ds, fitted


def _mapped(
    config: DiffConfig,
    ma: Any,
    mb: Any,
    batch: Any,
    split: ad.Split,
    fitted: dict[tuple[str, int], tuple[Any, Any]],
    ds: xr.Dataset,
    attrs: dict[str, Any],
    L: int,
) -> xr.Dataset:
    """Mapped patching (A -> B) at the selected layers: alpha sweep on train/val prompts, controls."""
    import numpy as np

    from polylens.analysis import diffing as ad
    from polylens.hooks import patching
    from polylens.hooks.diffing import alpha_sweep, control_kls

    layers = (
        list(config.patch_layers)
        if config.patch_layers
        else sorted({attrs["peak_kl_layer"], attrs["control_layer"]})
    )
    va_p = split.val_prompts
    batches = (batch.subset(split.train_prompts[: max(len(va_p), 8)]), batch.subset(va_p))
    alphas = np.asarray(config.alphas, dtype=float)
    out = ad.MappedArrays(len(config.sites), len(layers), len(alphas))
    mismatch_of = {}
    logger.info("mapped patching at layers %s on %d val prompts", layers, len(va_p))
    for si, site in enumerate(config.sites):
        for li, l in enumerate(layers):
            if (site, l) not in fitted:
                continue
            other = ad.mismatched_layer(l, site, L)
            mismatch_of[f"{site}@{l}"] = other
            fmap, fshuf = fitted[site, l]
            for sp, bt in enumerate(batches):
                p = patching.Patcher(ma, mb, bt, config.positions, config.chunk)
                kls = alpha_sweep(p, site, l, fmap.transform, alphas)
                for (pi, ai), v in kls.items():
                    out.sweep[sp, si, li, pi, ai], out.sweep_ci[sp, si, li, pi, ai] = ad.mean_ci(
                        v, config.n_boot, config.seed
                    )
            out.best_alpha[si, li] = ad.best_alpha(alphas, out.sweep[0, si, li, 1])  # alpha* on train prompts
            cond = control_kls(p, site, l, kls, alphas, fitted[site, other][0].transform, fshuf.transform)
            stats = ad.control_stats(cond, config.n_boot, config.seed)
            out.ctrl[si, li], out.ctrl_ci[si, li], out.red[si, li], out.red_ci[si, li] = stats
    attrs["mismatched_layer_of"] = json.dumps(mismatch_of)
    return out.add_to(ds, layers, alphas)


def _toolkit_version() -> str:
    try:
        return version("polylens")
    except PackageNotFoundError:  # not installed as a package
        return "dev"


def _attrs(config: DiffConfig, ma: Any, mb: Any, ps: Any, fair: ad.FairnessReport) -> dict[str, Any]:
    """Method metadata of the run: parameters, probe set, fairness filter, both models' provenance."""
    attrs: dict[str, Any] = {
        "analysis": "model_diff",
        "toolkit_version": _toolkit_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "probe_set": ps.name,
        "probe_set_sha256": ps.sha256,
        "langs": ",".join(ps.languages),
        **{k: getattr(config, k) for k in ("positions", "k_positions", "pooling")},
        "sites": ",".join(config.sites),
        "patch_map": config.map,
        "methods": ",".join(config.methods),
        **{k: getattr(config, k) for k in ("val_frac", "split_by", "seed", "n_boot", "max_tokens")},
        "ci_level": 0.95,
        "skip_trailing_punct": int(config.skip_trailing_punct),
        "kl": "KL(target_patched || target), nats, next token at the last content token",
        "alpha": "patched vector = alpha * x; alpha=0 is zero-ablation",
        "fairness_min_shared_ratio": fair.min_shared_ratio,
        "fairness_n_total": fair.n_total,
        "fairness_n_kept": fair.n_kept,
        "fairness_identical_tokenizers": int(fair.identical_tokenizers),
        "xarray_version": version("xarray"),
    }
    for tag, m in (("a", ma), ("b", mb)):
        for k, v in m.provenance().items():
            attrs[f"{tag}_{k}"] = str(v)
        attrs[f"{tag}_name"] = m.spec.name
        if m.extra:
            attrs[f"{tag}_extra"] = json.dumps(m.extra)
    return attrs


def write_results(ds: xr.Dataset, out_dir: str | Path) -> Path:
    """Write ``diff.nc`` (+ ``summary.json`` of headline numbers) into ``out_dir``."""
    from polylens.analysis import diffing as ad
    from polylens.storage.integrity import atomic_dir, resource_guard

    resource_guard()
    enc = {v: {"zlib": True} for v in ds.data_vars if ds[v].dtype.kind == "f"}
    with atomic_dir(Path(out_dir)) as tmp:  # a failed write leaves the previous results untouched
        ds.to_netcdf(tmp / "diff.nc", encoding=enc)
        (tmp / "summary.json").write_text(json.dumps(ad.summarize(ds), indent=1, default=float))
    return Path(out_dir) / "diff.nc"


def summary(result: DiffResult) -> str:
    """CKA (and KL) by layer with CIs, mapped-patching reductions, and the file written."""
    from polylens.analysis import diffing as ad
    from polylens.analysis.variant_tests import change_lines

    s = ad.summarize(result.dataset)
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
        cells = [f"{c} {v[0]:+.1%} [{v[1]:+.1%}, {v[2]:+.1%}]" for c, v in conds.items() if c != "raw"]
        lines.append(f"  mapped patching {key}: {', '.join(cells)}")
    lines += change_lines(s["change_tests"])
    lines.append(f"wrote {result.path}")
    return "\n".join(lines)


#: the CLI commands of this module: command path -> (config class, run, summary)
COMMANDS = {"diff": (DiffConfig, run, summary)}
