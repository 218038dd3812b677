"""The explorer's compute: models loaded once, the concept bank, the router and an LRU cache.

``Explorer.analyze(text, variants)`` is the pipeline function the service calls (and the
benchmark calls directly in a loop). Model work goes through the existing layers:
pooled activations with :func:`polylens.hooks.capture.pool_batch`, logit-lens top tokens with
:mod:`polylens.hooks.lens`, nearest concepts / alignment with :mod:`polylens.analysis.neighbours`
(language-centred cosine), language and route with :class:`polylens.analysis.routing.Router`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from jaxtyping import Float

from polylens.analysis.neighbours import ConceptBank, alignment_with, match_concept, nearest
from polylens.analysis.routing import Router
from polylens.errors import IncompatibleVariantsError, StorageError
from polylens.hooks.models import HookedModel


@dataclass
class Outputs:
    """What one forward pass gives for one (variant, text): pooled activations and lens tokens."""

    acts: Float[np.ndarray, "point d"]
    n_content: int
    n_tokens: int
    lens: list[list[tuple[str, float]]]  # per layer point: top (token, probability)


class LRU:
    """A thread-safe least-recently-used map of bounded size."""

    def __init__(self, size: int):
        self.size, self.data, self.lock = size, OrderedDict[Any, Any](), threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Any) -> Any:
        """The value of ``key`` (refreshed as most recent) or None."""
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                self.hits += 1
                return self.data[key]
            self.misses += 1
            return None

    def put(self, key: Any, value: Any) -> None:
        """Store ``key``; evict the least recently used entry beyond ``size``."""
        if self.size <= 0:
            return
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)


def model_outputs(model: HookedModel, texts: list[str], top: int) -> list[Outputs]:
    """One batch through ``model``: pooled residual per layer point and the lens's top tokens."""
    import torch

    from polylens.hooks.capture import pool_batch
    from polylens.hooks.lens import Unembed, full_log_probs, last_position_resid

    pooled = pool_batch(model, texts, pooling="mean", sites=("resid",))
    unembed = model.extra.get("_unembed") or Unembed.of(model)
    with torch.inference_mode():
        resid = last_position_resid(model, texts)  # batch point d
        b, p, d = resid.shape
        logp = full_log_probs(unembed, resid.reshape(b * p, d))
        vals, ids = logp.topk(top, dim=-1)
    probs, ids = vals.exp().reshape(b, p, top).cpu().numpy(), ids.reshape(b, p, top).cpu().numpy()
    words: dict[int, str] = {}
    for i in set(ids.reshape(-1).tolist()):
        words[i] = model.tokenizer.decode([i])
    out = []
    for i in range(b):
        lens = [[(words[int(t)], float(pr)) for t, pr in zip(ids[i, j], probs[i, j])] for j in range(p)]
        out.append(Outputs(pooled.acts["resid"][i], int(pooled.n_content[i]), int(pooled.n_tokens[i]), lens))
    return out


