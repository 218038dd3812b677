"""Simulated weight-only quantization: round-to-nearest (RTN) as a model *variant*.

A variant name is ``<model>@<config>``, e.g. ``gemma-3-270m@int4-g128`` or
``gemma-3-270m@int3-pc-keep0.1``:

- ``int8`` / ``int4`` / ``int3``: bit width;
- ``pc`` (one scale + zero point per output channel, i.e. per row of the ``[out, in]``
  weight) or ``g<N>`` (per group of ``N`` consecutive input weights within a row; ``g128``
  is the usual choice);
- optional ``keep<P>``: the top ``P`` percent of weights of each matrix by magnitude
  (P in 0.01, 0.1, 1 ...) are kept in full precision *and excluded from the range* of
  their channel/group (mixed-precision outlier protection, as in LLM.int8 / SpQR).

Quantization is asymmetric min-max RTN (scale = (max - min) / (2^bits - 1), integer zero
point), the common RTN baseline of GPTQ/AWQ papers. Only the decoder's linear matrices are
quantized (``q/k/v/o_proj``, ``gate/up/down_proj``); embeddings (tied to the LM head in
Gemma 3 and Cohere 2) and norms stay in full precision. Everything is whole-tensor torch
ops: no Python loop over rows or groups.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass

import torch
from jaxtyping import Bool, Float

from polylens.errors import UnknownModelError

LINEAR_KINDS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
BITS = (2, 3, 4, 8)
_PARAM = re.compile(
    r"(?:^|\.)layers\.(\d+)\..*?(" + "|".join(LINEAR_KINDS) + r")(?:\._original_component)?\.weight$"
)
_SPEC = re.compile(r"^int(\d+)-(pc|g(\d+))(?:-keep(\d*\.?\d+))?$")
SPEC_HELP = "expected int{8,4,3,2}-{pc|g<N>}[-keep<percent>], e.g. int4-g128, int8-pc, int3-pc-keep0.1"


@dataclass(frozen=True)
class QuantConfig:
    """Bits, granularity (``group=None``: per output channel) and kept-outlier percentage."""

    bits: int
    group: int | None = None
    keep: float = 0.0  # percent of each matrix's weights kept in full precision

    def __post_init__(self):
        if self.bits not in BITS:
            raise ValueError(f"bits must be one of {BITS}, not {self.bits}")
        if self.group is not None and self.group < 2:
            raise ValueError(f"group size must be >= 2, not {self.group}")
        if not 0.0 <= self.keep < 100.0:
            raise ValueError(f"keep is a percentage in [0, 100), not {self.keep}")

    @property
    def tag(self) -> str:
        """Canonical variant suffix: ``int4-g128``, ``int3-pc-keep0.1``."""
        gran = "pc" if self.group is None else f"g{self.group}"
        keep = f"-keep{self.keep:g}" if self.keep else ""
        return f"int{self.bits}-{gran}{keep}"

    @property
    def granularity(self) -> str:
        """``per-channel`` or ``per-group-<N>``."""
        return "per-channel" if self.group is None else f"per-group-{self.group}"

    def to_json(self) -> str:
        """Canonical JSON recorded in provenance and hashed into the variant's sha256."""
        return json.dumps(
            {
                "method": "rtn-asymmetric-minmax",
                "weight_only": True,
                "targets": list(LINEAR_KINDS),
                **asdict(self),
            },
            sort_keys=True,
        )


def parse_quant(text: str) -> QuantConfig:
    """``"int4-g128"`` -> QuantConfig; a malformed spec raises UnknownModelError (user error)."""
    m = _SPEC.match(text.strip().lower())
    if not m:
        raise UnknownModelError(f"bad quantization spec {text!r}: {SPEC_HELP}")
    bits, gran, group, keep = m.groups()
    try:
        return QuantConfig(int(bits), None if gran == "pc" else int(group), float(keep) if keep else 0.0)
    except ValueError as exc:
        raise UnknownModelError(f"bad quantization spec {text!r}: {exc}") from None


