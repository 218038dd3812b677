"""A small stored result set for the figure/report tests, made by the REAL analysis.

``make_activation_ds`` builds a synthetic activation dataset in the CONVENTIONS schema with a
known rise-peak-collapse shape; ``make_results(out_dir)`` runs ``analysis.alignment.run_analysis``
on it (and on a small edge-case set) and returns the results directory. No number in the results
is written by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

ATTRS = {
    "model_id": "synthetic/tiny-aya-like",
    "weights_sha256": '{"base": "aa11", "fire": "bb22", "earth": "cc33"}',
    "transformer_lens_version": "4.3.0",
    "transformers_version": "5.9.0",
    "torch_version": "2.13.0",
    "processing_mode": "raw",
    "pooling": "mean",
    "hook_sites": '["hook_resid_pre", "hook_resid_post"]',
    "dtype": "float16",
    "probe_set": "synthetic",
    "probe_set_sha256": "p0",
    "toolkit_version": "0.1.0",
    "created": "2026-11-21T00:00:00Z",
}
LANGS = ["en", "sw", "hi", "am", "fr", "yo"]
SCRIPTS = ["Latn", "Latn", "Deva", "Ethi", "Latn", "Latn"]
VARIANTS = ("base", "fire", "earth")
N_LAYERS = 13
#: noise scale per (variant, lang, layer): low noise = high cosine (cos ~ 1/sqrt(1+s^2))
_RPC = np.array([2.0, 1.6, 1.2, 0.8, 0.5, 0.3, 0.22, 0.22, 0.3, 0.5, 0.9, 1.4, 1.8])  # rise-peak-collapse


def sigma_table() -> np.ndarray:
    s = np.empty((len(VARIANTS), len(LANGS), N_LAYERS))
    s[:, 0] = 0.0
    s[:, 1] = np.minimum(_RPC, 0.25)[None]  # sw: aligned from the embedding (tokenizer overlap)
    s[:, 1, -3:] = _RPC[-3:]
    s[:, 2] = _RPC[None]
    s[1, 2] *= 0.7  # fire helps Hindi
    s[:, 3] = _RPC[None] * 1.8
    s[2, 3] *= 0.5  # earth helps Amharic
    s[:, 4] = np.minimum(_RPC, 0.35)[None]
    s[:, 5] = _RPC[None] * 4  # yo: weak alignment, never commits
    return s


def make_activation_ds(n_units: int = 16, d: int = 48, seed: int = 0, unit: str = "concept") -> xr.Dataset:
    rng = np.random.default_rng(seed)
    sig = sigma_table()
    base = rng.standard_normal((n_units, N_LAYERS, d))
    x = base[None, None] + sig[:, :, None, :, None] * rng.standard_normal(
        (len(VARIANTS), len(LANGS), n_units, N_LAYERS, d)
    )
    x[:, 0] = base[None]
    x = x.astype(np.float32)
    x[:, 3, -1] = np.nan  # one unit missing in Amharic (NaN cells are part of the schema)
    labels = ["embed"] + [f"blocks.{i}.resid_post" for i in range(N_LAYERS - 1)]
    return xr.Dataset(
        {
            "resid": (("variant", "lang", unit, "layer", "d"), x.astype(np.float16)),
            "n_tokens": (("variant", "lang", unit), np.where(np.isnan(x[..., 0, 0]), 0, 3).astype(np.int32)),
        },
        coords={
            "variant": list(VARIANTS),
            "lang": LANGS,
            unit: [f"c{i:02d}" for i in range(n_units)],
            "layer": np.arange(N_LAYERS),
            "script": ("lang", SCRIPTS),
            "resource": ("lang", ["high", "medium", "high", "low", "high", "low"]),
            "target_variant": ("lang", ["global", "earth", "fire", "earth", "water", "earth"]),
            "layer_label": ("layer", labels),
        },
        attrs=dict(ATTRS),
    )


def make_edge_ds() -> xr.Dataset:
    edge = make_activation_ds(n_units=4, d=32, seed=5, unit="item")
    texts = np.array([[f"item {i} in {g}" for i in range(4)] for g in LANGS], dtype=object)
    texts[2, 0] = "mujhe fever hai"  # transliterated Hindi
    edge["text"] = (("lang", "item"), texts)
    return edge


def make_results(out_dir: str | Path, n_boot: int = 200, n_perm: int = 500) -> Path:
    from polylens.analysis.alignment import run_analysis

    out = Path(out_dir)
    run_analysis(make_activation_ds(), out, n_boot=n_boot, n_perm=n_perm, seed=0, edge_ds=make_edge_ds())
    return out


def by_gid(fig, gid):
    """Every artist of ``fig`` tagged with ``gid`` (at least one)."""
    found = fig.findobj(lambda a: a.get_gid() == gid)
    assert found, f"no artist with gid {gid!r}"
    return found


def the(fig, gid):
    """The single artist tagged ``gid``."""
    found = by_gid(fig, gid)
    assert len(found) == 1, f"{len(found)} artists with gid {gid!r}"
    return found[0]


def assert_band(coll, x, lo, hi, atol=1e-6):
    """Every finite layer's polygon edge y-values are exactly the stored lower and upper bounds."""
    import numpy as np

    verts = np.concatenate([p.vertices for p in coll.get_paths()])
    for xi, a, b in zip(x, lo, hi):
        if not (np.isfinite(a) and np.isfinite(b)):
            continue
        ys = verts[np.isclose(verts[:, 0], xi), 1]
        assert ys.size, f"band has no vertex at x={xi}"
        np.testing.assert_allclose([ys.min(), ys.max()], [min(a, b), max(a, b)], rtol=0, atol=atol)
