"""Capture throughput and memory against the baselines of issue 4 (Gemma-3-270m, CPU).

Methods, each on the same length-sorted batches of UDHR units in a fresh subprocess:
  ours   pool_batch: pooled inside TransformerLens hooks, stops after the last layer
  seed   transformers forward with output_hidden_states=True (the seed study), then pooled
  tlall  TransformerLens run_with_cache with no names filter, then pooled
  floor  transformers decoder body only (model.model): no LM head, no hooks, no pooling
Then checks that our pooled vectors equal those computed from ``seed`` (fp32, 1e-4 relative),
and that the peak memory of a full ``cache`` run stays flat as the stimulus count grows 10x.

    python benchmarks/bench_capture.py [--units 48] [--langs ...] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LANGS = "en,fr,ru,kk,hi,bn,ar,fa,zh,ja,ko,am"  # 9 scripts: Latn Cyrl Deva Beng Arab Hans Jpan Kore Ethi


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def batches(model, texts, size):
    from polylens.hooks.batching import plan_fixed_batches as plan_batches

    lengths = [len(x) for x in model.tokenizer(texts).input_ids]
    order = plan_batches({(str(i), ""): n for i, n in enumerate(lengths)}, size)
    return [[texts[int(k[0])] for k in b] for b in order], sum(lengths)


def run_method(method: str, units: int, langs: str, batch_size: int) -> dict:
    """Time one method in this process; returns tokens/s and peak RSS."""
    import torch

    from polylens import probes
    from polylens.hooks.capture import pool, pool_batch
    from polylens.hooks.models import load_model
    from polylens.hooks.sites import content_mask, hook_names

    model = load_model("gemma-3-270m")
    hf = model.bridge.original_model
    ps = probes.load_probe_set("udhr").select(langs=langs.split(","), limit=units)
    texts = [s.text for s in ps.stimuli]
    groups, n_tokens = batches(model, texts, batch_size)
    base_rss = rss_mb()

    def pooled_from(hidden, enc):
        mask = torch.from_numpy(
            content_mask(enc.input_ids.numpy(), enc.attention_mask.numpy(), model.tokenizer)
        )
        return torch.stack([pool(h.float(), mask, "mean") for h in hidden], 1)

    def one(group):
        if method == "ours":
            return torch.from_numpy(pool_batch(model, group).acts["resid"])
        enc = model.tokenizer(group, return_tensors="pt", padding=True, padding_side="right")
        with torch.inference_mode():
            if method == "seed":
                out = hf(**enc, output_hidden_states=True)
                return pooled_from(out.hidden_states[:-1], enc)  # last one is post-norm
            if method == "floor":
                return hf.model(**enc).last_hidden_state
            _, cache = model.bridge.run_with_cache(enc.input_ids, attention_mask=enc.attention_mask)
            return pooled_from([cache[n] for n in hook_names("resid", model.n_layers)], enc)

    one(groups[0])  # warm-up
    start = time.perf_counter()
    first = one(groups[0])
    for group in groups[1:]:
        one(group)
    seconds = time.perf_counter() - start
    result = {
        "method": method,
        "stimuli": len(texts),
        "tokens": n_tokens,
        "seconds": seconds,
        "tokens_per_s": n_tokens / seconds,
        "peak_rss_mb": rss_mb(),
        "peak_over_model_mb": rss_mb() - base_rss,
    }
    if method in ("ours", "seed"):
        torch.save(first[:, : model.n_layers], Path(tempfile.gettempdir()) / f"bench_{method}.pt")
    return result


def cache_peak(n_units: int, out: Path) -> dict:
    """Peak RSS of a full streaming ``cache`` run (concepts, all languages, first n units)."""
    cmd = [
        sys.executable,
        "-c",
        f"import resource, sys; sys.path.insert(0, {str(ROOT)!r}); import cli; "
        "code = cli.main(sys.argv[1:]); "
        "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024); sys.exit(code)",
        "cache",
        "--probes",
        "concepts",
        "--limit",
        str(n_units),
        "--out",
        str(out),
        "--batch-size",
        "32",
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        raise SystemExit(proc.stderr[-2000:])
    peak = float(proc.stdout.split("PEAK")[-1])
    return {
        "units": n_units,
        "stimuli": n_units * 27,
        "seconds": time.perf_counter() - start,
        "peak_rss_mb": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=48, help="UDHR units per language")
    parser.add_argument("--langs", default=LANGS)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    if args.method:
        print(json.dumps(run_method(args.method, args.units, args.langs, args.batch_size)))
        return
    results = {}
    for method in ("floor", "ours", "seed", "tlall"):
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--method",
                method,
                "--units",
                str(args.units),
                "--langs",
                args.langs,
                "--batch-size",
                str(args.batch_size),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode:
            raise SystemExit(f"{method} failed:\n{proc.stderr[-3000:]}")
        results[method] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results[method]
        print(
            f"{method:<6} {r['stimuli']} stimuli, {r['tokens']} tokens: {r['seconds']:7.1f} s "
            f"{r['tokens_per_s']:8.0f} tok/s  peak RSS {r['peak_rss_mb']:6.0f} MB "
            f"(+{r['peak_over_model_mb']:.0f} MB over the loaded model)",
            flush=True,
        )
    ours, seed, floor, tl = (results[m] for m in ("ours", "seed", "floor", "tlall"))
    print(
        f"\nthroughput ours / seed (output_hidden_states) = "
        f"{ours['tokens_per_s'] / seed['tokens_per_s']:.2f}x   (target >= 2.5x)"
    )
    print(f"throughput ours / run_with_cache(all hooks)   = {ours['tokens_per_s'] / tl['tokens_per_s']:.2f}x")
    print(
        f"time ours / floor (decoder body, no hooks)     = "
        f"{ours['seconds'] / floor['seconds']:.2f}x   (target <= 1.15x)"
    )
    import torch

    a = torch.load(Path(tempfile.gettempdir()) / "bench_ours.pt")
    b = torch.load(Path(tempfile.gettempdir()) / "bench_seed.pt")
    rel = ((a - b).abs().amax() / b.abs().amax()).item()
    print(
        f"pooled equality vs seed-method hidden states: max |diff| / max |value| = {rel:.2e}"
        f"   (target <= 1e-4) {'OK' if rel <= 1e-4 else 'FAIL'}"
    )
    if args.skip_memory:
        return
    with tempfile.TemporaryDirectory() as tmp:
        small = cache_peak(20, Path(tmp) / "small")
        large = cache_peak(200, Path(tmp) / "large")
    print(
        f"\nstreaming cache, concepts x 27 languages: {small['stimuli']} stimuli peak "
        f"{small['peak_rss_mb']:.0f} MB ({small['seconds']:.0f} s); {large['stimuli']} stimuli "
        f"peak {large['peak_rss_mb']:.0f} MB ({large['seconds']:.0f} s); "
        f"ratio {large['peak_rss_mb'] / small['peak_rss_mb']:.2f}x for 10x stimuli"
    )


if __name__ == "__main__":
    main()
