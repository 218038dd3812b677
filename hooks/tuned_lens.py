"""Tuned lens (Belrose et al. 2023): per-layer affine translators trained with a KL objective.

The ``tuned-lens`` package (0.2.0) targets ``transformers`` 4 models and cannot wrap
TransformerLens 4 bridges, so its objective is implemented here: for every layer point l < L,
``h -> h + h @ W_l + b_l`` (zero-initialised, so the untrained translator IS the logit lens),
trained to minimise KL(final distribution || lens distribution of the translated residual)
over all token positions of held-in UDHR text. The last point (the model's output) keeps the
identity. Trained translators are cached under ``<polylens cache>/tuned_lens/`` keyed by the
weights sha256 and the training settings, and reused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from jaxtyping import Float

from polylens.hooks.capture import content_mask, hook_name
from polylens.hooks.lens import Unembed, full_log_probs
from polylens.hooks.models import HookedModel, cache_dir


class Translators(torch.nn.Module):
    """One affine map per layer point, residual form, zero init (= identity = logit lens)."""

    def __init__(self, n_points: int, d_model: int):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(n_points, d_model, d_model))
        self.bias = torch.nn.Parameter(torch.zeros(n_points, d_model))

    def forward(self, resid: Float[torch.Tensor, "... point d"]) -> Float[torch.Tensor, "... point d"]:
        """Translate the residual at every point (the last point's parameters stay zero)."""
        return resid + torch.einsum("...pd,pde->...pe", resid, self.weight) + self.bias


@dataclass(frozen=True)
class TunedLensSettings:
    """What the translators were trained on (part of their cache key)."""

    steps: int = 200
    lr: float = 1e-3
    batch_positions: int = 256
    max_tokens: int = 64
    seed: int = 0

    def key(self) -> str:
        """Short hash of the settings."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


@torch.no_grad()
def all_position_resid(
    model: HookedModel, texts: Sequence[str], max_tokens: int = 64, batch_size: int = 8
) -> Float[torch.Tensor, "position point d"]:
    """Residual stream at every layer point for every content token of ``texts`` (truncated)."""
    out = []
    n_points = model.n_layers + 1
    for lo in range(0, len(texts), batch_size):
        tok = model.tokenizer(
            list(texts[lo : lo + batch_size]),
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=max_tokens,
        )
        ids, attn = tok.input_ids.to(model.device), tok.attention_mask.to(model.device)
        mask = content_mask(ids, attn, model.tokenizer, strip_trailing_punct=False)
        _, cache = model.bridge.run_with_cache(
            ids,
            attention_mask=attn,
            names_filter=lambda n: n.endswith(("hook_resid_pre", "hook_resid_post")),
        )
        stack = torch.stack([cache[hook_name("resid", p)] for p in range(n_points)], dim=2)
        out.append(stack[mask].float().cpu())
    return torch.cat(out)


def kl_per_point(
    unembed: Unembed,
    resid: Float[torch.Tensor, "position point d"],
    translators: Translators | None = None,
    rows: int = 64,
) -> Float[torch.Tensor, " point"]:
    """Mean KL(final || lens) in nats at every point, computed ``rows`` positions at a time."""
    total = torch.zeros(resid.shape[1], dtype=torch.float64)
    with torch.no_grad():
        for lo in range(0, resid.shape[0], rows):
            total += _kl(unembed, resid[lo : lo + rows], translators).sum(0).double()
    return (total / resid.shape[0]).float()


def _kl(
    unembed: Unembed, resid: Float[torch.Tensor, "position point d"], translators: Translators | None
) -> Float[torch.Tensor, "position point"]:
    """KL(final || lens) per position and point for a small block of positions."""
    n, p, d = resid.shape
    final = full_log_probs(unembed, resid[:, -1])  # position vocab
    moved = translators(resid) if translators is not None else resid
    lens = full_log_probs(unembed, moved.reshape(n * p, d)).reshape(n, p, -1)
    return (final.exp()[:, None] * (final[:, None] - lens)).sum(-1)


def train_translators(
    model: HookedModel, resid: Float[torch.Tensor, "position point d"], settings: TunedLensSettings
) -> Translators:
    """Fit the translators of points 0..L-1 with Adam on the summed per-point KL."""
    torch.manual_seed(settings.seed)
    unembed = Unembed.of(model)
    for p in model.bridge.parameters():
        p.requires_grad_(False)
    lens = Translators(resid.shape[1], resid.shape[2])
    opt = torch.optim.Adam(lens.parameters(), lr=settings.lr)
    gen = torch.Generator().manual_seed(settings.seed)
    for _ in range(settings.steps):
        pick = torch.randint(
            0, resid.shape[0], (min(settings.batch_positions, resid.shape[0]),), generator=gen
        )
        loss = _kl(unembed, resid[pick], lens)[:, :-1].mean(0).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():  # the model's own output needs no translation
            lens.weight[-1].zero_()
            lens.bias[-1].zero_()
    return lens.eval()


def cache_path(model: HookedModel, settings: TunedLensSettings) -> Path:
    """Where translators for these weights and settings are cached."""
    return cache_dir() / "tuned_lens" / f"{model.weights_sha256[:16]}-{settings.key()}.pt"


def tuned_lens(
    model: HookedModel,
    train_texts: Sequence[str],
    heldout_texts: Sequence[str],
    settings: TunedLensSettings | None = None,
) -> tuple[Translators, dict[str, list[float]]]:
    """Trained (or cached) translators and the held-out KL table {'logit', 'tuned'} per point."""
    settings = settings or TunedLensSettings()
    path = cache_path(model, settings)
    n_points, d = model.n_layers + 1, model.d_model
    if path.exists():
        saved = torch.load(path, weights_only=True)
        lens = Translators(n_points, d)
        lens.load_state_dict(saved["state"])
        return lens.eval(), json.loads(saved["kl"])
    train = all_position_resid(model, train_texts, settings.max_tokens)
    lens = train_translators(model, train, settings)
    held = all_position_resid(model, heldout_texts, settings.max_tokens)
    unembed = Unembed.of(model)
    kl = {
        "logit": kl_per_point(unembed, held).tolist(),
        "tuned": kl_per_point(unembed, held, lens).tolist(),
        "heldout_positions": [float(held.shape[0])],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state": lens.state_dict(), "kl": json.dumps(kl), "settings": asdict(settings)}, path)
    return lens, kl
