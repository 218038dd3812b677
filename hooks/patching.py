"""Cross-model activation patching and the captures it needs (the model-touching half of diffing).

Vocabulary (see ``docs/CONVENTIONS.md``):

- **site** ``resid_post`` | ``attn_out`` | ``mlp_out`` at **layer** ``l``: ``resid_post`` layer 0
  is the embedding output (``blocks.0.hook_resid_pre``), layer ``l >= 1`` is
  ``blocks.{l-1}.hook_resid_post``; ``attn_out`` / ``mlp_out`` exist for ``l >= 1`` only
  (``blocks.{l-1}.hook_attn_out`` ...). In Gemma-3 these hooks sit *before* the post-attention /
  post-feed-forward RMSNorm, so a scale applied there is largely normalised away.
- **content tokens**: not BOS/EOS/pad, and (by default) not the trailing run of
  punctuation/whitespace tokens. The **last content token** is where next-token
  distributions are read and, by default, where activations are patched.

Patching needs two variants with the same tokenizer and shapes (``check_comparable``);
anything else raises :class:`errors.IncompatibleVariantsError`. This module never imports
``analysis``: mapped patching takes the map as a plain ``numpy -> numpy`` callable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Bool, Float, Int

from polylens.errors import IncompatibleVariantsError
from polylens.hooks.capture import pool as pool_content
from polylens.hooks.models import HookedModel, check_comparable
from polylens.hooks.sites import content_mask, content_positions, hook_name, site_layers

POSITION_MODES = ("last", "all")


@dataclass
class Batch:
    """Right-padded prompts (causal attention: padding after the prompt never affects it)."""

    ids: Int[torch.Tensor, "n pos"]
    lengths: list[int]
    content: list[Bool[np.ndarray, " pos_i"]]  # content mask per prompt
    last: list[int]  # last content position per prompt (where next tokens are read)
    positions: list[list[int]]  # the K positions per prompt used for map training

    def __len__(self) -> int:
        return len(self.lengths)

    def subset(self, rows: Sequence[int]) -> Batch:
        """The prompts ``rows``, truncated after their last content token."""
        rows = list(rows)
        T = max(self.last[r] for r in rows) + 1  # nothing after the last content token matters
        return Batch(
            self.ids[rows, :T],
            [self.lengths[r] for r in rows],
            [self.content[r] for r in rows],
            [self.last[r] for r in rows],
            [self.positions[r] for r in rows],
        )

    def patch_positions(self, mode: str = "last") -> tuple[Int[np.ndarray, " m"], Int[np.ndarray, " m"]]:
        """(rows, cols) of the positions patched: last content token, or all content."""
        if mode not in POSITION_MODES:
            raise ValueError(f"positions must be one of {POSITION_MODES}, not {mode!r}")
        if mode == "last":
            return np.arange(len(self)), np.asarray(self.last)
        rows = np.concatenate([np.full(int(c.sum()), i) for i, c in enumerate(self.content)])
        cols = np.concatenate([np.flatnonzero(c) for c in self.content])
        return rows, cols

    def train_positions(self) -> tuple[Int[np.ndarray, " m"], Int[np.ndarray, " m"]]:
        """(rows, cols) of the K positions per prompt (prompt index = ``rows``, the split group)."""
        rows = np.concatenate([np.full(len(p), i) for i, p in enumerate(self.positions)])
        return rows, np.concatenate([np.asarray(p) for p in self.positions])


def encode(
    model: HookedModel,
    texts: Sequence[str],
    k: int = 1,
    skip_trailing_punct: bool = True,
    max_tokens: int = 128,
) -> Batch:
    """Tokenize ``texts`` with the model's tokenizer (BOS added as the tokenizer does)."""
    tok = model.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    rows = [list(tok(t).input_ids)[:max_tokens] for t in texts]
    T = max(len(r) for r in rows)
    ids = torch.full((len(rows), T), pad, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
    content = [
        content_mask(np.array([r]), np.ones((1, len(r)), int), tok, skip_trailing_punct)[0] for r in rows
    ]
    last = [int(np.flatnonzero(c)[-1]) for c in content]
    positions = [content_positions(c, k) for c in content]
    return Batch(ids, [len(r) for r in rows], content, last, positions)


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield list(range(start, min(n, start + size)))


@torch.inference_mode()
def capture(
    model: HookedModel, batch: Batch, site: str, layers: Sequence[int], pool: str = "last", chunk: int = 16
) -> Float[np.ndarray, "layer n d"]:
    """float32 activations pooled per prompt (``pool`` = ``last`` | ``mean`` over content tokens)
    or, for ``pool="positions"``, one row per position of ``batch.train_positions()`` (n = M)."""
    names = [hook_name(site, l) for l in layers]
    out = []
    for rows in _chunks(len(batch), chunk):
        sub = batch.subset(rows)
        cache = _run_storing(model, sub, names)
        acts = torch.stack([cache[n].float() for n in names])  # (layer, b, T, d)
        if pool in ("last", "mean"):
            m = torch.zeros(len(rows), acts.shape[2], dtype=torch.bool)
            for i, c in enumerate(sub.content):
                m[i, : len(c)] = torch.from_numpy(c)[: acts.shape[2]]
            out.append(torch.stack([pool_content(a, m, pool) for a in acts]))
        elif pool == "positions":
            r, c = sub.train_positions()
            out.append(acts[:, torch.from_numpy(r), torch.from_numpy(c)])
        else:
            raise ValueError(f"pool must be last | mean | positions, not {pool!r}")
        del cache
    return torch.cat(out, dim=1).cpu().numpy()


@torch.inference_mode()
def next_token_logprobs(
    model: HookedModel, batch: Batch, chunk: int = 16, fwd_hooks: Callable[[list[int]], list] | None = None
) -> Float[torch.Tensor, "n vocab"]:
    """float32 next-token log-probabilities at each prompt's last content token.

    ``fwd_hooks(rows)`` may return bridge forward hooks for the chunk of prompt indices ``rows``.
    """
    out = []
    for rows in _chunks(len(batch), chunk):
        sub = batch.subset(rows)
        hooks = (fwd_hooks(rows) if fwd_hooks else []) + [_only_last_hook(sub)]
        logits = model.bridge.run_with_hooks(sub.ids.to(model.device), fwd_hooks=hooks)
        out.append(logits[:, 0].float().log_softmax(-1).cpu())
    return torch.cat(out)


def _only_last_hook(sub: Batch):
    """Keep only each prompt's last content position after the final norm: the unembedding
    (~60% of a Gemma forward at 262k vocabulary) then runs on one position per prompt."""
    last = torch.tensor(sub.last)

    def hook(act, hook):
        """Keep only each prompt's last position."""
        return act[torch.arange(act.shape[0]), last.to(act.device)][:, None, :]

    return ("ln_final.hook_out", hook)


def _run_storing(
    model: HookedModel, sub: Batch, names: Sequence[str]
) -> dict[str, Float[torch.Tensor, "batch pos d"]]:
    """One forward pass that keeps the activations at ``names`` (unembedding on one position)."""
    store: dict[str, torch.Tensor] = {}

    def keeper(name: str):
        """A hook that stores the activation at ``name``."""

        def keep(act, hook):
            """Store the activation; pass it on unchanged."""
            store[name] = act.detach()
            return act

        return keep

    hooks = [(n, keeper(n)) for n in dict.fromkeys(names)] + [_only_last_hook(sub)]
    model.bridge.run_with_hooks(sub.ids.to(model.device), fwd_hooks=hooks)
    return store


def kl_divergence(
    logp: Float[torch.Tensor, "n vocab"], logq: Float[torch.Tensor, "n vocab"]
) -> Float[np.ndarray, " n"]:
    """KL(p || q) in nats per row, from log-probabilities."""
    return (logp.exp() * (logp - logq)).sum(-1).clamp_min(0.0).numpy().astype(np.float64)


def _replace_hook(
    name: str, rows: Int[np.ndarray, " m"], cols: Int[np.ndarray, " m"], values: Float[np.ndarray, "m d"]
) -> Callable[[list[int]], list]:
    """fwd_hooks factory: overwrite ``name`` at (rows, cols) with ``values``."""
    vals = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))

    def for_chunk(chunk_rows: list[int]):
        """The fwd_hooks for one chunk of prompts (rows re-indexed into the chunk)."""
        sel = np.isin(rows, chunk_rows)
        local = {r: i for i, r in enumerate(chunk_rows)}
        r = torch.tensor([local[x] for x in rows[sel]], dtype=torch.long)
        c = torch.from_numpy(cols[sel]).long()
        v = vals[torch.from_numpy(np.flatnonzero(sel))]

        def hook(act, hook):
            """Overwrite the selected positions with the patch values."""
            act = act.clone()
            act[r, c] = v.to(act.device, act.dtype)
            return act

        return [(name, hook)]

    return for_chunk


