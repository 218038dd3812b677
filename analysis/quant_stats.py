"""Issue-18 statistics of the quantization study: partial correlations, EXP-038, ablation CIs.

Every resample comes from the statistics engine (``analysis.stats``: bootstrap and permutation
index matrices, the vectorized Pearson kernel, percentile CIs, BH); what is added here is the
residualisation that turns those into *partial* correlations.

- :func:`residualise`: least-squares residuals of rows of ``x`` on rows of ``z`` (+ intercept).
- :func:`partial_correlate`: r(x, y | z) with a pairs-bootstrap CI and a permutation p-value.
- :func:`add_partial_correlations`: degradation vs each predictor controlling for base bpb.
- :func:`resilience`: EXP-038, degradation relative to the resource tier and what explains it.
- :func:`ablation_effect`: super-weight ablation vs same-rank controls, CIs over text units.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from jaxtyping import Float

from polylens.analysis import stats as st

PARTIAL_STATS = ("n", "partial_r", "partial_lo", "partial_hi", "partial_p")
CONTROL = "bpb_base"  # the covariate every partial correlation controls for


def residualise(
    x: Float[np.ndarray, "*rows n"], z: Float[np.ndarray, "*rows n"]
) -> Float[np.ndarray, "*rows n"]:
    """Residuals of ``x`` after least squares on ``[1, z]``, row by row (one covariate)."""
    xc = x - x.mean(-1, keepdims=True)
    zc = z - z.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = (xc * zc).sum(-1, keepdims=True) / (zc * zc).sum(-1, keepdims=True)
    return xc - beta * zc


def partial_correlate(
    x: Float[np.ndarray, " n"],
    y: Float[np.ndarray, " n"],
    z: Float[np.ndarray, " n"],
    n_boot: int = 2000,
    n_perm: int = 5000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Partial Pearson r of ``x`` and ``y`` controlling for ``z``.

    Point: Pearson r of the residuals of ``x`` and ``y`` on ``z``. CI: percentile bootstrap
    over observations (resampled triples, residualised within each resample). p: two-sided
    permutation of the ``x`` residuals against the ``y`` residuals (+1 adjusted). Triples with
    a NaN are dropped; NaN results below 5 triples.
    """
    x, y, z = (np.asarray(a, float) for a in (x, y, z))
    ok = ~(np.isnan(x) | np.isnan(y) | np.isnan(z))
    x, y, z = x[ok], y[ok], z[ok]
    n = len(x)
    if n < 5 or min(np.ptp(x), np.ptp(y), np.ptp(z)) == 0:
        return {"n": n, **dict.fromkeys(PARTIAL_STATS[1:], np.nan)}
    rng = np.random.default_rng(seed)
    boot = st.bootstrap_indices(n, n_boot, rng)
    perm = st.permutation_indices(n, n_perm, rng)
    rx, ry = residualise(x, z), residualise(y, z)
    r = float(st.pearson_rows(rx, ry))
    rb = st.pearson_rows(residualise(x[boot], z[boot]), residualise(y[boot], z[boot]))
    lo, hi = st.percentile_ci(rb[~np.isnan(rb)], level)
    null = st.pearson_rows(rx[perm], np.broadcast_to(ry, perm.shape))
    p = (1 + np.sum(np.abs(null) >= abs(r) - 1e-12)) / (n_perm + 1)
    return {"n": n, "partial_r": r, "partial_lo": float(lo), "partial_hi": float(hi), "partial_p": float(p)}


def add_partial_correlations(ds: xr.Dataset, n_boot: int, n_perm: int) -> xr.Dataset:
    """``partial_correlation (variant, corr_predictor, partial_stat)``: relative degradation vs
    each predictor controlling for base bits per byte, with BH q over predictors per variant."""
    preds = list(ds.corr_predictor.values)
    z = ds.predictor_value.sel(predictor=CONTROL).values
    out = np.full((ds.sizes["variant"], len(preds), len(PARTIAL_STATS) + 1), np.nan)
    for vi, v in enumerate(ds.variant.values):
        y = ds.rel_degradation.sel(variant=v).values
        for pi, p in enumerate(preds):
            if p == CONTROL:
                continue
            x = (
                ds.predicted_error.sel(variant=v)
                if p == "predicted_error"
                else ds.predictor_value.sel(predictor=p)
            ).values
            r = partial_correlate(x, y, z, n_boot=n_boot, n_perm=n_perm)
            out[vi, pi, :-1] = [r[k] for k in PARTIAL_STATS]
        tested = ~np.isnan(out[vi, :, 4])
        out[vi, tested, -1] = st.bh_adjust(out[vi, tested, 4])
    ds = ds.assign_coords(partial_stat=[*PARTIAL_STATS, "partial_q"])
    ds["partial_correlation"] = (("variant", "corr_predictor", "partial_stat"), out)
    ds["partial_correlation"].attrs["long_name"] = (
        f"Pearson r of rel_degradation and the predictor after residualising both on {CONTROL} "
        "(over languages); 95% pairs bootstrap CI, permutation p, BH q over predictors"
    )
    return ds


