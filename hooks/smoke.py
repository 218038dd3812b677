"""Quick sanity checks of a booted model: top next tokens and residual norms by layer."""

from __future__ import annotations

import torch
from jaxtyping import Float

from polylens.hooks.models import HookedModel

SMOKE_PROMPTS = {
    "en": "The capital of France is",
    "hi": "भारत की राजधानी",
    "sw": "Mji mkuu wa Tanzania ni",
}


@torch.inference_mode()
def top_next_tokens(model: HookedModel, prompt: str, k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` most likely next tokens after ``prompt`` with their probabilities."""
    ids = model.tokenizer(prompt, return_tensors="pt").input_ids.to(model.device)
    probs = model.bridge(ids)[0, -1].float().softmax(-1)
    top = probs.topk(k)
    return [(model.tokenizer.decode([int(i)]), float(p)) for p, i in zip(top.values, top.indices)]


@torch.inference_mode()
def resid_norms(model: HookedModel, prompt: str) -> Float[torch.Tensor, " layer"]:
    """Mean L2 norm of the residual stream per layer (0 = embedding, l = block l-1 output)."""
    ids = model.tokenizer(prompt, return_tensors="pt").input_ids.to(model.device)
    names = ["blocks.0.hook_resid_pre"] + [f"blocks.{i}.hook_resid_post" for i in range(model.n_layers)]
    _, cache = model.bridge.run_with_cache(ids, names_filter=lambda n: n in names)
    return torch.stack([cache[n][0].float().norm(dim=-1).mean() for n in names])
