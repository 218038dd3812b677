"""Markdown summaries of the quantization study's result datasets (``summary_<command>.md``).

Pure formatting of the datasets built by :mod:`polylens.analysis.quant_results` (and the
weight report of ``hooks.quant_weights``); ``pipelines.quant`` writes and prints them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr


def fmt(x: Any, lo: Any = None, hi: Any = None, pct: bool = False, digits: int = 3) -> str:
    """``x`` (or ``x [lo, hi]``) with ``digits`` decimals, or as a percentage."""
    f = (lambda v: f"{100 * v:.{max(digits - 2, 1)}f}%") if pct else (lambda v: f"{v:.{digits}f}")
    return f(x) if lo is None else f"{f(x)} [{f(lo)}, {f(hi)}]"


def weights_summary(ds: xr.Dataset, model_name: str) -> str:
    """Weight outlier table per matrix kind and the super-weight candidate."""
    top = int(np.argmax(ds.sw_in_max.values))
    kinds = ds.kurtosis.mean("layer").to_series().sort_values(ascending=False)
    lines = [
        f"# Weight statistics: {model_name}",
        "",
        f"weights sha256 `{ds.attrs['weights_sha256'][:16]}`; {int(ds.n.sum())} weights in "
        f"{ds.sizes['layer'] * ds.sizes['matrix']} matrices.",
        "",
        "| matrix | mean excess kurtosis | max kurtosis (layer) | mean max/std | "
        ">3 sigma | >5 sigma | >10 sigma | top1/top10 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind in kinds.index:
        s = ds.sel(matrix=kind)
        lines.append(
            f"| {kind} | {float(s.kurtosis.mean()):.2f} | {float(s.kurtosis.max()):.1f} "
            f"({int(np.argmax(s.kurtosis.values))}) | {float(s.max_over_std.mean()):.1f} | "
            f"{int(s.n_sigma3.sum())} | {int(s.n_sigma5.sum())} | "
            f"{int(s.n_sigma10.sum())} | {float(s.concentration.mean()):.3f} |"
        )
    lines += [
        "",
        f"Super-weight candidate (largest down_proj input spike): layer {top}, "
        f"W_down[{int(ds.sw_out_row[top])}, {int(ds.sw_in_channel[top])}] = "
        f"{float(ds.sw_weight[top]):.4f} (z = {float(ds.sw_weight_z[top]):.1f}); input spike "
        f"{float(ds.sw_in_max[top]):.1f} vs median over layers {float(ds.sw_in_max.median()):.1f}; "
        f"output {float(ds.sw_out_max[top]):.1f}.",
        "",
    ]
    return "\n".join(lines)


def _disparity_cells(s: xr.Dataset) -> str:
    """Disparity ratio and low - high difference cells of one variant, with CIs."""
    return (
        f"{fmt(s.disparity_ratio, s.disparity_ratio_lo, s.disparity_ratio_hi, digits=2)}"
        f" | {fmt(s.disparity_diff, s.disparity_diff_lo, s.disparity_diff_hi, pct=True)}"
    )


def _evaluate_head(ds: xr.Dataset) -> list[str]:
    """Title, sample sizes and the per-variant disparity table."""
    n_units = int(ds.n_units.max())
    res = ds.resource.values
    lines = [
        f"# Quantization degradation: {ds.attrs.get('model_id')} on {ds.attrs.get('probe_set')}",
        "",
        f"{ds.sizes['lang']} languages ({(res == 'low').sum()} low, "
        f"{(res == 'medium').sum()} medium, {(res == 'high').sum()} high resource), "
        f"{n_units} units each; 95% bootstrap CIs over units.",
        "",
        f"**Double quantization**: {ds.attrs.get('double_quantization', 'source weights re-quantized')}. "
        "`rtn` = simulated round-to-nearest, `gguf` = llama.cpp format (gguf package).",
        "",
        "| variant (double quant.) | format | disparity ratio (low/high) | low - high | "
        "ratio of absolute bpb increase | mean rel. degradation | min drift cosine (layer) |",
        "|---|---|---|---|---|---|---|",
    ]
    for v in ds.variant.values:
        s = ds.sel(variant=v)
        cos = s.drift_cosine.mean("lang")
        lines.append(
            f"| {v} | {s.format.item() if 'format' in s.coords else 'rtn'} | {_disparity_cells(s)}"
            f" | {fmt(s.disparity_ratio_abs, s.disparity_ratio_abs_lo, s.disparity_ratio_abs_hi, digits=2)}"
            f" | {fmt(float(s.rel_degradation.mean()), pct=True)} | "
            f"{float(cos.min()):.4f} ({int(np.argmin(cos.values))}) |"
        )
    return lines


def _intervention_curves(ds: xr.Dataset) -> list[str]:
    """One table per (bits, group) family with several keep percentages (EXP-039)."""
    fams: dict[tuple[int, int], list[str]] = {}
    for v in ds.variant.values:
        s = ds.sel(variant=v)
        fams.setdefault((int(s.bits), int(s.group)), []).append(v)
    lines: list[str] = []
    for (bits, group), vs in fams.items():
        if len(vs) < 2:
            continue
        vs = sorted(vs, key=lambda v: float(ds.keep_percent.sel(variant=v)))
        lines += [
            "",
            f"Intervention curve (EXP-039), int{bits} {'per-channel' if not group else f'g{group}'}"
            ": outliers kept in full precision",
            "",
            "| keep % | disparity ratio | low - high | mean rel. degradation | low mean | high mean |",
            "|---|---|---|---|---|---|",
        ]
        for v in vs:
            s = ds.sel(variant=v)
            rel = s.rel_degradation
            lines.append(
                f"| {float(s.keep_percent):g} | {_disparity_cells(s)}"
                f" | {fmt(float(rel.mean()), pct=True)} | {fmt(float(rel.where(ds.resource == 'low').mean()), pct=True)}"
                f" | {fmt(float(rel.where(ds.resource == 'high').mean()), pct=True)} |"
            )
    return lines


def _per_language(ds: xr.Dataset) -> list[str]:
    """Bits per byte and relative degradation per variant, worst language first."""
    lines = [
        "",
        "Per language (bits per byte, relative degradation per variant):",
        "",
        "| lang | resource | bpb fp | " + " | ".join(map(str, ds.variant.values)) + " |",
        "|---|---|---|" + "---|" * ds.sizes["variant"],
    ]
    order = ds.rel_degradation.isel(variant=-1).argsort().values[::-1]
    for i in order:
        s = ds.isel(lang=i)
        cells = [
            fmt(
                float(s.rel_degradation.sel(variant=v)),
                float(s.rel_degradation_lo.sel(variant=v)),
                float(s.rel_degradation_hi.sel(variant=v)),
                pct=True,
            )
            for v in ds.variant.values
        ]
        lines.append(
            f"| {s.lang.item()} | {s.resource.item()} | {float(s.bpb_base):.3f} | " + " | ".join(cells) + " |"
        )
    return lines


def _correlation_row(c: dict[str, float], first: str) -> str:
    """``| first | Pearson r [CI] (p) | Spearman rho [CI] (p) |`` of one correlate() result."""
    return (
        f"| {first} | {fmt(c['pearson_r'], c['pearson_lo'], c['pearson_hi'], digits=2)}"
        f" ({c['pearson_p']:.3g}) | {fmt(c['spearman_rho'], c['spearman_lo'], c['spearman_hi'], digits=2)}"
        f" ({c['spearman_p']:.3g}) |"
    )


def _predictor_table(ds: xr.Dataset) -> list[str]:
    """Correlation of relative degradation with each predictor, per variant."""
    lines = [
        "",
        "Predictors of relative degradation (over languages):",
        "",
        "| variant | predictor | n | Pearson r [CI] (perm p) | Spearman rho [CI] (perm p) |",
        "|---|---|---|---|---|",
    ]
    for v in ds.variant.values:
        for p in ds.corr_predictor.values:
            c = ds.correlation.sel(variant=v, corr_predictor=p)
            d = {str(k): float(x) for k, x in zip(c.stat.values, c.values)}
            lines.append(_correlation_row(d, f"{v} | {p} | {int(d['n'])}"))
    return lines


def _partial_table(ds: xr.Dataset) -> list[str]:
    """Partial correlations controlling for base bits per byte (issue 18)."""
    if "partial_correlation" not in ds:
        return []
    lines = [
        "",
        "Partial correlations with relative degradation, controlling for base bits per byte "
        "(residualised over languages; 95% bootstrap CI, permutation p, BH q over predictors):",
        "",
        "| variant | predictor | n | partial r [CI] | p | q |",
        "|---|---|---|---|---|---|",
    ]
    for v in ds.variant.values:
        for p in ds.corr_predictor.values:
            c = dict(
                zip(ds.partial_stat.values, ds.partial_correlation.sel(variant=v, corr_predictor=p).values)
            )
            if np.isnan(c["partial_r"]):
                continue
            lines.append(
                f"| {v} | {p} | {int(c['n'])} | {fmt(c['partial_r'], c['partial_lo'], c['partial_hi'], digits=2)}"
                f" | {c['partial_p']:.3g} | {c['partial_q']:.3g} |"
            )
    return lines


def _called(s: xr.Dataset, sign: int) -> str:
    """Languages of one variant called resilient (-1) / fragile (+1), strongest first, with residuals."""
    call, resid, langs = s.resilience_call.values, s.resilience_residual.values, s.lang.values
    idx = [i for i in np.argsort(sign * -resid) if call[i] == sign]
    return ", ".join(f"{langs[i]} ({100 * resid[i]:+.2f} pp)" for i in idx) or "none"


def resilience_lines(ds: xr.Dataset) -> list[str]:
    """EXP-038: languages outside their resource tier's degradation and the features' correlations."""
    if "resilience_residual" not in ds:
        return []
    lines = [
        "",
        "EXP-038 resilience: relative degradation minus the (leave-one-out) mean of the language's "
        "resource tier; resilient / fragile = whole 95% CI below / above it. Feature correlations "
        "with the residual over languages (Pearson r [CI], perm p, BH q over features):",
        "",
        "| variant | resilient | fragile | " + " | ".join(map(str, ds.feature.values)) + " |",
        "|---|---|---|" + "---|" * ds.sizes["feature"],
    ]
    for v in ds.variant.values:
        s = ds.sel(variant=v)
        cells = [
            f"{r:.2f} [{lo:.2f}, {hi:.2f}] p={p:.2g} q={q:.2g}"
            for r, lo, hi, p, q in s.resilience_corr.values
        ]
        lines.append(f"| {v} | {_called(s, -1)} | {_called(s, 1)} | " + " | ".join(cells) + " |")
    return lines


def evaluate_summary(ds: xr.Dataset) -> str:
    """Disparity per variant, intervention curves, per-language degradation, predictors."""
    lines = _evaluate_head(ds) + _intervention_curves(ds) + _per_language(ds) + _predictor_table(ds)
    lines += _partial_table(ds) + resilience_lines(ds)
    if "wall_seconds" in ds.attrs:
        lines += ["", f"Wall time of this evaluate run: {ds.attrs['wall_seconds']} s."]
    return "\n".join(lines) + "\n"


def sinks_summary(ds: xr.Dataset, model_name: str, n_units: int) -> str:
    """Sink mass per block and its correlation with weight kurtosis over blocks."""
    layer_sink = ds.layer_sink.values
    lines = [
        f"# Attention sinks: {model_name}",
        "",
        f"{ds.sizes['lang']} languages x {n_units} units. Sink mass per block (mean over languages, heads):",
        "",
        " ".join(f"{b}:{v:.2f}" for b, v in enumerate(layer_sink)),
        "",
        f"Correlation over blocks (n = {len(layer_sink)}) of sink mass with weight excess kurtosis:",
        "",
        "| kurtosis of | Pearson r [CI] (p) | Spearman rho [CI] (p) |",
        "|---|---|---|",
    ]
    corr = ds.sink_kurtosis_correlation
    for i, k in enumerate(ds.kurtosis_of.values):
        lines.append(_correlation_row(dict(zip(ds.stat.values, corr.values[i])), str(k)))
    by_res = ds.sink.mean(("block", "head")).groupby("resource").mean()
    lines += [
        "",
        "Mean sink mass by resource level: "
        + ", ".join(f"{r} {float(v):.3f}" for r, v in zip(by_res.resource.values, by_res.values)),
        "",
    ]
    return "\n".join(lines)


def heads_summary(ds: xr.Dataset, model_name: str, n_langs: int, n_units: int) -> str:
    """Significant / language-specific heads per metric and the share by effect-size cut."""
    n_perm, alpha, min_eta2 = ds.attrs["n_perm"], ds.attrs["alpha"], ds.attrs["min_eta2"]
    n_heads = ds.sizes["block"] * ds.sizes["head"]
    lines = [
        f"# Language-specific heads: {model_name}",
        "",
        f"{n_langs} languages x {n_units} units, {n_heads} heads, "
        f"{n_perm} within-unit permutations, BH q < {alpha}.",
        "",
        f"| metric | significant heads | eta2 >= {min_eta2} too | median eta2 | blocks of the specific heads |",
        "|---|---|---|---|---|",
    ]
    for m in ds.metric.values:
        s = ds.sel(metric=m)
        blocks = s.specific.sum("head").values
        lines.append(
            f"| {m} | {int(s.significant.sum())}/{n_heads} ({float(s.significant.mean()):.1%}) | "
            f"{int(s.specific.sum())} ({float(s.specific.mean()):.1%}) | "
            f"{float(s.eta2.median()):.3f} | "
            + " ".join(f"{b}:{int(n)}" for b, n in enumerate(blocks) if n)
            + " |"
        )
    cuts = (0.3, 0.5, 0.7, 0.8, 0.9)
    lines += [
        "",
        "Share of heads called language-specific as a function of the effect-size cut "
        "(significant and eta2 >= t):",
        "",
        "| metric | " + " | ".join(f"t={t}" for t in cuts) + " |",
        "|---|" + "---|" * 5,
    ]
    for m in ds.metric.values:
        s = ds.sel(metric=m)
        lines.append(
            f"| {m} | "
            + " | ".join(f"{float((s.significant & (s.eta2 >= t)).mean()):.1%}" for t in cuts)
            + " |"
        )
    return "\n".join(lines) + "\n"
