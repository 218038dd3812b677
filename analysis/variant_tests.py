"""Paired variant tests over units (``stats.csv``): sign-flip permutation p, BH per family, dz, CI."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from jaxtyping import Float

from . import stats as st
from .core import unit_dim_of

__all__ = ["variant_tests", "TEST_COLUMNS"]

TEST_COLUMNS = [
    "scope",
    "metric",
    "variant_a",
    "variant_b",
    "lang",
    "layer",
    "n",
    "mean_a",
    "mean_b",
    "diff",
    "diff_ci_lo",
    "diff_ci_hi",
    "dz",
    "p",
    "p_bh",
    "significant",
]
UnitArray = Float[np.ndarray, "variant lang *layer unit"]


def _pairs(variants: Sequence[str], baseline: str | None) -> list[tuple[str, str]]:
    """(a, b) pairs to test: every variant against ``baseline`` if present, else all pairs."""
    if baseline is not None and baseline in variants:
        return [(v, baseline) for v in variants if v != baseline]
    return list(itertools.combinations(variants, 2))


def _families(sub: xr.Dataset, unit: str) -> dict[str, dict[str, UnitArray]]:
    """Per-unit values of each test family: scope -> metric -> (variant, lang, [layer,] unit)."""
    n_layers = sub.sizes["layer"]

    def unit_arr(name: str) -> Float[np.ndarray, "variant lang layer unit"]:
        """One per-unit curve variable with the unit axis last."""
        return sub[name].transpose("variant", "lang", "layer", unit).values.astype(np.float64)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cos_u, mar_u = unit_arr("unit_cos"), unit_arr("unit_margin")
        commit = sub["commit_unit"].transpose("variant", "lang", unit).values
        present = ~np.isnan(cos_u).all(2)
        per_lang = {
            "cos_auc": np.nanmean(cos_u, 2),
            "margin_auc": np.nanmean(mar_u, 2),
            "peak_cos": np.nanmax(np.where(np.isnan(cos_u), -np.inf, cos_u), 2),
            "commit": np.where(present, np.where(np.isnan(commit), float(n_layers), commit), np.nan),
        }
        per_lang["peak_cos"] = np.where(present, per_lang["peak_cos"], np.nan)
    return {"language": per_lang, "layer": {"cos": cos_u, "margin": mar_u}}


def _test_family(
    a: UnitArray, b: UnitArray, w: Float[np.ndarray, "boot unit"], n_perm: int, seed: int, level: float
) -> dict[str, Float[np.ndarray, "pair lang *layer"]]:
    """One family of paired tests a vs b: mean diff, CI, dz, p and BH-adjusted p (over the family)."""
    diff = a - b
    t = st.signflip_test(diff, n_perm=n_perm, seed=seed)
    ci = st.percentile_ci(st.nanmean_weighted(diff, w), level)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ma = np.nanmean(np.where(np.isnan(diff), np.nan, a), -1)
        mb = np.nanmean(np.where(np.isnan(diff), np.nan, b), -1)
    return {
        "n": t["n"], "mean_a": ma, "mean_b": mb, "diff": t["stat"], "diff_ci_lo": ci[..., 0],
        "diff_ci_hi": ci[..., 1], "dz": st.cohens_dz(diff), "p": t["p"], "p_bh": st.bh_adjust(t["p"]),
    }  # fmt: skip


def variant_tests(
    res: xr.Dataset,
    baseline: str | None = "base",
    n_perm: int = 10000,
    seed: int = 0,
    alpha: float = 0.05,
    exclude_ref: bool = True,
) -> pd.DataFrame:
    """Paired (over units) sign-flip permutation tests between variants, per language and per layer.

    Families (BH within each): scope ``language`` x metric in {cos_auc, margin_auc, peak_cos,
    commit} and scope ``layer`` x metric in {cos, margin}. ``commit`` uses per-unit commitment
    with never = n_layers (censored, worst). Columns: scope, metric, variant_a, variant_b, lang,
    layer, n, mean_a, mean_b, diff (a - b), diff_ci_lo, diff_ci_hi, dz, p, p_bh, significant.
    """
    unit = res.attrs.get("analysis_unit_dim") or unit_dim_of(res.rename({"unit_cos": "resid"}))
    ref = res.attrs.get("analysis_ref")
    level = float(res.attrs.get("analysis_ci_level", 0.95))
    variants = [str(v) for v in res["variant"].values]
    langs = [str(g) for g in res["lang"].values if not (exclude_ref and g == ref)]
    pairs = _pairs(variants, baseline)
    if not pairs or not langs:  # single variant: no tests, but a well-formed (empty) table
        return pd.DataFrame(columns=TEST_COLUMNS)
    w = st.resample_weights(res.sizes[unit], int(res.attrs.get("analysis_n_boot", 1000)), seed + 1)
    sub = res.sel(lang=langs)
    ia = [variants.index(a) for a, _ in pairs]
    ib = [variants.index(b) for _, b in pairs]
    layer_vals = sub["layer"].values
    rows: list[dict[str, Any]] = []
    for scope, metrics in _families(sub, unit).items():
        for metric, arr in metrics.items():
            fam = _test_family(arr[ia], arr[ib], w, n_perm, seed + 2, level)
            for idx in np.ndindex(fam["p"].shape):
                pi, li = idx[0], idx[1]
                row: dict[str, Any] = {"scope": scope, "metric": metric}
                row.update(variant_a=pairs[pi][0], variant_b=pairs[pi][1], lang=langs[li])
                row["layer"] = int(layer_vals[idx[2]]) if scope == "layer" else -1
                row.update({key: fam[key][idx] for key in TEST_COLUMNS[6:15]})
                row["n"] = int(row["n"])
                row["significant"] = bool(fam["p_bh"][idx] < alpha)
                rows.append(row)
    return pd.DataFrame(rows)
