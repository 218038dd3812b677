"""Logit lens on a live model: Wendler's first-token filter and the per-layer answer statistics.

The lens is the model's own final norm + unembedding (with its logit scale / soft-cap)
applied to the residual stream at every layer point (layer 0 = ``blocks.0.hook_resid_pre``,
l = ``blocks.{l-1}.hook_resid_post``) at the LAST prompt position only. One forward per batch
that stops after the last block (the model's own LM head never runs); the softmax over the
full vocabulary is exact and streamed over vocabulary chunks, so memory is bounded by
``rows x chunk`` whatever the vocabulary size.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Bool, Float, Int, Shaped

from polylens.hooks.models import HookedModel
from polylens.hooks.sites import hook_name

VOCAB_CHUNK = 16384


class _Stop(Exception):
    """Raised by the last block's hook: nothing after the residual stream is computed."""


# ----------------------------------------------------------------------------- filter
def _is_content(piece: str) -> bool:
    """A decoded token with at least one letter/number/symbol (not only space or punctuation)."""
    return any(unicodedata.category(c)[0] in "LNS" for c in piece)


def first_answer_tokens(tokenizer, prompt: str, answers: Sequence[str]) -> list[int]:
    """First token id of each answer as it continues ``prompt`` (-1: boundary unclean or no content).

    The answer is tokenized in context (``prompt + answer``); the prompt's own tokens must be
    an exact prefix (else the answer's first token is fused with the prompt: ambiguous).
    """
    head = tokenizer(prompt).input_ids
    full = tokenizer([prompt + a for a in answers]).input_ids
    out = []
    for ids in full:
        ok = len(ids) > len(head) and ids[: len(head)] == head
        tid = ids[len(head)] if ok else -1
        out.append(tid if tid >= 0 and _is_content(tokenizer.decode([tid])) else -1)
    return out


@dataclass
class FilteredPrompts:
    """Wendler's filter applied: first-token ids per (prompt, answer language) and survivors."""

    answer_langs: list[str]
    token_ids: Int[np.ndarray, "prompt answer"]  # -1 where the answer has no usable first token
    keep: Bool[np.ndarray, " prompt"]  #: target token usable and != the English answer's token

    @property
    def index(self) -> Int[np.ndarray, " kept"]:
        """Indices of the surviving prompts."""
        return np.flatnonzero(self.keep)

    def survivors(self, prompt_langs: Sequence[str]) -> dict[str, int]:
        """Number of surviving prompts per target language."""
        langs = np.asarray(prompt_langs)
        return {lang: int(self.keep[langs == lang].sum()) for lang in dict.fromkeys(prompt_langs)}


def wendler_filter(
    tokenizer, prompts: Sequence, answer_langs: Sequence[str], ref: str = "en"
) -> FilteredPrompts:
    """First-token ids of every answer language; keep prompts whose target token differs from ``ref``'s."""
    ids = np.full((len(prompts), len(answer_langs)), -1, dtype=np.int64)
    for i, p in enumerate(prompts):
        present = [j for j, lang in enumerate(answer_langs) if lang in p.answers]
        toks = first_answer_tokens(tokenizer, p.text, [p.answers[answer_langs[j]] for j in present])
        ids[i, present] = toks
    col = {lang: j for j, lang in enumerate(answer_langs)}
    tgt = ids[np.arange(len(prompts)), [col[p.lang] for p in prompts]]
    eng = ids[:, col[ref]]
    keep = (tgt >= 0) & (eng >= 0) & (tgt != eng)
    return FilteredPrompts(list(answer_langs), ids, keep)


# ----------------------------------------------------------------------------- unembedding
@dataclass
class Unembed:
    """The model's final norm, unembedding matrix/bias and logit transform (scale, soft-cap)."""

    norm: Callable[[torch.Tensor], torch.Tensor]
    weight: Float[torch.Tensor, "vocab d"]
    bias: Float[torch.Tensor, " vocab"] | None
    scale: float
    softcap: float | None

    @classmethod
    def of(cls, model: HookedModel) -> Unembed:
        """Read the final norm and LM head of ``model``'s bridge (and its HF config's logit transform)."""
        bridge = model.bridge
        head = bridge.unembed._original_component
        config = bridge.original_model.config
        scale = float(getattr(config, "logit_scale", None) or 1.0)
        softcap = getattr(config, "final_logit_softcapping", None)
        bias = getattr(head, "bias", None)
        return cls(bridge.ln_final, head.weight, bias, scale, float(softcap) if softcap else None)

    @property
    def vocab_size(self) -> int:
        """Number of rows of the unembedding."""
        return int(self.weight.shape[0])

    def logits(
        self, normed: Float[torch.Tensor, "row d"], lo: int = 0, hi: int | None = None
    ) -> Float[torch.Tensor, "row chunk"]:
        """Logits of vocabulary ids ``lo:hi`` for already-normed rows."""
        out = normed @ self.weight[lo:hi].T
        if self.bias is not None:
            out = out + self.bias[lo:hi]
        return self.transform(out)

    def transform(self, logits: Float[torch.Tensor, "*batch vocab"]) -> Float[torch.Tensor, "*batch vocab"]:
        """The model's logit scale and soft-cap (identity for most models)."""
        logits = logits * self.scale if self.scale != 1.0 else logits
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits

    def answer_logits(
        self, normed: Float[torch.Tensor, "batch point d"], ids: Int[torch.Tensor, "batch answer"]
    ) -> Float[torch.Tensor, "batch point answer"]:
        """Logits of each row's answer tokens (ids < 0 give NaN)."""
        rows = self.weight[ids.clamp_min(0)]  # batch answer d
        out = torch.einsum("bpd,bad->bpa", normed, rows)
        if self.bias is not None:
            out = out + self.bias[ids.clamp_min(0)][:, None, :]
        out = self.transform(out)
        return torch.where((ids >= 0)[:, None, :], out, torch.full_like(out, float("nan")))


