"""Activation stores: streamed, resumable, shardable capture into labelled netCDF.

A store is a directory::

    manifest.json            method (probe set, pooling, sites, dtype...) + per-variant provenance
    parts/<variant>/<id>.nc  one finished batch each, long form (stim, layer, d); written atomically
    activations.nc           the assembled dataset (variant, lang, <unit>, layer, d); atomic

Parts are the unit of progress: a re-run skips every stimulus a part already holds, plans
the rest in the same deterministic batches, and so ends with the same dataset as an
uninterrupted run. Files are HDF5-backed netCDF (h5netcdf) so ``resid`` can be float16.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Literal

import numpy as np
import xarray as xr
from jaxtyping import Float, Int

from polylens.errors import StorageError
from polylens.hooks.method import STORE_KEYS, VARIANT_KEYS, Method, differences

ENGINE: Literal["h5netcdf"] = "h5netcdf"
MANIFEST = "manifest.json"
FINAL = "activations.nc"


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_manifest(store: Path) -> dict | None:
    """The store's manifest, None if it has none yet (StorageError if it is corrupt)."""
    path = Path(store) / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise StorageError(f"{path}: corrupt manifest ({exc})") from exc


def open_store(store: Path, method: Method) -> dict:
    """Create the store or check that an existing one was made by the same method."""
    store = Path(store)
    (store / "parts").mkdir(parents=True, exist_ok=True)
    for stale in store.rglob(".*.tmp"):
        stale.unlink()  # left by a kill -9 mid-write; the finished parts are intact
    manifest = read_manifest(store)
    if manifest is None:
        manifest = {
            "method": method.as_dict(),
            "variants": {},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        write_manifest(store, manifest)
        return manifest
    diffs = differences(manifest["method"], method.as_dict(), STORE_KEYS)
    if diffs:
        raise StorageError(
            f"{store} holds activations made by a different method ({', '.join(diffs)}: "
            f"{[old for old, _ in diffs.values()]} vs {[new for _, new in diffs.values()]}); "
            "use a new --out directory"
        )
    return manifest


def register_variant(store: Path, manifest: dict, variant: str, provenance: dict) -> None:
    """Record a variant's model provenance; refuse a different model under the same label."""
    known = manifest["variants"].get(variant)
    if known and differences(known, provenance, VARIANT_KEYS):
        raise StorageError(
            f"{store}: variant {variant!r} was captured from other weights "
            f"({known['model_id']} {known['weights_sha256'][:12]}) than "
            f"{provenance['model_id']} {provenance['weights_sha256'][:12]}"
        )
    manifest["variants"][variant] = provenance
    write_manifest(store, manifest)


def write_manifest(store: Path, manifest: dict) -> None:
    """Write the manifest atomically."""
    _atomic_write_text(Path(store) / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))


def part_id(variant: str, keys: list[tuple[str, str]]) -> str:
    """Content address of a batch: the same stimuli always give the same part file."""
    blob = json.dumps([variant, sorted(keys)], ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def done_keys(store: Path, variant: str) -> set[tuple[str, str]]:
    """(lang, unit) pairs already captured for ``variant`` in any finished part."""
    keys: set[tuple[str, str]] = set()
    for part in sorted((Path(store) / "parts" / _safe(variant)).glob("*.nc")):
        with xr.open_dataset(part, engine=ENGINE) as ds:
            keys |= set(zip(ds["lang"].values.tolist(), ds["unit"].values.tolist()))
    return keys


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in name)


def write_part(
    store: Path,
    variant: str,
    keys: list[tuple[str, str]],
    acts: dict[str, Float[np.ndarray, "stim layer d"]],
    n_content: Int[np.ndarray, " stim"],
    n_tokens: Int[np.ndarray, " stim"],
    dtype: str,
) -> Path:
    """Write one finished batch atomically (tmp file + rename)."""
    folder = Path(store) / "parts" / _safe(variant)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{part_id(variant, keys)}.nc"
    ds = xr.Dataset(
        {site: (("stim", "layer", "d"), values.astype(dtype)) for site, values in acts.items()}
        | {
            "n_content": ("stim", n_content.astype(np.int32)),
            "n_tokens": ("stim", n_tokens.astype(np.int32)),
        },
        coords={"lang": ("stim", [k[0] for k in keys]), "unit": ("stim", [k[1] for k in keys])},
        attrs={"variant": variant},
    )
    tmp = path.with_name(f".{path.name}.tmp")
    ds.to_netcdf(tmp, engine=ENGINE, invalid_netcdf=True)
    os.replace(tmp, path)
    return path


def list_parts(stores: list[Path]) -> dict[str, list[Path]]:
    """variant -> part files, across one or more stores (e.g. shards)."""
    parts: dict[str, list[Path]] = {}
    for store in stores:
        for path in sorted((Path(store) / "parts").glob("*/*.nc")):
            with xr.open_dataset(path, engine=ENGINE) as ds:
                parts.setdefault(ds.attrs["variant"], []).append(path)
    return parts
