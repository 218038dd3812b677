"""Activation stores: streamed, resumable, shardable capture into labelled netCDF.

A store is a directory::

    manifest.json            method, per-variant provenance, shard, final file's fingerprint
    parts.jsonl              the ledger: one line per finished part (file, sha256, size, keys)
    parts/<variant>/<id>.nc  one finished batch each, long form (stim, layer, d); atomic
    activations.nc           the assembled dataset (variant, lang, <unit>, layer, d); atomic
    .lock                    held by the one process writing the store

Parts are the unit of progress. Resume reads the ledger (one file) and checks each listed
part's size, so a missing or truncated part is re-captured; assembly verifies every part's
sha256 as it reads it. After a verified assembly the parts are removed (unless kept) and the
ledger points their stimuli at the final file, from which a later, grown assembly reads them.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import xarray as xr
from jaxtyping import Float, Int

from polylens.errors import StorageError
from polylens.hooks.method import STORE_KEYS, VARIANT_KEYS, Method, differences
from polylens.storage.encoding import ENGINE, array_encoding, as_stored
from polylens.storage.integrity import atomic_write_text, fingerprint, remove, writing

MANIFEST = "manifest.json"
LEDGER = "parts.jsonl"
FINAL = "activations.nc"


def read_manifest(store: Path) -> dict | None:
    """The store's manifest, None if it has none yet (StorageError if it is corrupt)."""
    path = Path(store) / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise StorageError(f"{path}: corrupt manifest ({str(exc)[:80]})") from None
    if not isinstance(manifest, dict) or not {"method", "variants"} <= set(manifest):
        raise StorageError(f"{path}: corrupt manifest (no method/variants)")
    return manifest


def open_store(store: Path, method: Method, shard: str = "0/1") -> dict:
    """Create the store or check that an existing one was made by the same method (hold the lock)."""
    store = Path(store)
    with writing(store):
        (store / "parts").mkdir(parents=True, exist_ok=True)
    for stale in list(store.rglob(".*.tmp*")):
        remove(stale)  # left by a kill -9 mid-write; we hold the lock, so nobody else's
    manifest = read_manifest(store)
    if manifest is None:
        manifest = {
            "method": method.as_dict(),
            "variants": {},
            "shard": shard,
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
    if manifest.get("shard", "0/1") != shard:
        raise StorageError(f"{store} is shard {manifest.get('shard', '0/1')}, not {shard}; use another --out")
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
    atomic_write_text(Path(store) / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))


def part_id(variant: str, keys: list[tuple[str, str]]) -> str:
    """Content address of a batch: the same stimuli always give the same part file."""
    blob = json.dumps([variant, sorted(keys)], ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def safe_name(name: str) -> str:
    """A file-name-safe form of a label that can never leave its directory (no ``..``, no ``/``)."""
    text = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in name)[:100]
    return "_" + text if not text or text.startswith(".") else text


def read_ledger(store: Path) -> list[dict]:
    """The ledger's entries (a torn last line from a kill -9 is ignored: its part is redone)."""
    path = Path(store) / LEDGER
    entries: list[dict] = []
    if not path.exists():
        return entries
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue
    live: dict[tuple[str, str], dict] = {}  # a later entry for a file supersedes, a drop removes
    for e in entries:
        if "drop" in e:
            live = {k: v for k, v in live.items() if k[1] != e["drop"]}
        else:
            live[(e["variant"], e["file"])] = e
    return list(live.values())


def append_ledger(store: Path, entry: dict) -> None:
    """Append one entry to the ledger, flushed to disk."""
    path = Path(store) / LEDGER
    with writing(path), open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def intact(store: Path, entry: dict, final_fp: dict | None) -> bool:
    """Cheap resume check of a ledger entry: its file exists with the recorded size."""
    expected = final_fp if entry["file"] == FINAL else entry
    if expected is None:
        return False
    try:
        return (Path(store) / entry["file"]).stat().st_size == expected["size"]
    except OSError:
        return False


def done_keys(store: Path, variant: str, manifest: dict) -> set[tuple[str, str]]:
    """(lang, unit) pairs of ``variant`` held by intact parts (or the final file): no part opened."""
    final_fp = manifest.get("final")
    keys: set[tuple[str, str]] = set()
    for entry in read_ledger(store):
        if entry["variant"] == variant and intact(store, entry, final_fp):
            keys.update((lang, unit) for lang, unit in entry["keys"])
    return keys


def write_part(
    store: Path,
    variant: str,
    keys: list[tuple[str, str]],
    acts: dict[str, Float[np.ndarray, "stim layer d"]],
    n_content: Int[np.ndarray, " stim"],
    n_tokens: Int[np.ndarray, " stim"],
) -> Path:
    """Write one finished batch atomically (tmp file + rename), then record it in the ledger."""
    entry = write_part_file(store, variant, keys, acts, n_content, n_tokens)
    append_ledger(store, entry)
    return Path(store) / entry["file"]


def write_part_file(
    store: Path,
    variant: str,
    keys: list[tuple[str, str]],
    acts: dict[str, Float[np.ndarray, "stim layer d"]],
    n_content: Int[np.ndarray, " stim"],
    n_tokens: Int[np.ndarray, " stim"],
) -> dict:
    """Write one batch's part file atomically; return its ledger entry (not yet recorded).

    Parallel writers (cluster workers) call this and hand the entry to the one process holding
    the store's lock, which alone appends to the ledger.
    """
    folder = Path(store) / "parts" / safe_name(variant)
    path = folder / f"{part_id(variant, keys)}.nc"
    data = {site: as_stored(values, keys, site) for site, values in acts.items()}
    ds = xr.Dataset(
        {site: (("stim", "layer", "d"), values) for site, values in data.items()}
        | {
            "n_content": ("stim", n_content.astype(np.int32)),
            "n_tokens": ("stim", n_tokens.astype(np.int32)),
        },
        coords={"lang": ("stim", [k[0] for k in keys]), "unit": ("stim", [k[1] for k in keys])},
        attrs={"variant": variant},
    )
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with writing(path, tmp):
        folder.mkdir(parents=True, exist_ok=True)
        ds.to_netcdf(tmp, engine=ENGINE, encoding={site: array_encoding() for site in data})
        fp = fingerprint(tmp)
        os.replace(tmp, path)
    return {"variant": variant, "file": str(path.relative_to(store)), **fp, "keys": [list(k) for k in keys]}


def finalize(store: Path, manifest: dict, keep_parts: bool = False) -> None:
    """After assembly: record the final file's fingerprint; unless kept, point the ledger at it
    and remove the parts (the final file is verified by re-opening it first)."""
    from polylens.storage.encoding import open_any

    store = Path(store)
    final = store / FINAL
    manifest["final"] = json.loads((final.with_name(FINAL + ".sha256")).read_text())
    with open_any(final) as ds:  # readable before anything is deleted
        ds["n_tokens"].load()
    write_manifest(store, manifest)
    if keep_parts:
        return
    per_variant: dict[str, list] = {}
    for entry in read_ledger(store):
        per_variant.setdefault(entry["variant"], []).extend(entry["keys"])
    lines = [
        json.dumps({"variant": v, "file": FINAL, "keys": sorted(set(map(tuple, keys)))}, ensure_ascii=False)
        for v, keys in per_variant.items()
    ]
    atomic_write_text(store / LEDGER, "".join(line + "\n" for line in lines))
    remove(store / "parts")
    with writing(store / "parts"):
        (store / "parts").mkdir()
