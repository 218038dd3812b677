"""Method metadata: which attrs must match before two datasets / result sets are combined."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from polylens.errors import IncompatibleVariantsError

__all__ = ["METHOD_KEYS", "ANALYSIS_KEYS", "check_compatible", "netcdf_attrs", "decode_attr"]

#: activation-dataset keys that define the method (docs/CONVENTIONS.md)
METHOD_KEYS = ("weights_sha256", "processing_mode", "pooling", "probe_set_sha256")
#: analysis parameters recorded in results attrs (prefix ``analysis_``)
ANALYSIS_KEYS = (
    "analysis_ref",
    "analysis_tau",
    "analysis_k",
    "analysis_n_boot",
    "analysis_seed",
    "analysis_null_quantile",
    "analysis_ci_level",
    "analysis_method_version",
)


def decode_attr(v: Any) -> Any:
    """Attrs may be stored as JSON strings (dicts such as per-variant weights_sha256)."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, str) and v[:1] in "{[":
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def check_compatible(
    a: Mapping[str, Any], b: Mapping[str, Any], keys: Iterable[str] = METHOD_KEYS, what: str = "datasets"
) -> None:
    """Raise IncompatibleVariantsError naming every method key whose value differs.

    A key missing on both sides is accepted; missing on one side only counts as a difference.
    Per-variant dict values (e.g. ``weights_sha256``) are compared on the variants both share.
    """
    diffs = []
    for key in keys:
        va, vb = decode_attr(a.get(key)), decode_attr(b.get(key))
        if isinstance(va, dict) and isinstance(vb, dict):
            bad = [v for v in set(va) & set(vb) if va[v] != vb[v]]
            if bad:
                diffs.append(f"{key}[{','.join(sorted(bad))}]")
        elif va != vb:
            diffs.append(f"{key}: {va!r} != {vb!r}")
    if diffs:
        raise IncompatibleVariantsError(
            f"refusing to compare {what} with different method metadata: " + "; ".join(diffs)
        )


def netcdf_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Attrs made netCDF-safe: dicts/lists of non-numbers -> JSON, None -> '', bool -> int."""
    out = {}
    for k, v in attrs.items():
        if v is None:
            out[k] = ""
        elif isinstance(v, bool | np.bool_):
            out[k] = int(v)
        elif isinstance(v, dict) or (
            isinstance(v, list | tuple) and not all(isinstance(x, int | float) for x in v)
        ):
            out[k] = json.dumps(v, sort_keys=True, default=str)
        elif isinstance(v, list | tuple):
            out[k] = list(v)
        else:
            out[k] = v
    return out
