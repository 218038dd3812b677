"""The Tiny Aya seed study's claims, one by one: our measurement with a CI and a verdict.

Every number comes from an ``analysis.alignment.analyze`` result (per-unit curves resampled
over concepts with the run's own bootstrap settings); each verdict is a stated rule applied to
those numbers (``RULES``), never typed in. Verdicts: ``reproduced``, ``not reproduced``,
``not testable here`` (with the reason). The headline metric is the language-centred cosine
(raw cosine is near 1 for any pair on anisotropic residual streams); the 0.85/3-layer rule is
tested on raw cosine, where the seed defined it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from jaxtyping import Float

from . import stats as st
from .commitment import commitment_layer

__all__ = ["seed_claims", "write_seed_claims", "CLAIMS", "RULES", "VERDICTS", "SEED_DEPTH", "COLUMNS"]

REPRODUCED, NOT_REPRODUCED, NOT_TESTABLE = "reproduced", "not reproduced", "not testable here"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, NOT_TESTABLE)
#: the seed's peak "layers 18-20" of 36 as a fraction of depth
SEED_DEPTH = (18 / 36, 20 / 36)
CLAIMS = {
    "shape": "alignment follows a rise-peak-collapse shape over depth",
    "peak_depth": "alignment peaks mid-network, layers 18-20 of 36 (50-56% of depth)",
    "tier_order": "commitment is ordered by resource tier (high-resource languages commit earliest)",
    "destroyed": "shared representations are destroyed at the output layers",
    "layer0": "Latin-script languages are near-maximally aligned at the embedding layer (layer 0)",
    "rule_085_3": "commitment = first layer with cosine >= 0.85 for 3 consecutive layers is a sound rule",
}
RULES = {
    "shape": "per language: peak minus layer 0 and peak minus last layer both have CI lower bound > 0 "
    "(peak layer chosen on even-numbered concepts, measured on odd ones); reproduced if this holds for more than half the languages",
    "peak_depth": "median over languages of peak layer / last layer, CI re-selecting every peak per "
    "resample; reproduced if the CI overlaps 0.50-0.56",
    "tier_order": "Spearman rho of tier rank (high 0, medium 1, low 2) vs the FWER-controlled "
    "commitment layer (never = past the last layer), bootstrap over languages; reproduced if lo > 0",
    "destroyed": "per language: last-layer centred cosine not above the mismatched-concept null q95; "
    "reproduced if more than half the languages; MEXA: last-layer exact CI lower bound <= 1/n (chance)",
    "layer0": "per Latin-script language: CI of (peak - layer 0) includes 0; reproduced if more than "
    "half the Latin-script languages",
    "rule_085_3": "the rule applied to the mismatched-concept null mean curve: reproduced (sound) if the "
    "null commits for at most 5% of languages (exact CI)",
}
COLUMNS = (
    "claim", "seed_claim", "metric", "value", "lo", "hi", "k", "n", "measurement", "verdict", "why",
)  # fmt: skip
TIER_RANK = {"high": 0, "medium": 1, "low": 2}


@dataclass(frozen=True)
class _Ctx:
    """One variant's non-reference languages: point and resampled centred-cosine curves."""

    res: xr.Dataset  # the variant's selection, reference language dropped
    langs: list[str]
    layers: Float[np.ndarray, " layer"]
    point: Float[np.ndarray, "lang layer"]
    boot: Float[np.ndarray, "lang layer boot"]
    level: float
    select: Float[np.ndarray, " lang"]  # peak layer index chosen on the even-numbered concepts
    held_out: Float[np.ndarray, "lang layer boot"]  # resampled curves of the odd-numbered concepts


def _row(claim: str, metric: str, value: float, lo: float, hi: float, k: int, n: int, **kw: str) -> dict:
    """One table row (``measurement``, ``verdict``, ``why`` as keywords)."""
    return {"claim": claim, "seed_claim": CLAIMS[claim], "metric": metric, "value": float(value),
            "lo": float(lo), "hi": float(hi), "k": int(k), "n": int(n), **kw}  # fmt: skip


