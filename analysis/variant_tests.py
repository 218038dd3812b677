"""Paired variant tests over units (``stats.csv``): sign-flip permutation p, BH per family, dz, CI."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from jaxtyping import Bool, Float, Int, Shaped

from . import stats as st
from .core import unit_dim_of

__all__ = ["variant_tests", "TEST_COLUMNS", "change_tests", "FLOORS"]

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


# ---------------------------------------------------------------- change tests of a diff (issue 18)

#: smallest effects of interest: far above float32 reordering noise (~1e-6 relative), far below
#: any real edit, fine-tune or int4 quantization (relative residual change >= ~1e-2)
FLOORS = {"rel_change": 1e-3, "kl": 1e-4, "cka": 1e-3}


def relative_change(
    xa: Float[np.ndarray, "layer prompt d"], xb: Float[np.ndarray, "layer prompt d"]
) -> Float[np.ndarray, "layer prompt"]:
    """|A - B| / |A| per layer and prompt (0 where A is 0 and B equals it)."""
    num = np.linalg.norm(np.asarray(xa, np.float64) - xb, axis=-1)
    den = np.linalg.norm(np.asarray(xa, np.float64), axis=-1)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def greater_p(x: Float[np.ndarray, "*batch unit"], n_perm: int, seed: int) -> Float[np.ndarray, "*batch"]:
    """One-sided sign-flip p of mean(x) > 0 (half the two-sided p when the mean is positive, else 1)."""
    t = st.signflip_test(x, n_perm=n_perm, seed=seed)
    return np.where(t["stat"] > 0, t["p"] / 2, 1.0)


def _by_unit(
    values: Float[np.ndarray, "*batch prompt"], keys: Shaped[np.ndarray, " prompt"]
) -> Float[np.ndarray, "*batch key"]:
    """Mean of ``values`` over the prompts of each distinct key (sorted keys)."""
    uniq, code = np.unique(keys, return_inverse=True)
    onehot = (code[:, None] == np.arange(len(uniq))[None]).astype(float)
    return values @ onehot / onehot.sum(0)


def _lang_unit(
    values: Float[np.ndarray, " prompt"],
    lang: Shaped[np.ndarray, " prompt"],
    unit: Shaped[np.ndarray, " prompt"],
) -> Float[np.ndarray, "lang unit"]:
    """(lang, unit) matrix of per-prompt values, NaN where a translation is missing."""
    langs, units = np.unique(lang), np.unique(unit)
    out = np.full((len(langs), len(units)), np.nan)
    out[np.searchsorted(langs, lang), np.searchsorted(units, unit)] = values
    return out


def change_tests(
    ds: xr.Dataset, n_perm: int = 10000, seed: int = 0, alpha: float = 0.05, floors: dict | None = None
) -> xr.Dataset:
    """Which layers and which language a diff singles out, tested against smallest effects of interest.

    ``ds`` holds ``rel_change`` (layer, prompt; |A - B| / |A| of pooled resid), optionally
    ``kl_prompt`` and ``cka_ci``. Layer family (BH over layers, per measure): unit-mean effect
    > floor (one-sided sign-flip over units); CKA: bootstrap CI entirely below 1 - floor. Onset
    = first significant layer. Language family (BH over languages): ``changed`` = mean layer
    effect > floor; ``singled_out`` = changed and its effect exceeds every other language's on
    the same unit (paired over units). Returns ``ds`` with the results, onsets in attrs.
    """
    fl = {**FLOORS, **(floors or {})}
    lang, unit = ds["lang"].values.astype(str), ds["unit"].values.astype(str)
    rel = ds["rel_change"].values
    measures = {"rel_change": rel}
    if "kl_prompt" in ds:
        measures["kl"] = ds["kl_prompt"].sel(direction="a_to_b").values
    layer_p = np.full((3, rel.shape[0]), np.nan)
    layer_sig = np.zeros((3, rel.shape[0]), bool)
    for i, (name, v) in enumerate(measures.items()):
        ok = ~np.isnan(v).all(1)
        p = greater_p(_by_unit(np.nan_to_num(v[ok]), unit) - fl[name], n_perm, seed)
        layer_p[i, ok] = st.bh_adjust(p)
        layer_sig[i] = np.nan_to_num(layer_p[i], nan=1.0) < alpha
    layer_sig[2] = ds["cka_ci"].sel(kind="linear", ci="hi").values < 1 - fl["cka"]
    effect = _lang_unit(np.nanmean(rel[1:], 0), lang, unit)
    changed = st.bh_adjust(greater_p(effect - fl["rel_change"], n_perm, seed))
    singled = np.full(len(effect), np.nan)
    if len(effect) > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            others = np.stack([np.nanmax(np.delete(effect, g, 0), 0) for g in range(len(effect))])
        singled = st.bh_adjust(greater_p(effect - others, n_perm, seed))
    names = list(FLOORS)
    out = xr.Dataset(
        {
            "layer_change_p_bh": (("change_measure", "layer"), layer_p),
            "layer_change_significant": (("change_measure", "layer"), layer_sig),
            "lang_effect": (("tested_lang",), np.nanmean(effect, 1)),
            "lang_changed_p_bh": (("tested_lang",), changed),
            "lang_singled_out_p_bh": (("tested_lang",), singled),
            "lang_significant": (("tested_lang",), (changed < alpha) & (singled < alpha)),
        },
        coords={"change_measure": names, "tested_lang": np.unique(lang)},
    )
    out = ds.merge(out, combine_attrs="override")
    out.attrs.update({f"onset_{n}": _first(layer_sig[i], ds["layer"].values) for i, n in enumerate(names)})
    out.attrs.update({f"floor_{n}": v for n, v in fl.items()}, change_alpha=alpha)
    return out


def _first(sig: Bool[np.ndarray, " layer"], layers: Int[np.ndarray, " layer"]) -> int:
    """The first layer flagged in ``sig`` (-1: none)."""
    hits = np.flatnonzero(sig)
    return int(layers[hits[0]]) if len(hits) else -1


def change_summary(ds: xr.Dataset) -> dict[str, Any]:
    """The change tests of a diff as plain JSON: onsets, significant layers, per-language results."""
    if "lang_effect" not in ds:
        return {}
    sig = ds["layer_change_significant"]
    return {
        "onset": {m: int(ds.attrs[f"onset_{m}"]) for m in FLOORS},
        "significant_layers": {
            m: [int(x) for x in ds.layer.values[sig.sel(change_measure=m).values]] for m in FLOORS
        },
        "languages": {
            str(g): {
                "effect": round(float(ds["lang_effect"].sel(tested_lang=g)), 6),
                "p_bh_changed": round(float(ds["lang_changed_p_bh"].sel(tested_lang=g)), 6),
                "p_bh_singled_out": round(float(ds["lang_singled_out_p_bh"].sel(tested_lang=g)), 6),
                "significant": bool(ds["lang_significant"].sel(tested_lang=g)),
            }
            for g in ds.tested_lang.values
        },
    }


def change_lines(ch: dict[str, Any]) -> list[str]:
    """Printable lines of :func:`change_summary` (none when the tests were not run)."""
    if not ch:
        return []
    cells = [f"{g} {v['effect']:.4f} (p_bh {v['p_bh_singled_out']:.3g})" for g, v in ch["languages"].items()]
    sig = [g for g, v in ch["languages"].items() if v["significant"]] or ["none"]
    return [
        f"change onset (first significant layer, -1 none): {ch['onset']}",
        f"  language effect (singled-out p): {', '.join(cells)}; significant: {', '.join(sig)}",
    ]
