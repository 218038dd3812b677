"""Model-touching measurements for quantization disparity (issue 7).

- :func:`weight_report`: outlier statistics of every decoder linear matrix, ``(layer, matrix)``.
- :func:`super_weights`: Yu et al. (2024) super-weight candidates from one forward pass.
- :func:`score_texts`: one batched forward pass over parallel texts giving, per
  ``(lang, unit)``, summed token NLL, token and byte counts, pooled residual stream per layer
  (for drift), and optionally (``detail=True``) attention sink mass / entropy per head,
  layer contribution, and per-language activation statistics at the inputs of the
  quantized matmuls (channel energy, LLM.int8 ``|x| >= 6`` outliers, kurtosis).

Pooling: mean over content tokens as defined by the capture engine
(``hooks.capture.content_mask``: real tokens minus BOS/special minus trailing
punctuation/whitespace). ``hooks.capture.pool_batch`` itself stops before the LM head, and
bits per byte needs the logits, so the pass here is one full forward that pools the same way.
"""

from __future__ import annotations

import re

import numpy as np
import torch
import xarray as xr

from polylens.analysis.quantization import weight_stats
from polylens.hooks.models import HookedModel
from polylens.hooks.quantize import LINEAR_KINDS, linear_weights
from polylens.hooks.sites import content_mask

OUTLIER_THRESHOLD = 6.0  # LLM.int8 (Dettmers et al. 2022)
# activation sites = inputs of the quantized matmuls (q/k/v share one, gate/up share one)
SITES = {"attn_in": "q_proj", "o_in": "o_proj", "mlp_in": "gate_proj", "down_in": "down_proj"}
_MODULE = re.compile(
    r"(?:^|\.)layers\.(\d+)\..*?(" + "|".join(LINEAR_KINDS) + r")(?:\._original_component)?$"
)


def linear_modules(model: torch.nn.Module, kind: str) -> dict[int, torch.nn.Linear]:
    """layer -> the ``nn.Linear`` of ``kind`` (e.g. ``down_proj``), bridge-wrapped or not."""
    out = {}
    for name, mod in model.named_modules():
        m = _MODULE.search(name)
        if m and m.group(2) == kind and isinstance(mod, torch.nn.Linear):
            out[int(m.group(1))] = mod
    return out


# ----------------------------------------------------------------------------- weights
def weight_report(model: HookedModel) -> xr.Dataset:
    """Outlier statistics (``analysis.quantization.weight_stats``) per ``(layer, matrix)``."""
    mats = linear_weights(model.bridge.original_model)
    layers = sorted({m[0] for m in mats})
    rows = {(layer, kind): weight_stats(p.data) for layer, kind, _, p in mats}
    keys = next(iter(rows.values())).keys()
    data = {
        k: (
            ("layer", "matrix"),
            np.array(
                [[rows.get((l, kd), {}).get(k, np.nan) for kd in LINEAR_KINDS] for l in layers], dtype=float
            ),
        )
        for k in keys
    }
    ds = xr.Dataset(data, coords={"layer": layers, "matrix": list(LINEAR_KINDS)})
    ds.attrs.update(model.provenance())
    ds.attrs["layer_convention"] = "layer = decoder block index (0-based)"
    return ds