def _majority(k: int, n: int) -> str:
    """Reproduced when a claim holds for more than half of ``n`` items."""
    return REPRODUCED if n > 0 and k > n / 2 else NOT_REPRODUCED


def _prop(k: int, n: int, level: float) -> tuple[float, float, float]:
    """(k/n, exact lo, exact hi)."""
    lo, hi = st.proportion_ci(k, n, level)
    return (k / n if n else np.nan), float(lo), float(hi)


def _rise_fall(ctx: _Ctx) -> tuple[Float[np.ndarray, "lang 2"], Float[np.ndarray, "lang 2"]]:
    """CIs of (peak - layer 0) and (peak - last layer) per language, split-half.

    The peak layer is selected on the even-numbered concepts and the differences are measured
    (bootstrap CI) on the odd-numbered ones, so selecting the max does not bias them upwards.
    """
    idx = ctx.select.astype(np.int64)[:, None, None]
    peak_b = np.take_along_axis(ctx.held_out, idx, axis=1)[:, 0]
    rise = st.percentile_ci(peak_b - ctx.held_out[:, 0], ctx.level)
    fall = st.percentile_ci(peak_b - ctx.held_out[:, -1], ctx.level)
    return rise, fall


def _shape(ctx: _Ctx) -> dict:
    """Rise-peak-collapse: languages whose peak is above both ends."""
    rise, fall = _rise_fall(ctx)
    holds = (rise[:, 0] > 0) & (fall[:, 0] > 0)
    k, n = int(holds.sum()), len(ctx.langs)
    v, lo, hi = _prop(k, n, ctx.level)
    fails = ", ".join(g for g, h in zip(ctx.langs, holds) if not h) or "none"
    return _row("shape", "cos_centred", v, lo, hi, k, n, verdict=_majority(k, n),
                measurement=f"rise and collapse both significant in {k}/{n} languages (not: {fails})",
                why=RULES["shape"])  # fmt: skip


def _peak_depth(ctx: _Ctx) -> dict:
    """Median relative depth of the peak over languages, CI with per-resample re-selection."""
    last = float(ctx.layers.max())
    depth_pt = ctx.layers[np.nanargmax(ctx.point, axis=1)] / last
    filled = np.where(np.isnan(ctx.boot), -np.inf, ctx.boot)
    depth_b = np.median(ctx.layers[filled.argmax(1)] / last, axis=0)
    value = float(np.median(depth_pt))
    lo, hi = st.percentile_ci(depth_b, ctx.level)
    overlap = lo <= SEED_DEPTH[1] and hi >= SEED_DEPTH[0]
    lay = ctx.layers[np.nanargmax(ctx.point, axis=1)]
    return _row("peak_depth", "cos_centred", value, lo, hi, int(np.median(lay)), int(last),
                verdict=REPRODUCED if overlap else NOT_REPRODUCED,
                measurement=f"median peak at {value:.2f} of depth [{lo:.2f}, {hi:.2f}] (median layer "
                f"{np.median(lay):.0f} of {last:.0f}; seed 0.50-0.56)", why=RULES["peak_depth"])  # fmt: skip


