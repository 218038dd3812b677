"""Scoring texts with a live model for quantization disparity (issue 7).

:func:`score_texts`: one batched forward pass over parallel texts giving, per
``(lang, unit)``, summed token NLL, token and byte counts, pooled residual stream per layer
(for drift), and optionally (``detail=True``) attention sink mass / entropy per head,
layer contribution, and per-language activation statistics at the inputs of the
quantized matmuls (channel energy, LLM.int8 ``|x| >= 6`` outliers, kurtosis).
Weight statistics live in :mod:`polylens.hooks.quant_weights`.

Pooling: mean over content tokens as defined by the capture engine
(``hooks.capture.content_mask``: real tokens minus BOS/special minus trailing
punctuation/whitespace). ``hooks.capture.pool_batch`` itself stops before the LM head, and
bits per byte needs the logits, so the pass here is one full forward that pools the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import xarray as xr
from jaxtyping import Bool, Float, Int, Shaped

from polylens.hooks.models import HookedModel
from polylens.hooks.quant_weights import linear_modules
from polylens.hooks.sites import content_mask, hook_names

OUTLIER_THRESHOLD = 6.0  # LLM.int8 (Dettmers et al. 2022)
# activation sites = inputs of the quantized matmuls (q/k/v share one, gate/up share one)
SITES = {"attn_in": "q_proj", "o_in": "o_proj", "mlp_in": "gate_proj", "down_in": "down_proj"}
Cell = tuple[int, int, str]  # (lang index, unit index, text)
#: per-row results of one forward, keyed by name: nll (batch, pos-1), content (batch, pos),
#: pooled (batch, point, d) and, with detail, contribution (batch, layer), sink/entropy (batch, layer, head)
RowResults = dict[str, Shaped[torch.Tensor, "batch ..."]]


def _batches(lengths: list[int], max_tokens: int) -> list[list[int]]:
    """Indices grouped so that (batch size x longest length) <= max_tokens, longest first."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    out: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        if cur and (len(cur) + 1) * lengths[cur[0]] > max_tokens:
            out.append(cur)
            cur = []
        cur.append(i)
    return out + ([cur] if cur else [])


class _SiteStats:
    """Forward hooks accumulating per-language statistics of the quantized matmuls' inputs."""

    def __init__(self, hf: torch.nn.Module, n_lang: int, n_text: int, n_layers: int):
        self.mods = {site: linear_modules(hf, kind) for site, kind in SITES.items()}
        self.n_lang, self.n_text, self.n_layers = n_lang, n_text, n_layers
        self.energy: dict[str, torch.Tensor] = {}
        self.exceed: dict[str, torch.Tensor] = {}
        self.n_tokens = torch.zeros(n_lang)
        shape = (n_text, len(SITES), n_layers)
        self.max_abs, self.outlier_rate, self.kurtosis = (np.full(shape, np.nan) for _ in range(3))
        self.mask = torch.zeros(0, 0, dtype=torch.bool)
        self.lang = torch.zeros(0, dtype=torch.long)
        self.rows: list[int] = []
        self.handles = [
            mod.register_forward_hook(self._hook(s, layer))
            for s, mods in self.mods.items()
            for layer, mod in mods.items()
        ]

    def set_batch(
        self, mask: Bool[torch.Tensor, "batch pos"], lang: Int[torch.Tensor, " batch"], rows: list[int]
    ) -> None:
        """The next forward's token mask, language index per row, and text index per row."""
        self.mask, self.lang, self.rows = mask, lang, rows
        self.n_tokens.index_add_(0, lang, mask.sum(1).float())

    def _hook(self, site: str, layer: int) -> Callable[..., None]:
        s_idx = list(SITES).index(site)

        def hook(
            module: torch.nn.Module,
            inputs: tuple[Float[torch.Tensor, "batch pos d"], ...],
            output: Float[torch.Tensor, "batch pos d_out"],
        ) -> None:
            """Accumulate energy/outlier counts per language and per-row max, outlier rate, kurtosis."""
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
        """Detach every forward hook."""
        for h in self.handles:
            h.remove()


def _pad(
    enc: list[list[int]], batch: list[int], pad_id: int
) -> tuple[Int[torch.Tensor, "batch pos"], Bool[torch.Tensor, "batch pos"]]:
    """Right-padded token ids of the batch's texts and the mask of real tokens."""
    T = max(len(enc[i]) for i in batch)
    ids = torch.full((len(batch), T), pad_id, dtype=torch.long)
    real = torch.zeros(len(batch), T, dtype=torch.bool)
    for b, i in enumerate(batch):
        ids[b, : len(enc[i])] = torch.tensor(enc[i])
        real[b, : len(enc[i])] = True
    return ids, real


