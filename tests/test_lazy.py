"""Out-of-core analysis (issue 17): storage-aligned lazy opening, bit-identical lazy kernel, bounded memory."""

from __future__ import annotations

import sys
import tracemalloc
import warnings
from pathlib import Path

import dask
import numpy as np
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from polylens.analysis.core import block_metrics, block_metrics_vs, derangements, unit_metrics  # noqa: E402
from polylens.storage.encoding import ALIGNED, aligned_chunks, array_encoding, open_any  # noqa: E402


def _store(
    path: Path, n_langs: int, n_units: int = 24, n_layers: int = 4, d: int = 96, seed: int = 0
) -> Path:
    """A store in the capture format: float32 BitRound + zlib, one chunk per stimulus (all layers)."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n_units, 1, d)).astype(np.float32)
    x = base + rng.standard_normal((2, n_langs, n_units, n_layers, d)).astype(np.float32)
    x[1, 2, 5] = np.nan  # a missing stimulus
    langs = ["en"] + [f"l{i:02d}" for i in range(n_langs - 1)]
    ds = xr.Dataset(
        {"resid": (("variant", "lang", "concept", "layer", "d"), x)},
        coords={
            "variant": ["base", "fire"],
            "lang": langs,
            "concept": [f"c{i:03d}" for i in range(n_units)],
            "layer": np.arange(n_layers),
        },
    )
    ds.to_netcdf(path, encoding={"resid": array_encoding(chunks=(1, 1, 1, n_layers, d))})
    return path


def test_aligned_chunks_hold_whole_stored_chunks(tmp_path):
    path = _store(tmp_path / "s.nc", n_langs=6)
    with open_any(path) as probe:
        slab = 24 * 4 * 96 * 4  # one (variant, lang): every concept, layer and d, float32
        assert aligned_chunks(probe, target=2 * slab) == {
            "variant": 1,
            "lang": 2,
            "concept": -1,
            "layer": -1,
            "d": -1,
        }
        assert aligned_chunks(probe, target=1)["lang"] == 1  # at least one stored chunk
        assert aligned_chunks(probe, target=10**12) == {
            "variant": 2,
            "lang": 6,
            "concept": -1,
            "layer": -1,
            "d": -1,
        }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # xarray warns when dask chunks split stored chunks
        lazy = open_any(path, ALIGNED)
        assert lazy["resid"].chunks is not None
        lazy["resid"].sum().compute()
        lazy.close()


def test_lazy_unit_metrics_equal_eager_bit_for_bit(tmp_path):
    path = _store(tmp_path / "s.nc", n_langs=5)
    with open_any(path) as probe:
        chunks = aligned_chunks(probe, target=1)  # one language per task: the reference is shared
    eager = unit_metrics(xr.load_dataset(path), ref="l01").compute()
    with xr.open_dataset(path, chunks=chunks) as lazy:
        um = unit_metrics(lazy, ref="l01")
        assert um["cos"].chunks is not None and len(um["cos"].chunks[1]) == 5  # lazy, per language
        um = um.compute()
    for v in eager.data_vars:
        np.testing.assert_array_equal(um[v].values, eager[v].values, err_msg=v)
    assert np.isnan(um["cos"].sel(variant="fire", lang="l01", concept="c005")).all()
    np.testing.assert_allclose(um["cos"].sel(lang="l01").fillna(1).values, 1, atol=1e-6)  # the reference


def test_kernel_with_separate_reference_equals_block_kernel():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 20, 32)).astype(np.float32)
    x[0, 3, 4] = np.nan
    perms = derangements(20, 30, 1)
    full = block_metrics(x, 1, perms)
    alone = block_metrics_vs(x[:, 2:], x[:, 1:2], perms)  # languages without the reference
    for a, b in zip(full, alone):
        np.testing.assert_array_equal(a[:, 2:], b)


def _peak_bytes(path: Path, target: int) -> int:
    """Peak traced allocation of the lazy stage 1 on one thread (numpy reports to tracemalloc)."""
    with open_any(path) as probe:
        chunks = aligned_chunks(probe, target=target)
    with xr.open_dataset(path, chunks=chunks) as lazy, dask.config.set(scheduler="synchronous"):
        um = unit_metrics(lazy, n_perm_null=20)
        tracemalloc.start()
        um.compute()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_peak_memory_does_not_grow_with_the_store(tmp_path):
    kw = {"n_units": 40, "n_layers": 8, "d": 2048}
    small = _store(tmp_path / "small.nc", n_langs=3, **kw)
    large = _store(tmp_path / "large.nc", n_langs=12, **kw)
    slab = 40 * 8 * 2048 * 4
    p_small, p_large = _peak_bytes(small, slab), _peak_bytes(large, slab)
    assert p_large < 1.3 * p_small, (p_small, p_large)
    eager = xr.load_dataset(large)
    assert p_large < 0.5 * eager["resid"].nbytes  # never the whole store in memory
