"""Model organisms for diffing: variants with a planted, documented change (issue 18, part 2).

Spelled ``<model>@<spec>`` like the simulated quantizations (grammar:
:data:`polylens.probes.variants.ORGANISM_SPEC`). ``L<l>`` counts on the layer axis
(``layer = l`` is ``blocks.{l-1}.hook_resid_post``), so a change planted at ``L6`` is the
residual write of block 5 and diffing should see it first at layer 6.

- ``plant-edit:L<l>:<lang>``: a rank-4 linear edit ``h += s * (h V) U^T`` (U, V seeded random
  orthonormal, ``s`` so that ``|delta| ~ 0.25 |h|``) added to block ``l-1``'s output, only at
  tokens that contain a letter of ``lang``'s script (gate read from the input ids). Weights
  are untouched; the edit lives in forward hooks on the Hugging Face modules (the bridge calls
  them), so it runs wherever the variant is loaded.
- ``plant-lora:L<a>-<b>:<lang>``: rank-8 LoRA on the residual writes (``o_proj``, ``down_proj``)
  of layers a..b, trained (seeded AdamW, :data:`LORA_STEPS` steps) on UDHR units 24-47 of
  ``lang`` (the diff uses the first units: held out) with a retain loss at every step: the relative
  squared change of the mean-pooled residual stream (what ``diff`` measures) at layers >= a, on one
  training unit of every other UDHR language; then merged into the weights. The merged deltas are
  cached under ``<cache>/organisms`` keyed by the base weights' sha256.
- ``plant-null``: every MLP's hidden units permuted (gate/up rows, down columns): the same
  function up to float summation order, different weight bytes. Diffing must find nothing.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from jaxtyping import Bool, Float, Int

from polylens.errors import UnknownModelError
from polylens.probes.variants import ORGANISM_SPEC, ORGANISM_SPEC_HELP

EDIT_RANK, EDIT_STRENGTH = 4, 0.25
LORA_RANK, LORA_STEPS, LORA_LR, LORA_TOKENS, LORA_RETAIN = 8, 40, 3e-3, 64, 300.0
TRAIN_UNITS = slice(24, 48)  # UDHR units the LoRA trains on; diffs use the first 24 at most
#: how the retain penalty is taken (part of the cache key: a change retrains)
LORA_RETAIN_MODE = "pooled residual, every other language, every step"


@dataclass(frozen=True)
class OrganismConfig:
    """A planted change: kind, layer range on the layer axis, language, seed."""

    kind: str  # edit | lora | null
    first: int = 0
    last: int = 0
    lang: str = ""
    seed: int = 0

    @property
    def tag(self) -> str:
        """Canonical spec text (``plant-lora:L4-6:sw``)."""
        if self.kind == "null":
            return "plant-null"
        span = f"L{self.first}" if self.first == self.last else f"L{self.first}-{self.last}"
        return f"plant-{self.kind}:{span}:{self.lang}"

    def to_json(self) -> str:
        """The config as sorted JSON (recorded in the provenance, hashed into the weights id)."""
        return json.dumps(asdict(self), sort_keys=True)


def parse_organism(text: str) -> OrganismConfig:
    """``plant-edit:L6:hi`` -> config; a one-line error naming the grammar otherwise."""
    m = ORGANISM_SPEC.match(text)
    if not m:
        raise UnknownModelError(f"bad organism spec {text!r}: {ORGANISM_SPEC_HELP}")
    kind, first, last, lang = m.group(1), m.group(2), m.group(3), m.group(4)
    if kind == "null":
        return OrganismConfig("null")
    if not (first and lang):
        raise UnknownModelError(f"bad organism spec {text!r}: plant-{kind} needs L<layer>:<lang>")
    lo, hi = int(first), int(last or first)
    if kind == "edit" and hi != lo:
        raise UnknownModelError(f"bad organism spec {text!r}: plant-edit takes one layer (L6)")
    if lo < 1 or hi < lo:
        raise UnknownModelError(f"bad organism spec {text!r}: layers must satisfy 1 <= first <= last")
    from polylens.probes.languages import get_language

    get_language(lang)  # unknown language: the languages module's error
    return OrganismConfig(kind, lo, hi, lang)


def _blocks(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The decoder layers of a causal-LM Hugging Face model."""
    return model.model.layers


