"""Model diffing between two variants (issue 8): CKA by layer, cross-model patching KL (both
directions), linear transport maps, mapped patching with an alpha sweep and controls, and the
shared-vocabulary fairness filter. Results are one labelled xarray Dataset (``diff.nc``).

This is the causal exception allowed by the design: :func:`run_diff` loads models (through
``hooks``, imported lazily so that importing this module never imports torch). The pure
parts (:func:`cka_by_layer`, :func:`shared_vocab_filter`, :func:`mean_ci`,
:func:`reduction_ci`, :func:`fit_transport`) take numpy arrays / tokenizers only.

Definitions used throughout
---------------------------
- ``KL(B <- A)`` at layer l: run B, overwrite B's residual (``resid_post`` layer l, see
  ``hooks.patching``) at the patched positions with A's for the same input, and measure
  ``KL(B_patched || B)`` of the next-token distribution at the last content token (nats).
  ``a_to_b`` = A's activations into B; ``b_to_a`` the reverse.
- Mapped patch: B patched with ``map(A)`` where the map A -> B was fit on *training* prompts
  only; evaluated on validation prompts. ``reduction = 1 - mean KL_mapped / mean KL_raw``.
- Alpha sweep: the patched vector is ``alpha * x`` for x = A (raw) and x = map(A) (mapped),
  the same alpha for both; ``alpha = 0`` is zero-ablation of the site at those positions,
  the reference that tells whether a small alpha "helps" only by removing the site.
  ``alpha*`` is chosen on training prompts and reported on validation prompts.
- Controls: ``mismatched_layer`` (map fit at another layer, same site) and ``shuffled_pairs``
  (map fit on A/B rows paired across different prompts); both should reduce KL little or not
  at all if a matched map's reduction reflects real, layer-specific transport. With an
  identity-prior map (``ridge_residual``) the shuffled control collapses to ~identity, so it
  then tests "is the *learned* part of the map worth anything without correct pairs".
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr
from jaxtyping import Float

from polylens.analysis.cka import cka_from_grams, gram_linear
from polylens.analysis.stats import bootstrap_indices, percentile_ci, resample_weights
from polylens.analysis.transport import group_split, make_map, shuffle_pairs, transport_scores
from polylens.hooks.sites import site_layers

__all__ = [
    "cka_by_layer",
    "shared_vocab_filter",
    "FairnessReport",
    "mean_ci",
    "reduction_ci",
    "fit_transport",
    "DiffConfig",
    "run_diff",
    "write_results",
]

DEFAULT_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25)
CONDITIONS = ("raw", "mapped", "mismatched_layer", "shuffled_pairs", "ablate")


# ---------------------------------------------------------------- statistics helpers


def mean_ci(
    values: Float[np.ndarray, "*batch prompt"], n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[Float[np.ndarray, "*batch"], Float[np.ndarray, "*batch 2"]]:
    """(mean, percentile-bootstrap CI) over the last (prompt) axis; no missing prompts."""
    values = np.asarray(values, dtype=np.float64)
    w = resample_weights(values.shape[-1], n_boot, seed)
    boot = values @ w.T / w.sum(1)
    return values.mean(-1), percentile_ci(boot, level)


def reduction_ci(
    kl_raw: Float[np.ndarray, "*batch prompt"],
    kl_other: Float[np.ndarray, "*batch prompt"],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[Float[np.ndarray, "*batch"], Float[np.ndarray, "*batch 2"]]:
    """(1 - mean(kl_other)/mean(kl_raw), CI) with prompts resampled jointly (paired)."""
    kl_raw, kl_other = np.asarray(kl_raw, float), np.asarray(kl_other, float)
    w = resample_weights(kl_raw.shape[-1], n_boot, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        point = 1 - kl_other.mean(-1) / kl_raw.mean(-1)
        boot = 1 - (kl_other @ w.T) / (kl_raw @ w.T)
    return point, percentile_ci(boot, level)


def cka_by_layer(
    xa: Float[np.ndarray, "layer n d_a"],
    xb: Float[np.ndarray, "layer n d_b"],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    chunk: int = 25,
) -> dict[str, Float[np.ndarray, "kind layer *ci"]]:
    """Linear and debiased CKA per layer (widths may differ), percentile-bootstrap CIs over stimuli.

    Returns ``{"cka": Float[kind=2, layer], "ci": Float[kind, layer, 2]}`` (kind = linear,
    debiased). Resamples reuse the Gram matrices (no d-sized copies). Caveat: a resample
    duplicates stimuli, which the debiased (U-statistic) estimator treats as distinct pairs,
    so its bootstrap distribution is shifted up slightly; the point estimate is unaffected.
    """
    ga = gram_linear(np.asarray(xa, np.float64))
    gb = gram_linear(np.asarray(xb, np.float64))
    point = np.stack([cka_from_grams(ga, gb, debiased=d) for d in (False, True)])
    idx = bootstrap_indices(ga.shape[-1], n_boot, seed)
    boot = np.empty((2, ga.shape[0], n_boot))
    for start in range(0, n_boot, chunk):
        sl = idx[start : start + chunk]
        sa = ga[:, sl[:, :, None], sl[:, None, :]]
        sb = gb[:, sl[:, :, None], sl[:, None, :]]
        for k, d in enumerate((False, True)):
            boot[k, :, start : start + len(sl)] = cka_from_grams(sa, sb, debiased=d)
    return {"cka": point, "ci": percentile_ci(boot, level)}


# ---------------------------------------------------------------- tokenizer fairness


@dataclass
class FairnessReport:
    """Shared-vocabulary filter outcome: which prompts were kept and why."""

    kept: list[int]
    ratio_a: np.ndarray  # fraction of the prompt's A-tokens whose string is in both vocabularies
    ratio_b: np.ndarray
    min_shared_ratio: float
    identical_tokenizers: bool
    n_total: int = 0
    n_kept: int = 0

    def summary(self) -> str:
        same = " (identical tokenizers)" if self.identical_tokenizers else ""
        return (
            f"shared-vocab filter >= {self.min_shared_ratio:.2f}: kept {self.n_kept}/"
            f"{self.n_total} prompts{same}"
        )


def shared_vocab_filter(tok_a, tok_b, texts: Sequence[str], min_shared_ratio: float = 1.0) -> FairnessReport:
    """Keep prompts whose tokens (under *each* tokenizer) mostly exist in both vocabularies.

    The ratio of a prompt under tokenizer T is the fraction of its T-tokens whose token string
    is in both vocabularies (special tokens such as ``<unk>`` never count as shared); a prompt is kept when both ratios
    are ``>= min_shared_ratio``. Identical tokenizers keep every prompt (ratio 1).
    """
    va, vb = tok_a.get_vocab(), tok_b.get_vocab()
    specials = set(getattr(tok_a, "all_special_tokens", [])) | set(getattr(tok_b, "all_special_tokens", []))
    shared = (va.keys() & vb.keys()) - specials  # <unk> and friends never count as shared
    identical = va == vb

    def ratios(tok) -> np.ndarray:
        out = []
        for text in texts:
            pieces = tok.convert_ids_to_tokens(tok(text, add_special_tokens=False).input_ids)
            out.append(np.mean([p in shared for p in pieces]) if pieces else 0.0)
        return np.asarray(out, dtype=np.float64)

    ra, rb = ratios(tok_a), ratios(tok_b)
    kept = np.flatnonzero((ra >= min_shared_ratio) & (rb >= min_shared_ratio)).tolist()
    return FairnessReport(kept, ra, rb, min_shared_ratio, identical, len(texts), len(kept))


# ---------------------------------------------------------------- transport maps


def fit_transport(
    xa: np.ndarray,
    xb: np.ndarray,
    groups: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    methods: Sequence[str],
    seed: int = 0,
    shuffle_method: str | None = None,
):
    """Fit every method A -> B on ``train`` rows, score on ``val`` rows.

    Returns (scores ``{method: {metric: float}}`` incl. ``train_r2``, fitted ``{method: map}``,
    shuffled-pairs map fitted with ``shuffle_method`` (or None)).
    """
    center = xb[train].mean(0)
    scores, maps = {}, {}
    for m in methods:
        if m == "identity" and xa.shape[1] != xb.shape[1]:
            continue
        est = make_map(m).fit(xa[train], xb[train], groups[train])
        scores[m] = {
            **transport_scores(xb[val], est.transform(xa[val]), center),
            "train_r2": est.score(xa[train], xb[train]),
        }
        maps[m] = est
    shuffled = None
    if shuffle_method:
        perm = shuffle_pairs(groups[train], seed)
        shuffled = make_map(shuffle_method).fit(xa[train], xb[train][perm], groups[train])
        scores["shuffled_pairs"] = {
            **transport_scores(xb[val], shuffled.transform(xa[val]), center),
            "train_r2": shuffled.score(xa[train], xb[train][perm]),
        }
    return scores, maps, shuffled


# ---------------------------------------------------------------- the pipeline


@dataclass
class DiffConfig:
    """Parameters of one diffing run (all stored in the result's attrs)."""

    a: str
    b: str
    probes: str = "udhr"
    langs: Sequence[str] | None = None
    limit: int | None = None  # first N units of the probe set
    positions: str = "last"  # patch the last content token, or "all" content tokens
    k_positions: int = 8  # positions per prompt for fitting transport maps
    pooling: str = "mean"  # pooled activations for CKA
    sites: Sequence[str] = ("resid_post", "attn_out", "mlp_out")
    methods: Sequence[str] = ("identity", "ridge", "ridge_residual", "procrustes", "procrustes_whitened")
    map_method: str = "ridge"  # the map used for mapped patching and the shuffled control
    patch_layers: Sequence[int] | None = None  # mapped-patching layers; None = peak KL + control
    control_layer: int | None = None  # early-layer control; None = round(L / 4)
    alphas: Sequence[float] = DEFAULT_ALPHAS
    val_frac: float = 0.3
    split_by: str = "unit"  # "unit": all translations of an item on one side; or "prompt"
    min_shared_ratio: float = 0.65
    require_patching: bool = True  # False: a pair that cannot be patched gets CKA only
    max_tokens: int = 48  # prompts are truncated to this many tokens (incl. BOS)
    kl_layers: Sequence[int] | None = None  # layers for KL-by-layer; None = all
    maps: bool = True  # False: CKA and patching KL only (no transport maps / mapped patching)
    n_boot: int = 1000
    seed: int = 0
    device: str | None = None
    dtype: str = "float32"
    processing: str = "raw"
    chunk: int = 16
    skip_trailing_punct: bool = True
    extra: dict = field(default_factory=dict)


def _log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(f"[diff {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run_diff(cfg: DiffConfig, models=None, quiet: bool = False) -> xr.Dataset:
    """Run the whole diff of ``cfg.a`` vs ``cfg.b``; return the labelled result Dataset.

    ``models`` may pass already-loaded ``(HookedModel, HookedModel)`` (tests, notebooks).
    Different tokenizers or shapes: CKA (on fairness-filtered prompts) only, patching and
    maps are skipped and the reason is stored in ``attrs["patching_skipped"]``.
    """
    import polylens.probes as probes_mod
    from polylens.errors import IncompatibleVariantsError
    from polylens.hooks import patching

    if models is None:
        from polylens.hooks.models import load_model  # handles BASE@int4-g128 (hooks.quantize)

        _log(f"loading {cfg.a} and {cfg.b}", quiet)
        models = (
            load_model(cfg.a, cfg.device, cfg.dtype, cfg.processing),
            load_model(cfg.b, cfg.device, cfg.dtype, cfg.processing),
        )
    ma, mb = models
    if cfg.require_patching:
        patching.require_same_architecture(ma, mb)
    ps = probes_mod.load_probe_set(cfg.probes)
    ps = ps.select(langs=cfg.langs, limit=cfg.limit)
    stimuli = ps.stimuli
    fair = shared_vocab_filter(
        ma.tokenizer,
        mb.tokenizer,
        [s.text for s in stimuli],
        cfg.min_shared_ratio if not _same_vocab(ma, mb) else 0.0,
    )
    stimuli = [stimuli[i] for i in fair.kept]
    _log(fair.summary(), quiet)
    if len(stimuli) < 8:
        raise IncompatibleVariantsError(
            f"only {len(stimuli)} prompts left after the shared-vocabulary filter; lower --min-shared-ratio"
        )
    texts = [s.text for s in stimuli]
    prompt_ids = [f"{s.unit}|{s.lang}" for s in stimuli]
    L = max(ma.n_layers, mb.n_layers)

    # ---- CKA by layer on pooled activations (each model with its own tokenizer; full texts,
    #      pooled by the capture engine)
    _log(f"CKA by layer on {len(texts)} prompts ({cfg.pooling} pooling)", quiet)
    pooled = [_pooled_resid(m, texts, cfg.pooling, cfg.skip_trailing_punct, cfg.chunk) for m in (ma, mb)]
    if pooled[0].shape[0] != pooled[1].shape[0]:
        raise IncompatibleVariantsError("CKA by layer needs equal depth (layer counts differ)")
    cka = cka_by_layer(pooled[0], pooled[1], cfg.n_boot, cfg.seed)
    layer = np.arange(L + 1)
    ds = xr.Dataset(
        coords={
            "layer": layer,
            "kind": ["linear", "debiased"],
            "ci": ["lo", "hi"],
            "prompt": prompt_ids,
            "lang": ("prompt", [s.lang for s in stimuli]),
            "unit": ("prompt", [s.unit for s in stimuli]),
        }
    )
    ds["cka"] = (("kind", "layer"), cka["cka"])
    ds["cka_ci"] = (("kind", "layer", "ci"), cka["ci"])
    attrs = _attrs(cfg, ma, mb, ps, fair)

    try:
        patching.require_same_architecture(ma, mb)
    except IncompatibleVariantsError as exc:
        if cfg.require_patching:
            raise
        attrs["patching_skipped"] = str(exc)
        ds.attrs.update(attrs)
        _log(f"patching skipped: {exc}", quiet)
        return ds

    # ---- cross-model patching, both directions, all layers
    batch = patching.encode(mb, texts, cfg.k_positions, cfg.skip_trailing_punct, cfg.max_tokens)
    ab = patching.Patcher(ma, mb, batch, cfg.positions, cfg.chunk)
    ba = patching.Patcher(mb, ma, batch, cfg.positions, cfg.chunk)
    _log(f"patching KL by layer, both directions ({cfg.positions} positions)", quiet)
    kl_layers = list(layer) if cfg.kl_layers is None else sorted(cfg.kl_layers)
    kl = np.full((2, L + 1, len(texts)), np.nan)
    kl[0, kl_layers] = ab.kl_by_layer("resid_post", kl_layers)
    kl[1, kl_layers] = ba.kl_by_layer("resid_post", kl_layers)
    ds = ds.assign_coords(direction=["a_to_b", "b_to_a"])
    ds["kl_prompt"] = (("direction", "layer", "prompt"), kl)
    mean, ci = mean_ci(kl, cfg.n_boot, cfg.seed)
    ds["kl"] = (("direction", "layer"), mean)
    ds["kl_ci"] = (("direction", "layer", "ci"), ci)
    amean, aci = mean_ci(kl[0] - kl[1], cfg.n_boot, cfg.seed)
    ds["kl_asymmetry"] = (("layer",), amean)
    ds["kl_asymmetry_ci"] = (("layer", "ci"), aci)
    control = cfg.control_layer if cfg.control_layer is not None else max(1, round(L / 4))
    peak = int(np.nanargmax(mean[0][1:]) + 1)
    attrs.update(control_layer=control, peak_kl_layer=peak)
    if not cfg.maps:
        attrs["maps_skipped"] = 1
        ds.attrs.update(attrs)
        _describe(ds)
        return ds

    # ---- transport maps: K positions per prompt, leakage-free split by group
    groups_of_prompt = np.array(
        [s.unit if cfg.split_by == "unit" else p for s, p in zip(stimuli, prompt_ids)]
    )
    _, gcode = np.unique(groups_of_prompt, return_inverse=True)
    tr_p, va_p = group_split(gcode, cfg.val_frac, cfg.seed)  # prompt indices
    rows, _ = batch.train_positions()
    row_groups = gcode[rows]
    train_rows = np.flatnonzero(np.isin(rows, tr_p))
    val_rows = np.flatnonzero(np.isin(rows, va_p))
    assert not set(groups_of_prompt[tr_p]) & set(groups_of_prompt[va_p])
    ds["split"] = (("prompt",), np.where(np.isin(np.arange(len(texts)), va_p), "val", "train"))
    metrics = ["r2", "cka", "cka_debiased", "cosine", "train_r2"]
    methods = list(cfg.methods) + ["shuffled_pairs"]
    tscores = np.full((len(cfg.sites), L + 1, len(methods), len(metrics)), np.nan)
    fitted: dict[tuple[str, int], tuple] = {}
    _log(
        f"transport maps: {len(train_rows)} train / {len(val_rows)} val rows "
        f"({len(tr_p)}/{len(va_p)} prompts), sites {list(cfg.sites)}",
        quiet,
    )
    for si, site in enumerate(cfg.sites):
        lays = site_layers(site, L)
        xa_all = patching.capture(ma, batch, site, lays, pool="positions", chunk=cfg.chunk)
        xb_all = patching.capture(mb, batch, site, lays, pool="positions", chunk=cfg.chunk)
        for j, l in enumerate(lays):
            sc, maps, shuffled = fit_transport(
                xa_all[j], xb_all[j], row_groups, train_rows, val_rows, cfg.methods, cfg.seed, cfg.map_method
            )
            for mi, m in enumerate(methods):
                if m in sc:
                    tscores[si, l, mi] = [sc[m][k] for k in metrics]
            fitted[site, l] = (maps[cfg.map_method], shuffled)
        del xa_all, xb_all
    ds = ds.assign_coords(site=list(cfg.sites), map_method=methods, metric=metrics)
    ds["transport"] = (("site", "layer", "map_method", "metric"), tscores)

    # ---- mapped patching at selected layers (A -> B), alpha sweep, controls
    patch_layers = list(cfg.patch_layers) if cfg.patch_layers else sorted({peak, control})
    val_batch, train_batch = batch.subset(va_p), batch.subset(tr_p[: max(len(va_p), 8)])
    alphas = np.asarray(cfg.alphas, dtype=float)
    sweep = np.full((2, len(cfg.sites), len(patch_layers), 2, len(alphas)), np.nan)
    sweep_ci = np.full(sweep.shape + (2,), np.nan)
    ctrl = np.full((len(cfg.sites), len(patch_layers), len(CONDITIONS)), np.nan)
    ctrl_ci = np.full(ctrl.shape + (2,), np.nan)
    red = np.full_like(ctrl, np.nan)
    red_ci = np.full_like(ctrl_ci, np.nan)
    best_alpha = np.full((len(cfg.sites), len(patch_layers)), np.nan)
    mismatch_of = {}
    _log(f"mapped patching at layers {patch_layers} on {len(va_p)} val prompts", quiet)
    for si, site in enumerate(cfg.sites):
        for li, l in enumerate(patch_layers):
            if (site, l) not in fitted:
                continue
            other = _mismatched_layer(l, site, L)
            mismatch_of[f"{site}@{l}"] = other
            fmap, fshuf = fitted[site, l]
            per_split = {}
            for sp, bt in enumerate((train_batch, val_batch)):
                p = patching.Patcher(ma, mb, bt, cfg.positions, cfg.chunk)
                x = p.values(site, l)
                mapped = fmap.transform(x)
                kls = {}
                for ai, alpha in enumerate(alphas):
                    for pi, vals in enumerate((x, mapped)):
                        if alpha == 0 and pi == 1:
                            kls[pi, ai] = kls[0, ai]
                        else:
                            kls[pi, ai] = p.kl(site, l, alpha * vals)
                        sweep[sp, si, li, pi, ai], sweep_ci[sp, si, li, pi, ai] = mean_ci(
                            kls[pi, ai], cfg.n_boot, cfg.seed
                        )
                per_split[sp] = (p, x, kls)
            # alpha* on train prompts, mapped patch
            best_alpha[si, li] = _best_alpha(alphas, sweep[0, si, li, 1])
            p, x, kls = per_split[1]
            one = int(np.argmin(np.abs(alphas - 1.0)))
            zero = int(np.argmin(np.abs(alphas - 0.0)))
            cond = {
                "raw": kls[0, one],
                "mapped": kls[1, one],
                "mismatched_layer": p.kl(site, l, fitted[site, other][0].transform(x)),
                "shuffled_pairs": p.kl(site, l, fshuf.transform(x)),
                "ablate": kls[0, zero] if alphas[zero] == 0 else p.kl(site, l, 0 * x),
            }
            for ci_, c in enumerate(CONDITIONS):
                ctrl[si, li, ci_], ctrl_ci[si, li, ci_] = mean_ci(cond[c], cfg.n_boot, cfg.seed)
                red[si, li, ci_], red_ci[si, li, ci_] = reduction_ci(
                    cond["raw"], cond[c], cfg.n_boot, cfg.seed
                )
    ds = ds.assign_coords(
        patch_layer=patch_layers,
        alpha=alphas,
        condition=list(CONDITIONS),
        patch=["raw", "mapped"],
        sweep_split=["train", "val"],
    )
    ds["sweep_kl"] = (("sweep_split", "site", "patch_layer", "patch", "alpha"), sweep)
    ds["sweep_kl_ci"] = (("sweep_split", "site", "patch_layer", "patch", "alpha", "ci"), sweep_ci)
    ds["best_alpha_train"] = (("site", "patch_layer"), best_alpha)
    ds["control_kl"] = (("site", "patch_layer", "condition"), ctrl)
    ds["control_kl_ci"] = (("site", "patch_layer", "condition", "ci"), ctrl_ci)
    ds["kl_reduction"] = (("site", "patch_layer", "condition"), red)
    ds["kl_reduction_ci"] = (("site", "patch_layer", "condition", "ci"), red_ci)
    attrs["mismatched_layer_of"] = json.dumps(mismatch_of)
    attrs["n_train_prompts"], attrs["n_val_prompts"] = len(tr_p), len(va_p)
    ds.attrs.update(attrs)
    _describe(ds)
    return ds


def _pooled_resid(model, texts, pooling, strip, chunk) -> np.ndarray:
    """Float[layer, n, d] pooled ``resid`` from the capture engine (``hooks.capture``)."""
    from polylens.hooks.capture import pool_batch

    parts = [
        pool_batch(model, texts[i : i + chunk], pooling, ("resid",), strip_trailing_punct=strip).acts["resid"]
        for i in range(0, len(texts), chunk)
    ]
    return np.concatenate(parts).transpose(1, 0, 2)


def _best_alpha(alphas: np.ndarray, kl: np.ndarray, rtol: float = 1e-6) -> float:
    """The alpha of least KL; ties (e.g. behind a scale-invariant norm) go to the alpha nearest 1."""
    tied = np.flatnonzero(kl <= np.nanmin(kl) * (1 + rtol) + 1e-12)
    return float(alphas[tied[np.argmin(np.abs(alphas[tied] - 1.0))]])


def _mismatched_layer(l: int, site: str, L: int) -> int:
    """A distant layer of the same site: half the depth away (wrapping), never ``l`` itself."""
    lo = 0 if site == "resid_post" else 1
    span = L + 1 - lo
    return lo + (l - lo + span // 2) % span


def _same_vocab(ma, mb) -> bool:
    return ma.tokenizer.get_vocab() == mb.tokenizer.get_vocab()


def _attrs(cfg: DiffConfig, ma, mb, ps, fair: FairnessReport) -> dict:
    from importlib.metadata import version

    attrs = {
        "analysis": "model_diff",
        "toolkit_version": _toolkit_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "probe_set": ps.name,
        "probe_set_sha256": ps.sha256,
        "langs": ",".join(ps.languages),
        "positions": cfg.positions,
        "k_positions": cfg.k_positions,
        "pooling": cfg.pooling,
        "sites": ",".join(cfg.sites),
        "patch_map": cfg.map_method,
        "methods": ",".join(cfg.methods),
        "val_frac": cfg.val_frac,
        "split_by": cfg.split_by,
        "seed": cfg.seed,
        "n_boot": cfg.n_boot,
        "max_tokens": cfg.max_tokens,
        "ci_level": 0.95,
        "skip_trailing_punct": int(cfg.skip_trailing_punct),
        "kl": "KL(target_patched || target), nats, next token at the last content token",
        "alpha": "patched vector = alpha * x; alpha=0 is zero-ablation",
        "fairness_min_shared_ratio": fair.min_shared_ratio,
        "fairness_n_total": fair.n_total,
        "fairness_n_kept": fair.n_kept,
        "fairness_identical_tokenizers": int(fair.identical_tokenizers),
        "xarray_version": version("xarray"),
    }
    for tag, m in (("a", ma), ("b", mb)):
        for k, v in m.provenance().items():
            attrs[f"{tag}_{k}"] = str(v)
        attrs[f"{tag}_name"] = m.spec.name
        if m.extra:
            attrs[f"{tag}_extra"] = json.dumps(m.extra)
    return attrs


def _toolkit_version() -> str:
    try:
        from importlib.metadata import version

        return version("polylens")
    except Exception:  # noqa: BLE001 - not installed as a package
        return "dev"


def _describe(ds: xr.Dataset) -> None:
    ds["cka"].attrs["long_name"] = "CKA(A, B) on pooled resid_post activations"
    if "kl" in ds:
        ds["kl"].attrs["long_name"] = "mean KL(B_patched || B) (a_to_b) / KL(A_patched || A) (b_to_a)"
        ds["kl_asymmetry"].attrs["long_name"] = "mean of KL a_to_b minus KL b_to_a, paired by prompt"
    if "kl_reduction" in ds:
        ds["kl_reduction"].attrs["long_name"] = "1 - mean KL(condition) / mean KL(raw), val prompts"


def write_results(ds: xr.Dataset, out_dir: str | Path) -> Path:
    """Write ``diff.nc`` (+ ``summary.json`` of headline numbers) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    enc = {v: {"zlib": True} for v in ds.data_vars if ds[v].dtype.kind == "f"}
    path = out / "diff.nc"
    ds.to_netcdf(path, encoding=enc)
    (out / "summary.json").write_text(json.dumps(summarize(ds), indent=1, default=float))
    return path


def summarize(ds: xr.Dataset) -> dict:
    """Headline numbers as plain JSON (also what the CLI prints)."""
    s = {
        "a": ds.attrs.get("a_name"),
        "b": ds.attrs.get("b_name"),
        "prompts": int(ds.sizes["prompt"]),
        "fairness": f"{ds.attrs['fairness_n_kept']}/{ds.attrs['fairness_n_total']} kept",
        "cka_linear": _fmt_series(ds["cka"].sel(kind="linear"), ds["cka_ci"].sel(kind="linear")),
    }
    if "kl" in ds:
        s["kl_a_to_b"] = _fmt_series(ds["kl"].sel(direction="a_to_b"), ds["kl_ci"].sel(direction="a_to_b"))
        s["kl_b_to_a"] = _fmt_series(ds["kl"].sel(direction="b_to_a"), ds["kl_ci"].sel(direction="b_to_a"))
        s["peak_kl_layer"], s["control_layer"] = ds.attrs["peak_kl_layer"], ds.attrs["control_layer"]
        s["kl_reduction"] = (
            {}
            if "kl_reduction" not in ds
            else {
                f"{site}@{l}": {
                    c: [round(float(ds["kl_reduction"].sel(site=site, patch_layer=l, condition=c)), 4)]
                    + [
                        round(float(v), 4)
                        for v in ds["kl_reduction_ci"].sel(site=site, patch_layer=l, condition=c)
                    ]
                    for c in ds.condition.values
                }
                for site in ds.site.values
                for l in ds.patch_layer.values
            }
        )
    else:
        s["patching_skipped"] = ds.attrs.get("patching_skipped")
    return s


def _fmt_series(mean: xr.DataArray, ci: xr.DataArray) -> list:
    return [
        [int(l), round(float(m), 5), round(float(lo), 5), round(float(hi), 5)]
        for l, m, (lo, hi) in zip(mean.layer.values, mean.values, ci.values)
    ]
