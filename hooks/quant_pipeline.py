"""Issue-7 pipeline: load variants, run the measurements, write labelled results.

Output directory layout (default ``runs/quant/``):

- ``scores/<variant>.nc``: raw per-text scores of one model variant (``score_texts``),
  reused by later commands (resume: a file whose probe set, units and languages match is
  not recomputed).
- ``weights.nc``, ``evaluate.nc``, ``sinks.nc``, ``heads.nc``: results with CI bounds and
  the method metadata (model provenance, quant config, probe-set sha256).
- ``summary_<command>.md``: a short markdown summary of each.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import xarray as xr

from polylens.errors import StorageError

DEFAULT_OUT = Path("runs/quant")


def _safe(name: str) -> str:
    return name.replace("/", "_").replace("@", "__")


def _select(probe_set_name: str, langs, units_limit):
    from polylens import probes

    ps = probes.load_probe_set(probe_set_name)
    langs = list(langs) if langs else list(ps.languages)
    units = ps.units[:units_limit] if units_limit else list(ps.units)
    return ps.select(langs=langs, units=units), langs, units


def load_scores(path: Path) -> xr.Dataset:
    try:
        return xr.load_dataset(path)
    except (OSError, ValueError) as exc:
        raise StorageError(f"{path}: unreadable scores file ({exc}); delete it to recompute") from None


def score_variant(
    name: str,
    out: Path = DEFAULT_OUT,
    probe_set: str = "udhr",
    langs=None,
    units: int | None = None,
    detail: bool = False,
    device: str | None = None,
    max_tokens: int = 768,
    log=print,
) -> xr.Dataset:
    """Scores of model variant ``name`` on the probe set, cached in ``out/scores``."""
    from polylens.hooks.models import load_model
    from polylens.hooks.quant_measure import score_texts

    ps, langs, unit_ids = _select(probe_set, langs, units)
    path = Path(out) / "scores" / f"{_safe(name)}{'.detail' if detail else ''}.nc"
    if path.exists():
        ds = load_scores(path)
        if (
            ds.attrs.get("probe_set_sha256") == ps.sha256
            and list(ds.lang.values) == langs
            and list(ds.unit.values) == unit_ids
        ):
            log(f"  {name}: reusing {path}")
            return ds
    t0 = time.time()
    model = load_model(name, device=device)
    log(
        f"  {name}: scoring {len(ps.stimuli)} texts ({len(langs)} languages x "
        f"{len(unit_ids)} units){' with detail' if detail else ''}..."
    )
    ds = score_texts(model, ps, langs, unit_ids, detail=detail, max_tokens=max_tokens)
    ds.attrs["seconds"] = round(time.time() - t0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    ds.to_netcdf(tmp)
    tmp.replace(path)
    log(f"  {name}: done in {ds.attrs['seconds']} s -> {path}")
    return ds


# ----------------------------------------------------------------------------- helpers
def _method_attrs(ds: xr.Dataset, **params) -> dict:
    """Provenance of the base scores + analysis parameters (netCDF-safe strings/numbers)."""
    attrs = {k: v for k, v in ds.attrs.items() if isinstance(v, (str, int, float))}
    attrs.update({k: (json.dumps(v) if isinstance(v, (list, dict, tuple)) else v) for k, v in params.items()})
    attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return attrs


def _resource_coords(langs: list[str]) -> dict:
    from polylens import probes

    return {
        "resource": ("lang", [probes.LANGUAGES[c].resource for c in langs]),
        "script": ("lang", [probes.LANGUAGES[c].script for c in langs]),
    }


def _write(ds: xr.Dataset, path: Path, summary: str, log=print) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    ds.to_netcdf(tmp)
    tmp.replace(path)
    md = path.with_name(f"summary_{path.stem}.md")
    md.write_text(summary)
    log(f"wrote {path} and {md}")
    return path


def _fmt(x, lo=None, hi=None, pct=False, digits=3) -> str:
    f = (lambda v: f"{100 * v:.{max(digits - 2, 1)}f}%") if pct else (lambda v: f"{v:.{digits}f}")
    return f(x) if lo is None else f"{f(x)} [{f(lo)}, {f(hi)}]"


# ----------------------------------------------------------------------------- weights
def run_weights(
    model_name: str = "gemma-3-270m", out: Path = DEFAULT_OUT, device=None, log=print
) -> xr.Dataset:
    """Weight outlier statistics per (layer, matrix) + super-weight candidates -> weights.nc."""
    from polylens.hooks.models import load_model
    from polylens.hooks.quant_measure import super_weights, weight_report

    model = load_model(model_name, device=device)
    ds = weight_report(model)
    sw = super_weights(model)
    for k in sw.data_vars:
        ds[f"sw_{k}"] = ("layer", sw[k].values)
    ds.attrs["sw_text"] = sw.attrs["text"]
    top = int(np.argmax(sw.in_max.values))
    kinds = ds.kurtosis.mean("layer").to_series().sort_values(ascending=False)
    lines = [
        f"# Weight statistics: {model_name}",
        "",
        f"weights sha256 `{model.weights_sha256[:16]}`; {int(ds.n.sum())} weights in "
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
        f"W_down[{int(sw.out_row[top])}, {int(sw.in_channel[top])}] = "
        f"{float(sw.weight[top]):.4f} (z = {float(sw.weight_z[top]):.1f}); input spike "
        f"{float(sw.in_max[top]):.1f} vs median over layers {float(sw.in_max.median()):.1f}; "
        f"output {float(sw.out_max[top]):.1f}.",
        "",
    ]
    _write(ds, Path(out) / "weights.nc", "\n".join(lines), log)
    return ds


# ----------------------------------------------------------------------------- evaluate
def _predictors(model_name: str, base: xr.Dataset, configs: list[str], device=None) -> xr.Dataset:
    """Pre-quantization predictors per language (EXP-035/036), from the base detail scores."""
    from polylens.analysis.quantization import (
        column_error_energy,
        outlier_columns,
        predicted_error,
        top_fraction_mask,
        weight_stats,
    )
    from polylens.hooks.models import load_model
    from polylens.hooks.quant_measure import SITES
    from polylens.hooks.quantize import linear_weights, parse_quant, quantize_weight

    langs = list(base.lang.values)
    en = langs.index("en") if "en" in langs else 0
    ntok, nby = base.n_tokens.values, base.n_bytes.values
    tpb = np.nansum(ntok, 1) / np.nansum(nby, 1)
    preds = {
        "fertility_tokens_per_byte": tpb / tpb[en],
        "fertility_tokens_per_unit": np.nanmean(ntok / ntok[en], 1),
        "bpb_base": np.nansum(base.nll.values, 1) / np.log(2) / np.nansum(nby, 1),
        "act_outlier_rate": base.act_outlier_rate.mean(("unit", "site", "block")).values,
        "act_kurtosis": base.act_kurtosis.mean(("unit", "site", "block")).values,
    }
    model = load_model(model_name, device=device)
    mats = linear_weights(model.bridge.original_model)
    site_of = {
        "q_proj": "attn_in",
        "k_proj": "attn_in",
        "v_proj": "attn_in",
        "o_proj": "o_in",
        "gate_proj": "mlp_in",
        "up_proj": "mlp_in",
        "down_proj": "down_in",
    }
    assert set(site_of.values()) == set(SITES)
    kurt = np.zeros(model.n_layers)
    overlap = np.zeros(len(langs))
    perr = {c: np.zeros(len(langs)) for c in configs}
    cfgs = {c: parse_quant(c) for c in configs}
    for layer, kind, _, p in mats:
        w = p.data.float()
        act = base[f"energy_{site_of[kind]}"].sel(block=layer).values  # (lang, in)
        cols = outlier_columns(w, 0.1)
        overlap += act[:, cols].sum(1) / act.sum(1) / len(mats)
        kurt[layer] += weight_stats(w)["kurtosis"] / 7
        for c, cfg in cfgs.items():
            err, ref = column_error_energy(w, quantize_weight(w, cfg))
            perr[c] += predicted_error(act, err, ref) / len(mats)
    contrib = base.contribution.mean("unit").values[:, 1:]  # (lang, block)
    critical = top_fraction_mask(contrib, 0.2)
    high_k = top_fraction_mask(kurt, 0.2)
    preds["outlier_column_overlap"] = overlap
    preds["critical_layer_kurtosis_overlap"] = (critical & high_k).sum(1) / critical.sum(1)
    share = contrib / contrib.sum(1, keepdims=True)
    preds["contribution_weighted_kurtosis"] = share @ kurt
    ds = xr.Dataset(
        {"predictor_value": (("predictor", "lang"), np.array(list(preds.values())))},
        coords={"predictor": list(preds), "lang": langs},
    )
    ds["predicted_error"] = (("variant", "lang"), np.array([perr[c] for c in configs]))
    ds["layer_weight_kurtosis"] = (("block",), kurt)
    ds["critical_layer"] = (("lang", "block"), critical)
    ds["high_kurtosis_layer"] = (("block",), high_k)
    return ds


def run_evaluate(
    model_name: str = "gemma-3-270m",
    configs=("int8-pc", "int4-g128", "int3-g128"),
    out: Path = DEFAULT_OUT,
    probe_set: str = "udhr",
    langs=None,
    units: int | None = None,
    n_boot: int = 2000,
    n_perm: int = 5000,
    device=None,
    log=print,
) -> xr.Dataset:
    """Per-language bits-per-byte degradation, disparity ratio, drift, predictors -> evaluate.nc."""
    from polylens.analysis.quantization import cosine, degradation
    from polylens.analysis.stats import bootstrap_mean, correlate
    from polylens.hooks.quantize import parse_quant
    from polylens.hooks.registry import resolve

    configs = [parse_quant(c).tag for c in configs]
    resolve(model_name)
    base = score_variant(model_name, out, probe_set, langs, units, detail=True, device=device, log=log)
    lang_list = list(base.lang.values)
    res = np.array([_resource_coords(lang_list)["resource"][1]]).ravel()
    low, high = res == "low", res == "high"
    per = {}
    for c in configs:
        q = score_variant(f"{model_name}@{c}", out, probe_set, langs, units, device=device, log=log)
        deg = degradation(base.nll.values, q.nll.values, base.n_bytes.values, low, high, n_boot=n_boot)
        cos = cosine(base.pooled.values, q.pooled.values)  # (lang, unit, layer)
        deg["drift_cosine"], deg["drift_cosine_lo"], deg["drift_cosine_hi"] = bootstrap_mean(
            np.moveaxis(cos, 1, -1), n_boot=n_boot
        )
        per[c] = (deg, q.attrs)
    cf = [parse_quant(c) for c in configs]
    ds = xr.Dataset(
        coords={
            "variant": configs,
            "lang": lang_list,
            "layer": base.layer.values,
            "bits": ("variant", [c.bits for c in cf]),
            "group": ("variant", [c.group or 0 for c in cf]),
            "keep_percent": ("variant", [c.keep for c in cf]),
            **_resource_coords(lang_list),
        }
    )
    first = per[configs[0]][0]
    for k in ("bpb_base", "bpb_base_lo", "bpb_base_hi"):
        ds[k] = ("lang", first[k])
    for k in first:
        if k.startswith("bpb_base"):
            continue
        dims = (
            ("variant",)
            + (("lang",) if first[k].ndim >= 1 else ())
            + (("layer",) if first[k].ndim == 2 else ())
        )
        ds[k] = (dims, np.stack([per[c][0][k] for c in configs]))
    ds["variant_weights_sha256"] = ("variant", [per[c][1]["weights_sha256"] for c in configs])
    ds["variant_quant_config"] = ("variant", [per[c][1].get("quant", "") for c in configs])
    ds["n_units"] = ("lang", (~np.isnan(base.nll.values)).sum(1))
    ds["n_tokens"] = ("lang", np.nansum(base.n_tokens.values, 1))
    ds["n_bytes"] = ("lang", np.nansum(base.n_bytes.values, 1))
    pred = _predictors(model_name, base, configs, device)
    ds = ds.merge(pred.assign_coords(variant=configs, block=np.arange(pred.sizes["block"])))
    ds["layer_contribution"] = (("lang", "layer"), base.contribution.mean("unit").values)
    stats_names = [
        "n",
        "pearson_r",
        "pearson_lo",
        "pearson_hi",
        "pearson_p",
        "spearman_rho",
        "spearman_lo",
        "spearman_hi",
        "spearman_p",
    ]
    corr = np.full((len(configs), ds.sizes["predictor"] + 1, len(stats_names)), np.nan)
    for vi, c in enumerate(configs):
        y = ds.rel_degradation.sel(variant=c).values
        xs = list(ds.predictor_value.values) + [ds.predicted_error.sel(variant=c).values]
        for pi, x in enumerate(xs):
            r = correlate(x, y, n_boot=n_boot, n_perm=n_perm)
            corr[vi, pi] = [r[s] for s in stats_names]
    ds = ds.assign_coords(corr_predictor=list(ds.predictor.values) + ["predicted_error"], stat=stats_names)
    ds["correlation"] = (("variant", "corr_predictor", "stat"), corr)
    ds = _add_fits(ds, n_boot)
    ds.attrs.update(
        _method_attrs(
            base,
            configs=configs,
            n_boot=n_boot,
            n_perm=n_perm,
            disparity="mean rel. degradation low / high resource",
            ci="95% percentile bootstrap over units (paired); correlations: bootstrap over languages",
            base_model=model_name,
        )
    )
    _write(ds, Path(out) / "evaluate.nc", evaluate_summary(ds), log)
    return ds


def _add_fits(ds: xr.Dataset, n_boot: int, n_grid: int = 50) -> xr.Dataset:
    """Least-squares line of relative degradation on each predictor (over languages) with its
    bootstrap band, per variant: what the fertility-vs-degradation figure draws."""
    from polylens.analysis.stats import linear_fit

    preds = list(ds.corr_predictor.values)
    shape = (ds.sizes["variant"], len(preds))
    scal = {
        k: np.full(shape, np.nan)
        for k in ("slope", "slope_lo", "slope_hi", "intercept", "intercept_lo", "intercept_hi")
    }
    grids = {k: np.full(shape + (n_grid,), np.nan) for k in ("grid", "fit", "fit_lo", "fit_hi")}
    for vi, c in enumerate(ds.variant.values):
        y = ds.rel_degradation.sel(variant=c).values
        for pi, p in enumerate(preds):
            x = (
                ds.predicted_error.sel(variant=c)
                if p == "predicted_error"
                else ds.predictor_value.sel(predictor=p)
            ).values
            f = linear_fit(x, y, n_boot=n_boot, n_grid=n_grid)
            for k in scal:
                scal[k][vi, pi] = f[k]
            for k in grids:
                grids[k][vi, pi] = f[k]
    dims = ("variant", "corr_predictor")
    for k, v in scal.items():
        ds[f"fit_{k}"] = (dims, v)
    names = {"grid": "fit_x", "fit": "fit_y", "fit_lo": "fit_y_lo", "fit_hi": "fit_y_hi"}
    for k, v in grids.items():
        ds[names[k]] = (dims + ("fit_point",), v)
    ds["fit_y"].attrs["long_name"] = (
        "least-squares line of rel_degradation on the predictor "
        "(over languages), evaluated at fit_x; _lo/_hi: 95% "
        "pairs-bootstrap band"
    )
    return ds


def evaluate_summary(ds: xr.Dataset) -> str:
    n_units = int(ds.n_units.max())
    res = ds.resource.values
    lines = [
        f"# Quantization degradation: {ds.attrs.get('model_id')} on {ds.attrs.get('probe_set')}",
        "",
        f"{ds.sizes['lang']} languages ({(res == 'low').sum()} low, "
        f"{(res == 'medium').sum()} medium, {(res == 'high').sum()} high resource), "
        f"{n_units} units each; 95% bootstrap CIs over units.",
        "",
        "| variant | disparity ratio (low/high) | low - high | ratio of absolute bpb increase | "
        "mean rel. degradation | min drift cosine (layer) |",
        "|---|---|---|---|---|---|",
    ]
    for v in ds.variant.values:
        s = ds.sel(variant=v)
        cos = s.drift_cosine.mean("lang")
        lines.append(
            f"| {v} | {_fmt(s.disparity_ratio, s.disparity_ratio_lo, s.disparity_ratio_hi, digits=2)}"
            f" | {_fmt(s.disparity_diff, s.disparity_diff_lo, s.disparity_diff_hi, pct=True)}"
            f" | {_fmt(s.disparity_ratio_abs, s.disparity_ratio_abs_lo, s.disparity_ratio_abs_hi, digits=2)}"
            f" | {_fmt(float(s.rel_degradation.mean()), pct=True)} | "
            f"{float(cos.min()):.4f} ({int(np.argmin(cos.values))}) |"
        )
    fams = {}
    for v in ds.variant.values:
        s = ds.sel(variant=v)
        fams.setdefault((int(s.bits), int(s.group)), []).append(v)
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
                f"| {float(s.keep_percent):g} | {_fmt(s.disparity_ratio, s.disparity_ratio_lo, s.disparity_ratio_hi, digits=2)}"
                f" | {_fmt(s.disparity_diff, s.disparity_diff_lo, s.disparity_diff_hi, pct=True)}"
                f" | {_fmt(float(rel.mean()), pct=True)} | {_fmt(float(rel.where(ds.resource == 'low').mean()), pct=True)}"
                f" | {_fmt(float(rel.where(ds.resource == 'high').mean()), pct=True)} |"
            )
    lines += [
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
            _fmt(
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
    lines += [
        "",
        "Predictors of relative degradation (over languages):",
        "",
        "| variant | predictor | n | Pearson r [CI] (perm p) | Spearman rho [CI] (perm p) |",
        "|---|---|---|---|---|",
    ]
    for v in ds.variant.values:
        for p in ds.corr_predictor.values:
            c = ds.correlation.sel(variant=v, corr_predictor=p)
            g = lambda k: float(c.sel(stat=k))  # noqa: E731
            lines.append(
                f"| {v} | {p} | {int(g('n'))} | {_fmt(g('pearson_r'), g('pearson_lo'), g('pearson_hi'), digits=2)}"
                f" ({g('pearson_p'):.3g}) | {_fmt(g('spearman_rho'), g('spearman_lo'), g('spearman_hi'), digits=2)}"
                f" ({g('spearman_p'):.3g}) |"
            )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- sinks / heads
def run_sinks(
    model_name: str = "gemma-3-270m",
    out: Path = DEFAULT_OUT,
    probe_set: str = "udhr",
    langs=None,
    units: int | None = None,
    n_boot: int = 2000,
    n_perm: int = 5000,
    device=None,
    log=print,
) -> xr.Dataset:
    """Attention-sink mass per (lang, block, head) with CIs; vs weight kurtosis per layer."""
    from polylens.analysis.quantization import weight_stats
    from polylens.analysis.stats import bootstrap_mean, correlate
    from polylens.hooks.models import load_model
    from polylens.hooks.quantize import linear_weights

    base = score_variant(model_name, out, probe_set, langs, units, detail=True, device=device, log=log)
    lang_list = list(base.lang.values)
    m, lo, hi = bootstrap_mean(base.sink.transpose("lang", "block", "head", "unit").values, n_boot=n_boot)
    ds = xr.Dataset(
        {
            "sink": (("lang", "block", "head"), m),
            "sink_lo": (("lang", "block", "head"), lo),
            "sink_hi": (("lang", "block", "head"), hi),
        },
        coords={
            "lang": lang_list,
            "block": base.block.values,
            "head": base["head"].values,
            **_resource_coords(lang_list),
        },
    )
    layer_sink = base.sink.mean(("lang", "unit", "head")).values
    model = load_model(model_name, device=device)
    kinds = ["q_proj", "k_proj", "v_proj", "o_proj", "all"]
    kurt = np.zeros((len(base.block), len(kinds)))
    for layer, kind, _, p in linear_weights(model.bridge.original_model):
        k = weight_stats(p.data)["kurtosis"]
        if kind in kinds:
            kurt[layer, kinds.index(kind)] = k
        kurt[layer, -1] += k / 7
    stats_names = [
        "n",
        "pearson_r",
        "pearson_lo",
        "pearson_hi",
        "pearson_p",
        "spearman_rho",
        "spearman_lo",
        "spearman_hi",
        "spearman_p",
    ]
    corr = np.array(
        [
            [correlate(layer_sink, kurt[:, i], n_boot=n_boot, n_perm=n_perm)[s] for s in stats_names]
            for i in range(len(kinds))
        ]
    )
    ds = ds.assign_coords(kurtosis_of=kinds, stat=stats_names)
    ds["layer_sink"] = ("block", layer_sink)
    _, lo, hi = bootstrap_mean(
        base.sink.mean(("lang", "head")).transpose("block", "unit").values, n_boot=n_boot
    )  # CI over units (of the per-unit means)
    ds["layer_sink_lo"], ds["layer_sink_hi"] = ("block", lo), ("block", hi)
    ds["layer_weight_kurtosis"] = (("block", "kurtosis_of"), kurt)
    ds["sink_kurtosis_correlation"] = (("kurtosis_of", "stat"), corr)
    ds.attrs.update(
        _method_attrs(
            base,
            n_boot=n_boot,
            n_perm=n_perm,
            sink="mean attention of query positions >= 1 to position 0 (BOS)",
        )
    )
    lines = [
        f"# Attention sinks: {model_name}",
        "",
        f"{len(lang_list)} languages x {base.sizes['unit']} units. Sink mass per block "
        "(mean over languages, heads):",
        "",
        " ".join(f"{b}:{v:.2f}" for b, v in enumerate(layer_sink)),
        "",
        f"Correlation over blocks (n = {len(layer_sink)}) of sink mass with weight excess kurtosis:",
        "",
        "| kurtosis of | Pearson r [CI] (p) | Spearman rho [CI] (p) |",
        "|---|---|---|",
    ]
    for i, k in enumerate(kinds):
        c = dict(zip(stats_names, corr[i]))
        lines.append(
            f"| {k} | {_fmt(c['pearson_r'], c['pearson_lo'], c['pearson_hi'], digits=2)} "
            f"({c['pearson_p']:.3g}) | {_fmt(c['spearman_rho'], c['spearman_lo'], c['spearman_hi'], digits=2)} "
            f"({c['spearman_p']:.3g}) |"
        )
    by_res = ds.sink.mean(("block", "head")).groupby("resource").mean()
    lines += [
        "",
        "Mean sink mass by resource level: "
        + ", ".join(f"{r} {float(v):.3f}" for r, v in zip(by_res.resource.values, by_res.values)),
        "",
    ]
    _write(ds, Path(out) / "sinks.nc", "\n".join(lines), log)
    return ds


def run_heads(
    model_name: str = "gemma-3-270m",
    out: Path = DEFAULT_OUT,
    probe_set: str = "udhr",
    langs=None,
    units: int | None = None,
    n_perm: int = 2000,
    alpha: float = 0.05,
    min_eta2: float = 0.5,
    device=None,
    log=print,
) -> xr.Dataset:
    """Language-specific heads: language effect on sink mass and attention entropy per head."""
    from polylens.analysis.quantization import language_effect

    base = score_variant(model_name, out, probe_set, langs, units, detail=True, device=device, log=log)
    metrics = ["sink", "entropy"]
    res = {
        m: language_effect(base[m].transpose("lang", "unit", "block", "head").values, n_perm=n_perm)
        for m in metrics
    }
    dims = ("metric", "block", "head")
    ds = xr.Dataset(
        {k: (dims, np.stack([res[m][k] for m in metrics])) for k in ("eta2", "p", "q")},
        coords={"metric": metrics, "block": base.block.values, "head": base["head"].values},
    )
    ds["significant"] = ds.q < alpha
    ds["specific"] = ds.significant & (ds.eta2 >= min_eta2)
    ds["significant_share"] = ds.significant.mean("head")  # share of heads per (metric, block)
    ds["specific_share"] = ds.specific.mean("head")
    ds.attrs.update(
        _method_attrs(
            base,
            n_perm=n_perm,
            alpha=alpha,
            min_eta2=min_eta2,
            test="eta^2 of language after removing unit means; null: "
            "languages permuted within each unit; BH over heads",
        )
    )
    n_heads = ds.sizes["block"] * ds.sizes["head"]
    lines = [
        f"# Language-specific heads: {model_name}",
        "",
        f"{base.sizes['lang']} languages x {base.sizes['unit']} units, {n_heads} heads, "
        f"{n_perm} within-unit permutations, BH q < {alpha}.",
        "",
        f"| metric | significant heads | eta2 >= {min_eta2} too | median eta2 | blocks of the specific heads |",
        "|---|---|---|---|---|",
    ]
    for m in metrics:
        s = ds.sel(metric=m)
        blocks = s.specific.sum("head").values
        lines.append(
            f"| {m} | {int(s.significant.sum())}/{n_heads} ({float(s.significant.mean()):.1%}) | "
            f"{int(s.specific.sum())} ({float(s.specific.mean()):.1%}) | "
            f"{float(s.eta2.median()):.3f} | "
            + " ".join(f"{b}:{int(n)}" for b, n in enumerate(blocks) if n)
            + " |"
        )
    lines += [
        "",
        "Share of heads called language-specific as a function of the effect-size cut "
        "(significant and eta2 >= t):",
        "",
        "| metric | " + " | ".join(f"t={t}" for t in (0.3, 0.5, 0.7, 0.8, 0.9)) + " |",
        "|---|" + "---|" * 5,
    ]
    for m in metrics:
        s = ds.sel(metric=m)
        lines.append(
            f"| {m} | "
            + " | ".join(
                f"{float((s.significant & (s.eta2 >= t)).mean()):.1%}" for t in (0.3, 0.5, 0.7, 0.8, 0.9)
            )
            + " |"
        )
    _write(ds, Path(out) / "heads.nc", "\n".join(lines) + "\n", log)
    return ds