@torch.inference_mode()
def super_weights(model: HookedModel, text: str = "The capital of France is Paris.") -> xr.Dataset:
    """Super-weight candidates (Yu et al. 2024) per layer from one forward pass.

    For each block's ``down_proj``: the input channel with the largest |activation| (the
    spike, ``in_channel``/``in_max``) and the output row with the largest |output|
    (``out_row``/``out_max``); the candidate is ``W_down[out_row, in_channel]`` with its
    value and z-score in its matrix. The super weight is the candidate of the layer(s)
    whose spikes are orders of magnitude above the rest (see ``in_max``).
    """
    hf = model.bridge.original_model
    mods = linear_modules(hf, "down_proj")
    seen: dict[int, tuple] = {}
    hooks = [
        mod.register_forward_hook(
            lambda m, i, o, layer=layer: seen.__setitem__(layer, (i[0][0].abs().amax(0), o[0].abs().amax(0)))
        )
        for layer, mod in mods.items()
    ]
    try:
        ids = model.tokenizer(text, return_tensors="pt").input_ids.to(model.device)
        model.bridge(ids)
    finally:
        for h in hooks:
            h.remove()
    layers = sorted(seen)
    cols = {k: [] for k in ("in_channel", "in_max", "out_row", "out_max", "weight", "weight_z")}
    for layer in layers:
        a_in, a_out = seen[layer]
        j, i = int(a_in.argmax()), int(a_out.argmax())
        w = mods[layer].weight
        value = float(w[i, j])
        for k, v in zip(
            cols, (j, float(a_in[j]), i, float(a_out[i]), value, (value - float(w.mean())) / float(w.std()))
        ):
            cols[k].append(v)
    ds = xr.Dataset({k: ("layer", np.array(v)) for k, v in cols.items()}, coords={"layer": layers})
    ds.attrs.update(model.provenance())
    ds.attrs["text"] = text
    return ds


# ----------------------------------------------------------------------------- forward pass
def _batches(lengths: list[int], max_tokens: int) -> list[list[int]]:
    """Indices grouped so that (batch size x longest length) <= max_tokens, longest first."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    out, cur = [], []
    for i in order:
        if cur and (len(cur) + 1) * lengths[cur[0]] > max_tokens:
            out.append(cur)
            cur = []
        cur.append(i)
    return out + ([cur] if cur else [])


class _SiteStats:
    """Forward hooks accumulating per-language statistics of the quantized matmuls' inputs."""

    def __init__(self, hf, n_lang: int, n_text: int, n_layers: int):
        self.mods = {site: linear_modules(hf, kind) for site, kind in SITES.items()}
        self.n_lang, self.n_text, self.n_layers = n_lang, n_text, n_layers
        self.energy, self.exceed = {}, {}
        self.n_tokens = torch.zeros(n_lang)
        shape = (n_text, len(SITES), n_layers)
        self.max_abs, self.outlier_rate, self.kurtosis = (np.full(shape, np.nan) for _ in range(3))
        self.mask = self.lang = self.rows = None
        self.handles = [
            mod.register_forward_hook(self._hook(s, layer))
            for s, mods in self.mods.items()
            for layer, mod in mods.items()
        ]

    def set_batch(self, mask: torch.Tensor, lang: torch.Tensor, rows: list[int]) -> None:
        self.mask, self.lang, self.rows = mask, lang, rows
        self.n_tokens.index_add_(0, lang, mask.sum(1).float())

    def _hook(self, site: str, layer: int):
        s_idx = list(SITES).index(site)

        def hook(module, inputs, output):
            x = inputs[0].detach().float()  # (B, T, d)
            m = self.mask.unsqueeze(-1).float()
            d = x.shape[-1]
            if site not in self.energy:
                self.energy[site] = torch.zeros(self.n_lang, self.n_layers, d)
                self.exceed[site] = torch.zeros(self.n_lang, self.n_layers, d)
            big = (x.abs() >= OUTLIER_THRESHOLD).float() * m
            self.energy[site][:, layer].index_add_(0, self.lang, (x.pow(2) * m).sum(1))
            self.exceed[site][:, layer].index_add_(0, self.lang, big.sum(1))
            n = m.sum((1, 2)).clamp_min(1)  # tokens per row
            mu = (x * m).sum((1, 2)) / (n * d)
            dev = (x - mu[:, None, None]) * m
            m2, m4 = dev.pow(2).sum((1, 2)) / (n * d), dev.pow(4).sum((1, 2)) / (n * d)
            kurt = m4 / m2.clamp_min(1e-30).pow(2) - 3.0
            mx = (x.abs() * m).amax((1, 2))
            rate = big.sum((1, 2)) / (n * d)
            for b, row in enumerate(self.rows):
                self.max_abs[row, s_idx, layer] = float(mx[b])
                self.outlier_rate[row, s_idx, layer] = float(rate[b])
                self.kurtosis[row, s_idx, layer] = float(kurt[b])

        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


