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

Real llama.cpp formats: ``gguf-q8_0``, ``gguf-q5_0``, ``gguf-q5_1``, ``gguf-q4_0``,
``gguf-q4_1``, ``gguf-mxfp4`` (:class:`GGUFConfig`) quantize and dequantize the same matrices
with the ``gguf`` package's reference implementation (``gguf.quants``, blocks of 32 along
each row). The embedded Gemma weights are already Q4_K_M, so on that model every variant is
a *double* quantization (recorded as ``double_quantization`` in the config JSON).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass

import torch
from jaxtyping import Bool, Float

from polylens.errors import UnknownModelError

#: llama.cpp formats the ``gguf`` package can quantize (K-quants only dequantize there)
GGUF_FORMATS = ("q8_0", "q5_0", "q5_1", "q4_0", "q4_1", "mxfp4")
#: nominal bits per weight of each format's codes (scales not counted)
GGUF_BITS = {"q8_0": 8, "q5_0": 5, "q5_1": 5, "q4_0": 4, "q4_1": 4, "mxfp4": 4}

LINEAR_KINDS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
BITS = (2, 3, 4, 8)
_PARAM = re.compile(
    r"(?:^|\.)layers\.(\d+)\..*?(" + "|".join(LINEAR_KINDS) + r")(?:\._original_component)?\.weight$"
)
_SPEC = re.compile(r"^int(\d+)-(pc|g(\d+))(?:-keep(\d*\.?\d+))?$")
SPEC_HELP = (
    "expected int{8,4,3,2}-{pc|g<N>}[-keep<percent>] (e.g. int4-g128, int3-pc-keep0.1) "
    "or gguf-{" + ",".join(GGUF_FORMATS) + "} (e.g. gguf-q4_0)"
)


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


@dataclass(frozen=True)
class GGUFConfig:
    """A llama.cpp block format quantized + dequantized by the ``gguf`` package (blocks of 32)."""

    fmt: str
    double_quantization: bool = True  # the embedded source is itself Q4_K_M

    def __post_init__(self):
        if self.fmt not in GGUF_FORMATS:
            raise ValueError(f"gguf format must be one of {GGUF_FORMATS}, not {self.fmt!r}")

    @property
    def bits(self) -> int:
        """Nominal bits per weight code (block scales not counted)."""
        return GGUF_BITS[self.fmt]

    @property
    def group(self) -> int:
        """Block size along each row (32 for every format here)."""
        return 32

    @property
    def keep(self) -> float:
        """Kept full-precision outliers: none in llama.cpp formats."""
        return 0.0

    @property
    def tag(self) -> str:
        """Canonical variant suffix: ``gguf-q4_0``."""
        return f"gguf-{self.fmt}"

    @property
    def granularity(self) -> str:
        """``gguf-block-32``."""
        return "gguf-block-32"

    def to_json(self) -> str:
        """Canonical JSON recorded in provenance and hashed into the variant's sha256."""
        return json.dumps(
            {
                "method": f"gguf-{self.fmt}",
                "implementation": "gguf.quants.quantize/dequantize (llama.cpp reference)",
                "weight_only": True,
                "targets": list(LINEAR_KINDS),
                "double_quantization": self.double_quantization,
                "note": "applied on top of the source weights; for the embedded gemma-3-270m "
                "those are Q4_K_M-dequantized, so this is a double quantization",
            },
            sort_keys=True,
        )


AnyQuant = QuantConfig | GGUFConfig


def parse_quant(text: str) -> AnyQuant:
    """``"int4-g128"`` / ``"gguf-q4_0"`` -> config; a malformed spec raises UnknownModelError."""
    low = text.strip().lower()
    if low.startswith("gguf-"):
        if low[5:] not in GGUF_FORMATS:
            raise UnknownModelError(f"bad quantization spec {text!r}: {SPEC_HELP}")
        return GGUFConfig(low[5:])
    m = _SPEC.match(low)
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
def gguf_roundtrip(w: Float[torch.Tensor, "out d_in"], fmt: str) -> Float[torch.Tensor, "out d_in"]:
    """Quantize + dequantize a ``[out, in]`` matrix in llama.cpp format ``fmt`` (``gguf`` package).

    Rows whose length is not a multiple of 32 are padded by repeating their last value (which
    changes neither the max nor the min of the last block) and cut back afterwards.
    """
    import gguf
    import numpy as np

    qtype = gguf.GGMLQuantizationType[fmt.upper()]
    x = w.detach().float().cpu().numpy()
    pad = (-x.shape[1]) % gguf.GGML_QUANT_SIZES[qtype][0]
    xp = np.pad(x, ((0, 0), (0, pad)), mode="edge") if pad else x
    deq = gguf.quants.dequantize(gguf.quants.quantize(np.ascontiguousarray(xp), qtype), qtype)
    return torch.from_numpy(np.ascontiguousarray(deq[:, : x.shape[1]])).to(w.dtype).to(w.device)


@torch.no_grad()
def quantize_weight(w: Float[torch.Tensor, "out d_in"], cfg: AnyQuant) -> Float[torch.Tensor, "out d_in"]:
    """Quantize-dequantize a ``[out, in]`` matrix (returns a new tensor, same dtype).

    A :class:`GGUFConfig` goes through :func:`gguf_roundtrip`; a :class:`QuantConfig` is RTN:
    Per group (or per row), ``min``/``max`` exclude the kept outliers; kept entries are
    copied back exactly. Rows whose length is not a multiple of the group are padded with
    masked entries that never enter a range and are dropped afterwards.
    """
    if w.dim() != 2:
        raise ValueError(f"expected a 2-D weight, got shape {tuple(w.shape)}")
    if isinstance(cfg, GGUFConfig):
        return gguf_roundtrip(w, cfg.fmt)
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
def quantize_model(model: torch.nn.Module, cfg: AnyQuant | str) -> dict:
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
