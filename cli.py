"""polylens command line: a thin front over the Python API (see README for the reference)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from errors import ToolkitError


def cmd_models(args: argparse.Namespace) -> None:
    from hooks.models import cached_size
    from hooks.registry import REGISTRY

    print(f"{'name':<20} {'source':<9} {'family/variant':<24} {'params':>6} {'cached':>10}  description")
    for spec in REGISTRY.values():
        size = cached_size(spec)
        cached = f"{size / 1e6:,.0f} MB" if size else "no"
        print(f"{spec.name:<20} {spec.source:<9} {spec.family + '/' + spec.variant:<24} "
              f"{spec.approx_params:>6} {cached:>10}  {spec.description}")


def cmd_quickstart(args: argparse.Namespace) -> None:
    from hooks.models import load_model
    from hooks.registry import resolve
    from hooks.smoke import SMOKE_PROMPTS, resid_norms, top_next_tokens

    resolve(args.model)  # fail fast on a bad name
    print(f"booting {args.model} (first run dequantizes and caches the weights)...", flush=True)
    model = load_model(args.model, device=args.device, dtype=args.dtype,
                       processing=args.processing)
    prov = model.provenance()
    print(f"{model.spec.name}: {model.n_layers} blocks, d_model {model.d_model}, "
          f"device {model.device}, {model.processing_mode} weights, "
          f"sha256 {model.weights_sha256[:16]}...")
    for lang, prompt in SMOKE_PROMPTS.items():
        tops = ", ".join(f"{tok!r} {p:.2f}" for tok, p in top_next_tokens(model, prompt))
        print(f"  [{lang}] {prompt!r} -> {tops}")
    norms = resid_norms(model, SMOKE_PROMPTS["en"])
    print("  residual norm by layer (0 = embedding):",
          " ".join(f"{v:.0f}" for v in norms.tolist()))
    print(f"  TransformerLens {prov['transformer_lens_version']}, "
          f"transformers {prov['transformers_version']}, torch {prov['torch_version']}")


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def cmd_probes(args: argparse.Namespace) -> None:
    import probes

    if args.probes_command == "list":
        print(f"{'set':<15} {'kind':<11} {'units':>5} {'langs':>5} {'stimuli':>7} {'verified':>8}  per language")
        for row in probes.list_probe_sets():
            counts = " ".join(f"{k}:{v}" for k, v in row["counts"].items())
            print(f"{row['name']:<15} {row['kind']:<11} {row['n_units']:>5} {row['n_languages']:>5} "
                  f"{row['n_stimuli']:>7} {_share(row['verified_share']):>8}  {counts}")
    elif args.probes_command == "validate":
        for path in args.paths:
            ps = probes.validate(path, normalize=args.normalize)
            print(f"ok: {path}: {ps.kind} set {ps.name!r}, {len(ps.units)} units, "
                  f"{len(ps.languages)} languages, {len(ps.stimuli)} stimuli")
    else:
        from probes.build import build_all

        for path in build_all(args.out):
            print(f"wrote {path}")


def cmd_diff(args: argparse.Namespace) -> None:
    from analysis.diffing import DiffConfig, run_diff, summarize, write_results

    cfg = DiffConfig(a=args.a, b=args.b, probes=args.probes, langs=args.langs, limit=args.limit,
                     positions=args.positions, k_positions=args.k_positions, sites=args.sites,
                     map_method=args.map, patch_layers=args.patch_layers,
                     control_layer=args.control_layer, alphas=args.alphas,
                     min_shared_ratio=args.min_shared_ratio, n_boot=args.n_boot, seed=args.seed,
                     device=args.device, dtype=args.dtype, processing=args.processing,
                     require_patching=not args.allow_cka_only, max_tokens=args.max_tokens,
                     kl_layers=args.kl_layers)
    ds = run_diff(cfg)
    path = write_results(ds, args.out)
    s = summarize(ds)
    print(f"{s['a']} vs {s['b']}: {s['prompts']} prompts ({s['fairness']})")
    print("layer  CKA linear [95% CI]" + ("      KL a->b [95% CI]        KL b->a" if "kl_a_to_b" in s else ""))
    for i, (l, c, lo, hi) in enumerate(s["cka_linear"]):
        row = f"{l:>5}  {c:.3f} [{lo:.3f}, {hi:.3f}]"
        if "kl_a_to_b" in s:
            _, k, klo, khi = s["kl_a_to_b"][i]
            row += f"   {k:.4f} [{klo:.4f}, {khi:.4f}]   {s['kl_b_to_a'][i][1]:.4f}"
        print(row)
    for key, conds in s.get("kl_reduction", {}).items():
        print(f"  mapped patching {key}: " + ", ".join(
            f"{c} {v[0]:+.1%} [{v[1]:+.1%}, {v[2]:+.1%}]" for c, v in conds.items() if c != "raw"))
    print(f"wrote {path}")


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="gemma-3-270m", help="registry name, local folder or hub id")
    p.add_argument("--device", default=None, help="cuda | mps | cpu (default: best available)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--processing", default="raw", choices=["raw", "compat"],
                   help="raw bridge weights (default) or enable_compatibility_mode()")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cli.py", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks for user errors")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("models", help="list the model registry").set_defaults(func=cmd_models)
    p = sub.add_parser("quickstart", help="boot a model and print a short capture summary")
    add_model_options(p)
    p.set_defaults(func=cmd_quickstart)
    p = sub.add_parser("probes", help="stimulus sets: list, validate, rebuild")
    psub = p.add_subparsers(dest="probes_command", required=True)
    psub.add_parser("list", help="sets, counts per language, verified share")
    v = psub.add_parser("validate", help="validate probe files (exit 2 naming file/item/lang)")
    v.add_argument("paths", nargs="+")
    v.add_argument("--normalize", action="store_true", help="NFC-normalise instead of warning")
    b = psub.add_parser("build", help="regenerate the committed sets from upstream packages")
    b.add_argument("--out", default=str(Path(__file__).parent / "probes" / "data"))
    p.set_defaults(func=cmd_probes)
    p = sub.add_parser("diff", help="model diffing: CKA, cross-model patching, transport maps")
    p.add_argument("--a", required=True, help="variant A (registry name, folder, hub id, "
                   "or BASE@int4-g128 simulated quantization)")
    p.add_argument("--b", required=True, help="variant B")
    p.add_argument("--probes", default="udhr")
    p.add_argument("--langs", nargs="+", default=None)
    p.add_argument("--limit", type=int, default=None, help="first N units of the probe set")
    p.add_argument("--positions", default="last", choices=["last", "all"],
                   help="patch the last content token (default) or all content tokens")
    p.add_argument("--k-positions", type=int, default=8, help="positions per prompt for maps")
    p.add_argument("--sites", nargs="+", default=["resid_post", "attn_out", "mlp_out"])
    p.add_argument("--map", default="ridge",
                   choices=["ridge", "ridge_residual", "procrustes", "procrustes_whitened"],
                   help="map used for mapped patching")
    p.add_argument("--patch-layers", type=int, nargs="+", default=None,
                   help="mapped-patching layers (default: peak-KL layer and control layer)")
    p.add_argument("--kl-layers", type=int, nargs="+", default=None,
                   help="layers for KL by layer (default: all)")
    p.add_argument("--control-layer", type=int, default=None)
    p.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0, 1.25])
    p.add_argument("--min-shared-ratio", type=float, default=0.65)
    p.add_argument("--max-tokens", type=int, default=48)
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--allow-cka-only", action="store_true",
                   help="for pairs that cannot be patched (e.g. different tokenizers): CKA only")
    p.add_argument("--out", required=True)
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--processing", default="raw", choices=["raw", "compat"])
    p.set_defaults(func=cmd_diff)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ToolkitError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished work is kept, re-run the same command to resume",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
