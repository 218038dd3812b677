"""Capture throughput on a GPU (or CPU) with a randomly initialised Tiny-Aya-shaped Cohere2 model.

No download: the model is built from a config (36 blocks, d_model 2048, vocabulary 262,144,
Tiny Aya's shape) with random weights, on the device, in the dtype asked for; the texts are
real UDHR articles tokenised with the shipped tiny tokenizer (token ids fit any vocabulary).
Prints tokens/s and stimuli/s of our capture (token-budget batches, pooled inside the hooks,
stopped after the last layer, one host copy per batch), the ratio vs the seed study's method
(full forward with ``output_hidden_states=True``, LM head included, then pooled) and the
achieved fraction of the device's peak FLOP/s (``--peak-tflops``, else a table of known GPUs;
on CPU a matmul measured in the same run).

    python benchmarks/bench_gpu_capture.py --device cuda --dtype bfloat16
    python benchmarks/bench_gpu_capture.py --small            # CPU, a few seconds (CI)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

#: dense bf16/fp16 tensor-core peak TFLOP/s by device-name substring (vendor data sheets)
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10G": 125.0,
               "A10": 125.0, "RTX 4090": 165.0, "RTX 3090": 71.0, "V100": 125.0, "T4": 65.0}  # fmt: skip
AYA = {"layers": 36, "d_model": 2048, "vocab": 262_144, "heads": 16, "kv_heads": 4, "d_mlp": 11_008}
SMALL = {"layers": 4, "d_model": 256, "vocab": 4096, "heads": 4, "kv_heads": 2, "d_mlp": 688}


def build(shape: dict, device: str, dtype: str):
    """A random Cohere2 of ``shape`` booted as a TransformerLens bridge (a HookedModel)."""
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import AutoModelForCausalLM, AutoTokenizer, Cohere2Config

    from polylens.hooks.models import HookedModel
    from polylens.hooks.registry import resolve
    from polylens.hooks.tiny import load_tiny_tokenizer

    tok = load_tiny_tokenizer()
    cfg = Cohere2Config(
        vocab_size=shape["vocab"], hidden_size=shape["d_model"], intermediate_size=shape["d_mlp"],
        num_hidden_layers=shape["layers"], num_attention_heads=shape["heads"],
        num_key_value_heads=shape["kv_heads"], max_position_embeddings=8192, sliding_window=4096,
        layer_types=["sliding_attention"] * 3 + ["full_attention"], pad_token_id=0, bos_token_id=1,
        eos_token_id=2, logit_scale=1.0, tie_word_embeddings=True,
    )  # fmt: skip
    cfg.layer_types = (cfg.layer_types * shape["layers"])[: shape["layers"]]
    cfg.architectures = ["Cohere2ForCausalLM"]
    torch.manual_seed(0)
    with torch.device(device):
        hf = AutoModelForCausalLM.from_config(cfg, dtype=getattr(torch, dtype))
    folder = Path(tempfile.mkdtemp(prefix="polylens-gpu-bench-"))
    cfg.save_pretrained(folder)
    tok.save_pretrained(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    bridge = TransformerBridge.boot_transformers(
        str(folder), hf_model=hf.eval(), tokenizer=tok, device=device, dtype=getattr(torch, dtype)
    )
    bridge.eval()
    spec = resolve("tiny-cohere2")
    return HookedModel(spec, bridge, tok, "random", "raw", device, dtype)


def matmul_peak(device: str, dtype: str, n: int = 2048, reps: int = 5) -> float:
    """FLOP/s of an n x n matmul on the device (the CPU's attainable peak)."""
    a = torch.randn(n, n, device=device, dtype=getattr(torch, dtype))
    a @ a
    start = time.perf_counter()
    for _ in range(reps):
        a @ a
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - start)


