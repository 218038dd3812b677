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


def cmd_quant(args: argparse.Namespace) -> None:
    from hooks import quant_pipeline as qp
    from hooks.registry import resolve

    resolve(args.model)  # fail fast on a bad name or quantization spec
    common = dict(model_name=args.model, out=Path(args.out), device=args.device)
    data = dict(probe_set=getattr(args, "probes", "udhr"), langs=getattr(args, "langs", None),
                units=getattr(args, "units", None))
    if args.quant_command == "weights":
        qp.run_weights(**common)
    elif args.quant_command == "evaluate":
        qp.run_evaluate(configs=args.configs, n_boot=args.n_boot, n_perm=args.n_perm,
                        **common, **data)
    elif args.quant_command == "sinks":
        qp.run_sinks(n_boot=args.n_boot, n_perm=args.n_perm, **common, **data)
    else:
        qp.run_heads(n_perm=args.n_perm, alpha=args.alpha, min_eta2=args.min_eta2,
                     **common, **data)
    for md in sorted(Path(args.out).glob(f"summary_{args.quant_command}.md")):
        print(md.read_text())


def cmd_cache(args: argparse.Namespace) -> None:
    from storage.cache import CacheRequest, parse_shard, run_cache

    req = CacheRequest(models=tuple((args.models or args.model).split(",")), probes=args.probes, out=Path(args.out),
                       langs=tuple(args.langs.split(",")) if args.langs else None,
                       limit=args.limit, pooling=args.pooling, sites=tuple(args.sites.split(",")),
                       batch_size=args.batch_size, dtype=args.store_dtype, device=args.device,
                       model_dtype=args.dtype, processing=args.processing,
                       shard=parse_shard(args.shard))
    path = run_cache(req, log=lambda msg: print(msg, flush=True))
    if path:
        print(f"wrote {path}")


def cmd_merge(args: argparse.Namespace) -> None:
    import probes
    from storage.assemble import assemble, merged_manifest

    manifest = merged_manifest([Path(s) for s in args.stores])
    probe_set = probes.load_probe_set(manifest["method"]["probe_set"])
    if probe_set.sha256 != manifest["method"]["probe_set_sha256"]:
        probe_set = None  # the committed set changed since capture: keep first-seen order
    print(f"wrote {assemble([Path(s) for s in args.stores], Path(args.out), probe_set)}")


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
    p = sub.add_parser("cache", help="capture pooled activations into a resumable store")
    add_model_options(p)
    p.add_argument("--models", default=None,
                   help="comma-separated variants to capture (default: --model)")
    p.add_argument("--probes", default="concepts", help="probe set name or file")
    p.add_argument("--out", required=True, help="store directory (re-run to resume)")
    p.add_argument("--langs", default=None, help="comma-separated language codes (default: all)")
    p.add_argument("--limit", type=int, default=None, help="first N units only")
    p.add_argument("--pooling", default="mean", choices=["mean", "last"])
    p.add_argument("--sites", default="resid", help="resid[,attn_out][,mlp_out]")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--store-dtype", default="float16", choices=["float16", "float32"])
    p.add_argument("--shard", default="0/1", help="i/n: capture every n-th stimulus from i")
    p.set_defaults(func=cmd_cache)
    p = sub.add_parser("merge", help="assemble shard stores into one dataset")
    p.add_argument("stores", nargs="+")
    p.add_argument("--out", required=True, help="output .nc file")
    p.set_defaults(func=cmd_merge)
    p = sub.add_parser("probes", help="stimulus sets: list, validate, rebuild")
    psub = p.add_subparsers(dest="probes_command", required=True)
    psub.add_parser("list", help="sets, counts per language, verified share")
    v = psub.add_parser("validate", help="validate probe files (exit 2 naming file/item/lang)")
    v.add_argument("paths", nargs="+")
    v.add_argument("--normalize", action="store_true", help="NFC-normalise instead of warning")
    b = psub.add_parser("build", help="regenerate the committed sets from upstream packages")
    b.add_argument("--out", default=str(Path(__file__).parent / "probes" / "data"))
    p.set_defaults(func=cmd_probes)
    p = sub.add_parser("quant", help="quantization disparity: weights, evaluate, sinks, heads")
    qsub = p.add_subparsers(dest="quant_command", required=True)
    for name, text in (("weights", "weight outlier statistics + super-weight candidates"),
                       ("evaluate", "per-language bits-per-byte degradation, disparity, drift"),
                       ("sinks", "attention-sink mass per language/layer/head vs kurtosis"),
                       ("heads", "language-specific heads (permutation test)")):
        q = qsub.add_parser(name, help=text)
        q.add_argument("--model", default="gemma-3-270m",
                       help="registry name (may carry @<quant>, e.g. gemma-3-270m@int4-g128)")
        q.add_argument("--device", default=None, help="cuda | mps | cpu")
        q.add_argument("--out", default="runs/quant", help="results directory")
        if name != "weights":
            q.add_argument("--probes", default="udhr", help="parallel probe set")
            q.add_argument("--langs", nargs="+", default=None, help="languages (default: all)")
            q.add_argument("--units", type=int, default=None, help="first N units only")
            q.add_argument("--n-perm", type=int, default=5000 if name != "heads" else 2000)
        if name in ("evaluate", "sinks"):
            q.add_argument("--n-boot", type=int, default=2000)
        if name == "evaluate":
            q.add_argument("--configs", nargs="+", default=["int8-pc", "int4-g128", "int3-g128"],
                           help="quant specs, e.g. int4-g128 int3-pc-keep0.1")
        if name == "heads":
            q.add_argument("--alpha", type=float, default=0.05, help="BH q threshold")
            q.add_argument("--min-eta2", type=float, default=0.5,
                           help="effect size a significant head also needs to count as specific")
    p.set_defaults(func=cmd_quant)
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
