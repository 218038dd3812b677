"""Lens cost: (1) time of the lens vs a plain capture of the same prompts; (2) peak RSS vs concept count.

    python benchmarks/bench_lens.py [--model gemma-3-270m] [--prompts 16] [--concepts 4]

(1) runs ``hooks.lens.run_lens`` (one truncated forward per batch + streamed full-vocabulary
softmax at every layer, last position) and ``hooks.capture.pool_batch`` (pooled residuals at
every layer, the plain capture) on the same translation prompts and batch size, best of 2;
target: ratio <= 3. (2) runs the lens for ``--concepts`` and 10x that many concepts, each in
a fresh process, and prints both peak RSS values; target: flat (memory bounded by the batch
and the vocabulary chunk, not by the number of prompts).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _prompts(n_concepts: int, langs: tuple[str, ...]):
    from polylens.probes import load_probe_set
    from polylens.probes.lens_prompts import build_prompts

    ps = load_probe_set("concepts").select(langs=["en", "fr", "de", *langs], limit=n_concepts)
    return build_prompts(ps, "translation", targets=list(langs))


def _ids(model, prompts):
    from polylens.hooks.lens import wendler_filter

    return wendler_filter(model.tokenizer, prompts, ["en", "zh"]).token_ids


def time_ratio(model_name: str, n_prompts: int, batch_size: int) -> dict:
    """Seconds of the lens and of the plain capture on the same prompts (best of 2 each)."""
    from polylens.hooks.capture import pool_batch
    from polylens.hooks.lens import run_lens
    from polylens.hooks.models import load_model

    model = load_model(model_name)
    prompts = _prompts(n_prompts, ("zh",))[:n_prompts]
    texts, ids = [p.text for p in prompts], _ids(model, prompts)

    def capture():
        for lo in range(0, len(texts), batch_size):
            pool_batch(model, texts[lo : lo + batch_size], pooling="last")

    def lens():
        run_lens(model, texts, ids, batch_size)

    best = {}
    for name, fn in (("capture", capture), ("lens", lens)):
        fn() if name == "capture" else None  # warm-up (first call pays allocator/tokenizer costs)
        times = []
        for _ in range(2):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        best[name] = min(times)
    return {"model": model_name, "prompts": len(texts), **best, "ratio": best["lens"] / best["capture"]}


def peak_rss_child(model_name: str, n_concepts: int, batch_size: int) -> None:
    """(child process) run the lens on ``n_concepts`` x 1 language, print peak RSS in MB as JSON."""
    from polylens.hooks.lens import run_lens
    from polylens.hooks.models import load_model

    model = load_model(model_name)
    after_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    prompts = _prompts(n_concepts, ("zh",))
    run_lens(model, [p.text for p in prompts], _ids(model, prompts), batch_size)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "concepts": n_concepts,
                "prompts": len(prompts),
                "rss_after_load_mb": after_load,
                "peak_rss_mb": peak,
            }
        )
    )


def main() -> None:
    """Print the time ratio and the peak-RSS pair."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--concepts", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        peak_rss_child(args.model, args.child, args.batch_size)
        return
    r = time_ratio(args.model, args.prompts, args.batch_size)
    print(
        f"time  {r['model']}, {r['prompts']} prompts, batch {args.batch_size}: plain capture {r['capture']:.2f} s, "
        f"lens {r['lens']:.2f} s, ratio lens/capture = {r['ratio']:.2f}x (target <= 3x)"
    )
    rows = []
    for n in (args.concepts, 10 * args.concepts):
        cmd = [
            sys.executable,
            __file__,
            "--model",
            args.model,
            "--batch-size",
            str(args.batch_size),
            "--child",
            str(n),
        ]
        rows.append(
            json.loads(
                subprocess.run(cmd, capture_output=True, text=True, check=True)
                .stdout.strip()
                .splitlines()[-1]
            )
        )
    for row in rows:
        print(
            f"rss   {row['concepts']:>4} concepts ({row['prompts']} prompts): after load {row['rss_after_load_mb']:.0f} MB, "
            f"peak {row['peak_rss_mb']:.0f} MB"
        )
    growth = rows[1]["peak_rss_mb"] / rows[0]["peak_rss_mb"]
    print(f"rss   peak ratio at 10x concepts = {growth:.3f}x (target: flat, ~1.0x)")


if __name__ == "__main__":
    main()
