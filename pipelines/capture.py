"""``cache``: run probe stimuli through one or more model variants into an activation store.

Streams one batch at a time to disk (peak memory independent of the number of stimuli),
resumes after any interruption, splits work across shards, assembles atomically.
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from polylens.errors import ConfigError, ProbeError
from polylens.hooks.sites import SITES
from polylens.pipelines.cluster import ClusterOptions, check_cluster, on_cluster
from polylens.pipelines.config import (
    at_most,
    check,
    check_device,
    check_threads,
    opt,
    output_dir,
    positive,
    threads_opt,
    write_config,
)

logger = logging.getLogger(__name__)

ModelDtype = Literal["float32", "bfloat16", "float16"]
#: the on-disk encoding recorded in the method (see polylens.storage.encoding)
STORE_DTYPE = "float32-bitround10"
Key = tuple[str, str]


@dataclass(frozen=True, kw_only=True)
class ModelOptions:
    """Which model to boot and how (shared by ``quickstart`` and ``cache``)."""

    model: str = opt("gemma-3-270m", "registry name, local folder or hub id")
    device: str | None = opt(None, "cuda | mps | cpu (default: best available)")
    dtype: ModelDtype = opt("float32", "dtype the model computes in")
    processing: Literal["raw", "compat"] = opt("raw", "raw bridge weights or enable_compatibility_mode()")


@dataclass(frozen=True, kw_only=True)
class CaptureConfig(ModelOptions, ClusterOptions):
    """Capture pooled activations into a resumable store."""

    command: ClassVar[str] = "cache"
    models: tuple[str, ...] | None = opt(None, "variants to capture (default: --model)")
    probes: str = opt("concepts", "probe set name or file")
    out: Path = opt(help="store directory (re-run to resume)")
    langs: tuple[str, ...] | None = opt(None, "language codes (default: all)")
    limit: int | None = opt(None, "first N units only")
    pooling: Literal["mean", "last"] = opt("mean", "pool over content tokens or take the last one")
    sites: tuple[str, ...] = opt(("resid",), "capture sites: resid[,attn_out][,mlp_out]")
    batch_size: int | None = opt(None, "fixed stimuli per forward pass (default: token-budget batches)")
    token_budget: int | None = opt(
        None, "padded tokens per forward pass (default 4096; not with --batch-size)"
    )
    threads: int | None = threads_opt()
    max_tokens: int = opt(2048, "refuse a stimulus longer than this many tokens")
    keep_parts: bool = opt(False, "keep the part files after a verified assembly")
    shard: str = opt("0/1", "i/n: capture every n-th stimulus from i")
    strip_trailing_punct: bool = opt(True, "leave trailing punctuation/whitespace out of the pooling")

    def __post_init__(self) -> None:
        """Check ranges, sites, the device, the output directory and the shard spec."""
        positive(self, "limit", "batch_size", "max_tokens", "token_budget")
        check_threads(self)
        at_most(self, "batch_size", 4096)
        check(
            self.batch_size is None or self.token_budget is None,
            "token_budget",
            "give --batch-size or --token-budget, not both",
        )
        at_most(self, "max_tokens", 131072)
        check(bool(self.sites), "sites", "give at least one capture site")
        check(self.models is None or (bool(self.models) and all(self.models)), "models", "give a model")
        check(self.langs is None or (bool(self.langs) and all(self.langs)), "langs", "give a language code")
        for site in self.sites:
            check(site in SITES, "sites", f"unknown site {site[:40]!r}; choose from {', '.join(SITES)}")
        output_dir(self, "out")
        check_device(self.device)
        self.shard_pair  # noqa: B018 - validates the spec
        check_cluster(self)

    @property
    def variants(self) -> tuple[str, ...]:
        """The models to capture, in order (``--models`` or else ``--model``)."""
        return self.models or (self.model,)

    @property
    def shard_pair(self) -> tuple[int, int]:
        """``"i/n"`` -> (i, n) with 0 <= i < n."""
        try:
            i, n = (int(x) for x in self.shard.split("/"))
        except ValueError:
            raise ConfigError(f"--shard must look like i/n (e.g. 0/4), not {self.shard!r}") from None
        if not 0 <= i < n:
            raise ConfigError(f"--shard {self.shard}: need 0 <= i < n")
        return i, n


@on_cluster
def run(config: CaptureConfig) -> Path | None:
    """Capture every requested (variant, stimulus) not yet in the store, then assemble.

    Returns the assembled file, or None for a shard (combine shards with ``merge``).
    """
    from polylens import probes
    from polylens.hooks.registry import resolve
    from polylens.storage.integrity import resource_guard, store_lock

    resource_guard()
    probe_set = probes.load_probe_set(config.probes).select(langs=config.langs, limit=config.limit)
    for name in config.variants:  # refuse unknown models before anything is written
        resolve(name)
    from polylens.hooks.threads import ThreadShare

    with store_lock(Path(config.out)), ThreadShare(config.threads) as threads:
        return _run_locked(config, probe_set, threads)


def _run_locked(config: CaptureConfig, probe_set: Any, threads: Any) -> Path | None:
    """The capture, holding the store's lock."""
    from polylens.hooks.method import Method
    from polylens.storage.cache import shard_of
    from polylens.storage.store import open_store, write_manifest

    method = Method(
        probe_set.name,
        probe_set.sha256,
        probe_set.unit_dim,
        config.pooling,
        tuple(config.sites),
        STORE_DTYPE,
        config.processing,
        config.strip_trailing_punct,
    )
    store = Path(config.out)
    manifest = open_store(store, method, config.shard)
    _check_final(store, manifest)
    write_config(config, store)
    texts = {(s.lang, s.unit): s.text for s in probe_set.stimuli}
    mine = shard_of(list(texts), config.shard_pair)
    if config.distributed:
        from polylens.pipelines.cluster import CaptureSteps, capture_on_cluster

        steps = CaptureSteps(_variant_label, plan, _token_lengths, capture_batch)
        computed = capture_on_cluster(config, steps, store, manifest, texts, mine)
    else:
        computed = sum(
            _capture_variant(config, name, store, manifest, texts, mine, threads) for name in config.variants
        )
    if config.shard_pair[1] > 1:
        manifest["complete"] = {"variants": list(config.variants), "units": len(mine)}
        write_manifest(store, manifest)
        i, n = config.shard_pair
        logger.info(f"shard {i}/{n} finished; combine shards with `python cli.py merge --out DIR STORE...`")
        return None
    return _assemble(config, store, manifest, probe_set, computed)


