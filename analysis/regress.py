"""Regression gate between two result directories (e.g. before/after a model update)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from jaxtyping import Float

from polylens.errors import IncompatibleVariantsError, StorageError
from polylens.hooks.method import REGRESS_KEYS, check_compatible

__all__ = ["regress", "load_results"]

#: metric -> +1 if higher is better, -1 if lower is better
METRICS = {"peak_cos": +1, "peak_margin": +1, "commit_layer": -1}


def load_results(path: str | os.PathLike) -> xr.Dataset:
    """Open ``<dir>/alignment.nc`` (or a path to the file) into memory."""
    p = Path(path)
    f = p / "alignment.nc" if p.is_dir() else p
    if not f.exists():
        raise StorageError(f"no analysis results at {f}")
    with xr.open_dataset(f) as ds:
        return ds.load()


def regress(
    old_dir: str | os.PathLike,
    new_dir: str | os.PathLike,
    langs: Sequence[str] | None = None,
    tol: float = 0.02,
    tol_layers: float = 1.0,
    variants: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, bool]:
    """Compare two result sets; ``failed`` when any named language degrades significantly.

    For each shared (variant, lang) and metric in {peak_cos, peak_margin (higher better),
    commit_layer (lower better; never = n_layers)}: delta = new - old; the change counts as a
    degradation when it goes the bad way by more than max(tol (tol_layers for commitment),
    sqrt(hw_old^2 + hw_new^2)) where hw are the 95% bootstrap CI half-widths (an approximate CI
    of the difference of two independent estimates). ``langs=None`` = all non-reference languages.
    Raises IncompatibleVariantsError when method metadata differ or named languages are missing.
    """
    old, new = load_results(old_dir), load_results(new_dir)
    check_compatible(old.attrs, new.attrs, REGRESS_KEYS, what="result sets")
    ref = str(old.attrs.get("analysis_ref"))
    n_layers = float(old.attrs.get("analysis_n_layers", old.sizes["layer"]))
    if old.sizes["layer"] != new.sizes["layer"]:
        raise IncompatibleVariantsError(f"layer counts differ: {old.sizes['layer']} vs {new.sizes['layer']}")
    shared_v, langs = _shared_labels(old, new, ref, langs, variants)
    o, n = old.sel(variant=shared_v, lang=langs), new.sel(variant=shared_v, lang=langs)
    frames = [
        _metric_frame(o, n, metric, sign, n_layers, tol_layers if metric == "commit_layer" else tol)
        for metric, sign in METRICS.items()
    ]
    table = pd.concat(frames, ignore_index=True)
    return table, bool(table["degraded"].any())


def _shared_labels(
    old: xr.Dataset, new: xr.Dataset, ref: str, langs: Sequence[str] | None, variants: Sequence[str] | None
) -> tuple[list[str], list[str]]:
    """The variants and languages to compare; refuses names missing from either result set."""
    shared_l = [g for g in map(str, old["lang"].values) if g in set(map(str, new["lang"].values))]
    if langs is None:
        langs = [g for g in shared_l if g != ref]
    missing = [g for g in langs if g not in shared_l]
    if missing:
        raise IncompatibleVariantsError(f"languages not in both result sets: {missing}")
    shared_v = [v for v in map(str, old["variant"].values) if v in set(map(str, new["variant"].values))]
    if variants is not None:
        miss = [v for v in variants if v not in shared_v]
        if miss:
            raise IncompatibleVariantsError(f"variants not in both result sets: {miss}")
        shared_v = list(variants)
    if not shared_v:
        raise IncompatibleVariantsError("the result sets share no variant")
    return shared_v, list(langs)


def _metric_arrays(
    r: xr.Dataset, metric: str, n_layers: float
) -> tuple[Float[np.ndarray, "variant lang"], Float[np.ndarray, "variant lang ci"]]:
    """A metric and its CI as (variant, lang) arrays; for commitment, never = ``n_layers``."""
    v = r[metric].transpose("variant", "lang").values.astype(float)
    ci = r[metric + "_ci"].transpose("variant", "lang", "ci").values.astype(float)
    if metric == "commit_layer":
        v = np.where(np.isnan(v), n_layers, v)
        ci = np.where(np.isfinite(ci), ci, n_layers)
    return v, ci


def _metric_frame(
    o: xr.Dataset, n: xr.Dataset, metric: str, sign: int, n_layers: float, tol: float
) -> pd.DataFrame:
    """One row per (variant, lang) of ``metric``: old, new, delta, CIs, threshold, degraded."""
    (vo, co), (vn, cn) = _metric_arrays(o, metric, n_layers), _metric_arrays(n, metric, n_layers)
    hw = np.sqrt(((co[..., 1] - co[..., 0]) / 2) ** 2 + ((cn[..., 1] - cn[..., 0]) / 2) ** 2)
    thr = np.maximum(tol, hw)
    delta = vn - vo
    degraded = (sign * delta) < -thr
    vv, gg = np.meshgrid(
        [str(v) for v in o["variant"].values], [str(g) for g in o["lang"].values], indexing="ij"
    )
    return pd.DataFrame(
        {
            "variant": vv.ravel(),
            "lang": gg.ravel(),
            "metric": metric,
            "old": vo.ravel(),
            "new": vn.ravel(),
            "delta": delta.ravel(),
            "old_ci_lo": co[..., 0].ravel(),
            "old_ci_hi": co[..., 1].ravel(),
            "new_ci_lo": cn[..., 0].ravel(),
            "new_ci_hi": cn[..., 1].ravel(),
            "threshold": thr.ravel(),
            "degraded": degraded.ravel(),
        }
    )
