"""Assemble finished parts into one labelled dataset file, atomically.

The final arrays are created on disk (chunked, compressed HDF5 via h5netcdf) and filled one
variant at a time: memory holds one variant's (lang, unit, layer, d) slab, never the store.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5netcdf
import numpy as np
import xarray as xr
from jaxtyping import Float, Int, Shaped

from polylens.errors import StorageError
from polylens.hooks.method import STORE_KEYS, VARIANT_KEYS, dataset_attrs, differences
from polylens.hooks.sites import layer_labels
from polylens.storage.store import ENGINE, FINAL, list_parts, read_manifest


def merged_manifest(stores: list[Path]) -> dict:
    """One manifest for several stores (shards); refuse stores made by different methods."""
    manifests = [(s, read_manifest(s)) for s in stores]
    missing = [str(s) for s, m in manifests if m is None]
    if missing:
        raise StorageError(f"not an activation store (no manifest.json): {', '.join(missing)}")
    first_store, merged = manifests[0][0], json.loads(json.dumps(manifests[0][1]))
    for store, m in manifests[1:]:
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
    return merged


def assemble(stores: list[Path], out: Path, probe_set=None) -> Path:
    """Write ``out`` (atomically) from every part of ``stores``; return its path.

    ``probe_set`` (a loaded ProbeSet) supplies unit order, texts and domains; without it
    units are ordered as first seen. Cells with no stimulus are NaN / n_tokens 0.
    """
    stores = [Path(s) for s in stores]
    manifest = merged_manifest(stores)
    method = manifest["method"]
    parts = list_parts(stores)
    if not parts:
        raise StorageError(f"no finished parts in {', '.join(map(str, stores))}")
    variants = sorted(parts, key=list(manifest["variants"]).index)
    langs, units = _axes(parts, probe_set)
    n_layers = int(next(iter(manifest["variants"].values()))["n_layers"])
    d_model = int(next(iter(manifest["variants"].values()))["d_model"])
    skeleton = _skeleton(manifest, variants, langs, units, n_layers, probe_set)
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    skeleton.to_netcdf(tmp, engine=ENGINE, invalid_netcdf=True)
    lang_ix, unit_ix = {l: i for i, l in enumerate(langs)}, {u: i for i, u in enumerate(units)}
    with h5netcdf.File(tmp, "a", invalid_netcdf=True) as f:
        f.dimensions["d"] = d_model
        dims = ("variant", "lang", method["unit_dim"], "layer", "d")
        arrays = {
            site: f.create_variable(
                site,
                dims,
                dtype=method["dtype"],
                fillvalue=np.nan,
                chunks=(1, 1, min(len(units), 64), 1, d_model),
                compression="gzip",
                compression_opts=1,
            )
            for site in method["sites"]
        }
        for vi, variant in enumerate(variants):  # one variant in memory at a time
            slabs, counts = _variant_slab(
                parts[variant], method["sites"], lang_ix, unit_ix, n_layers + 1, d_model, method["dtype"]
            )
            for site, arr in arrays.items():
                arr[vi] = slabs[site]
            f.variables["n_tokens"][vi] = counts
    os.replace(tmp, out)
    return out


def _variant_slab(
    paths: list[Path],
    sites: list[str],
    lang_ix: dict[str, int],
    unit_ix: dict[str, int],
    n_points: int,
    d_model: int,
    dtype: str,
) -> tuple[dict[str, Float[np.ndarray, "lang unit layer d"]], Int[np.ndarray, "lang unit"]]:
    """All parts of one variant scattered into (lang, unit, layer, d) arrays (NaN = missing)."""
    shape = (len(lang_ix), len(unit_ix))
    slabs = {site: np.full(shape + (n_points, d_model), np.nan, dtype=dtype) for site in sites}
    counts = np.zeros(shape, dtype=np.int32)
    for path in sorted(paths):
        with xr.open_dataset(path, engine=ENGINE) as part:
            li = np.array([lang_ix[l] for l in part["lang"].values])
            ui = np.array([unit_ix[u] for u in part["unit"].values])
            for site in sites:
                slabs[site][li, ui] = part[site].values
            counts[li, ui] = part["n_content"].values
    return slabs, counts


def _axes(parts: dict[str, list[Path]], probe_set) -> tuple[list[str], list[str]]:
    seen_langs, seen_units = {}, {}
    for paths in parts.values():
        for path in paths:
            with xr.open_dataset(path, engine=ENGINE) as ds:
                seen_langs.update(dict.fromkeys(ds["lang"].values.tolist()))
                seen_units.update(dict.fromkeys(ds["unit"].values.tolist()))
    if probe_set is None:
        return sorted(seen_langs), list(seen_units)
    langs = [l for l in probe_set.languages if l in seen_langs]
    units = [u for u in probe_set.units if u in seen_units]
    return langs, units


def _skeleton(manifest, variants, langs, units, n_layers, probe_set) -> xr.Dataset:
    """Everything but the big arrays: coords, texts, token counts, attrs."""
    from polylens.probes import LANGUAGES

    unit_dim = manifest["method"]["unit_dim"]
    coords = {
        "variant": variants,
        "lang": langs,
        unit_dim: units,
        "layer": np.arange(n_layers + 1),
        "layer_label": ("layer", layer_labels(n_layers)),
        "script": ("lang", [LANGUAGES[l].script if l in LANGUAGES else "" for l in langs]),
        "resource": ("lang", [LANGUAGES[l].resource if l in LANGUAGES else "" for l in langs]),
        "target_variant": ("lang", [LANGUAGES[l].target_variant if l in LANGUAGES else "" for l in langs]),
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
    """Open an assembled store lazily (dask); ``chunks=None`` loads eagerly into numpy."""
    path = Path(path)
    if path.is_dir():
        path = path / FINAL
    if not path.exists():
        raise StorageError(
            f"{path} does not exist (run `python cli.py cache` first, or `python cli.py merge` for shards)"
        )
    ds = xr.open_dataset(path, engine=ENGINE, chunks=chunks)
    return ds
