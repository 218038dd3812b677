"""Stimulus hygiene: drop flagged (concept, language) pairs from headline analyses, with counts."""

from __future__ import annotations

import pandas as pd
import xarray as xr

__all__ = ["exclude_flagged", "format_excluded"]


def exclude_flagged(ds: xr.Dataset, var: str = "resid") -> tuple[xr.Dataset, pd.DataFrame]:
    """``ds`` with ``var`` set to NaN (missing) for flagged pairs, and per-language counts.

    Uses the store's ``hygiene`` coordinate (lang, unit): a pair whose flag string is not empty
    is excluded. Counts: one row per language with ``n_stimuli``, ``n_excluded`` and one column
    per flag (a pair can carry several flags).
    """
    if "hygiene" not in ds.coords:  # probe sets without flags (medical, udhr, older stores)
        return ds, pd.DataFrame(columns=["lang", "n_stimuli", "n_excluded"])
    flags = ds["hygiene"].astype(str)
    flagged = flags != ""
    present = ds["text"].astype(str) != "" if "text" in ds else xr.ones_like(flagged, dtype=bool)
    out = ds.copy()
    out[var] = ds[var].where(~flagged)
    rows = []
    for lang in ds["lang"].values:
        f = flags.sel(lang=lang).values
        p = present.sel(lang=lang).values
        row = {"lang": str(lang), "n_stimuli": int(p.sum()), "n_excluded": int(((f != "") & p).sum())}
        for name in sorted({x for s in f for x in s.split(",") if x}):
            row[name] = int(sum(name in s.split(",") for s in f[p]))
        rows.append(row)
    return out, pd.DataFrame(rows).fillna(0)


def format_excluded(counts: pd.DataFrame) -> str:
    """One line per language: ``lang: excluded/total (flag n, ...)``."""
    if counts.empty:
        return "no hygiene flags in this store: nothing excluded"
    lines = ["excluded flagged stimuli per language (--include-flagged keeps them):"]
    for r in counts.to_dict("records"):
        detail = ", ".join(
            f"{k} {int(v)}" for k, v in r.items() if k not in ("lang", "n_stimuli", "n_excluded") and v
        )
        lines.append(
            f"  {r['lang']}: {r['n_excluded']}/{r['n_stimuli']}" + (f" ({detail})" if detail else "")
        )
    return "\n".join(lines)
