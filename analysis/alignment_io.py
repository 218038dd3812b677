"""The alignment results directory: ``alignment.nc``, curves JSON, commitment / test / failure tables."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from jaxtyping import Float

from polylens.hooks.method import netcdf_attrs

__all__ = ["write_results"]

COMMIT_COLUMNS = {  # table column -> results variable (Float[variant, lang] or its CI bound)
    "commit_layer": ("commit_layer", None),
    "commit_ci_lo": ("commit_layer_ci", 0),
    "commit_ci_hi": ("commit_layer_ci", 1),
    "commit_p_never": ("commit_p_never", None),
    "commit_layer_free": ("commit_layer_free", None),
    "commit_free_ci_lo": ("commit_layer_free_ci", 0),
    "commit_free_ci_hi": ("commit_layer_free_ci", 1),
    "median_unit_commit": ("median_unit_commit", None),
}
COUNT_COLUMNS = ("n_units", "n_committed", "n_never", "n_committed_free", "n_never_free")


def _clean(a: Float[np.ndarray, " layer"]) -> list[float | None]:
    """JSON-safe list: 6 decimals, None for NaN / inf."""
    return [None if not np.isfinite(x) else round(float(x), 6) for x in a]


def _curves_json(res: xr.Dataset) -> dict[str, Any]:
    """Seed shape {variant: {lang: [per-layer mean cosine]}}; CI under '_ci', metadata under '_meta'."""
    out: dict[str, Any] = {}
    ci: dict[str, Any] = {}
    for v in res["variant"].values:
        out[str(v)] = {str(g): _clean(res["cos"].sel(variant=v, lang=g).values) for g in res["lang"].values}
        ci[str(v)] = {
            str(g): {
                "lo": _clean(res["cos_ci"].sel(variant=v, lang=g, ci="lo").values),
                "hi": _clean(res["cos_ci"].sel(variant=v, lang=g, ci="hi").values),
            }
            for g in res["lang"].values
        }
    out["_ci"] = ci
    out["_meta"] = {
        "layers": [int(x) for x in res["layer"].values],
        "ref": res.attrs.get("analysis_ref"),
        "ci_level": res.attrs.get("analysis_ci_level"),
        "note": "keys starting with '_' are not variants",
    }
    return out


def _commitment_row(res: xr.Dataset, s: xr.Dataset) -> dict[str, Any]:
    """One ``commitment_matrix.csv`` row from the (variant, lang) selection ``s``."""
    row: dict[str, Any] = {"variant": str(s["variant"].values), "lang": str(s["lang"].values)}
    row.update({c: str(s[c].values) for c in ("script", "resource", "target_variant") if c in s.coords})
    row.update(tau=res.attrs["analysis_tau"], k=res.attrs["analysis_k"])
    for col, (name, bound) in COMMIT_COLUMNS.items():
        row[col] = float(s[name] if bound is None else s[name][bound])
    row.update({c: int(s[c]) for c in COUNT_COLUMNS})
    row.update(peak_cos=float(s.peak_cos), peak_cos_ci_lo=float(s.peak_cos_ci[0]))
    row.update(peak_cos_ci_hi=float(s.peak_cos_ci[1]), peak_layer=float(s.peak_layer))
    row["peak_margin"] = float(s.peak_margin)
    return row


def _commitment_table(res: xr.Dataset, exclude_ref: bool = True) -> pd.DataFrame:
    """``commitment_matrix.csv``: one row per variant x lang (the reference language left out)."""
    ref = res.attrs.get("analysis_ref")
    rows = [
        _commitment_row(res, res.sel(variant=v, lang=g))
        for v in res["variant"].values
        for g in res["lang"].values
        if not (exclude_ref and g == ref)
    ]
    return pd.DataFrame(rows)


def _write_netcdf(res: xr.Dataset, path: Path) -> None:
    """``alignment.nc`` (zlib level 1, string coords fixed), written atomically."""
    enc = {v: {"zlib": True, "complevel": 1} for v in res.data_vars}
    tosave = res.copy()
    tosave.attrs = netcdf_attrs(res.attrs)
    for c in tosave.coords:  # object string coords -> fixed str for netCDF
        if tosave[c].dtype == object:
            tosave[c] = tosave[c].astype(str)
    tmp = path.with_name(path.name + ".tmp")
    tosave.to_netcdf(tmp, encoding=enc)
    os.replace(tmp, path)


def write_results(
    res: xr.Dataset, tests: pd.DataFrame, out: Path, edge_ds: xr.Dataset | None = None, baseline: str = "base"
) -> None:
    """Write the results directory of ``analysis.alignment.run_analysis`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    _write_netcdf(res, out / "alignment.nc")
    (out / "alignment_curves.json").write_text(json.dumps(_curves_json(res), indent=1))
    _commitment_table(res).to_csv(out / "commitment_matrix.csv", index=False, float_format="%.6g")
    tests.to_csv(out / "stats.csv", index=False, float_format="%.6g")
    if edge_ds is not None:
        from .failures import failure_cases  # noqa: PLC0415

        failure_cases(edge_ds, res, baseline=baseline).to_csv(
            out / "failure_cases.csv", index=False, float_format="%.6g"
        )
