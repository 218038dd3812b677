"""Nearest concepts of one new activation in a stored concept bank, on the language-centred metric.

The metric is the one of :mod:`analysis.core` (``cos_centred``): every language is centred on
the mean of its own units at each layer, then compared by cosine. A query (one text's pooled
activation per layer point) is centred on the mean of the language it is written in when that
language is in the bank, otherwise on the mean over all languages. Pure numpy / xarray.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from jaxtyping import Bool, Float, Int

from .core import unit_dim_of

__all__ = ["ConceptBank", "nearest", "match_concept", "alignment_with"]


@dataclass
class ConceptBank:
    """One variant's concept vectors, centred per language and normalised (missing units masked)."""

    langs: list[str]
    units: list[str]
    texts: list[list[str]]  # [lang][unit] stimulus text ("" = none)
    means: Float[np.ndarray, "lang layer d"]  # per-language mean over its valid units
    global_mean: Float[np.ndarray, "layer d"]
    unit_vectors: Float[np.ndarray, "layer row d"]  # centred, normalised; row = lang * unit
    valid: Bool[np.ndarray, " row"]

    @classmethod
    def from_dataset(cls, ds: xr.Dataset, variant: str, var: str = "resid") -> ConceptBank:
        """Build the bank of ``variant`` from an activation dataset (variant, lang, unit, layer, d)."""
        unit = unit_dim_of(ds)
        x = np.asarray(ds[var].sel(variant=variant).transpose("lang", unit, "layer", "d").values, np.float32)
        valid: np.ndarray = np.asarray(~np.isnan(x).any(axis=(-1, -2)))  # lang unit
        x = np.where(valid[..., None, None], x, np.float32(0))
        n = np.maximum(valid.sum(-1), 1)[:, None, None]
        means = x.sum(1) / n  # lang layer d
        global_mean = means[valid.any(-1)].mean(0) if valid.any() else means.mean(0)
        xc = np.where(valid[..., None, None], x - means[:, None], 0)
        norm = np.linalg.norm(xc, axis=-1, keepdims=True)
        xn = xc / np.where(norm > 0, norm, 1)
        n_lang, n_unit, n_layer, d = xn.shape
        rows = xn.reshape(n_lang * n_unit, n_layer, d).transpose(1, 0, 2)
        texts = ds["text"].transpose("lang", unit).values.tolist() if "text" in ds else []
        return cls(
            [str(v) for v in ds["lang"].values],
            [str(v) for v in ds[unit].values],
            [[str(t) for t in row] for row in texts],
            means,
            global_mean,
            np.ascontiguousarray(rows),
            valid.reshape(-1) & (norm[..., 0] > 0).all(-1).reshape(-1),
        )

    def centre(self, query: Float[np.ndarray, "layer d"], lang: str | None) -> Float[np.ndarray, "layer d"]:
        """The query centred on its language's mean (the global mean for a language not in the bank)."""
        mean = self.means[self.langs.index(lang)] if lang in self.langs else self.global_mean
        return np.asarray(query, np.float32) - mean

    def row(self, lang: str, unit: str) -> int:
        """Row index of (lang, unit) in ``unit_vectors``."""
        return self.langs.index(lang) * len(self.units) + self.units.index(unit)


def nearest(
    bank: ConceptBank, query: Float[np.ndarray, "layer d"], lang: str | None, k: int = 5
) -> tuple[Int[np.ndarray, "layer k"], Float[np.ndarray, "layer k"]]:
    """Top-``k`` rows of the bank per layer point by centred cosine: (row indices, cosines)."""
    q = bank.centre(query, lang)
    qn = q / np.where((n := np.linalg.norm(q, axis=-1, keepdims=True)) > 0, n, 1)
    sims = np.einsum("lrd,ld->lr", bank.unit_vectors, qn)
    sims = np.where(bank.valid[None, :], sims, -np.inf)
    k = min(k, int(bank.valid.sum()))
    top = np.argpartition(-sims, k - 1, axis=-1)[:, :k] if k else np.zeros((len(sims), 0), int)
    order = np.take_along_axis(sims, top, -1).argsort(-1)[:, ::-1]
    top = np.take_along_axis(top, order, -1)
    return top, np.take_along_axis(sims, top, -1)


def match_concept(bank: ConceptBank, text: str) -> tuple[str, str] | None:
    """(lang, unit) whose stored stimulus text equals ``text`` (stripped, case-folded), if any."""
    key = text.strip().casefold()
    for i, row in enumerate(bank.texts):
        for j, t in enumerate(row):
            if t and t.strip().casefold() == key:
                return bank.langs[i], bank.units[j]
    return None


def alignment_with(
    bank: ConceptBank, query: Float[np.ndarray, "layer d"], lang: str, unit: str, ref: str = "en"
) -> Float[np.ndarray, " layer"] | None:
    """Centred cosine per layer point between the query and ``ref``'s stored vector of ``unit``."""
    if ref not in bank.langs:
        return None
    r = bank.row(ref, unit)
    if not bank.valid[r]:
        return None
    q = bank.centre(query, lang)
    qn = q / np.where((n := np.linalg.norm(q, axis=-1, keepdims=True)) > 0, n, 1)
    return np.einsum("ld,ld->l", bank.unit_vectors[:, r], qn)
