"""Resumable per-text scores of one model variant for ``quant evaluate|sinks|heads`` (issue 18).

A variant's scores live in ``<out>/scores/<variant>[.detail]/``::

    parts.jsonl        the ledger (``storage.store`` rules): one line per finished language part
    parts/<lang>-<units hash>.nc   the scores of one language's units, written atomically
    .lock              held by the one process scoring this variant

Progress unit = one language (all its requested units in one batched pass, one forward per
batch). Resume reads the ledger, keeps every part that is intact (recorded size), was made
from the same probe-set sha256 and holds exactly the requested ``(lang, unit)`` keys, and scores
only the missing languages. The model is loaded lazily: a fully finished variant is never
loaded again. Parts are combined along ``lang`` in memory (each is a few MB).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polylens.errors import StorageError

if TYPE_CHECKING:
    import xarray as xr

    from polylens.hooks.models import HookedModel

logger = logging.getLogger(__name__)
#: per-variant attributes copied from the model's provenance onto the combined scores
_PROVENANCE_KEYS = ("model_id", "weights_sha256", "quant", "base_weights_sha256")


def _safe(name: str) -> str:
    """File-name form of a variant name (``a@int4-g128`` -> ``a__int4-g128``)."""
    return name.replace("/", "_").replace("@", "__")


def variant_dir(out: Path, name: str, detail: bool) -> Path:
    """Directory holding the parts and ledger of one variant's scores."""
    return Path(out) / "scores" / f"{_safe(name)}{'.detail' if detail else ''}"


def _part_name(lang: str, units: list[str]) -> str:
    """``parts/<lang>-<hash of the unit list>.nc``: a grown unit list gets a new part."""
    h = hashlib.sha256(json.dumps(units).encode()).hexdigest()[:12]
    return f"parts/{lang}-{h}.nc"


def _finished(store: Path, name: str, sha: str, langs: list[str], units: list[str]) -> dict[str, dict]:
    """lang -> ledger entry of its intact, matching part (languages still to score are absent)."""
    from polylens.storage.store import intact, read_ledger

    want = {lang: [[lang, u] for u in units] for lang in langs}
    done = {}
    for e in read_ledger(store):
        lang = e.get("lang")
        ok = e["variant"] == name and e.get("probe_set_sha256") == sha and lang in want
        if ok and e["keys"] == want[lang] and intact(store, e, None):
            done[lang] = e
    return done


def _write_part(store: Path, name: str, sha: str, ds: xr.Dataset, units: list[str]) -> None:
    """Write one language's scores atomically, then append its ledger entry (fsynced)."""
    from polylens.storage.integrity import fingerprint, writing
    from polylens.storage.store import append_ledger

    lang = str(ds.lang.values[0])
    rel = _part_name(lang, units)
    path = store / rel
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with writing(path, tmp):
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.to_netcdf(tmp)
        fp = fingerprint(tmp)
        os.replace(tmp, path)
    keys = [[lang, u] for u in units]
    append_ledger(
        store, {"variant": name, "file": rel, **fp, "lang": lang, "probe_set_sha256": sha, "keys": keys}
    )


def _combine(store: Path, entries: list[dict]) -> xr.Dataset:
    """The parts (in ledger-language order) concatenated along ``lang``; sha256-checked."""
    import xarray as xr

    from polylens.storage.integrity import sha256_file

    parts = []
    for e in entries:
        path = store / e["file"]
        if sha256_file(path) != e["sha256"]:
            raise StorageError(f"{path}: sha256 differs from its ledger entry; delete it to recompute")
        try:
            parts.append(xr.load_dataset(path))
        except (OSError, ValueError) as exc:
            raise StorageError(f"{path}: unreadable scores part ({exc}); delete it to recompute") from None
    ds = xr.concat(parts, dim="lang", data_vars="minimal", coords="minimal", compat="override")
    ds.attrs = dict(parts[0].attrs)
    return ds


def scores(
    name: str,
    ps: Any,
    out: Path,
    device: str | None = None,
    detail: bool = False,
    max_tokens: int = 768,
    model: HookedModel | None = None,
    on_part: Callable[[str], None] | None = None,
) -> xr.Dataset:
    """Scores of variant ``name`` on probe set ``ps`` (all its languages x units), resumable.

    ``model``: an already loaded model of that name (else loaded only if a part is missing).
    ``on_part(lang)`` is called after each newly written part (progress reporting).
    """
    from polylens.hooks.quant_measure import score_texts
    from polylens.storage.integrity import store_lock

    langs, units = list(ps.languages), list(ps.units)
    store = variant_dir(out, name, detail)
    with store_lock(store):
        done = _finished(store, name, ps.sha256, langs, units)
        todo = [lang for lang in langs if lang not in done]
        if todo:
            t0 = time.time()
            if model is None:
                from polylens.hooks.models import load_model

                model = load_model(name, device=device)
            logger.info(
                "  %s: scoring %d of %d languages x %d units", name, len(todo), len(langs), len(units)
            )
            for lang in todo:
                ds = score_texts(model, ps, [lang], units, detail=detail, max_tokens=max_tokens)
                _write_part(store, name, ps.sha256, ds, units)
                if on_part:
                    on_part(lang)
            logger.info("  %s: %d languages scored in %.1f s", name, len(todo), time.time() - t0)
            done = _finished(store, name, ps.sha256, langs, units)
        ds = _combine(store, [done[lang] for lang in langs])
    ds.attrs["n_parts"] = len(langs)
    return ds