def full_log_probs(unembed: Unembed, resid: Float[torch.Tensor, "row d"]) -> Float[torch.Tensor, "row vocab"]:
    """Lens log-probabilities over the whole vocabulary for a few rows (tests, tuned-lens KL)."""
    return torch.log_softmax(unembed.logits(unembed.norm(resid)), dim=-1)


# ----------------------------------------------------------------------------- capture
def last_position_resid(model: HookedModel, texts: Sequence[str]) -> Float[torch.Tensor, "batch point d"]:
    """Residual stream at every layer point, last real token of each text; one truncated forward."""
    tok = model.tokenizer(list(texts), return_tensors="pt", padding=True, padding_side="right")
    ids, attn = tok.input_ids.to(model.device), tok.attention_mask.to(model.device)
    last = attn.sum(-1) - 1
    rows = torch.arange(len(texts), device=model.device)
    n_points = model.n_layers + 1
    store = torch.empty(len(texts), n_points, model.d_model, device=model.device)

    def grab(point: int, stop: bool):
        """Hook storing the last position at ``point`` (and stopping the forward if ``stop``)."""

        def hook(activation: Float[torch.Tensor, "batch pos d"], hook=None):
            """Copy the last real token's residual; stop after the last block."""
            store[:, point] = activation[rows, last].float()
            if stop:
                raise _Stop
            return activation

        return hook

    hooks = [(hook_name("resid", p), grab(p, p == n_points - 1)) for p in range(n_points)]
    try:
        model.bridge.run_with_hooks(ids, fwd_hooks=hooks, return_type=None, attention_mask=attn)
    except _Stop:
        pass
    return store


# ----------------------------------------------------------------------------- streamed lens
@torch.inference_mode()
def lens_stats(
    unembed: Unembed,
    resid: Float[torch.Tensor, "batch point d"],
    ids: Int[torch.Tensor, "batch answer"],
    chunk: int = VOCAB_CHUNK,
) -> dict[str, Shaped[np.ndarray, "batch point *answer"]]:
    """Exact P(answer), rank and entropy per (text, layer point), softmax streamed over vocabulary chunks.

    Returns ``prob`` / ``rank`` Float[batch, point, answer] (NaN where the id is -1; rank 1 =
    top token) and ``entropy`` Float[batch, point] in nats.
    """
    normed = unembed.norm(resid).float()
    target = unembed.answer_logits(normed, ids)  # b p a
    rows = normed.reshape(-1, normed.shape[-1])
    tgt = target.reshape(rows.shape[0], -1)
    m = torch.full((rows.shape[0],), -torch.inf, dtype=torch.float64)
    s = torch.zeros(rows.shape[0], dtype=torch.float64)
    t = torch.zeros(rows.shape[0], dtype=torch.float64)
    above = torch.zeros(tgt.shape, dtype=torch.float64)
    for lo in range(0, unembed.vocab_size, chunk):
        logits = unembed.logits(rows, lo, lo + chunk)
        m_new = torch.maximum(m, logits.max(-1).values.double())
        e = torch.exp(logits.double() - m_new[:, None])
        decay = torch.exp(m - m_new)
        s = s * decay + e.sum(-1)
        t = t * decay + (e * logits.double()).sum(-1)
        m = m_new
        for a in range(tgt.shape[1]):
            above[:, a] += (logits > tgt[:, a : a + 1]).sum(-1).double()
    log_z = m + torch.log(s)
    shape = target.shape
    prob = torch.exp(tgt.double() - log_z[:, None]).reshape(shape)
    rank = torch.where(torch.isnan(tgt), torch.nan, above + 1).reshape(shape)
    entropy = (log_z - t / s).reshape(shape[:2])
    return {"prob": prob.numpy(), "rank": rank.numpy(), "entropy": entropy.numpy()}


def run_lens(
    model: HookedModel,
    texts: Sequence[str],
    ids: Int[np.ndarray, "prompt answer"],
    batch_size: int = 8,
    translators: torch.nn.Module | None = None,
    chunk: int = VOCAB_CHUNK,
) -> dict[str, Shaped[np.ndarray, "prompt point *answer"]]:
    """Lens statistics for every prompt, one truncated forward per batch (optionally tuned)."""
    unembed = Unembed.of(model)
    parts: list[dict[str, np.ndarray]] = []
    with torch.inference_mode():
        for lo in range(0, len(texts), batch_size):
            resid = last_position_resid(model, texts[lo : lo + batch_size])
            if translators is not None:
                resid = translators(resid)
            batch_ids = torch.as_tensor(ids[lo : lo + batch_size], device=resid.device)
            parts.append(lens_stats(unembed, resid, batch_ids, chunk))
    return {k: np.concatenate([p[k] for p in parts]) for k in ("prob", "rank", "entropy")}