def linear_weights(model: torch.nn.Module) -> list[tuple[int, str, str, torch.nn.Parameter]]:
    """``(layer, kind, parameter name, weight)`` for every decoder linear matrix, layer order.

    Works on a plain Hugging Face model and on ``bridge.original_model`` (whose modules the
    bridge wraps in ``_original_component``).
    """
    out = []
    for name, param in model.named_parameters():
        m = _PARAM.search(name)
        if m and param.dim() == 2:
            out.append((int(m.group(1)), m.group(2), name, param))
    return sorted(out, key=lambda t: (t[0], LINEAR_KINDS.index(t[1])))


def keep_mask(w: Float[torch.Tensor, "out d_in"], keep_percent: float) -> Bool[torch.Tensor, "out d_in"]:
    """Boolean mask of the top ``keep_percent`` % entries of ``w`` by magnitude (ceil)."""
    mask = torch.zeros(w.numel(), dtype=torch.bool, device=w.device)
    k = math.ceil(w.numel() * keep_percent / 100.0) if keep_percent > 0 else 0
    if k:
        mask[w.abs().flatten().topk(k).indices] = True
    return mask.view_as(w)


@torch.no_grad()
def quantize_weight(w: Float[torch.Tensor, "out d_in"], cfg: QuantConfig) -> Float[torch.Tensor, "out d_in"]:
    """RTN-quantize-dequantize a ``[out, in]`` matrix (returns a new tensor, same dtype).

    Per group (or per row), ``min``/``max`` exclude the kept outliers; kept entries are
    copied back exactly. Rows whose length is not a multiple of the group are padded with
    masked entries that never enter a range and are dropped afterwards.
    """
    if w.dim() != 2:
        raise ValueError(f"expected a 2-D weight, got shape {tuple(w.shape)}")
    x = w.detach().float()
    kept = keep_mask(x, cfg.keep)
    n_out, n_in = x.shape
    g = n_in if cfg.group is None else min(cfg.group, n_in)
    pad = (-n_in) % g
    xp = torch.nn.functional.pad(x, (0, pad))
    excl = torch.nn.functional.pad(kept, (0, pad), value=True)
    xg, eg = xp.view(n_out, -1, g), excl.view(n_out, -1, g)
    lo = torch.where(eg, torch.inf, xg).amin(-1, keepdim=True)
    hi = torch.where(eg, -torch.inf, xg).amax(-1, keepdim=True)
    empty = torch.isinf(lo)  # every entry of the group kept (or padding): nothing to quantize
    lo, hi = torch.where(empty, 0.0, lo), torch.where(empty, 0.0, hi)
    qmax = 2**cfg.bits - 1
    scale = ((hi - lo) / qmax).clamp_min(1e-12)
    zero = torch.round(-lo / scale)
    q = torch.clamp(torch.round(xg / scale) + zero, 0, qmax)
    deq = ((q - zero) * scale).view(n_out, -1)[:, :n_in]
    deq = torch.where(kept, x, deq)
    return deq.to(w.dtype)


@torch.no_grad()
def quantize_model(model: torch.nn.Module, cfg: QuantConfig | str) -> dict:
    """Quantize every decoder linear matrix of ``model`` in place; return a summary.

    Summary: number of matrices and weights, kept weights, and the relative Frobenius error
    ``||W_q - W|| / ||W||`` over all quantized matrices.
    """
    cfg = parse_quant(cfg) if isinstance(cfg, str) else cfg
    mats = linear_weights(model)
    if not mats:
        raise ValueError("no decoder linear matrices (q/k/v/o/gate/up/down_proj) found")
    err2 = ref2 = 0.0
    n = n_kept = 0
    for _, _, _, param in mats:
        new = quantize_weight(param.data, cfg)
        err2 += float((new.float() - param.data.float()).pow(2).sum())
        ref2 += float(param.data.float().pow(2).sum())
        n += param.numel()
        n_kept += math.ceil(param.numel() * cfg.keep / 100.0) if cfg.keep else 0
        param.data.copy_(new)
    return {
        "quant": cfg.tag,
        "n_matrices": len(mats),
        "n_weights": n,
        "n_kept": n_kept,
        "rel_frobenius_error": math.sqrt(err2 / ref2) if ref2 else 0.0,
    }