def peak_flops(args) -> tuple[float, str]:
    """(peak FLOP/s, where it came from)."""
    if args.peak_tflops:
        return args.peak_tflops * 1e12, "--peak-tflops"
    if args.device.startswith("cuda"):
        name = torch.cuda.get_device_name(args.device)
        for key, tflops in PEAK_TFLOPS.items():
            if key in name and args.dtype != "float32":
                return tflops * 1e12, f"data sheet ({name}, dense bf16/fp16)"
    return matmul_peak(args.device, args.dtype), f"measured {args.dtype} matmul"


def timed(fn, groups, device: str) -> float:
    """Seconds to run ``fn`` over every group (after one warm-up group)."""
    fn(groups[0])
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for g in groups:
        fn(g)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    """Build the model, time ours vs the seed method, print the numbers."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default=None, choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--small", action="store_true", help="4 blocks, d_model 256 (CPU CI)")
    parser.add_argument("--limit", type=int, default=None, help="UDHR units per language")
    parser.add_argument("--langs", default="en,fr,ru,hi,ar,zh,ja,sw")
    parser.add_argument("--token-budget", type=int, default=None)
    parser.add_argument("--peak-tflops", type=float, default=None)
    args = parser.parse_args()
    from polylens import probes
    from polylens.hooks.batching import DEFAULT_TOKEN_BUDGET, plan_token_batches
    from polylens.hooks.capture import pool, pool_batch
    from polylens.hooks.sites import content_mask
    from polylens.pipelines.config import check_device

    check_device(args.device)
    args.dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    shape = SMALL if args.small else AYA
    model = build(shape, args.device, args.dtype)
    limit = args.limit or (2 if args.small else 30)
    texts = [
        s.text for s in probes.load_probe_set("udhr").select(langs=args.langs.split(","), limit=limit).stimuli
    ]
    lengths = [len(x) for x in model.tokenizer(texts).input_ids]
    budget = args.token_budget or DEFAULT_TOKEN_BUDGET * (4 if args.device.startswith("cuda") else 1)
    order = plan_token_batches(dict(enumerate(lengths)), budget)
    groups = [[texts[i] for i in b] for b in order]
    hf = model.bridge.original_model
    dev = torch.device(args.device)

    def seed(group):
        enc = model.tokenizer(group, return_tensors="pt", padding=True).to(dev)
        with torch.inference_mode():
            hs = hf(**enc, output_hidden_states=True).hidden_states[:-1]
            mask = torch.from_numpy(
                content_mask(enc.input_ids.cpu().numpy(), enc.attention_mask.cpu().numpy(), model.tokenizer)
            ).to(dev)
            return torch.stack([pool(h.float(), mask, "mean") for h in hs], 1).cpu()

    ours_s = timed(lambda g: pool_batch(model, g), groups, args.device)
    seed_s = timed(seed, groups, args.device)
    n_tok = sum(lengths)
    block_params = sum(p.numel() for n, p in hf.named_parameters() if ".layers." in n)
    flops = 2 * block_params * n_tok  # matmuls of the blocks; attention scores left out
    peak, source = peak_flops(args)
    print(
        f"model: random Cohere2, {shape['layers']} blocks, d_model {shape['d_model']}, vocab {shape['vocab']}"
        f" ({sum(p.numel() for p in hf.parameters()) / 1e9:.2f} B params), {args.device} {args.dtype}"
    )
    print(f"stimuli {len(texts)}, tokens {n_tok}, {len(groups)} batches (token budget {budget})")
    print(f"ours: {ours_s:.2f} s  {n_tok / ours_s:.0f} tokens/s  {len(texts) / ours_s:.1f} stimuli/s")
    print(f"seed: {seed_s:.2f} s  {n_tok / seed_s:.0f} tokens/s  {len(texts) / seed_s:.1f} stimuli/s")
    print(f"ratio ours / seed (output_hidden_states): {seed_s / ours_s:.2f}x")
    print(
        f"achieved {flops / ours_s / 1e12:.3f} TFLOP/s of peak {peak / 1e12:.3f} TFLOP/s ({source}): "
        f"{flops / ours_s / peak:.1%}"
    )


if __name__ == "__main__":
    main()