def _token_nll(
    logits: Float[torch.Tensor, "batch pos vocab"],
    ids: Int[torch.Tensor, "batch pos"],
    real: Bool[torch.Tensor, "batch pos"],
) -> Float[torch.Tensor, "batch pos_1"]:
    """Next-token NLL (nats) per predicted position, zero at padding, on the CPU."""
    B, T = ids.shape
    nll = torch.nn.functional.cross_entropy(
        logits[:, :-1].float().flatten(0, 1), ids[:, 1:].flatten().to(logits.device), reduction="none"
    )
    return nll.view(B, T - 1).cpu() * real[:, 1:]


def _detail(
    resid: Float[torch.Tensor, "batch point pos d"],
    cm: Float[torch.Tensor, "batch pos"],
    cache: Any,
    real: Bool[torch.Tensor, "batch pos"],
    n_layers: int,
) -> RowResults:
    """Per-row layer contribution ``(B, L)`` and sink mass / attention entropy ``(B, L, H)``."""
    step = (resid[:, 1:] - resid[:, :-1]).norm(dim=-1) / resid[:, :-1].norm(dim=-1).clamp_min(1e-6)
    contrib_b = (step * cm[:, None]).sum(-1) / cm.sum(1).clamp_min(1)[:, None]
    pat = torch.stack(
        [cache[f"blocks.{i}.attn.hook_pattern"].float().cpu() for i in range(n_layers)], 1
    )  # B, L, H, Tq, Tk
    q = real.clone()
    q[:, 0] = False
    qm = q.float()[:, None, None, :]
    n_q = qm.sum(-1).clamp_min(1)
    sink_b = (pat[..., 0] * qm).sum(-1) / n_q
    ent = -(pat * pat.clamp_min(1e-30).log()).sum(-1)
    return {"contribution": contrib_b, "sink": sink_b, "entropy": (ent * qm).sum(-1) / n_q}


def _forward(
    model: HookedModel,
    ids: Int[torch.Tensor, "batch pos"],
    real: Bool[torch.Tensor, "batch pos"],
    detail: bool,
) -> RowResults:
    """One full forward: token NLL, content mask, mean-pooled residual per layer (+ detail)."""
    L = model.n_layers
    resid_names = hook_names("resid", L)
    wanted = set(resid_names) | ({f"blocks.{i}.attn.hook_pattern" for i in range(L)} if detail else set())
    content = torch.from_numpy(content_mask(ids.numpy(), real.numpy(), model.tokenizer))  # hooks.sites rule
    logits, cache = model.bridge.run_with_cache(
        ids.to(model.device),
        attention_mask=real.long().to(model.device),
        names_filter=lambda n: n in wanted,
    )
    token_nll = _token_nll(logits, ids, real)
    del logits
    resid = torch.stack([cache[n].float().cpu() for n in resid_names], 1)  # B,L+1,T,d
    cm = content.float()
    pool = (resid * cm[:, None, :, None]).sum(2) / cm.sum(1).clamp_min(1)[:, None, None]
    out = {"nll": token_nll, "content": content, "pooled": pool}
    return out | (_detail(resid, cm, cache, real, L) if detail else {})


class _Scores:
    """The ``(lang, unit, ...)`` result arrays of :func:`score_texts`, filled batch by batch."""

    def __init__(self, shape: tuple[int, int], n_layers: int, d: int, n_heads: int, detail: bool):
        self.nll, self.ntok, self.nbytes, self.ncontent = (np.full(shape, np.nan) for _ in range(4))
        self.pooled = np.full(shape + (n_layers + 1, d), np.nan, dtype=np.float32)
        self.detail = detail
        if detail:
            self.sink, self.entropy = (
                np.full(shape + (n_layers, n_heads), np.nan, dtype=np.float32) for _ in range(2)
            )
            self.contrib = np.full(shape + (n_layers + 1,), np.nan, dtype=np.float32)

    def fill(self, batch: list[int], cells: list[Cell], enc: list[list[int]], res: RowResults) -> None:
        """Copy one batch's per-row results into their ``(lang, unit)`` cells."""
        for b, i in enumerate(batch):
            li, ui, text = cells[i]
            self.nll[li, ui] = float(res["nll"][b].sum())
            self.ntok[li, ui] = len(enc[i]) - 1
            self.nbytes[li, ui] = len(text.encode("utf-8"))
            self.ncontent[li, ui] = float(res["content"][b].sum())
            self.pooled[li, ui] = res["pooled"][b].numpy()
            if self.detail:
                self.sink[li, ui], self.entropy[li, ui] = res["sink"][b].numpy(), res["entropy"][b].numpy()
                self.contrib[li, ui, 1:] = res["contribution"][b].numpy()

    def dataset(self, langs: list[str], units: list[str]) -> xr.Dataset:
        """The always-present variables (nll, counts, pooled) as a labelled Dataset."""
        lu = ("lang", "unit")
        return xr.Dataset(
            {
                "nll": (lu, self.nll),
                "n_tokens": (lu, self.ntok),
                "n_bytes": (lu, self.nbytes),
                "n_content": (lu, self.ncontent),
                "pooled": (("lang", "unit", "layer", "d"), self.pooled),
            },
            coords={"lang": langs, "unit": units, "layer": np.arange(self.pooled.shape[2])},
        )


