"""polylens command line: a thin front over the Python API (see README for the reference)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from polylens.errors import ToolkitError


def cmd_models(args: argparse.Namespace) -> None:
    from polylens.hooks.models import cached_size
    from polylens.hooks.registry import REGISTRY

    print(f"{'name':<20} {'source':<9} {'family/variant':<24} {'params':>6} {'cached':>10}  description")
    for spec in REGISTRY.values():
        size = cached_size(spec)
        cached = f"{size / 1e6:,.0f} MB" if size else "no"
        print(
            f"{spec.name:<20} {spec.source:<9} {spec.family + '/' + spec.variant:<24} "
            f"{spec.approx_params:>6} {cached:>10}  {spec.description}"
        )


def cmd_quickstart(args: argparse.Namespace) -> None:
    from polylens.hooks.models import load_model
    from polylens.hooks.registry import resolve
    from polylens.hooks.smoke import SMOKE_PROMPTS, resid_norms, top_next_tokens

    resolve(args.model)  # fail fast on a bad name
    print(f"booting {args.model} (first run dequantizes and caches the weights)...", flush=True)
    model = load_model(args.model, device=args.device, dtype=args.dtype, processing=args.processing)
    prov = model.provenance()
    print(
        f"{model.spec.name}: {model.n_layers} blocks, d_model {model.d_model}, "
        f"device {model.device}, {model.processing_mode} weights, "
        f"sha256 {model.weights_sha256[:16]}..."
    )
    for lang, prompt in SMOKE_PROMPTS.items():
        tops = ", ".join(f"{tok!r} {p:.2f}" for tok, p in top_next_tokens(model, prompt))
        print(f"  [{lang}] {prompt!r} -> {tops}")
    norms = resid_norms(model, SMOKE_PROMPTS["en"])
    print("  residual norm by layer (0 = embedding):", " ".join(f"{v:.0f}" for v in norms.tolist()))
    print(
        f"  TransformerLens {prov['transformer_lens_version']}, "
        f"transformers {prov['transformers_version']}, torch {prov['torch_version']}"
    )


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def cmd_probes(args: argparse.Namespace) -> None:
    from polylens import probes

    if args.probes_command == "list":
        print(
            f"{'set':<15} {'kind':<11} {'units':>5} {'langs':>5} {'stimuli':>7} {'verified':>8}  per language"
        )
        for row in probes.list_probe_sets():
            counts = " ".join(f"{k}:{v}" for k, v in row["counts"].items())
            print(
                f"{row['name']:<15} {row['kind']:<11} {row['n_units']:>5} {row['n_languages']:>5} "
                f"{row['n_stimuli']:>7} {_share(row['verified_share']):>8}  {counts}"
            )
    elif args.probes_command == "validate":
        for path in args.paths:
            ps = probes.validate(path, normalize=args.normalize)
            print(
                f"ok: {path}: {ps.kind} set {ps.name!r}, {len(ps.units)} units, "
                f"{len(ps.languages)} languages, {len(ps.stimuli)} stimuli"
            )
    else:
        from polylens.probes.build import build_all

        for path in build_all(args.out):
            print(f"wrote {path}")


def cmd_diff(args: argparse.Namespace) -> None:
    from polylens.analysis.diffing import DiffConfig, run_diff, summarize, write_results

    cfg = DiffConfig(
        a=args.a,
        b=args.b,
        probes=args.probes,
        langs=args.langs,
        limit=args.limit,
        positions=args.positions,
        k_positions=args.k_positions,
        sites=args.sites,
        map_method=args.map,
        patch_layers=args.patch_layers,
        control_layer=args.control_layer,
        alphas=args.alphas,
        min_shared_ratio=args.min_shared_ratio,
        n_boot=args.n_boot,
        seed=args.seed,
        device=args.device,
        dtype=args.dtype,
        processing=args.processing,
        require_patching=not args.allow_cka_only,
        max_tokens=args.max_tokens,
        kl_layers=args.kl_layers,
        maps=not args.skip_maps,
    )
    ds = run_diff(cfg)
    path = write_results(ds, args.out)
    s = summarize(ds)
    print(f"{s['a']} vs {s['b']}: {s['prompts']} prompts ({s['fairness']})")
    print(
        "layer  CKA linear [95% CI]" + ("      KL a->b [95% CI]        KL b->a" if "kl_a_to_b" in s else "")
    )
    for i, (l, c, lo, hi) in enumerate(s["cka_linear"]):
        row = f"{l:>5}  {c:.3f} [{lo:.3f}, {hi:.3f}]"
        if "kl_a_to_b" in s:
            _, k, klo, khi = s["kl_a_to_b"][i]
            row += f"   {k:.4f} [{klo:.4f}, {khi:.4f}]   {s['kl_b_to_a'][i][1]:.4f}"
        print(row)
    for key, conds in s.get("kl_reduction", {}).items():
        print(
            f"  mapped patching {key}: "
            + ", ".join(f"{c} {v[0]:+.1%} [{v[1]:+.1%}, {v[2]:+.1%}]" for c, v in conds.items() if c != "raw")
        )
    print(f"wrote {path}")


def cmd_quant(args: argparse.Namespace) -> None:
    from polylens.hooks import quant_pipeline as qp
    from polylens.hooks.registry import resolve

    resolve(args.model)  # fail fast on a bad name or quantization spec
    common = dict(model_name=args.model, out=Path(args.out), device=args.device)
    data = dict(
        probe_set=getattr(args, "probes", "udhr"),
        langs=getattr(args, "langs", None),
        units=getattr(args, "units", None),
    )
    if args.quant_command == "weights":
        qp.run_weights(**common)
    elif args.quant_command == "evaluate":
        qp.run_evaluate(configs=args.configs, n_boot=args.n_boot, n_perm=args.n_perm, **common, **data)
    elif args.quant_command == "sinks":
        qp.run_sinks(n_boot=args.n_boot, n_perm=args.n_perm, **common, **data)
    else:
        qp.run_heads(n_perm=args.n_perm, alpha=args.alpha, min_eta2=args.min_eta2, **common, **data)
    for md in sorted(Path(args.out).glob(f"summary_{args.quant_command}.md")):
        print(md.read_text())


def cmd_cache(args: argparse.Namespace) -> None:
    from polylens.storage.cache import CacheRequest, parse_shard, run_cache

    req = CacheRequest(
        models=tuple((args.models or args.model).split(",")),
        probes=args.probes,
        out=Path(args.out),
        langs=tuple(args.langs.split(",")) if args.langs else None,
        limit=args.limit,
        pooling=args.pooling,
        sites=tuple(args.sites.split(",")),
        batch_size=args.batch_size,
        dtype=args.store_dtype,
        device=args.device,
        model_dtype=args.dtype,
        processing=args.processing,
        shard=parse_shard(args.shard),
    )
    path = run_cache(req, log=lambda msg: print(msg, flush=True))
    if path:
        print(f"wrote {path}")


def cmd_merge(args: argparse.Namespace) -> None:
    from polylens import probes
    from polylens.storage.assemble import assemble, merged_manifest

    manifest = merged_manifest([Path(s) for s in args.stores])
    probe_set = probes.load_probe_set(manifest["method"]["probe_set"])
    if probe_set.sha256 != manifest["method"]["probe_set_sha256"]:
        probe_set = None  # the committed set changed since capture: keep first-seen order
    print(f"wrote {assemble([Path(s) for s in args.stores], Path(args.out), probe_set)}")


def cmd_analyze(args: argparse.Namespace) -> None:
    from polylens.analysis.alignment import run_analysis
    from polylens.storage.assemble import open_activations

    ds = open_activations(Path(args.store), chunks={"layer": 1})
    edge = open_activations(Path(args.edge_store), chunks=None) if args.edge_store else None
    res = run_analysis(
        ds,
        args.out,
        ref=args.ref,
        tau=args.tau,
        k=args.k,
        n_boot=args.n_boot,
        seed=args.seed,
        edge_ds=edge,
        baseline=args.baseline,
        n_perm=args.n_perm,
    )
    print(f"wrote {args.out}: {', '.join(sorted(p.name for p in Path(args.out).iterdir()))}")
    print(_headline(res))


def _headline(res) -> str:
    from polylens.analysis.summary import format_headline, headline_table

    return format_headline(headline_table(res))


def cmd_regress(args: argparse.Namespace) -> int:
    from polylens.analysis.regress import regress

    table, failed = regress(
        args.old,
        args.new,
        langs=args.langs.split(",") if args.langs else None,
        tol=args.tol,
        tol_layers=args.tol_layers,
    )
    print(table.to_string(index=False))
    print("REGRESSION: significant degradation" if failed else "ok: no significant degradation")
    return 1 if failed else 0


def cmd_run(args: argparse.Namespace) -> None:
    """The main job: capture -> analyze -> figures -> report, for one model."""
    from polylens.analysis.alignment import run_analysis
    from polylens.figures import render_all
    from polylens.figures.report import build_report
    from polylens.storage.assemble import open_activations
    from polylens.storage.cache import CacheRequest, run_cache

    root = Path(args.out)
    stores = {}
    for probes_name in ["edge_cases+en", *args.probes.split(",")]:
        req = CacheRequest(
            models=tuple(args.model.split(",")),
            probes=probes_name,
            out=root / "stores" / probes_name,
            limit=args.limit,
            batch_size=args.batch_size,
            device=args.device,
        )
        print(f"== cache {probes_name} on {args.model}", flush=True)
        stores[probes_name] = run_cache(req, log=lambda msg: print(msg, flush=True))
    edge = open_activations(stores.pop("edge_cases+en"), chunks=None)
    for probes_name, store in stores.items():
        out = root / "results" / probes_name
        print(f"== analyze {probes_name} -> {out}", flush=True)
        res = run_analysis(
            open_activations(store, chunks={"layer": 1}),
            out,
            n_boot=args.n_boot,
            edge_ds=edge if probes_name == "concepts" else None,
        )
        print(_headline(res))
        figs = render_all(out, out / "figures")
        report = build_report(out, out / "report.html")
        print(f"{len(figs)} figures in {out / 'figures'}; report {report}", flush=True)


def _print_decision(d, as_json: bool, prefix: str = "") -> None:
    import json

    if as_json:
        print(json.dumps({**({"line": int(prefix)} if prefix else {}), **d.to_dict()}, ensure_ascii=False))
        return
    head = f"{prefix}: " if prefix else ""
    print(
        f"{head}{d.variant}  (lang {d.lang or '?'}, confidence {d.confidence:.2f}, "
        f"category {d.category or '-'})"
    )
    if not prefix:
        for reason in d.reasons:
            print(f"  - {reason}")


def cmd_route(args: argparse.Namespace) -> None:
    from polylens.analysis.routing import Router, build_rules, write_rules
    from polylens.errors import RouterInputError

    if args.text == "build":
        if not args.results:
            raise RouterInputError("route build needs --results DIR (an analysis results directory)")
        rules = build_rules(args.results, metric=args.metric, alpha=args.alpha, min_diff=args.min_diff)
        path = write_rules(rules, args.out or Path(args.results) / "router_rules.json")
        routed = {g: e["variant"] for g, e in rules["languages"].items()}
        print(f"wrote {path}: {len(routed)} languages, " + ", ".join(f"{g}->{v}" for g, v in routed.items()))
        for note in rules["notes"]:
            print(f"note: {note}")
        return
    if args.text == "eval":
        from polylens.analysis.routing.evaluate import DEFAULT_REPORT, render, write_report

        path, res = write_report(args.out or DEFAULT_REPORT, rules_path=args.rules)
        print(render(res))
        print(f"wrote {path}")
        return
    router = Router.load(args.rules)
    if args.file:
        from polylens.analysis.routing.router import read_lines

        bad = total = 0
        for lineno, item in read_lines(args.file):
            total += 1
            if isinstance(item, RouterInputError):
                bad += 1
                print(f"{lineno}: error: {item}")
            else:
                _print_decision(router.route(item), args.json, prefix=str(lineno))
        if bad:
            raise RouterInputError(f"{bad} of {total} lines in {args.file} were unusable")
        return
    if args.text is None:
        raise RouterInputError("give a text to route, '-' for stdin, --file FILE, or build/eval")
    if args.text == "-":
        from polylens.analysis.routing.text import read_stream

        args.text = read_stream(sys.stdin.buffer)
    _print_decision(router.route(args.text), args.json)


def cmd_figures(args: argparse.Namespace) -> None:
    from polylens.figures import render_all

    for name, paths in render_all(args.results, args.out, formats=args.formats, only=args.only).items():
        print(f"{name}: " + ", ".join(str(p) for p in paths))


def cmd_report(args: argparse.Namespace) -> None:
    from polylens.figures.report import build_report

    print(f"wrote {build_report(args.results, args.out, title=args.title)}")


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="gemma-3-270m", help="registry name, local folder or hub id")
    p.add_argument("--device", default=None, help="cuda | mps | cpu (default: best available)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument(
        "--processing",
        default="raw",
        choices=["raw", "compat"],
        help="raw bridge weights (default) or enable_compatibility_mode()",
    )


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
    p.add_argument("--models", default=None, help="comma-separated variants to capture (default: --model)")
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
    p = sub.add_parser("analyze", help="alignment, commitment, statistics, failure cases")
    p.add_argument("--store", required=True, help="activation store dir or .nc file")
    p.add_argument("--edge-store", default=None, help="store of edge_cases+en (failure cases)")
    p.add_argument("--out", required=True, help="results directory")
    p.add_argument("--ref", default="en", help="reference language")
    p.add_argument("--tau", type=float, default=0.85, help="commitment threshold")
    p.add_argument("--k", type=int, default=3, help="consecutive layers for commitment")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--n-perm", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--baseline", default="base", help="variant the others are tested against")
    p.set_defaults(func=cmd_analyze)
    p = sub.add_parser("regress", help="exit 1 when NEW results degrade significantly vs OLD")
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--langs", default=None, help="comma-separated languages (default: all)")
    p.add_argument("--tol", type=float, default=0.02, help="smallest cosine/margin drop that counts")
    p.add_argument("--tol-layers", type=float, default=1.0, help="smallest commitment delay that counts")
    p.set_defaults(func=cmd_regress)
    p = sub.add_parser("run", help="main job: cache -> analyze -> figures -> report")
    p.add_argument(
        "--model",
        default="gemma-3-270m",
        help="model, or comma-separated variants compared against the first (base)",
    )
    p.add_argument("--device", default=None)
    p.add_argument(
        "--probes", default="concepts,medical", help="comma-separated probe sets (udhr is long: ~200k tokens)"
    )
    p.add_argument("--out", default="runs/gemma-3-270m")
    p.add_argument("--limit", type=int, default=None, help="first N units per set (smoke runs)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--n-boot", type=int, default=1000)
    p.set_defaults(func=cmd_run)
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
    p = sub.add_parser("diff", help="model diffing: CKA, cross-model patching, transport maps")
    p.add_argument(
        "--a",
        required=True,
        help="variant A (registry name, folder, hub id, or BASE@int4-g128 simulated quantization)",
    )
    p.add_argument("--b", required=True, help="variant B")
    p.add_argument("--probes", default="udhr")
    p.add_argument("--langs", nargs="+", default=None)
    p.add_argument("--limit", type=int, default=None, help="first N units of the probe set")
    p.add_argument(
        "--positions",
        default="last",
        choices=["last", "all"],
        help="patch the last content token (default) or all content tokens",
    )
    p.add_argument("--k-positions", type=int, default=8, help="positions per prompt for maps")
    p.add_argument("--sites", nargs="+", default=["resid_post", "attn_out", "mlp_out"])
    p.add_argument(
        "--map",
        default="ridge",
        choices=["ridge", "ridge_residual", "procrustes", "procrustes_whitened"],
        help="map used for mapped patching",
    )
    p.add_argument(
        "--patch-layers",
        type=int,
        nargs="+",
        default=None,
        help="mapped-patching layers (default: peak-KL layer and control layer)",
    )
    p.add_argument(
        "--kl-layers", type=int, nargs="+", default=None, help="layers for KL by layer (default: all)"
    )
    p.add_argument("--control-layer", type=int, default=None)
    p.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0, 1.25])
    p.add_argument("--min-shared-ratio", type=float, default=0.65)
    p.add_argument("--max-tokens", type=int, default=48)
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--skip-maps",
        action="store_true",
        help="CKA and patching KL only (no transport maps or mapped patching)",
    )
    p.add_argument(
        "--allow-cka-only",
        action="store_true",
        help="for pairs that cannot be patched (e.g. different tokenizers): CKA only",
    )
    p.add_argument("--out", required=True)
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--processing", default="raw", choices=["raw", "compat"])
    p.set_defaults(func=cmd_diff)
    p = sub.add_parser("quant", help="quantization disparity: weights, evaluate, sinks, heads")
    qsub = p.add_subparsers(dest="quant_command", required=True)
    for name, text in (
        ("weights", "weight outlier statistics + super-weight candidates"),
        ("evaluate", "per-language bits-per-byte degradation, disparity, drift"),
        ("sinks", "attention-sink mass per language/layer/head vs kurtosis"),
        ("heads", "language-specific heads (permutation test)"),
    ):
        q = qsub.add_parser(name, help=text)
        q.add_argument(
            "--model",
            default="gemma-3-270m",
            help="registry name (may carry @<quant>, e.g. gemma-3-270m@int4-g128)",
        )
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
            q.add_argument(
                "--configs",
                nargs="+",
                default=["int8-pc", "int4-g128", "int3-g128"],
                help="quant specs, e.g. int4-g128 int3-pc-keep0.1",
            )
        if name == "heads":
            q.add_argument("--alpha", type=float, default=0.05, help="BH q threshold")
            q.add_argument(
                "--min-eta2",
                type=float,
                default=0.5,
                help="effect size a significant head also needs to count as specific",
            )
    p.set_defaults(func=cmd_quant)
    p = sub.add_parser(
        "route",
        help="recommend a Tiny Aya variant for a text (no model is loaded)",
        description="route TEXT | route - (stdin) | route --file F | route build --results DIR | route eval",
    )
    p.add_argument("text", nargs="?", help="text to route, '-' to read stdin, or 'build' / 'eval'")
    p.add_argument("--file", help="batch: one input per line")
    p.add_argument("--json", action="store_true", help="one JSON object per decision")
    p.add_argument("--rules", help="rules file from `route build` (default: target variant per language)")
    p.add_argument("--results", help="build: analysis results directory (stats.csv, alignment.nc)")
    p.add_argument(
        "--out",
        help="build: rules path (default RESULTS/router_rules.json); "
        "eval: report path (default docs/router_eval.md)",
    )
    p.add_argument("--metric", default="margin_auc", choices=["margin_auc", "cos_auc", "peak_cos", "commit"])
    p.add_argument("--alpha", type=float, default=0.05, help="build: BH-adjusted p threshold")
    p.add_argument("--min-diff", type=float, default=0.0, help="build: smallest effect that counts")
    p.set_defaults(func=cmd_route)
    p = sub.add_parser("figures", help="render every figure a results directory allows (PNG + SVG)")
    p.add_argument("--results", required=True, help="results directory written by the analysis")
    p.add_argument("--out", required=True, help="output directory for <figure>.png / <figure>.svg")
    p.add_argument("--formats", nargs="+", default=["png", "svg"], choices=["png", "svg", "pdf"])
    p.add_argument("--only", nargs="+", default=None, metavar="NAME", help="render only these figures")
    p.set_defaults(func=cmd_figures)
    p = sub.add_parser("report", help="one self-contained interactive HTML report from a results directory")
    p.add_argument("--results", required=True, help="results directory written by the analysis")
    p.add_argument("--out", default="report.html", help="output HTML file")
    p.add_argument("--title", default=None)
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = args.func(args)
    except ToolkitError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished work is kept, re-run the same command to resume", file=sys.stderr)
        return 130
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
