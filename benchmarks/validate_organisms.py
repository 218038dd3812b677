"""Known-answer validation of ``diff`` on the embedded Gemma-3-270m (issue 18, part 2).

For each organism (planted edit, planted LoRA, null copy) run the diff against the base model
and print, as markdown, what it located: the onset layer of each measure, the significant
layers, each language's effect with its BH-adjusted p-values, and the languages singled out.

    python benchmarks/validate_organisms.py [--model gemma-3-270m] [--limit 8] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ORGANISMS = ("plant-edit:L6:hi", "plant-lora:L4-6:sw", "plant-null")
LANGS = ("en", "hi", "sw", "zh")


def main() -> None:
    """Run the three diffs and print the validation tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--limit", type=int, default=8)
    ap.add_argument("--organisms", nargs="+", default=list(ORGANISMS))
    ap.add_argument("--out", type=Path, default=Path("organism_results"))
    args = ap.parse_args()
    from polylens.hooks.models import load_model
    from polylens.pipelines.diff import DiffConfig, diff, write_results

    base = load_model(args.model)
    print("| organism | planted | onset rel / KL / CKA | significant layers (rel) | languages singled out |")
    print("|---|---|---|---|---|")
    rows = []
    for spec in args.organisms:
        t0 = time.perf_counter()
        org = load_model(f"{args.model}@{spec}")
        load_s = time.perf_counter() - t0
        cfg = DiffConfig(
            a=args.model, b=org.spec.name, out=args.out / spec.replace(":", "_"), langs=LANGS,
            limit=args.limit, skip_maps=True, max_tokens=32,
        )  # fmt: skip
        ds = diff(cfg, base, org)
        write_results(ds, cfg.out)
        ch = json.loads((cfg.out / "summary.json").read_text())["change_tests"]
        on = ch["onset"]
        sig = [g for g, v in ch["languages"].items() if v["significant"]] or ["none"]
        print(
            f"| `{spec}` | {org.extra.get('organism_note', '')} | {on['rel_change']} / {on['kl']} / "
            f"{on['cka']} | {ch['significant_layers']['rel_change'] or 'none'} | {', '.join(sig)} |"
        )
        rows.append((spec, ch, load_s, time.perf_counter() - t0))
    print("\n| organism | lang | effect (mean rel. change) | p_bh changed | p_bh singled out |")
    print("|---|---|---:|---:|---:|")
    for spec, ch, _, _ in rows:
        for g, v in ch["languages"].items():
            print(
                f"| `{spec}` | {g} | {v['effect']:.5f} | {v['p_bh_changed']:.4g} | {v['p_bh_singled_out']:.4g} |"
            )
    for spec, _, load_s, total in rows:
        print(f"{spec}: load (incl. LoRA training when not cached) {load_s:.0f} s, total {total:.0f} s")


if __name__ == "__main__":
    main()