@torch.inference_mode()
def score_texts(
    model: HookedModel,
    probe_set,
    langs: list[str] | None = None,
    units: list[str] | None = None,
    detail: bool = False,
    max_tokens: int = 768,
    progress=None,
) -> xr.Dataset:
    """One batched forward pass over ``probe_set`` texts (``lang x unit``).

    Always: ``nll`` (summed next-token NLL in nats over every text token, conditioned on
    BOS), ``n_tokens`` (text tokens), ``n_bytes`` (UTF-8), ``n_content``, ``pooled``
    ``(lang, unit, layer, d)`` float32 mean over content tokens (layer 0 = embedding output).
    With ``detail``: ``sink (lang, unit, layer, head)`` = mean attention from each query
    position >= 1 to position 0 (BOS); ``entropy`` (nats) likewise; ``contribution
    (lang, unit, layer)`` = mean over content tokens of ||resid_l - resid_{l-1}|| /
    ||resid_{l-1}|| (l >= 1); per-text activation ``act_max``, ``act_outlier_rate`` (share
    of entries with |x| >= 6) and ``act_kurtosis`` over ``(site, block)``; per-language
    ``energy_<site>`` = sum of x^2 per input channel and ``exceed_<site>`` = number of
    tokens with |x| >= 6 per channel, with ``n_act_tokens (lang)``.
    """
    langs = list(langs or probe_set.languages)
    units = list(units or probe_set.units)
    cells = [
        (li, ui, s.text)
        for s in probe_set.stimuli
        if s.lang in langs and s.unit in units
        for li, ui in [(langs.index(s.lang), units.index(s.unit))]
    ]
    tok, bridge, hf = model.tokenizer, model.bridge, model.bridge.original_model
    L, d = model.n_layers, model.d_model
    n_heads = bridge.cfg.n_heads
    enc = [tok(t).input_ids for _, _, t in cells]
    if tok.bos_token_id is not None:  # every text token is predicted, conditioned on BOS
        enc = [e if e[:1] == [tok.bos_token_id] else [tok.bos_token_id] + e for e in enc]
    shape = (len(langs), len(units))
    nll, ntok, nbytes, ncontent = (np.full(shape, np.nan) for _ in range(4))
    pooled = np.full(shape + (L + 1, d), np.nan, dtype=np.float32)
    if detail:
        sink, entropy = (np.full(shape + (L, n_heads), np.nan, dtype=np.float32) for _ in range(2))
        contrib = np.full(shape + (L + 1,), np.nan, dtype=np.float32)
        sites = _SiteStats(hf, len(langs), len(cells), L)
    resid_names = ["blocks.0.hook_resid_pre"] + [f"blocks.{i}.hook_resid_post" for i in range(L)]
    wanted = set(resid_names) | ({f"blocks.{i}.attn.hook_pattern" for i in range(L)} if detail else set())
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    done = 0
    try:
        for batch in _batches([len(e) for e in enc], max_tokens):
            T = max(len(enc[i]) for i in batch)
            ids = torch.full((len(batch), T), pad_id, dtype=torch.long)
            real = torch.zeros(len(batch), T, dtype=torch.bool)
            for b, i in enumerate(batch):
                ids[b, : len(enc[i])] = torch.tensor(enc[i])
                real[b, : len(enc[i])] = True
            content = torch.from_numpy(content_mask(ids.numpy(), real.numpy(), tok))  # hooks.sites rule
            if detail:
                lang_idx = torch.tensor([cells[i][0] for i in batch])
                nonbos = real.clone()
                nonbos[:, 0] = False
                sites.set_batch(nonbos, lang_idx, batch)
            logits, cache = bridge.run_with_cache(
                ids.to(model.device),
                attention_mask=real.long().to(model.device),
                names_filter=lambda n: n in wanted,
            )
            token_nll = (
                torch.nn.functional.cross_entropy(
                    logits[:, :-1].float().flatten(0, 1),
                    ids[:, 1:].flatten().to(logits.device),
                    reduction="none",
                )
                .view(len(batch), T - 1)
                .cpu()
                * real[:, 1:]
            )
            del logits
            resid = torch.stack([cache[n].float().cpu() for n in resid_names], 1)  # B,L+1,T,d
            cm = content.float()
            pool = (resid * cm[:, None, :, None]).sum(2) / cm.sum(1).clamp_min(1)[:, None, None]
            if detail:
                step = (resid[:, 1:] - resid[:, :-1]).norm(dim=-1) / resid[:, :-1].norm(dim=-1).clamp_min(
                    1e-6
                )  # B, L, T
                contrib_b = (step * cm[:, None]).sum(-1) / cm.sum(1).clamp_min(1)[:, None]
                pat = torch.stack(
                    [cache[f"blocks.{i}.attn.hook_pattern"].float().cpu() for i in range(L)], 1
                )  # B, L, H, Tq, Tk
                q = real.clone()
                q[:, 0] = False
                qm = q.float()[:, None, None, :]
                n_q = qm.sum(-1).clamp_min(1)
                sink_b = (pat[..., 0] * qm).sum(-1) / n_q
                ent = -(pat * pat.clamp_min(1e-30).log()).sum(-1)
                ent_b = (ent * qm).sum(-1) / n_q
            for b, i in enumerate(batch):
                li, ui, text = cells[i]
                nll[li, ui] = float(token_nll[b].sum())
                ntok[li, ui] = len(enc[i]) - 1
                nbytes[li, ui] = len(text.encode("utf-8"))
                ncontent[li, ui] = float(content[b].sum())
                pooled[li, ui] = pool[b].numpy()
                if detail:
                    sink[li, ui], entropy[li, ui] = sink_b[b].numpy(), ent_b[b].numpy()
                    contrib[li, ui, 1:] = contrib_b[b].numpy()
            done += len(batch)
            if progress:
                progress(done, len(cells))
    finally:
        if detail:
            sites.remove()
    ds = xr.Dataset(
        {
            "nll": (("lang", "unit"), nll),
            "n_tokens": (("lang", "unit"), ntok),
            "n_bytes": (("lang", "unit"), nbytes),
            "n_content": (("lang", "unit"), ncontent),
            "pooled": (("lang", "unit", "layer", "d"), pooled),
        },
        coords={"lang": langs, "unit": units, "layer": np.arange(L + 1)},
    )
    if detail:
        ds["sink"] = (("lang", "unit", "block", "head"), sink)
        ds["entropy"] = (("lang", "unit", "block", "head"), entropy)
        ds["contribution"] = (("lang", "unit", "layer"), contrib)
        li = np.array([c[0] for c in cells])
        ui = np.array([c[1] for c in cells])
        for name, arr in (
            ("act_max", sites.max_abs),
            ("act_outlier_rate", sites.outlier_rate),
            ("act_kurtosis", sites.kurtosis),
        ):
            full = np.full(shape + arr.shape[1:], np.nan)
            full[li, ui] = arr
            ds[name] = (("lang", "unit", "site", "block"), full)
        for site in SITES:
            ds[f"energy_{site}"] = (("lang", "block", f"d_{site}"), sites.energy[site].numpy())
            ds[f"exceed_{site}"] = (("lang", "block", f"d_{site}"), sites.exceed[site].numpy())
        ds["n_act_tokens"] = (("lang",), sites.n_tokens.numpy())
        ds = ds.assign_coords(site=list(SITES), block=np.arange(L), head=np.arange(n_heads))
    ds.attrs.update(model.provenance())
    ds.attrs.update(
        {
            "probe_set": probe_set.name,
            "probe_set_sha256": probe_set.sha256,
            "pooling": "mean",
            "nll_unit": "nats",
            "max_tokens": max_tokens,
        }
    )
    return ds
