"""Each headline curve's own per-layer null and its effect size over it (results variables).

For every metric m in :data:`NULL_OF` the results carry ``<null>_mean``, ``<null>_std``,
``<null>_q95`` (the band a figure draws: null mean to its ``q`` quantile) and the effect
``<m>_diff`` (curve minus null mean) and ``<m>_z`` (that difference in null SDs), all
``Float[variant, lang, layer]``. The nulls break the concept pairing and keep the rest:

- ``cos_centred``: mean centred cosine of mismatched concepts under random derangements;
- ``retrieval_mexa``: MEXA score of the deranged (mismatched) pairing (``analysis.nulls``);
- ``cka_debiased``: exact permutation moments (mean 0, SD sqrt(2 / (n (n - 3)))), the q95 from
  the normal approximation (``scipy.stats.norm``);
- ``cka``: exact permutation mean only (its small-sample bias): ``cka_diff``, no ``z``;
- ``cos`` (raw, comparability only): mismatched-concept null (``null_mean`` / ``null_q95_mean``).

Summaries and effect sizes come from ``analysis.stats`` (``null_summary``, ``effect_over_null``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from jaxtyping import Float
from scipy import stats as sps

from . import stats as st

__all__ = ["NULL_OF", "null_vars"]

DIMS3 = ("variant", "lang", "layer")
#: metric -> name stem of its null variables (``<stem>_mean``, ``<stem>_q95``, ...)
NULL_OF = {
    "cos_centred": "null_centred",
    "retrieval_mexa": "null_mexa",
    "cka_debiased": "null_cka_debiased",
    "cka": "null_cka",
}


def _cell(um: xr.Dataset, name: str) -> Float[np.ndarray, "variant lang layer *perm"]:
    """``um[name]`` as float64 (variant, lang, layer[, perm])."""
    dims = DIMS3 + (("perm",) if "perm" in um[name].dims else ())
    return um[name].transpose(*dims).values.astype(np.float64)


def null_vars(out: dict[str, Any], um: xr.Dataset, unit: str, q: float) -> dict[str, Any]:
    """Null band and effect variables of every metric in NULL_OF (``out`` holds the point curves)."""
    mexa_mean, mexa_sd, mexa_q = st.null_summary(_cell(um, "null_perm_mexa"), q)
    n_joint = um["cos"].notnull().sum(unit).transpose(*DIMS3).values.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ckad_sd = np.where(n_joint >= 4, np.sqrt(2.0 / (n_joint * (n_joint - 3))), np.nan)
    ckad_mean = np.where(n_joint >= 4, 0.0, np.nan)
    bands = {
        "null_centred": (_cell(um, "null_centred_mean"), _cell(um, "null_centred_std"), None),
        "null_mexa": (mexa_mean, mexa_sd, mexa_q),
        "null_cka_debiased": (ckad_mean, ckad_sd, ckad_mean + sps.norm.ppf(q) * ckad_sd),
        "null_cka": (_cell(um, "null_cka_mean"), None, None),
    }
    res: dict[str, Any] = {}
    for metric, stem in NULL_OF.items():
        mean, sd, qv = bands[stem]
        for suffix, val in (("_mean", mean), ("_std", sd), ("_q95", qv)):
            if val is not None and stem + suffix not in out:
                res[stem + suffix] = (DIMS3, val.astype(np.float32))
        diff, z = st.effect_over_null(out[metric][1], mean, np.full(mean.shape, np.nan) if sd is None else sd)
        res[metric + "_diff"] = (DIMS3, diff.astype(np.float32))
        if sd is not None:
            res[metric + "_z"] = (DIMS3, z.astype(np.float32))
    return res
