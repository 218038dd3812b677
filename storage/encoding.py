"""The on-disk encoding of activations, and reading any store we ever wrote.

float32 with BitRound to 10 mantissa bits (float16-level precision, float32 range) and zlib
level 1, written by the default netCDF4 engine: every file opens with ``xr.open_dataset(p)``
and ``ncdump``. Stores of the first version (float16 via h5netcdf, not a netCDF type) are
still read through h5netcdf. See docs/reliability.md for the measurements behind the choice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
from jaxtyping import Float

from polylens.errors import StorageError

ENGINE: Literal["netcdf4"] = "netcdf4"
LEGACY_ENGINE: Literal["h5netcdf"] = "h5netcdf"
DTYPE = "float32"
MANTISSA_BITS = 10  # float16 has 10 explicit mantissa bits
COMPRESSION: dict[str, Any] = {"zlib": True, "complevel": 1}


def array_encoding(chunks: tuple[int, ...] | None = None) -> dict[str, Any]:
    """netCDF4 encoding of one activation variable."""
    enc: dict[str, Any] = {
        "dtype": DTYPE,
        "quantize_mode": "BitRound",
        "significant_digits": MANTISSA_BITS,
        "_FillValue": np.float32(np.nan),
        **COMPRESSION,
    }
    if chunks is not None:
        enc["chunksizes"] = chunks
    return enc


def as_stored(
    values: Float[np.ndarray, "stim layer d"], keys: list[tuple[str, str]], site: str
) -> Float[np.ndarray, "stim layer d"]:
    """``values`` as float32; refuse non-finite values, naming the stimulus.

    NaN is allowed only where it is structural: a (site, layer) that is NaN for every stimulus
    (e.g. ``attn_out`` at the embedding layer).
    """
    out = np.asarray(values, dtype=np.float32)
    structural = np.isnan(out).all(axis=(0, 2))  # layers never computed for this site
    bad = ~np.isfinite(out[:, ~structural]).all(axis=(1, 2))
    if bad.any():
        lang, unit = keys[int(np.argmax(bad))]
        raise StorageError(
            f"non-finite {site} activation for stimulus {unit!r} ({lang}): the model overflowed; "
            "try --dtype float32"
        )
    return out


#: ``open_any(path, ALIGNED)``: dask chunks built from whole on-disk chunks (see aligned_chunks)
ALIGNED = "aligned"
#: target size of one aligned dask chunk (decoded float32)
ALIGNED_CHUNK_BYTES = 64 * 2**20
#: dimensions an aligned chunk always holds whole (the analysis kernel's core dimensions)
WHOLE_DIMS = ("concept", "item", "layer", "d")


def aligned_chunks(ds: xr.Dataset, var: str = "resid", target: int = ALIGNED_CHUNK_BYTES) -> dict[str, int]:
    """Dask chunks for ``ds[var]`` made of whole on-disk chunks: every stored chunk is decoded once.

    ``concept|item``, ``layer`` and ``d`` are whole (the stored chunks are one stimulus, all layers);
    along the other dimensions (``variant``, ``lang``) a chunk spans a multiple of the stored chunk
    size, as many as fit in ``target`` bytes of float32 (at least one), innermost dimension first.
    """
    arr = ds[var]
    stored = arr.encoding.get("chunksizes") or arr.shape
    chunks = {str(d): -1 if d in WHOLE_DIMS else int(c) for d, c in zip(arr.dims, stored)}
    size = 4 * int(np.prod([arr.sizes[d] for d in arr.dims if chunks[str(d)] == -1]))
    size *= int(np.prod([c for c in chunks.values() if c != -1]))
    for d in reversed([str(d) for d in arr.dims if chunks[str(d)] != -1]):
        k = max(1, min(target // max(size, 1), -(-arr.sizes[d] // chunks[d])))
        chunks[d] *= k
        size *= k
    return chunks


def open_any(path: Path, chunks: dict | str | None = None) -> xr.Dataset:
    """Open a store file with the default engine, or h5netcdf for a first-version float16 store.

    ``chunks="aligned"`` (:data:`ALIGNED`) opens lazily with :func:`aligned_chunks`.
    """
    path = Path(path)
    engine = LEGACY_ENGINE if _is_legacy(path) else ENGINE
    try:
        if chunks == ALIGNED:
            with xr.open_dataset(path, engine=engine) as probe:
                var = "resid" if "resid" in probe else next(n for n in probe.data_vars if probe[n].ndim == 5)
                chunks = aligned_chunks(probe, str(var))
        return xr.open_dataset(path, engine=engine, chunks=chunks)
    except (OSError, ValueError, KeyError, RuntimeError, StopIteration) as exc:
        raise StorageError(f"{path}: not a readable activation store ({str(exc)[:120]})") from None


def _is_legacy(path: Path) -> bool:
    """True for an HDF5 file holding a float16 variable (the first store format)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return any(isinstance(v, h5py.Dataset) and v.dtype == np.float16 for v in f.values())
    except OSError:
        return False