class Patcher:
    """Cross-model patching ``source -> target`` on fixed prompts (clean target run cached).

    ``values(site, layer)`` are the source's activations at the patched positions;
    ``kl(site, layer, values)`` runs the target with them written in and returns
    KL(target_patched || target) per prompt at the last content token.
    """

    def __init__(
        self, source: HookedModel, target: HookedModel, batch: Batch, positions: str = "last", chunk: int = 16
    ):
        require_same_architecture(source, target)
        self.source, self.target, self.batch, self.chunk = source, target, batch, chunk
        self.rows, self.cols = batch.patch_positions(positions)
        self.positions = positions
        self.clean = next_token_logprobs(target, batch, chunk)
        self._cache: dict[tuple[str, str], dict[int, np.ndarray]] = {}

    def activations(self, model: HookedModel, site: str, layer: int) -> Float[np.ndarray, "m d"]:
        """float32 activations of ``model`` at the patched positions (all layers of a site in one pass)."""
        key = (model.spec.name + model.weights_sha256, site)
        if key not in self._cache:
            layers = site_layers(site, model.n_layers)
            acts = capture_at(model, self.batch, site, layers, self.rows, self.cols, self.chunk)
            self._cache[key] = dict(zip(layers, acts))
        return self._cache[key][layer]

    def values(self, site: str, layer: int) -> Float[np.ndarray, "m d"]:
        """The source's activations at the patched positions."""
        return self.activations(self.source, site, layer)

    def kl(self, site: str, layer: int, values: Float[np.ndarray, "m d"]) -> Float[np.ndarray, " n"]:
        """KL(target with ``values`` written in || clean target) per prompt."""
        hooks = _replace_hook(hook_name(site, layer), self.rows, self.cols, values)
        patched = next_token_logprobs(self.target, self.batch, self.chunk, hooks)
        return kl_divergence(patched, self.clean)

    def kl_by_layer(
        self, site: str = "resid_post", layers: Sequence[int] | None = None
    ) -> Float[np.ndarray, "layer n"]:
        """Raw cross-model patch KL at each layer."""
        layers = site_layers(site, self.target.n_layers) if layers is None else layers
        return np.stack([self.kl(site, l, self.values(site, l)) for l in layers])


