"""``cache``: run probe stimuli through one or more model variants into an activation store.

Streams one batch at a time to disk (peak memory independent of the number of stimuli),
resumes after any interruption, splits work across shards, assembles atomically.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from polylens.hooks.method import Method
from polylens.storage.assemble import assemble
from polylens.storage.store import (
    FINAL,
    done_keys,
    open_store,
    register_variant,
    write_manifest,
    write_part,
)


@dataclass(frozen=True)
class CacheRequest:
    """Everything ``cache`` needs; mirrors the CLI options."""

    models: tuple[str, ...]
    probes: str
    out: Path
    langs: tuple[str, ...] | None = None
    limit: int | None = None
    pooling: str = "mean"
    sites: tuple[str, ...] = ("resid",)
    batch_size: int = 16
    dtype: str = "float16"
    device: str | None = None
    model_dtype: str = "float32"
    processing: str = "raw"
    shard: tuple[int, int] = (0, 1)
    strip_trailing_punct: bool = True


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> (i, n) with 0 <= i < n."""
    from polylens.errors import ToolkitError

    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ToolkitError(f"--shard must look like i/n (e.g. 0/4), not {text!r}") from None
    if not 0 <= i < n:
        raise ToolkitError(f"--shard {text}: need 0 <= i < n")
    return i, n


def plan_batches(lengths: dict[tuple[str, str], int], batch_size: int) -> list[list[tuple[str, str]]]:
    """Deterministic batches of similar token length (least padding): sort, then chunk."""
    order = sorted(lengths, key=lambda k: (lengths[k], k))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def shard_of(keys: list[tuple[str, str]], shard: tuple[int, int]) -> list[tuple[str, str]]:
    """The stimuli of shard i of n: every n-th one in the canonical (probe-set) order."""
    i, n = shard
    return [k for j, k in enumerate(keys) if j % n == i]


def run_cache(req: CacheRequest, log=print) -> Path | None:
    """Capture every requested (variant, stimulus) not yet in the store, then assemble.

    Returns the assembled file, or None for a shard (combine shards with ``merge``).
    """
    from polylens import probes
    from polylens.hooks.capture import pool_batch
    from polylens.hooks.models import load_model

    probe_set = probes.load_probe_set(req.probes).select(langs=req.langs, limit=req.limit)
    method = Method(
        probe_set.name,
        probe_set.sha256,
        probe_set.unit_dim,
        req.pooling,
        tuple(req.sites),
        req.dtype,
        req.processing,
        req.strip_trailing_punct,
    )
    store = Path(req.out)
    manifest = open_store(store, method)
    texts = {(s.lang, s.unit): s.text for s in probe_set.stimuli}
    mine = shard_of(list(texts), req.shard)
    computed = 0
    for name in req.models:
        model = load_model(name, device=req.device, dtype=req.model_dtype, processing=req.processing)
        variant = _variant_label(name, model, req.models)
        register_variant(store, manifest, variant, model.provenance())
        done = done_keys(store, variant)
        todo = [k for k in mine if k not in done]
        computed += len(todo)
        log(f"{variant}: {len(mine) - len(todo)} of {len(mine)} stimuli already captured, {len(todo)} to go")
        lengths = _token_lengths(model.tokenizer, [texts[k] for k in todo])
        batches = plan_batches(dict(zip(todo, lengths)), req.batch_size)
        with tqdm(total=len(todo), unit="stim", desc=variant, dynamic_ncols=True) as bar:
            n_tok = 0
            for keys in batches:
                pooled = pool_batch(
                    model,
                    [texts[k] for k in keys],
                    pooling=req.pooling,
                    sites=req.sites,
                    strip_trailing_punct=req.strip_trailing_punct,
                )
                write_part(store, variant, keys, pooled.acts, pooled.n_content, pooled.n_tokens, req.dtype)
                n_tok += int(pooled.n_tokens.sum())
                bar.update(len(keys))
                bar.set_postfix(tok_per_s=f"{n_tok / max(bar.format_dict['elapsed'], 1e-9):.0f}")
        del model
        gc.collect()
    if req.shard[1] > 1:
        log(
            f"shard {req.shard[0]}/{req.shard[1]} finished; combine shards with "
            f"`python cli.py merge --out DIR STORE...`"
        )
        return None
    signature = {"variants": list(req.models), "langs": probe_set.languages, "units": probe_set.units}
    final = store / FINAL
    if not computed and final.exists() and manifest.get("assembled") == signature:
        log(f"nothing new: {final} is up to date")
        return final
    assemble([store], final, probe_set=probe_set)
    manifest["assembled"] = signature
    write_manifest(store, manifest)
    return final


def _variant_label(name: str, model, all_names: tuple[str, ...]) -> str:
    """The family variant (base, fire...) unless two requested models share it."""
    from polylens.hooks.registry import resolve

    labels = [resolve(n).variant for n in all_names]
    return model.variant if labels.count(model.variant) == 1 else name


def _token_lengths(tokenizer, texts: list[str]) -> list[int]:
    if not texts:
        return []
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=True).input_ids]