def _tier_order(ctx: _Ctx) -> dict:
    """Spearman of resource tier vs FWER-controlled commitment layer across languages."""
    why = RULES["tier_order"]
    if "resource" not in ctx.res.coords or "commit_layer_free" not in ctx.res:
        return _row("tier_order", "commit_layer_free", np.nan, np.nan, np.nan, 0, len(ctx.langs),
                    verdict=NOT_TESTABLE, measurement="no resource tiers or commitment in the results",
                    why=why)  # fmt: skip
    tiers = [str(t) for t in ctx.res["resource"].values]
    rank = np.array([TIER_RANK.get(t, np.nan) for t in tiers], dtype=float)
    commit = ctx.res["commit_layer_free"].values.astype(float)
    commit = np.where(np.isnan(commit), ctx.layers.max() + 1, commit)
    seed = int(ctx.res.attrs.get("analysis_seed", 0))
    c = st.correlate(rank, commit, n_boot=int(ctx.res.attrs.get("analysis_n_boot", 1000)), seed=seed)
    by_tier = ", ".join(
        f"{t} {np.median(commit[rank == r]):.0f}" for t, r in TIER_RANK.items() if (rank == r).any()
    )
    n_tiers = len({r for r in rank if np.isfinite(r)})
    if n_tiers < 2 or not np.isfinite(c["spearman_rho"]):
        reason = (
            "fewer than two tiers" if n_tiers < 2
            else "fewer than 4 languages" if c["n"] < 4
            else "the commitment layer is the same everywhere"
        )  # fmt: skip
        return _row("tier_order", "commit_layer_free", np.nan, np.nan, np.nan, n_tiers, int(c["n"]),
                    verdict=NOT_TESTABLE, measurement=f"{reason} (median layer by tier: {by_tier})",
                    why=why)  # fmt: skip
    rho, lo, hi = c["spearman_rho"], c["spearman_lo"], c["spearman_hi"]
    return _row("tier_order", "commit_layer_free", rho, lo, hi, n_tiers, int(c["n"]),
                verdict=REPRODUCED if lo > 0 else NOT_REPRODUCED,
                measurement=f"Spearman rho {rho:+.2f} [{lo:+.2f}, {hi:+.2f}] over {c['n']} languages "
                f"(median commitment layer: {by_tier})", why=why)  # fmt: skip


def _destroyed(ctx: _Ctx) -> dict:
    """Last-layer alignment not above the null (centred cosine) / chance (MEXA retrieval)."""
    last = ctx.res.isel(layer=-1)
    if "null_centred_q95" not in last:
        return _row("destroyed", "cos_centred", np.nan, np.nan, np.nan, 0, len(ctx.langs),
                    verdict=NOT_TESTABLE, measurement="no centred-cosine null in the results",
                    why=RULES["destroyed"])  # fmt: skip
    gone = last["cos_centred"].values <= last["null_centred_q95"].values
    k, n = int(gone.sum()), len(ctx.langs)
    v, lo, hi = _prop(k, n, ctx.level)
    mexa = ""
    if "retrieval_mexa_ci" in last and "n_units" in ctx.res:
        chance = 1.0 / ctx.res["n_units"].values.astype(float)
        m_gone = last["retrieval_mexa_ci"].values[:, 0] <= chance
        names = ", ".join(g for g, x in zip(ctx.langs, m_gone) if x) or "none"
        mexa = f"; MEXA retrieval at chance at the last layer in {int(m_gone.sum())}/{n} ({names})"
    return _row("destroyed", "cos_centred", v, lo, hi, k, n, verdict=_majority(k, n),
                measurement=f"last-layer centred cosine within the null in {k}/{n} languages{mexa}",
                why=RULES["destroyed"])  # fmt: skip


def _layer0(ctx: _Ctx) -> dict:
    """Latin-script languages whose layer-0 alignment is not below their peak."""
    why = RULES["layer0"]
    if "script" not in ctx.res.coords:
        return _row("layer0", "cos_centred", np.nan, np.nan, np.nan, 0, 0, verdict=NOT_TESTABLE,
                    measurement="no script coordinate in the results", why=why)  # fmt: skip
    latin = np.array([str(s) == "Latn" for s in ctx.res["script"].values])
    if not latin.any():
        return _row("layer0", "cos_centred", np.nan, np.nan, np.nan, 0, 0, verdict=NOT_TESTABLE,
                    measurement="no Latin-script language in the results", why=why)  # fmt: skip
    rise, _ = _rise_fall(ctx)
    near = rise[:, 0] <= 0
    k, n = int((near & latin).sum()), int(latin.sum())
    v, lo, hi = _prop(k, n, ctx.level)
    l0 = ctx.point[:, 0] / np.nanmax(ctx.point, axis=1)
    return _row("layer0", "cos_centred", v, lo, hi, k, n, verdict=_majority(k, n),
                measurement=f"layer 0 not below the peak in {k}/{n} Latin-script languages; layer 0 "
                f"reaches a median {np.median(l0[latin]):.2f} of the peak (Latin) vs "
                f"{np.median(l0[~latin]) if (~latin).any() else np.nan:.2f} (other scripts)",
                why=why)  # fmt: skip