def _capture_variant(
    config: CaptureConfig,
    name: str,
    store: Path,
    manifest: dict[str, Any],
    texts: dict[tuple[str, str], str],
    mine: list[tuple[str, str]],
    threads: Any,
) -> int:
    """Boot one model, capture its missing stimuli batch by batch; return how many were new."""
    from tqdm import tqdm

    from polylens.hooks.models import load_model
    from polylens.storage.store import append_ledger, done_keys, register_variant

    model = load_model(name, device=config.device, dtype=config.dtype, processing=config.processing)
    variant = _variant_label(name, model.variant, config.variants)
    register_variant(store, manifest, variant, model.provenance())
    done = done_keys(store, variant, manifest)
    todo = [k for k in mine if k not in done]
    logger.info(
        f"{variant}: {len(mine) - len(todo)} of {len(mine)} stimuli already captured, {len(todo)} to go"
    )
    batches = plan(config, todo, _token_lengths(model.tokenizer, [texts[k] for k in todo]))
    with tqdm(total=len(todo), unit="stim", desc=variant, dynamic_ncols=True) as bar:
        n_tok = 0
        for keys in batches:
            threads.apply()  # re-read this job's share: another job may have started or ended
            entry, n = capture_batch(config, model, store, variant, keys, [texts[k] for k in keys])
            append_ledger(store, entry)
            n_tok += n
            bar.update(len(keys))
            bar.set_postfix(tok_per_s=f"{n_tok / max(bar.format_dict['elapsed'], 1e-9):.0f}")
    del model
    gc.collect()
    return len(todo)