class Explorer:
    """Everything the service computes with, loaded once."""

    def __init__(
        self,
        models: dict[str, HookedModel],
        banks: dict[str, ConceptBank],
        router: Router,
        cache_size: int = 1024,
        k: int = 5,
        top: int = 5,
    ):
        self.models, self.banks, self.router = models, banks, router
        self.cache, self.k, self.top = LRU(cache_size), k, top
        self.lock = threading.Lock()  # one model call at a time

    @classmethod
    def load(cls, names: tuple[str, ...], store: Path | None, device: str | None = None, **kw) -> Explorer:
        """Load each model once, the concept store's banks (matched by variant label) and the router."""
        from polylens.hooks.lens import Unembed
        from polylens.hooks.models import load_model, tokenizer_fingerprint

        models: dict[str, HookedModel] = {}
        for name in names:
            model = load_model(name, device=device)
            label = model.variant if model.variant not in models else name
            models[label] = model
            model.extra["_unembed"] = Unembed.of(model)
        fps = {tokenizer_fingerprint(m.tokenizer) for m in models.values()}
        if len(models) > 1 and len(fps) > 1:
            raise IncompatibleVariantsError(f"serve: the models {list(names)} do not share a tokenizer")
        return cls(models, load_banks(store, models), Router.load(), **kw)

    def info(self) -> dict[str, Any]:
        """Variants, layers and the concept bank's languages/size (for the page and /api/info)."""
        return {
            "variants": list(self.models),
            "layers": {v: m.n_layers + 1 for v, m in self.models.items()},
            "bank": {v: {"langs": b.langs, "concepts": len(b.units)} for v, b in self.banks.items()},
        }

    def outputs(self, variant: str, texts: list[str]) -> list[Outputs]:
        """Model outputs for texts of one variant: cached ones from the LRU, the rest in one batch."""
        found = {t: self.cache.get((variant, t)) for t in dict.fromkeys(texts)}
        todo = [t for t, o in found.items() if o is None]
        if todo:
            with self.lock:
                fresh = model_outputs(self.models[variant], todo, self.top)
            for t, o in zip(todo, fresh):
                self.cache.put((variant, t), o)
                found[t] = o
        return [found[t] for t in texts]

    def cached(self, variant: str, text: str) -> Outputs | None:
        """The cached outputs of (variant, text), if any."""
        return self.cache.get((variant, text))

    def describe(self, variant: str, text: str, out: Outputs, lang: str | None) -> dict[str, Any]:
        """Per layer point: nearest concepts, lens tokens, and alignment with English when known."""
        bank = self.banks.get(variant)
        layers: list[dict[str, Any]] = [
            {"layer": j, "lens": [[t, round(p, 4)] for t, p in toks]} for j, toks in enumerate(out.lens)
        ]
        res: dict[str, Any] = {
            "variant": variant,
            "n_content_tokens": out.n_content,
            "n_tokens": out.n_tokens,
            "layers": layers,
        }
        if bank is None:
            res["note"] = f"no concept store for variant {variant}"
            return res
        known = match_concept(bank, text)
        lang = known[0] if known is not None else lang
        rows, sims = nearest(bank, out.acts, lang, self.k)
        n_unit = len(bank.units)
        for j, layer in enumerate(layers):
            layer["neighbours"] = [
                {
                    "lang": bank.langs[r // n_unit],
                    "concept": bank.units[r % n_unit],
                    "cos": round(float(s), 4),
                }
                for r, s in zip(rows[j], sims[j])
            ]
        if known is not None:
            align = alignment_with(bank, out.acts, known[0], known[1])
            res["concept"] = {"lang": known[0], "concept": known[1]}
            if align is not None:
                for layer, a in zip(layers, align):
                    layer["align_en"] = round(float(a), 4)
        return res

    def analyze(self, text: str, variants: list[str] | None = None) -> dict[str, Any]:
        """The whole analysis of one text (router decision + per-variant layers), computed directly."""
        decision = self.router.route(text)
        names = variants or list(self.models)
        return {
            "text": text,
            "route": decision.to_dict(),
            "variants": [self.describe(v, text, self.outputs(v, [text])[0], decision.lang) for v in names],
        }


def load_banks(store: Path | None, models: dict[str, HookedModel]) -> dict[str, ConceptBank]:
    """One concept bank per loaded variant whose label is a variant of the store."""
    if store is None:
        return {}
    from polylens.storage.assemble import open_activations

    ds = open_activations(store, chunks=None)
    stored = [str(v) for v in ds["variant"].values]
    banks = {v: ConceptBank.from_dataset(ds, v) for v in models if v in stored}
    if not banks:
        raise StorageError(f"{store}: holds variants {stored}, none of the loaded models {list(models)}")
    for v, b in banks.items():
        if b.unit_vectors.shape[0] != models[v].n_layers + 1:
            raise StorageError(
                f"{store}: variant {v} has {b.unit_vectors.shape[0]} layer points, the model {models[v].n_layers + 1}"
            )
    return banks
