"""Capture sites, the layer axis, pooling modes and content tokens: the one source, torch-free.

Layer axis (docs/CONVENTIONS.md): point 0 is ``blocks.0.hook_resid_pre`` (the embedding
output), point l (1..L) is ``blocks.{l-1}.hook_resid_post``; ``attn_out`` / ``mlp_out`` use
the same axis (point l = block l-1's output) and have no point 0. ``resid_post`` is the
patching spelling of ``resid``.

Content tokens: real (attention-mask) tokens that are not special (BOS/EOS/pad...) and, by
default, not in the trailing run of punctuation/whitespace tokens. If stripping would leave a
text with no content token, its non-special tokens are kept.

Everything here is numpy and plain Python, so ``storage`` / ``analysis`` may import it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

import numpy as np
from jaxtyping import Bool, Int

SITES = ("resid", "attn_out", "mlp_out")
#: alternative spellings accepted by :func:`hook_name` (patching / diffing say ``resid_post``)
SITE_ALIASES = {"resid_post": "resid"}
PATCH_SITES = ("resid_post", "attn_out", "mlp_out")
POOLINGS = ("mean", "last")
_HOOK = {"resid": "hook_resid_post", "attn_out": "hook_attn_out", "mlp_out": "hook_mlp_out"}
LAYER_CONVENTION = "layer 0 = blocks.0.hook_resid_pre; layer l = blocks.{l-1}.hook_resid_post"


def canonical_site(site: str) -> str:
    """``resid`` | ``attn_out`` | ``mlp_out`` for any accepted spelling; ValueError otherwise."""
    name = SITE_ALIASES.get(site, site)
    if name not in SITES:
        raise ValueError(f"site must be one of {SITES + tuple(SITE_ALIASES)}, not {site!r}")
    return name


def site_layers(site: str, n_layers: int) -> list[int]:
    """Layer-axis points at which ``site`` exists for a model with ``n_layers`` blocks."""
    return list(range(0 if canonical_site(site) == "resid" else 1, n_layers + 1))


def hook_name(site: str, layer: int) -> str:
    """The TransformerLens hook of ``site`` at layer-axis point ``layer``."""
    name = canonical_site(site)
    if layer < 0 or (layer == 0 and name != "resid"):
        raise ValueError(f"{site} has no layer {layer} (layer 0 is the embedding output)")
    if layer == 0:
        return "blocks.0.hook_resid_pre"
    return f"blocks.{layer - 1}.{_HOOK[name]}"


def hook_names(site: str, n_layers: int) -> list[str]:
    """Hooks of ``site`` at every point it has (``resid``: L + 1 of them, in layer order)."""
    return [hook_name(site, l) for l in site_layers(site, n_layers)]


def hook_templates(sites: Iterable[str]) -> list[str]:
    """Hook-name templates of ``sites`` as recorded in dataset attrs (``{i}`` = block index)."""
    out = []
    for site in map(canonical_site, sites):
        out += (["blocks.0.hook_resid_pre"] if site == "resid" else []) + [f"blocks.{{i}}.{_HOOK[site]}"]
    return out


def layer_labels(n_layers: int) -> list[str]:
    """Human labels of the layer axis: ``embed``, ``blocks.0.resid_post``, ..."""
    return ["embed"] + [f"blocks.{i}.resid_post" for i in range(n_layers)]


def content_rule(strip_trailing_punct: bool = True) -> str:
    """One-line description of the content-token rule (recorded in dataset attrs)."""
    rule = "attention mask minus special tokens (BOS/EOS/pad)"
    return rule + " minus trailing punctuation/whitespace tokens" if strip_trailing_punct else rule


def is_filler(piece: str) -> bool:
    """A token string made only of punctuation, symbols-as-punctuation or whitespace."""
    stripped = piece.replace("\u2581", " ").replace("\u0120", " ")
    return all(unicodedata.category(c)[0] in "PZ" or c.isspace() for c in stripped)


_FILLER_CACHE: dict[int, tuple[set[int], set[int]]] = {}  # id(tokenizer) -> (checked, filler)


def filler_ids(tokenizer, ids: Iterable[int]) -> set[int]:
    """Those of ``ids`` whose token string is punctuation/whitespace only (cached per tokenizer)."""
    checked, filler = _FILLER_CACHE.setdefault(id(tokenizer), (set(), set()))
    new = sorted(set(ids) - checked)
    for tid, piece in zip(new, tokenizer.convert_ids_to_tokens(new)):
        if piece is not None and is_filler(tokenizer.convert_tokens_to_string([piece])):
            filler.add(tid)
    checked.update(new)
    return filler


def content_mask(
    input_ids: Int[np.ndarray, "batch pos"],
    attention_mask: Int[np.ndarray, "batch pos"],
    tokenizer,
    strip_trailing_punct: bool = True,
) -> Bool[np.ndarray, "batch pos"]:
    """Tokens that carry content: not pad/BOS/EOS/special, and not trailing punctuation.

    If stripping would leave a text with no content token, its non-special tokens are kept.
    """
    ids = np.asarray(input_ids)
    mask = np.asarray(attention_mask).astype(bool) & ~np.isin(ids, sorted(set(tokenizer.all_special_ids)))
    if strip_trailing_punct:
        filler = sorted(filler_ids(tokenizer, np.unique(ids).tolist())) or [-1]
        trailing = np.isin(ids, filler) | ~mask
        # a position is "trailing filler" if it and everything after it is filler or padding
        suffix = np.flip(np.cumprod(np.flip(trailing, -1), -1), -1).astype(bool)
        stripped = mask & ~suffix
        mask = np.where(stripped.any(-1, keepdims=True), stripped, mask)
    return mask


def last_content(mask: Bool[np.ndarray, "batch pos"]) -> Int[np.ndarray, " batch"]:
    """Index of each row's last content token (0 for a row with none)."""
    return (np.asarray(mask) * np.arange(mask.shape[-1])).argmax(-1)


def content_positions(mask: Bool[np.ndarray, " pos"], k: int = 1) -> list[int]:
    """``k`` content positions of one prompt, always ending with the last content token.

    ``k > 1`` spreads the positions evenly over the content tokens (fewer if the prompt is
    shorter); ``k = 1`` is the last content token.
    """
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        raise ValueError("prompt has no content tokens")
    if k >= len(idx):
        return idx.tolist()
    pick = np.unique(np.round(np.linspace(len(idx) - 1, 0, k)).astype(int))
    return sorted(idx[pick].tolist())