def _check_layers(model: torch.nn.Module, cfg: OrganismConfig) -> None:
    n = len(_blocks(model))
    if cfg.kind != "null" and cfg.last > n:
        raise UnknownModelError(f"organism {cfg.tag}: the model has layers 1..{n} only")


def plant(model: torch.nn.Module, tokenizer: Any, spec: str, base_sha: str, cache: Path) -> dict[str, str]:
    """Apply organism ``spec`` to a loaded Hugging Face model in place; provenance entries back."""
    cfg = parse_organism(spec)
    _check_layers(model, cfg)
    info: dict[str, str] = {"organism": cfg.to_json()}
    if cfg.kind == "null":
        info["organism_note"] = permute_mlps(model, cfg.seed)
    elif cfg.kind == "edit":
        info["organism_note"] = add_script_edit(model, tokenizer, cfg)
    else:
        info["organism_note"] = lora_organism(model, tokenizer, cfg, cache_path(cache, cfg, base_sha))
    return info


# ---------------------------------------------------------------- null: permuted MLP units


def permute_mlps(model: torch.nn.Module, seed: int) -> str:
    """Permute every block's MLP hidden units (function-preserving); a one-line note back."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in _blocks(model):
            mlp = block.mlp
            perm = torch.randperm(mlp.down_proj.weight.shape[1], generator=gen)
            for lin in (mlp.gate_proj, mlp.up_proj):
                lin.weight.copy_(lin.weight[perm])
            mlp.down_proj.weight.copy_(mlp.down_proj.weight[:, perm])
    return f"MLP hidden units permuted in all {len(_blocks(model))} blocks (same function)"


# ---------------------------------------------------------------- edit: script-gated low-rank write


def script_token_mask(tokenizer: Any, lang: str) -> Bool[torch.Tensor, " vocab"]:
    """True for vocabulary entries whose text contains a letter of ``lang``'s script."""
    from polylens.probes.languages import get_language
    from polylens.probes.scripts import SCRIPTS, unicode_scripts

    prefixes = tuple(
        f"{SCRIPTS[s].ucd_prefix} "
        for s in unicode_scripts(get_language(lang).script)
        if SCRIPTS.get(s) and SCRIPTS[s].ucd_prefix
    )
    size = max(len(tokenizer), max(tokenizer.get_vocab().values()) + 1)
    texts = tokenizer.batch_decode([[i] for i in range(size)])
    mask = [any(unicodedata.name(c, "").startswith(prefixes) for c in t if c.isalpha()) for t in texts]
    return torch.tensor(mask, dtype=torch.bool)


def edit_matrices(
    d: int, rank: int, seed: int
) -> tuple[Float[torch.Tensor, "d r"], Float[torch.Tensor, "d r"]]:
    """Seeded random orthonormal (V, U): the edit reads along V and writes along U."""
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, 2 * rank, generator=gen))
    return q[:, :rank].contiguous(), q[:, rank:].contiguous()


