"""Assemble finished parts into one labelled dataset file: one streaming pass, verified, atomic.

The final arrays are created on disk (netCDF4, float32 + BitRound + zlib, one chunk per
stimulus) and filled part by part: each part's bytes are read once, checked against the
ledger's sha256 and decoded in memory, so memory holds one part, never a variant or the store.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import xarray as xr
from jaxtyping import Shaped

from polylens.errors import StorageError
from polylens.hooks.method import STORE_KEYS, VARIANT_KEYS, dataset_attrs, differences
from polylens.hooks.sites import layer_labels
from polylens.storage.encoding import COMPRESSION, DTYPE, ENGINE, MANTISSA_BITS, open_any
from polylens.storage.integrity import atomic_file, verify, write_sidecar
from polylens.storage.store import FINAL, append_ledger, intact, read_ledger, read_manifest

Key = tuple[str, str]
Row = tuple[int, Key, dict[str, Any], int]


def merged_manifest(stores: list[Path], require_complete: bool = False) -> dict:
    """One manifest for several stores (shards); refuse mixed methods and missing shards."""
    manifests = [(Path(s), read_manifest(s)) for s in stores]
    missing = [str(s) for s, m in manifests if m is None]
    if missing:
        raise StorageError(f"not an activation store (no manifest.json): {', '.join(missing)}"[:300])
    first_store, merged = manifests[0][0], json.loads(json.dumps(manifests[0][1]))
    for store, m in manifests[1:]:
        assert m is not None
        diffs = sorted(differences(merged["method"], m["method"], STORE_KEYS))
        if diffs:
            raise StorageError(
                f"refusing to combine {first_store} and {store}: they differ in method ({', '.join(diffs)})"
            )
        for variant, prov in m["variants"].items():
            known = merged["variants"].setdefault(variant, prov)
            if differences(known, prov, VARIANT_KEYS):
                raise StorageError(
                    f"refusing to combine {first_store} and {store}: variant "
                    f"{variant!r} comes from different weights"
                )
        merged["created"] = min(merged["created"], m["created"])
    if require_complete:
        _check_shards([(s, m) for s, m in manifests if m is not None])
    return merged


def _check_shards(manifests: list[tuple[Path, dict]]) -> None:
    """Every shard 0..n-1 present exactly once and finished."""
    specs = {s: m.get("shard", "0/1") for s, m in manifests}
    ns = {spec.split("/")[1] for spec in specs.values()}
    if len(ns) != 1:
        raise StorageError(f"refusing to merge shards of different splits: {sorted(set(specs.values()))}")
    n = int(ns.pop())
    have = [int(spec.split("/")[0]) for spec in specs.values()]
    absent = [f"{i}/{n}" for i in range(n) if i not in have]
    if absent:
        raise StorageError(f"missing shard(s) {', '.join(absent)} of {n}; give every shard store to merge")
    twice = sorted({f"{i}/{n}" for i in have if have.count(i) > 1})
    if twice:
        raise StorageError(f"shard(s) {', '.join(twice)} given twice")
    unfinished = [str(s) for s, m in manifests if not m.get("complete")]
    if unfinished:
        raise StorageError(
            f"unfinished shard store(s): {', '.join(unfinished)}; re-run their cache command"[:300]
        )


def sources(stores: list[Path]) -> dict[str, dict[Key, tuple[Path, dict]]]:
    """variant -> (lang, unit) -> (store, ledger entry) to read it from; parts win over the final file."""
    out: dict[str, dict[Key, tuple[Path, dict]]] = {}
    for store in stores:
        manifest = read_manifest(store) or {}
        entries = read_ledger(store)
        for entry in sorted(entries, key=lambda e: e["file"] != FINAL):  # final first, parts override
            if not intact(store, entry, manifest.get("final")):
                continue
            for lang, unit in entry["keys"]:
                out.setdefault(entry["variant"], {})[(lang, unit)] = (Path(store), entry)
    return out


def assemble(stores: list[Path], out: Path, probe_set: Any = None, require_complete: bool = False) -> Path:
    """Write ``out`` (atomically, with a checksum sidecar) from every finished part of ``stores``.

    ``probe_set`` supplies unit order, texts and domains; without it units are ordered as first
    seen. Cells with no stimulus are NaN / n_tokens 0.
    """
    stores = [Path(s) for s in stores]
    manifest = merged_manifest(stores, require_complete)
    src = sources(stores)
    if not src:
        raise StorageError(f"no finished parts in {', '.join(map(str, stores))}"[:300])
    variants = sorted(src, key=list(manifest["variants"]).index)
    langs, units = _axes(src, probe_set)
    prov = next(iter(manifest["variants"].values()))
    shape = (int(prov["n_layers"]) + 1, int(prov["d_model"]))
    skeleton = _skeleton(manifest, variants, langs, units, shape[0] - 1, probe_set)
    out = Path(out)
    with atomic_file(out) as tmp:
        skeleton.to_netcdf(tmp, engine=ENGINE)
        with _no_chunk_cache(), netCDF4.Dataset(tmp, "a") as f:
            _fill(f, manifest["method"], src, (variants, langs, units), shape)
    write_sidecar(out)
    return out


@contextmanager
def _no_chunk_cache() -> Iterator[None]:
    """Files opened inside get no HDF5 chunk cache: each chunk is written once (default 64 MB)."""
    before = netCDF4.get_chunk_cache()
    netCDF4.set_chunk_cache(size=0, nelems=1, preemption=1.0)
    try:
        yield
    finally:
        netCDF4.set_chunk_cache(*before)


def _fill(f: Any, method: dict, src: dict, axes: tuple[list[str], ...], shape: tuple[int, int]) -> None:
    """Create the activation variables and stream every source file into them, once each."""
    variants, langs, units = axes
    f.createDimension("d", shape[1])
    dims = ("variant", "lang", method["unit_dim"], "layer", "d")
    arrays = {
        site: f.createVariable(
            site,
            DTYPE,
            dims,
            fill_value=np.float32(np.nan),
            chunksizes=(1, 1, 1, *shape),
            quantize_mode="BitRound",
            significant_digits=MANTISSA_BITS,
            **COMPRESSION,
        )
        for site in method["sites"]
    }
    lang_ix, unit_ix = {l: i for i, l in enumerate(langs)}, {u: i for i, u in enumerate(units)}
    by_file: dict[tuple[Path, str], tuple[dict, list[tuple[int, Key]]]] = {}
    for vi, variant in enumerate(variants):
        for key, (store, entry) in src[variant].items():
            if key[0] in lang_ix and key[1] in unit_ix:
                by_file.setdefault((store, entry["file"]), (entry, []))[1].append((vi, key))
    for (store, name), (entry, cells) in by_file.items():
        rows = _read_final(store, variants, cells) if name == FINAL else _read_part(store, entry, cells)
        for vi, key, values, n in rows:
            li, ui = lang_ix[key[0]], unit_ix[key[1]]
            for site, arr in arrays.items():
                arr[vi, li, ui] = values[site]
            f.variables["n_tokens"][vi, li, ui] = n


def _read_part(store: Path, entry: dict, cells: list[tuple[int, Key]]) -> Iterator[Row]:
    """Rows of one part, read once and checked against the ledger's sha256."""
    path = store / entry["file"]
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        append_ledger(store, {"drop": entry["file"]})
        raise StorageError(
            f"{path} is damaged (sha256 mismatch); re-run the same cache command to re-capture it"
        )
    with netCDF4.Dataset("part", memory=data) as ds:
        ds.set_auto_mask(False)
        where = {(l, u): i for i, (l, u) in enumerate(zip(ds["lang"][:], ds["unit"][:]))}
        sites = [v for v in ds.variables if ds[v].dimensions == ("stim", "layer", "d")]
        for vi, key in cells:
            i = where[key]
            yield vi, key, {s: ds[s][i] for s in sites}, int(ds["n_content"][i])


