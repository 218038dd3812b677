"""Synthetic analysis results with planted variant effects (tests and docs of rule generation).

``make_activations`` builds a small activation dataset in the storage layout (variant, lang,
concept, layer, d): every language is the English concept vectors plus Gaussian noise whose scale
is set per (variant, lang) in ``PLANTED``; less noise = better alignment. ``write_results`` runs
``analysis.alignment.run_analysis`` on it, so the rules builder is tested on real analysis output.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["PLANTED", "EXPECTED_ROUTES", "make_activations", "write_results"]

#: noise scale per (variant, lang); base is 1.0 everywhere
PLANTED = {
    "fire": {"hi": 0.5},  # strong gain -> hi routes to fire
    "earth": {"am": 0.5, "sw": 0.98},  # strong gain for am; sw gain too small to be significant
    "water": {"fr": 1.6, "am": 0.8},  # water worse on fr; better on am but less than earth
}
#: what a correct rules builder must conclude from PLANTED
EXPECTED_ROUTES = {"hi": "fire", "am": "earth", "sw": "base", "fr": "base"}


def make_activations(n_units: int = 30, d: int = 64, n_layers: int = 6, seed: int = 0) -> xr.Dataset:
    """Synthetic concept activations with the ``PLANTED`` per-(variant, lang) noise levels."""
    import xarray as xr  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    variants = ["base", "fire", "earth", "water"]
    langs = ["en", "hi", "am", "sw", "fr"]
    concepts = rng.standard_normal((n_units, d))
    x = np.empty((len(variants), len(langs), n_units, n_layers, d), dtype=np.float32)
    for vi, v in enumerate(variants):
        for gi, g in enumerate(langs):
            sigma = 0.0 if g == "en" else PLANTED.get(v, {}).get(g, 1.0)
            for layer in range(n_layers):
                x[vi, gi, :, layer] = concepts + sigma * rng.standard_normal((n_units, d))
    return xr.Dataset(
        {"resid": (("variant", "lang", "concept", "layer", "d"), x.astype(np.float16))},
        coords={
            "variant": variants,
            "lang": langs,
            "concept": [f"c{i:03d}" for i in range(n_units)],
            "layer": np.arange(n_layers),
            "script": ("lang", ["Latn", "Deva", "Ethi", "Latn", "Latn"]),
            "resource": ("lang", ["high", "high", "low", "low", "high"]),
            "target_variant": ("lang", ["global", "fire", "earth", "earth", "water"]),
        },
        attrs={
            "model_id": "synthetic-planted",
            "pooling": "mean",
            "processing_mode": "raw",
            "probe_set": "synthetic",
            "probe_set_sha256": "synthetic",
            "toolkit_version": "0.1.0",
            "weights_sha256": '{"base": "s0", "fire": "s1", "earth": "s2", "water": "s3"}',
        },
    )


def write_results(out_dir: str | Path, seed: int = 0, n_boot: int = 300, n_perm: int = 4000) -> Path:
    """Run the real analysis on the planted dataset; returns the results directory."""
    from polylens.analysis.alignment import run_analysis  # noqa: PLC0415

    run_analysis(make_activations(seed=seed), out_dir, n_boot=n_boot, n_perm=n_perm, seed=seed)
    return Path(out_dir)