def add_script_edit(model: torch.nn.Module, tokenizer: Any, cfg: OrganismConfig) -> str:
    """Register the gated rank-r edit on block ``cfg.first - 1``; a one-line note back."""
    gate_vocab = script_token_mask(tokenizer, cfg.lang)
    d = model.config.hidden_size
    v, u = edit_matrices(d, EDIT_RANK, cfg.seed)
    scale = EDIT_STRENGTH * float(np.sqrt(d / EDIT_RANK))
    state: dict[str, torch.Tensor] = {}

    def remember_ids(module: torch.nn.Module, args: tuple) -> None:
        """Keep the gate of the current input ids (the embedding sees them first)."""
        ids = args[0]
        state["gate"] = gate_vocab.to(ids.device)[ids.clamp(0, len(gate_vocab) - 1)]

    def write(module: torch.nn.Module, args: tuple, out: Any) -> Any:
        """Add the edit at gated positions of the block's output."""
        h = out[0] if isinstance(out, tuple) else out
        gate = state["gate"][..., None].to(h.dtype)
        delta = scale * (h @ v.to(h)) @ u.to(h).T * gate
        return (h + delta, *out[1:]) if isinstance(out, tuple) else h + delta

    model.model.embed_tokens.register_forward_pre_hook(remember_ids)
    _blocks(model)[cfg.first - 1].register_forward_hook(write)
    return (
        f"rank-{EDIT_RANK} edit (|delta|~{EDIT_STRENGTH}|h|) on block {cfg.first - 1}'s output at "
        f"{int(gate_vocab.sum())} {cfg.lang}-script vocabulary entries"
    )


def cache_path(cache: Path, cfg: OrganismConfig, base_sha: str) -> Path:
    """Where the merged LoRA deltas of ``cfg`` on the base weights ``base_sha`` are cached."""
    recipe = (LORA_RANK, LORA_STEPS, LORA_LR, LORA_TOKENS, LORA_RETAIN, TRAIN_UNITS, LORA_RETAIN_MODE)
    key = hashlib.sha256(f"{base_sha}\n{cfg.to_json()}\n{recipe}".encode()).hexdigest()[:16]
    return cache / "organisms" / f"{cfg.tag.replace(':', '_')}-{key}.pt"


# ---------------------------------------------------------------- lora: brief fine-tune, merged


def lora_organism(model: torch.nn.Module, tokenizer: Any, cfg: OrganismConfig, path: Path) -> str:
    """Train (or load from the cached ``path``) the LoRA deltas of ``cfg``; add them to the weights."""
    if path.exists():
        saved = torch.load(path, weights_only=True)
    else:
        saved = train_lora(model, tokenizer, cfg)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(saved, tmp)
        tmp.replace(path)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, delta in saved["deltas"].items():
            params[name].add_(delta.to(params[name]))
    ce = saved["ce"].tolist()
    return (
        f"rank-{LORA_RANK} LoRA merged into o_proj/down_proj of blocks {cfg.first - 1}-{cfg.last - 1}; "
        f"{LORA_STEPS} steps on UDHR units 24-47 ({cfg.lang}), {cfg.lang} CE {ce[0]:.3f} -> {ce[1]:.3f} nats"
    )


def _udhr_texts(lang: str) -> tuple[list[str], dict[str, list[str]]]:
    """UDHR training units of ``lang``, and per other language the same units (retain set)."""
    from polylens.probes import load_probe_set

    ps = load_probe_set("udhr")
    units = set(ps.units[TRAIN_UNITS])
    planted = [s.text for s in ps.stimuli if s.unit in units and s.lang == lang]
    if not planted:
        raise UnknownModelError(f"organism plant-lora: no UDHR text for language {lang!r}")
    retain: dict[str, list[str]] = {}
    for s in ps.stimuli:
        if s.unit in units and s.lang != lang:
            retain.setdefault(s.lang, []).append(s.text)
    return planted, retain


def _adapters(model: torch.nn.Module, cfg: OrganismConfig) -> tuple[dict[str, Any], dict[str, bool]]:
    """Rank-r adapters (A seeded, B zero) as forward hooks on the residual writes of the layers."""
    gen = torch.Generator().manual_seed(cfg.seed)
    names = {id(m): n for n, m in model.named_modules()}
    adapters: dict[str, Any] = {}
    on = {"on": True}
    for block in list(_blocks(model))[cfg.first - 1 : cfg.last]:
        for lin in (block.self_attn.o_proj, block.mlp.down_proj):
            a = (
                torch.randn(LORA_RANK, lin.in_features, generator=gen) / lin.in_features**0.5
            ).requires_grad_()
            b = torch.zeros(lin.out_features, LORA_RANK, requires_grad=True)

            def hook(m: Any, args: tuple, out: Float[torch.Tensor, "*b d"], a: Any = a, b: Any = b) -> Any:
                """Add ``x A^T B^T`` while the adapters are on."""
                return out + (args[0] @ a.T) @ b.T if on["on"] else out

            adapters[f"{names[id(lin)]}.weight"] = (a, b, lin.register_forward_hook(hook))
    return adapters, on