def _read_final(store: Path, variants: list[str], cells: list[tuple[int, Key]]) -> Iterator[Row]:
    """Rows of a previous final file (verified first), for stimuli whose parts were removed."""
    path = store / FINAL
    verify(path, (read_manifest(store) or {}).get("final"))
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_mask(False)
        unit_dim = ds["n_tokens"].dimensions[2]
        v_ix = {v: i for i, v in enumerate(ds["variant"][:])}
        l_ix = {v: i for i, v in enumerate(ds["lang"][:])}
        u_ix = {v: i for i, v in enumerate(ds[unit_dim][:])}
        sites = [v for v in ds.variables if len(ds[v].dimensions) == 5]
        for vi, key in cells:
            ix = (v_ix[variants[vi]], l_ix[key[0]], u_ix[key[1]])
            yield vi, key, {s: ds[s][ix] for s in sites}, int(ds["n_tokens"][ix])


def _axes(src: dict[str, dict[Key, Any]], probe_set: Any) -> tuple[list[str], list[str]]:
    """Languages and units present, in probe-set order (else sorted / first seen)."""
    seen_langs: dict[str, None] = {}
    seen_units: dict[str, None] = {}
    for keys in src.values():
        for lang, unit in keys:
            seen_langs[lang] = None
            seen_units[unit] = None
    if probe_set is None:
        return sorted(seen_langs), list(seen_units)
    langs = [l for l in probe_set.languages if l in seen_langs]
    units = [u for u in probe_set.units if u in seen_units]
    return langs, units


