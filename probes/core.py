"""Loading probe sets by name or path (committed sets, user files, FLORES, edge cases + reference)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from polylens.errors import ProbeError
from polylens.probes.checks import validate
from polylens.probes.flores import load_flores
from polylens.probes.model import DATA_DIR, ProbeSet, Stimulus

COMMITTED = ("concepts", "medical", "udhr", "edge_cases", "udhr_romanized")


def committed_path(name: str) -> Path:
    """Path of a committed probe set by name."""
    return DATA_DIR / f"{name}.json"


def load_probe_set(name_or_path: str | Path, normalize: bool = False) -> ProbeSet:
    """Load ``concepts|medical|udhr|edge_cases|udhr_romanized``, a JSON path, or ``flores:<dir>[#split]``.

    ``edge_cases+en`` adds, to every edge case, the English text of the sentence it was
    derived from (its ``source``), so model evidence can compare it with a reference.
    """
    text = str(name_or_path)
    if text.startswith("flores:"):
        directory, _, split = text[len("flores:") :].partition("#")
        return load_flores(directory, split or "dev")
    if text in COMMITTED:
        return validate(committed_path(text), normalize)
    base, _, ref = text.partition("+")
    if base == "edge_cases" and ref:
        return with_reference(validate(committed_path(base), normalize), ref)
    path = Path(text)
    if not path.exists():
        raise ProbeError(
            f"unknown probe set {text!r}: not one of {', '.join(COMMITTED)}, "
            "not an existing file, not flores:<dir>"
        )
    return validate(path, normalize)


def with_reference(edge_set: ProbeSet, ref: str = "en") -> ProbeSet:
    """The edge-case set plus each case's source sentence in ``ref`` as a parallel stimulus.

    ``source`` is ``<set>:<unit>`` (medical / udhr / udhr_romanized); cases without a
    source in ``ref`` keep only their own text. The sha256 covers the added texts.
    """
    sources: dict[str, dict[str, str]] = {}
    added = []
    for unit in edge_set.units:
        set_name, _, src_unit = str(edge_set.unit_meta[unit].get("source", "")).partition(":")
        set_name = "udhr" if set_name == "udhr_romanized" else set_name
        if set_name not in ("medical", "udhr"):
            continue
        if set_name not in sources:
            sources[set_name] = load_probe_set(set_name).texts(ref)
        text = sources[set_name].get(src_unit)
        if text and not any(s.unit == unit and s.lang == ref for s in edge_set.stimuli):
            added.append(Stimulus(unit, ref, text, {"reference_of": unit}))
    digest = hashlib.sha256((edge_set.sha256 + ref + "".join(s.text for s in added)).encode())
    langs = edge_set.languages if ref in edge_set.languages else [ref, *edge_set.languages]
    return replace(
        edge_set,
        name=f"{edge_set.name}+{ref}",
        sha256=digest.hexdigest(),
        languages=langs,
        stimuli=edge_set.stimuli + added,
    )


def summary_row(ps: ProbeSet) -> dict[str, Any]:
    """One summary row: name, kind, version, units, languages, counts per language, verified share."""
    share = ps.verified_share()
    return {
        "name": ps.name,
        "kind": ps.kind,
        "version": ps.version,
        "n_units": len(ps.units),
        "n_languages": len(ps.languages),
        "n_stimuli": len(ps.stimuli),
        "counts": ps.counts(),
        "verified_share": None if share is None else round(share, 4),
        "sha256": ps.sha256,
    }


def list_probe_sets() -> list[dict[str, Any]]:
    """Summary rows of every committed probe set present on disk."""
    return [summary_row(load_probe_set(n)) for n in COMMITTED if committed_path(n).exists()]