def _padded(seqs: list[list[int]]) -> tuple[Int[torch.Tensor, "n pos"], Float[torch.Tensor, "n pos"]]:
    """Right-padded token ids and their attention mask."""
    ids = torch.zeros(len(seqs), max(map(len, seqs)), dtype=torch.long)
    mask = torch.zeros(ids.shape)
    for i, s in enumerate(seqs):
        ids[i, : len(s)], mask[i, : len(s)] = torch.tensor(s), 1.0
    return ids, mask


def _pooled_rel_mse(
    tuned: Float[torch.Tensor, "n pos d"],
    base: Float[torch.Tensor, "n pos d"],
    mask: Float[torch.Tensor, "n pos"],
) -> Float[torch.Tensor, ""]:
    """Mean over texts of |pooled tuned - pooled base|^2 / |pooled base|^2, mean-pooled over the
    text tokens (BOS excluded): the quantity ``diff``'s relative change measures, squared."""
    w = mask.clone()
    w[:, 0] = 0.0
    w = (w / w.sum(1, keepdim=True).clamp_min(1.0))[..., None]
    pt, pb = (tuned * w).sum(1), (base * w).sum(1)
    return ((pt - pb).pow(2).sum(-1) / pb.pow(2).sum(-1).clamp_min(1e-12)).mean()


def train_lora(model: torch.nn.Module, tokenizer: Any, cfg: OrganismConfig) -> dict[str, Any]:
    """Seeded LoRA training: CE on ``cfg.lang`` + pooled-residual retention on every other language
    at every step (one text each, round robin over the units); merged deltas."""
    planted, retain = _udhr_texts(cfg.lang)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    adapters, on = _adapters(model, cfg)
    opt = torch.optim.AdamW([t for a, b, _ in adapters.values() for t in (a, b)], lr=LORA_LR)
    grads = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)

    def ids(text: str) -> Int[torch.Tensor, "1 pos"]:
        """Token ids of ``text`` (BOS included), truncated."""
        return torch.tensor([tokenizer(text).input_ids[:LORA_TOKENS]])

    def ce_planted() -> float:
        """Mean next-token CE on the training texts of the planted language."""
        with torch.no_grad():
            return float(np.mean([model(ids(t), labels=ids(t)).loss.item() for t in planted]))

    ce0 = ce_planted()
    for step in range(LORA_STEPS):
        x = ids(planted[rng.integers(len(planted))])
        loss = model(x, labels=x).loss
        y, mask = _padded([ids(texts[step % len(texts)])[0].tolist() for _, texts in sorted(retain.items())])
        on["on"] = False
        with torch.no_grad():
            base = model.model(y, attention_mask=mask, output_hidden_states=True).hidden_states[cfg.first :]
        on["on"] = True
        tuned = model.model(y, attention_mask=mask, output_hidden_states=True).hidden_states[cfg.first :]
        penalty = sum(_pooled_rel_mse(t, b, mask) for t, b in zip(tuned, base)) / len(base)
        loss = loss + LORA_RETAIN / 2 * penalty
        opt.zero_grad()
        loss.backward()
        opt.step()
    ce1 = ce_planted()
    for p, g in zip(model.parameters(), grads):
        p.requires_grad_(g)
    deltas = {}
    for name, (a, b, handle) in adapters.items():
        handle.remove()
        deltas[name] = (b @ a).detach().clone()
    return {"deltas": deltas, "ce": torch.tensor([ce0, ce1])}