@torch.inference_mode()
def capture_at(
    model: HookedModel,
    batch: Batch,
    site: str,
    layers: Sequence[int],
    rows: Int[np.ndarray, " m"],
    cols: Int[np.ndarray, " m"],
    chunk: int = 16,
) -> Float[np.ndarray, "layer m d"]:
    """float32: ``model``'s ``site`` activations at each (row, col), one pass."""
    names = [hook_name(site, l) for l in layers]
    out = np.zeros((len(names), len(rows), model.d_model), dtype=np.float32)
    for chunk_rows in _chunks(len(batch), chunk):
        sub = batch.subset(chunk_rows)
        cache = _run_storing(model, sub, names)
        sel = np.flatnonzero(np.isin(rows, chunk_rows))
        local = torch.from_numpy(rows[sel] - chunk_rows[0])
        c = torch.from_numpy(cols[sel])
        for j, n in enumerate(names):
            out[j, sel] = cache[n][local, c].float().cpu().numpy()
        del cache
    return out


def require_same_architecture(a: HookedModel, b: HookedModel) -> None:
    """Patching compares position by position: refuse pairs ``check_comparable`` rejects."""
    try:
        check_comparable([a, b])
    except IncompatibleVariantsError as exc:
        raise IncompatibleVariantsError(
            f"cross-model patching needs same-architecture variants: {exc}"
        ) from exc
    arch_a = getattr(a.bridge.cfg, "architecture", None)
    arch_b = getattr(b.bridge.cfg, "architecture", None)
    if arch_a != arch_b:
        raise IncompatibleVariantsError(
            f"{a.spec.name} ({arch_a}) and {b.spec.name} ({arch_b}) "
            "are different architectures; cross-model patching "
            "needs variants of one architecture"
        )
    if a.bridge.cfg.d_vocab != b.bridge.cfg.d_vocab:
        raise IncompatibleVariantsError(
            f"{a.spec.name} and {b.spec.name} have different vocabulary sizes; next-token KL is undefined"
        )