# ----------------------------------------------------------------------------- EXP-038
def resilience_features(base: xr.Dataset) -> dict[str, Float[np.ndarray, " lang"]]:
    """Per-language candidate explanations of resilience, from the base detail scores.

    ``layer_usage``: effective number of blocks (exp of the entropy of each block's share of
    the residual update); ``head_utilisation``: mean over heads of 1 - sink mass (attention
    spent on content, not BOS); ``head_entropy``: mean attention entropy (nats);
    ``redundancy``: mean cosine between consecutive layers' pooled residuals (high = later
    layers re-state earlier ones).
    """
    contrib = base.contribution.mean("unit").values[:, 1:]
    share = contrib / contrib.sum(1, keepdims=True)
    pooled = base.pooled.values.astype(float)  # lang unit layer d
    a, b = pooled[:, :, 1:-1], pooled[:, :, 2:]
    cos = (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    return {
        "layer_usage": np.exp(-(share * np.log(np.clip(share, 1e-30, None))).sum(1)),
        "head_utilisation": 1.0 - base.sink.mean(("unit", "block", "head")).values,
        "head_entropy": base.entropy.mean(("unit", "block", "head")).values,
        "redundancy": np.nanmean(cos, (1, 2)),
    }


def resilience(ds: xr.Dataset, base: xr.Dataset, n_boot: int, n_perm: int) -> xr.Dataset:
    """EXP-038: which languages degrade less/more than their resource tier predicts, and why.

    Tier expectation = mean relative degradation of the language's resource tier (the other
    languages of the tier, leave-one-out). ``resilience_residual`` = degradation - expectation
    (negative: more resilient than its tier). A language is ``resilient`` / ``fragile`` when
    its whole 95% CI (over units) lies below / above the expectation. Each feature of
    :func:`resilience_features` is correlated with the residual over languages (bootstrap CI,
    permutation p, BH over features per variant).
    """
    res = ds.resource.values
    feats = resilience_features(base)
    resid = np.full((ds.sizes["variant"], ds.sizes["lang"]), np.nan)
    call = np.zeros_like(resid, dtype=np.int8)
    corr = np.full((ds.sizes["variant"], len(feats), 4), np.nan)
    for vi, v in enumerate(ds.variant.values):
        s = ds.sel(variant=v)
        rel = s.rel_degradation.values
        exp = np.array([np.nanmean(np.delete(rel, i)[np.delete(res, i) == res[i]]) for i in range(len(rel))])
        resid[vi] = rel - exp
        call[vi] = (s.rel_degradation_hi.values < exp).astype(np.int8) * -1 + (
            s.rel_degradation_lo.values > exp
        )
        for fi, f in enumerate(feats.values()):
            c = st.correlate(f, resid[vi], n_boot=n_boot, n_perm=n_perm)
            corr[vi, fi, :3] = [c["pearson_r"], c["pearson_lo"], c["pearson_hi"]]
            corr[vi, fi, 3] = c["pearson_p"]
    q = np.stack([st.bh_adjust(corr[vi, :, 3]) for vi in range(len(corr))])
    out = xr.Dataset(
        {
            "resilience_residual": (("variant", "lang"), resid),
            "resilience_call": (("variant", "lang"), call),
            "resilience_feature": (("feature", "lang"), np.array(list(feats.values()))),
            "resilience_corr": (("variant", "feature", "rstat"), np.concatenate([corr, q[..., None]], -1)),
        },
        coords={"feature": list(feats), "rstat": ["r", "lo", "hi", "p", "q"]},
    )
    out["resilience_call"].attrs["long_name"] = "-1 resilient, +1 fragile, 0 within its tier (95% CI)"
    return ds.merge(out)


# ----------------------------------------------------------------------------- ablation
def ablation_effect(
    nll_base: Float[np.ndarray, "lang unit"],
    nll_ablated: Float[np.ndarray, "cond lang unit"],
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Float[np.ndarray, "*shape"]]:
    """Relative bits-per-byte change of each ablation condition vs base, per language.

    ``nll_ablated[0]`` is the target (e.g. the super weight zeroed), the rest are controls;
    the texts (hence bytes) are the same, so bpb_abl / bpb_base - 1 = sum NLL_abl / sum NLL_base
    - 1 over a language's units. 95% CIs: paired percentile bootstrap over units (one
    ``stats.bootstrap_counts`` matrix for every condition and language). ``excess`` = target
    minus the mean of the controls (``cond - 1 >= 1`` controls), CI from the same resamples.
    """
    counts = np.vstack([np.ones(nll_base.shape[1]), st.bootstrap_counts(nll_base.shape[1], n_boot, seed)])
    sb = counts @ np.nan_to_num(np.asarray(nll_base, float)).T  # 1 + n_boot, lang
    b = np.stack([counts @ np.nan_to_num(np.asarray(c, float)).T / sb - 1.0 for c in nll_ablated])
    excess = b[0] - b[1:].mean(0) if len(b) > 1 else b[0]
    lo, hi = np.moveaxis(st.percentile_ci(b[:, 1:], 0.95, axis=1), -1, 0)
    elo, ehi = np.moveaxis(st.percentile_ci(excess[1:], 0.95, axis=0), -1, 0)
    return {
        "rel": b[:, 0],
        "rel_lo": lo,
        "rel_hi": hi,
        "excess": excess[0],
        "excess_lo": elo,
        "excess_hi": ehi,
    }