def _skeleton(manifest, variants, langs, units, n_layers, probe_set) -> xr.Dataset:
    """Everything but the big arrays: coords, texts, token counts, attrs."""
    from polylens.probes import LANGUAGES

    unit_dim = manifest["method"]["unit_dim"]
    info = [LANGUAGES.get(l) for l in langs]
    coords: dict[str, Any] = {
        "variant": variants,
        "lang": langs,
        unit_dim: units,
        "layer": np.arange(n_layers + 1),
        "layer_label": ("layer", layer_labels(n_layers)),
        "script": ("lang", [i.script if i else "" for i in info]),
        "resource": ("lang", [i.resource if i else "" for i in info]),
        "target_variant": ("lang", [i.target_variant if i else "" for i in info]),
    }
    texts = np.full((len(langs), len(units)), "", dtype=object)
    if probe_set is not None:
        lang_ix, unit_ix = {l: i for i, l in enumerate(langs)}, {u: i for i, u in enumerate(units)}
        for s in probe_set.stimuli:
            if s.lang in lang_ix and s.unit in unit_ix:
                texts[lang_ix[s.lang], unit_ix[s.unit]] = s.text
        domains = [str(probe_set.unit_meta.get(u, {}).get("domain", "")) for u in units]
        if any(domains):
            coords["domain"] = (unit_dim, domains)
        if any("hygiene" in s.meta for s in probe_set.stimuli):
            coords["hygiene"] = (("lang", unit_dim), hygiene_coord(probe_set, langs, units))
    ds = xr.Dataset(
        {
            "text": (("lang", unit_dim), texts.astype(str)),
            "n_tokens": (
                ("variant", "lang", unit_dim),
                np.zeros((len(variants), len(langs), len(units)), np.int32),
            ),
        },
        coords=coords,
        attrs=dataset_attrs(manifest),
    )
    ds["n_tokens"].attrs["description"] = "content tokens pooled (0 = no stimulus)"
    return ds


def hygiene_coord(probe_set, langs: list[str], units: list[str]) -> Shaped[np.ndarray, "lang unit"]:
    """(lang, unit) comma-joined hygiene flags of each stimulus ("" = clean or no stimulus)."""
    out = np.full((len(langs), len(units)), "", dtype=object)
    lang_ix, unit_ix = {l: i for i, l in enumerate(langs)}, {u: i for i, u in enumerate(units)}
    for s in probe_set.stimuli:
        if s.lang in lang_ix and s.unit in unit_ix:
            out[lang_ix[s.lang], unit_ix[s.unit]] = ",".join(s.meta.get("hygiene", []))
    return out.astype(str)


def open_activations(path: Path, chunks: dict | str | None = "auto") -> xr.Dataset:
    """Open an assembled store lazily (dask), checksum-verified; ``chunks=None`` loads eagerly."""
    path = Path(path)
    if path.is_dir():
        path = path / FINAL
    if not path.exists():
        raise StorageError(
            f"{path} does not exist (run `python cli.py cache` first, or `python cli.py merge` for shards)"
        )
    manifest = read_manifest(path.parent) if path.name == FINAL else None
    verify(path, manifest.get("final") if manifest else None)
    return open_any(path, chunks=chunks)