def _rule(ctx: _Ctx) -> dict:
    """The seed's tau/k rule on the mismatched-concept null mean curve (raw cosine)."""
    tau = float(ctx.res.attrs.get("analysis_tau", 0.85))
    k_run = int(ctx.res.attrs.get("analysis_k", 3))
    null_c = commitment_layer(ctx.res["null_mean"].values, tau, k_run, axis=-1, layers=ctx.layers)
    real_c = ctx.res["commit_layer"].values.astype(float)
    k, n = int(np.isfinite(null_c).sum()), len(ctx.langs)
    v, lo, hi = _prop(k, n, ctx.level)
    same = int((np.isfinite(null_c) & (null_c <= np.nan_to_num(real_c, nan=np.inf))).sum())
    layers = sorted({int(x) for x in real_c if np.isfinite(x)})
    return _row("rule_085_3", "cos", v, lo, hi, k, n,
                verdict=REPRODUCED if hi <= 0.05 or k == 0 else NOT_REPRODUCED,
                measurement=f"mismatched concepts also commit (tau {tau:.2f}, {k_run} layers) in {k}/{n} "
                f"languages, at or before the matched curve in {same}; matched commitment layers: "
                f"{', '.join(map(str, layers)) or 'never'}", why=RULES["rule_085_3"])  # fmt: skip


def _context(res: xr.Dataset, variant: Any, n_boot: int | None, seed: int | None) -> _Ctx:
    """Resample the variant's per-unit centred-cosine curves over concepts."""
    unit = str(res.attrs.get("analysis_unit_dim", "concept"))
    ref = res.attrs.get("analysis_ref", "en")
    sub = res.sel(variant=variant)
    sub = sub.sel(lang=[g for g in sub["lang"].values if g != ref])
    n_boot = int(n_boot if n_boot is not None else res.attrs.get("analysis_n_boot", 1000))
    seed = int(seed if seed is not None else res.attrs.get("analysis_seed", 0))
    units = sub["unit_cos_centred"].transpose("lang", "layer", unit).values.astype(np.float64)
    w = st.resample_weights(units.shape[-1], n_boot, seed)
    point, boot = st.boot_means(units, w)
    even, odd = units[..., 0::2], units[..., 1::2]
    sel_curve = st.boot_means(even, np.ones((1, even.shape[-1])))[0]
    sel = np.where(np.isnan(sel_curve), -np.inf, sel_curve).argmax(axis=1)
    held = st.boot_means(odd, st.resample_weights(odd.shape[-1], n_boot, seed + 1))[1]
    return _Ctx(
        res=sub,
        langs=[str(g) for g in sub["lang"].values],
        layers=np.asarray(sub["layer"].values, dtype=np.float64),
        point=point,
        boot=boot,
        level=float(res.attrs.get("analysis_ci_level", 0.95)),
        select=sel.astype(np.float64),
        held_out=held,
    )


def seed_claims(
    res: xr.Dataset, variant: Any = None, n_boot: int | None = None, seed: int | None = None
) -> pd.DataFrame:
    """One row per seed claim (``COLUMNS``) for ``variant`` (default: the first) of an analyze result."""
    variant = res["variant"].values[0] if variant is None else variant
    ctx = _context(res, variant, n_boot, seed)
    rows = [f(ctx) for f in (_shape, _peak_depth, _tier_order, _destroyed, _layer0, _rule)]
    out = pd.DataFrame(rows, columns=list(COLUMNS))
    out.insert(0, "variant", str(variant))
    return out


def write_seed_claims(res: xr.Dataset, out: Path) -> pd.DataFrame:
    """``seed_claims.csv`` in ``out``: every variant's claim rows; returns the table."""
    table = pd.concat([seed_claims(res, v) for v in res["variant"].values], ignore_index=True)
    table.to_csv(out / "seed_claims.csv", index=False, float_format="%.6g")
    return table