def _add_detail(
    ds: xr.Dataset, scores: _Scores, sites: _SiteStats, cells: list[Cell], n_heads: int
) -> xr.Dataset:
    """Attach sink / entropy / contribution and the activation-site statistics to ``ds``."""
    L = scores.sink.shape[2]
    ds["sink"] = (("lang", "unit", "block", "head"), scores.sink)
    ds["entropy"] = (("lang", "unit", "block", "head"), scores.entropy)
    ds["contribution"] = (("lang", "unit", "layer"), scores.contrib)
    li = np.array([c[0] for c in cells])
    ui = np.array([c[1] for c in cells])
    for name, arr in (
        ("act_max", sites.max_abs),
        ("act_outlier_rate", sites.outlier_rate),
        ("act_kurtosis", sites.kurtosis),
    ):
        full = np.full(scores.nll.shape + arr.shape[1:], np.nan)
        full[li, ui] = arr
        ds[name] = (("lang", "unit", "site", "block"), full)
    for site in SITES:
        ds[f"energy_{site}"] = (("lang", "block", f"d_{site}"), sites.energy[site].numpy())
        ds[f"exceed_{site}"] = (("lang", "block", f"d_{site}"), sites.exceed[site].numpy())
    ds["n_act_tokens"] = (("lang",), sites.n_tokens.numpy())
    return ds.assign_coords(site=list(SITES), block=np.arange(L), head=np.arange(n_heads))


def _encode(
    model: HookedModel, probe_set: Any, langs: list[str], units: list[str]
) -> tuple[list[Cell], list[list[int]]]:
    """The ``(lang, unit, text)`` cells present in the probe set and their BOS-led token ids."""
    cells = [
        (li, ui, s.text)
        for s in probe_set.stimuli
        if s.lang in langs and s.unit in units
        for li, ui in [(langs.index(s.lang), units.index(s.unit))]
    ]
    tok = model.tokenizer
    enc = [tok(t).input_ids for _, _, t in cells]
    if tok.bos_token_id is not None:  # every text token is predicted, conditioned on BOS
        enc = [e if e[:1] == [tok.bos_token_id] else [tok.bos_token_id] + e for e in enc]
    return cells, enc


@torch.inference_mode()
def score_texts(
    model: HookedModel,
    probe_set: Any,
    langs: list[str] | None = None,
    units: list[str] | None = None,
    detail: bool = False,
    max_tokens: int = 768,
    progress: Callable[[int, int], None] | None = None,
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
    cells, enc = _encode(model, probe_set, langs, units)
    n_heads, tok = model.bridge.cfg.n_heads, model.tokenizer
    scores = _Scores((len(langs), len(units)), model.n_layers, model.d_model, n_heads, detail)
    sites = (
        _SiteStats(model.bridge.original_model, len(langs), len(cells), model.n_layers) if detail else None
    )
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    done = 0
    try:
        for batch in _batches([len(e) for e in enc], max_tokens):
            ids, real = _pad(enc, batch, pad_id)
            if sites is not None:
                nonbos = real.clone()
                nonbos[:, 0] = False
                sites.set_batch(nonbos, torch.tensor([cells[i][0] for i in batch]), batch)
            scores.fill(batch, cells, enc, _forward(model, ids, real, detail))
            done += len(batch)
            if progress:
                progress(done, len(cells))
    finally:
        if sites is not None:
            sites.remove()
    ds = scores.dataset(langs, units)
    if sites is not None:
        ds = _add_detail(ds, scores, sites, cells, n_heads)
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