def plan(config: CaptureConfig, todo: list[Key], lengths: list[int]) -> list[list[Key]]:
    """Refuse over-long stimuli, then batch ``todo`` (the one planner of local and cluster runs):
    fixed ``--batch-size`` if given, else token-budget batches."""
    from polylens.hooks.batching import DEFAULT_TOKEN_BUDGET, plan_fixed_batches, plan_token_batches

    for key, n in zip(todo, lengths):
        if n > config.max_tokens:
            raise ProbeError(
                f"{config.probes}: unit {key[1][:60]!r}, lang {key[0]!r}: {n} tokens, more than "
                f"--max-tokens {config.max_tokens}"
            )
    sizes = dict(zip(todo, lengths))
    if config.batch_size:
        return plan_fixed_batches(sizes, config.batch_size)
    return plan_token_batches(sizes, config.token_budget or DEFAULT_TOKEN_BUDGET)


def capture_batch(
    config: CaptureConfig, model: Any, store: Path, variant: str, keys: list[Key], texts: list[str]
) -> tuple[dict[str, Any], int]:
    """Pool one batch and write its part file; (ledger entry to record, tokens run)."""
    from polylens.hooks.capture import pool_batch
    from polylens.storage.store import write_part_file

    pooled = pool_batch(
        model,
        texts,
        pooling=config.pooling,
        sites=config.sites,
        strip_trailing_punct=config.strip_trailing_punct,
    )
    entry = write_part_file(store, variant, keys, pooled.acts, pooled.n_content, pooled.n_tokens)
    return entry, int(pooled.n_tokens.sum())


def _check_final(store: Path, manifest: dict[str, Any]) -> None:
    """Verify the previous final file in full; if damaged, forget it so its stimuli are redone."""
    from polylens.errors import StorageError
    from polylens.storage.integrity import verify
    from polylens.storage.store import FINAL, write_manifest

    if not manifest.get("final"):
        return
    try:
        verify(store / FINAL, manifest["final"])
    except StorageError as exc:
        logger.info(f"{exc}: re-capturing what it held")
        manifest.pop("final")
        manifest.pop("assembled", None)
        write_manifest(store, manifest)


def _assemble(
    config: CaptureConfig, store: Path, manifest: dict[str, Any], probe_set: Any, computed: int
) -> Path:
    """Assemble the parts into the final file unless it is already up to date; then drop the parts."""
    from polylens.storage.assemble import assemble
    from polylens.storage.store import FINAL, finalize

    signature = {"variants": list(config.variants), "langs": probe_set.languages, "units": probe_set.units}
    final = store / FINAL
    if not computed and manifest.get("final") and manifest.get("assembled") == signature:
        logger.info(f"nothing new: {final} is up to date (checksum verified)")
        return final
    assemble([store], final, probe_set=probe_set)
    manifest["assembled"] = signature
    finalize(store, manifest, keep_parts=config.keep_parts)
    return final


def _variant_label(name: str, variant: str, all_names: tuple[str, ...]) -> str:
    """The family variant (base, fire...) unless two requested models share it."""
    from polylens.hooks.registry import resolve

    labels = [resolve(n).variant for n in all_names]
    return variant if labels.count(variant) == 1 else name


def _token_lengths(tokenizer: Any, texts: list[str]) -> list[int]:
    """Token count of each text (with special tokens), for length-sorted batching."""
    if not texts:
        return []
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=True).input_ids]


def summary(result: Path | None) -> str:
    """``wrote FILE`` for a finished store, nothing for a shard."""
    return f"wrote {result}" if result else ""


#: the CLI commands of this module: command path -> (config class, run, summary)
COMMANDS = {
    "cache": (CaptureConfig, run, summary),
}
