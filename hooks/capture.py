"""Pooled residual-stream capture: pool inside the hook, stop after the last layer needed.

Layer axis (docs/CONVENTIONS.md): point 0 is ``blocks.0.hook_resid_pre`` (the embedding
output), point l (1..L) is ``blocks.{l-1}.hook_resid_post``. ``attn_out`` / ``mlp_out`` use
the same axis (point l = block l-1's output; point 0 is NaN). Full-sequence activations of
a layer live only for the duration of that layer's hook.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import torch
from einops import einsum
from jaxtyping import Bool, Float, Int

from polylens.hooks.models import HookedModel

POOLINGS = ("mean", "last")
SITES = ("resid", "attn_out", "mlp_out")
SITE_HOOKS = {"attn_out": "hook_attn_out", "mlp_out": "hook_mlp_out"}


class _StopForward(Exception):
    """Raised by the last needed hook: nothing after that layer is computed."""


@dataclass
class PooledBatch:
    """Pooled activations of one batch of texts, on the layer axis of the conventions."""

    acts: dict[str, Float[np.ndarray, "batch point d"]]  # site -> values (float32)
    n_content: Int[np.ndarray, batch]  # content tokens pooled per text
    n_tokens: Int[np.ndarray, batch]  # all non-pad tokens (incl. BOS)


def hook_name(site: str, point: int) -> str | None:
    """TransformerLens hook for a site at a layer point (None: the site has no point 0)."""
    if site == "resid":
        return "blocks.0.hook_resid_pre" if point == 0 else f"blocks.{point - 1}.hook_resid_post"
    if point == 0:
        return None
    return f"blocks.{point - 1}.{SITE_HOOKS[site]}"


def _is_filler(piece: str) -> bool:
    """A token string made only of punctuation, symbols-as-punctuation or whitespace."""
    stripped = piece.replace("\u2581", " ").replace("\u0120", " ")
    return all(unicodedata.category(c)[0] in "PZ" or c.isspace() for c in stripped)


def content_mask(
    input_ids: Int[torch.Tensor, "batch pos"],
    attention_mask: Int[torch.Tensor, "batch pos"],
    tokenizer,
    strip_trailing_punct: bool = True,
) -> Bool[torch.Tensor, "batch pos"]:
    """Tokens that carry content: not pad/BOS/EOS/special, and not trailing punctuation.

    If stripping would leave a text with no content token, its last real token is kept.
    """
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)), device=input_ids.device)
    mask = attention_mask.bool() & ~torch.isin(input_ids, special)
    if strip_trailing_punct:
        filler = _filler_ids(tokenizer, input_ids)
        trailing = torch.isin(input_ids, filler) | ~mask
        # a position is "trailing filler" if it and everything after it is filler or padding
        suffix = trailing.flip(-1).cumprod(-1).flip(-1).bool()
        stripped = mask & ~suffix
        keep = stripped.any(-1, keepdim=True)
        mask = torch.where(keep, stripped, mask)
    return mask


_FILLER_CACHE: dict[int, tuple[set[int], set[int]]] = {}  # id(tokenizer) -> (checked, filler)


def _filler_ids(tokenizer, input_ids: torch.Tensor) -> torch.Tensor:
    """Ids (among those in ``input_ids``) whose token string is punctuation/whitespace only."""
    checked, filler = _FILLER_CACHE.setdefault(id(tokenizer), (set(), set()))
    new = sorted(set(input_ids.unique().tolist()) - checked)
    for tid, piece in zip(new, tokenizer.convert_ids_to_tokens(new)):
        if piece is not None and _is_filler(tokenizer.convert_tokens_to_string([piece])):
            filler.add(tid)
    checked.update(new)
    return torch.tensor(sorted(filler) or [-1], device=input_ids.device)


def _pool(
    x: Float[torch.Tensor, "batch pos d"], mask: Bool[torch.Tensor, "batch pos"], pooling: str
) -> Float[torch.Tensor, "batch d"]:
    if pooling == "mean":
        weights = mask.to(x.dtype) / mask.sum(-1, keepdim=True).clamp_min(1).to(x.dtype)
        return einsum(x, weights, "batch pos d, batch pos -> batch d")
    last = (mask.long() * torch.arange(mask.shape[1], device=mask.device)).argmax(-1)
    return x[torch.arange(x.shape[0], device=x.device), last]


@torch.inference_mode()
def pool_batch(
    model: HookedModel,
    texts: list[str],
    pooling: str = "mean",
    sites: tuple[str, ...] = ("resid",),
    points: list[int] | None = None,
    padding_side: str = "right",
    strip_trailing_punct: bool = True,
) -> PooledBatch:
    """Run one batch and return activations pooled over content tokens at every point.

    ``points`` are layer-axis indices (default all 0..L). The forward pass stops right
    after the last point needed: no later block, no final norm, no LM head.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
    n_points = model.n_layers + 1
    points = list(range(n_points)) if points is None else sorted(points)
    tok = model.tokenizer(texts, return_tensors="pt", padding=True, padding_side=padding_side)
    ids, attn = tok.input_ids.to(model.device), tok.attention_mask.to(model.device)
    mask = content_mask(ids, attn, model.tokenizer, strip_trailing_punct)
    out = {s: torch.full((len(texts), n_points, model.d_model), float("nan")) for s in sites}
    hooks, last_hook = [], None
    for site in sites:
        for p in points:
            name = hook_name(site, p)
            if name is not None:
                hooks.append((name, _make_hook(out[site], p, mask, pooling)))
                last_hook = max(last_hook or (-1, ""), (p, name))
    stop_name = last_hook[1]
    hooks = [(n, _stopping(fn) if n == stop_name else fn) for n, fn in hooks]
    kwargs = {"attention_mask": attn}
    if padding_side == "left":
        kwargs["position_ids"] = (attn.cumsum(-1) - 1).clamp_min(0)
    try:
        model.bridge.run_with_hooks(ids, fwd_hooks=hooks, return_type=None, **kwargs)
    except _StopForward:
        pass
    return PooledBatch(
        {s: v.numpy() for s, v in out.items()},
        mask.sum(-1).cpu().numpy().astype(np.int32),
        attn.sum(-1).cpu().numpy().astype(np.int32),
    )


def _make_hook(store: torch.Tensor, point: int, mask: torch.Tensor, pooling: str):
    def hook(activation: torch.Tensor, hook=None):
        store[:, point] = _pool(activation.float(), mask, pooling).cpu()
        return activation

    return hook


def _stopping(fn):
    def hook(activation: torch.Tensor, hook=None):
        fn(activation, hook)
        raise _StopForward

    return hook
