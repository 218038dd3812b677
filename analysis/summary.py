"""Headline table of an alignment result set: one row per (variant, lang), every value with its CI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr


def _at(res: xr.Dataset, var: str, layer: xr.DataArray) -> xr.DataArray:
    return res[var].sel(layer=layer)


def headline_table(res: xr.Dataset) -> pd.DataFrame:
    """Per (variant, lang): peak language-centred cosine (CI, layer), peak MEXA retrieval (CI,
    layer), raw-cosine margin over the mismatched-concept null at the centred peak (CI), peak
    debiased CKA, raw-cosine peak, commitment (seed definition and threshold-free), and the
    layer-0 raw cosine and margin (the seed study's artefact check).

    Centred cosine is the headline: on anisotropic residual streams (Gemma's) raw cosine
    sits near 1 for any pair of inputs, so raw margins are compressed towards 0.
    """
    peak_layer = res["cos_centred"].fillna(-np.inf).argmax("layer")
    mexa_layer = res["retrieval_mexa"].fillna(-np.inf).argmax("layer")
    rows = []
    for v in res["variant"].values:
        for g in res["lang"].values:
            r = res.sel(variant=v, lang=g)
            layer = int(peak_layer.sel(variant=v, lang=g))
            at = r.isel(layer=layer)
            m_at = r.isel(layer=int(mexa_layer.sel(variant=v, lang=g)))
            commit, free = float(r["commit_layer"]), float(r["commit_layer_free"])
            rows.append(
                {
                    "variant": str(v),
                    "lang": str(g),
                    "resource": str(r["resource"].values) if "resource" in r.coords else "",
                    "centred_cos": float(at["cos_centred"]),
                    "centred_lo": float(at["cos_centred_ci"][0]),
                    "centred_hi": float(at["cos_centred_ci"][1]),
                    "centred_layer": layer,
                    "mexa": float(m_at["retrieval_mexa"]),
                    "mexa_lo": float(m_at["retrieval_mexa_ci"][0]),
                    "mexa_hi": float(m_at["retrieval_mexa_ci"][1]),
                    "mexa_layer": int(m_at["layer"]),
                    "margin": float(at["margin"]),
                    "margin_lo": float(at["margin_ci"][0]),
                    "margin_hi": float(at["margin_ci"][1]),
                    "cka_debiased_peak": float(r["cka_debiased"].max()),
                    "null_q95": float(at["null_q95_mean"]) - float(at["null_mean"]),
                    "raw_cos_peak": float(r["peak_cos"]),
                    "raw_peak_layer": int(r["peak_layer"]),
                    "commit": commit,
                    "commit_free": free,
                    "layer0_raw_cos": float(r["cos"].isel(layer=0)),
                    "layer0_margin": float(r["margin"].isel(layer=0)),
                    "n_units": int(r["n_units"]) if "n_units" in r else -1,
                }
            )
    return pd.DataFrame(rows)


def format_headline(table: pd.DataFrame) -> str:
    """Plain-text rendering used by the CLI (``never`` for NaN commitment)."""

    def layer(x: float) -> str:
        """A layer number, or ``never`` for NaN."""
        return "never" if np.isnan(x) else f"{x:.0f}"

    lines = [
        f"{'variant':<8} {'lang':<4} {'res':<6} {'centred cos [95% CI] @L':<25} "
        f"{'MEXA [95% CI] @L':<22} {'margin [95% CI]':<22} {'CKAd':>5} {'raw@L0':>6} "
        f"{'commit':>6} {'free':>5}"
    ]
    for t in table.itertuples():
        lines.append(
            f"{t.variant:<8} {t.lang:<4} {t.resource:<6} "
            f"{t.centred_cos:.2f} [{t.centred_lo:.2f},{t.centred_hi:.2f}] @{t.centred_layer:<6} "
            f"{t.mexa:.2f} [{t.mexa_lo:.2f},{t.mexa_hi:.2f}] @{t.mexa_layer:<5} "
            f"{t.margin:+.3f} [{t.margin_lo:+.3f},{t.margin_hi:+.3f}] "
            f"{t.cka_debiased_peak:>5.2f} {t.layer0_raw_cos:>6.2f} "
            f"{layer(t.commit):>6} {layer(t.commit_free):>5}"
        )
    return "\n".join(lines)
