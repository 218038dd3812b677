"""Pooled residual-stream capture: pool inside the hook, stop after the last layer needed.

Layer axis (docs/CONVENTIONS.md): point 0 is ``blocks.0.hook_resid_pre`` (the embedding
output), point l (1..L) is ``blocks.{l-1}.hook_resid_post``. ``attn_out`` / ``mlp_out`` use
the same axis (point l = block l-1's output; point 0 is NaN); hook names, pooling modes and
the content-token rule come from :mod:`polylens.hooks.sites`. Full-sequence activations of
a layer live only for the duration of that layer's hook.

Device-resident: the hooks pool on the model's device into one preallocated tensor; the
batch's result crosses to the host once (pinned memory + non-blocking copy on CUDA), so no
hook forces a device sync.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from einops import einsum
from jaxtyping import Bool, Float, Int

from polylens.hooks.models import HookedModel
from polylens.hooks.sites import POOLINGS, content_mask, hook_name, last_content, site_layers

Hook = Callable[..., torch.Tensor]


class _StopForward(Exception):
    """Raised by the last needed hook: nothing after that layer is computed."""


@dataclass
class PooledBatch:
    """Pooled activations of one batch of texts, on the layer axis of the conventions."""

    acts: dict[str, Float[np.ndarray, "batch point d"]]  # site -> values (float32)
    n_content: Int[np.ndarray, " batch"]  # content tokens pooled per text
    n_tokens: Int[np.ndarray, " batch"]  # all non-pad tokens (incl. BOS)


def pool(
    x: Float[torch.Tensor, "batch pos d"],
    mask: Bool[torch.Tensor, "batch pos"],
    pooling: str,
    last: Int[torch.Tensor, " batch"] | None = None,
) -> Float[torch.Tensor, "batch d"]:
    """Pool over content tokens (``mask``): their ``mean`` or the ``last`` one (index ``last``)."""
    if pooling == "mean":
        weights = mask.to(x.dtype) / mask.sum(-1, keepdim=True).clamp_min(1).to(x.dtype)
        return einsum(x, weights, "batch pos d, batch pos -> batch d")
    if pooling != "last":
        raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
    if last is None:
        last = torch.from_numpy(last_content(mask.cpu().numpy())).to(x.device)
    return x[torch.arange(x.shape[0], device=x.device), last]


def to_host(x: Float[torch.Tensor, "..."]) -> Float[np.ndarray, "..."]:
    """One device -> host copy: pinned memory and non-blocking on CUDA, a no-op on CPU."""
    if x.device.type != "cuda":
        return x.cpu().numpy()
    host = torch.empty(x.shape, dtype=x.dtype, pin_memory=True)
    host.copy_(x, non_blocking=True)
    torch.cuda.current_stream(x.device).synchronize()
    return host.numpy()


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
    mask_np = content_mask(
        tok.input_ids.numpy(), tok.attention_mask.numpy(), model.tokenizer, strip_trailing_punct
    )
    dev = torch.device(model.device)
    ids, attn = tok.input_ids.to(dev), tok.attention_mask.to(dev)
    mask = torch.from_numpy(mask_np).to(dev)
    last = torch.from_numpy(last_content(mask_np)).to(dev) if pooling == "last" else None
    out = torch.full((len(sites), len(texts), n_points, model.d_model), float("nan"), device=dev)
    wanted = [
        (site, p, hook_name(site, p))
        for site in sites
        for p in sorted(set(points) & set(site_layers(site, model.n_layers)))
    ]
    stop_name = max((p, name) for _, p, name in wanted)[1]
    hooks = []
    for site, p, name in wanted:
        fn = _make_hook(out[sites.index(site)], p, mask, pooling, last)
        hooks.append((name, _stopping(fn) if name == stop_name else fn))
    kwargs: dict[str, torch.Tensor] = {"attention_mask": attn}
    if padding_side == "left":
        kwargs["position_ids"] = (attn.cumsum(-1) - 1).clamp_min(0)
    try:
        model.bridge.run_with_hooks(ids, fwd_hooks=hooks, return_type=None, **kwargs)
    except _StopForward:
        pass
    host = to_host(out)
    return PooledBatch(
        {s: host[i] for i, s in enumerate(sites)},
        mask_np.sum(-1).astype(np.int32),
        tok.attention_mask.numpy().sum(-1).astype(np.int32),
    )


def _make_hook(
    store: Float[torch.Tensor, "batch point d"],
    point: int,
    mask: Bool[torch.Tensor, "batch pos"],
    pooling: str,
    last: Int[torch.Tensor, " batch"] | None = None,
) -> Hook:
    """A hook writing the pooled activation into ``store[:, point]`` (on the model's device)."""

    def hook(activation: Float[torch.Tensor, "batch pos d"], hook=None) -> Float[torch.Tensor, "batch pos d"]:
        """Pool this point's activation into the store; pass it on unchanged."""
        store[:, point] = pool(activation.float(), mask, pooling, last)
        return activation

    return hook


def _stopping(fn: Hook) -> Hook:
    """``fn``, then stop the forward pass (nothing after this hook is needed)."""

    def hook(activation: Float[torch.Tensor, "batch pos d"], hook=None) -> Float[torch.Tensor, "batch pos d"]:
        """Run ``fn``, then end the forward pass."""
        fn(activation, hook)
        raise _StopForward

    return hook
