"""Probe-set model (``ProbeSet``, ``Stimulus``), loading and validation of probe JSON files."""

from __future__ import annotations

import hashlib
import json
import unicodedata
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jsonschema

from polylens.errors import ProbeError
from polylens.probes.languages import LANGUAGES

DATA_DIR = Path(__file__).resolve().parent / "data"
SCHEMA_PATH = DATA_DIR / "probe_set.schema.json"
COMMITTED = ("concepts", "medical", "udhr", "edge_cases", "udhr_romanized")
UNIT_DIM = {"concepts": "concept", "sentences": "item", "edge_cases": "item"}


@dataclass(frozen=True)
class Stimulus:
    """One text: unit id, language code, text and its metadata (unit meta + per-language meta)."""

    unit: str
    lang: str
    text: str
    meta: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class ProbeSet:
    """A stimulus set: ordered units x languages, with provenance."""

    name: str
    kind: str
    version: str
    sha256: str
    license: str
    source: str
    unit_dim: str
    units: list[str]
    unit_meta: dict[str, dict]
    languages: list[str]
    stimuli: list[Stimulus]
    path: str = ""
    provenance: dict = field(default_factory=dict, compare=False)

    def select(
        self, langs: Iterable[str] | None = None, units: Iterable[str] | None = None, limit: int | None = None
    ) -> ProbeSet:
        """Return a subset by languages, unit ids and/or the first ``limit`` units (order kept)."""
        keep_langs = _checked(langs, self.languages, "language", self.name)
        keep_units = _checked(units, self.units, "unit", self.name)
        keep_units = keep_units[:limit] if limit is not None else keep_units
        lang_set, unit_set = set(keep_langs), set(keep_units)
        return replace(
            self,
            units=keep_units,
            languages=keep_langs,
            unit_meta={u: self.unit_meta[u] for u in keep_units},
            stimuli=[s for s in self.stimuli if s.lang in lang_set and s.unit in unit_set],
        )

    def texts(self, lang: str) -> dict[str, str]:
        """Map unit id -> text for one language."""
        return {s.unit: s.text for s in self.stimuli if s.lang == lang}

    def counts(self) -> dict[str, int]:
        """Number of stimuli per language (in ``languages`` order)."""
        out = dict.fromkeys(self.languages, 0)
        for s in self.stimuli:
            out[s.lang] += 1
        return out

    def verified_share(self) -> float | None:
        """Share of stimuli whose meta says ``verified: true`` (None if the set has no such flag)."""
        flags = [s.meta["verified"] for s in self.stimuli if "verified" in s.meta]
        return sum(map(bool, flags)) / len(flags) if flags else None


def _checked(wanted: Iterable[str] | None, have: list[str], what: str, name: str) -> list[str]:
    """Keep ``have`` order; raise if ``wanted`` names something absent."""
    if wanted is None:
        return list(have)
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    unknown = [w for w in wanted if w not in set(have)]
    if unknown:
        raise ProbeError(f"probe set {name!r}: unknown {what}(s) {unknown}")
    return [h for h in have if h in set(wanted)]


# ----------------------------------------------------------------------------- validation
def _schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _read_json(path: Path) -> tuple[dict, str]:
    """Return the decoded document and the sha256 of its bytes."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProbeError(f"{path}: cannot read probe file ({exc.strerror})") from None
    try:
        return json.loads(raw.decode("utf-8")), hashlib.sha256(raw).hexdigest()
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProbeError(f"{path}: not a UTF-8 JSON probe file ({exc})") from None


def _check_schema(doc: dict, path: Path) -> None:
    """Structural checks with ``jsonschema``; the first error names its JSON location."""
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = _where(doc, list(err.absolute_path))
        raise ProbeError(f"{path}: schema violation at {where}: {err.message}")


def _where(doc: dict, loc: list) -> str:
    """Readable location: ``unit 'x' (units[3]), lang 'fr'`` or a JSON path."""
    if len(loc) >= 2 and loc[0] == "units" and isinstance(loc[1], int):
        uid = doc["units"][loc[1]].get("id", "?") if isinstance(doc["units"][loc[1]], dict) else "?"
        text = f"unit {uid!r} (units[{loc[1]}])"
        if len(loc) >= 4 and loc[2] in ("texts", "text_meta"):
            text += f", lang {loc[3]!r}"
        return text
    return "/".join(map(str, loc)) or "<root>"


def _check_languages(doc: dict, path: Path) -> None:
    for lang in doc["languages"]:
        if lang not in LANGUAGES:
            raise ProbeError(
                f"{path}: unknown language code {lang!r} in 'languages' "
                f"(known: {', '.join(sorted(LANGUAGES))})"
            )
    declared = set(doc["languages"])
    for unit in doc["units"]:
        for lang in unit["texts"]:
            if lang not in declared:
                why = "unknown language code" if lang not in LANGUAGES else "language not declared"
                raise ProbeError(f"{path}: unit {unit['id']!r}, lang {lang!r}: {why}")


def _check_ids(doc: dict, path: Path) -> None:
    seen: set[str] = set()
    for i, unit in enumerate(doc["units"]):
        if unit["id"] in seen:
            raise ProbeError(f"{path}: duplicate unit id {unit['id']!r} (units[{i}])")
        seen.add(unit["id"])


def _check_texts(doc: dict, path: Path, normalize: bool) -> None:
    """Empty/whitespace texts are errors; non-NFC texts warn, or are NFC-normalised."""
    allow_nfd = doc["kind"] == "edge_cases"
    for unit in doc["units"]:
        for lang, text in unit["texts"].items():
            if not text.strip():
                raise ProbeError(f"{path}: unit {unit['id']!r}, lang {lang!r}: empty or whitespace-only text")
            intended = allow_nfd or unit.get("text_meta", {}).get(lang, {}).get("non_nfc_intended")
            if not unicodedata.is_normalized("NFC", text) and not intended:
                if normalize:
                    unit["texts"][lang] = unicodedata.normalize("NFC", text)
                else:
                    warnings.warn(
                        f"{path}: unit {unit['id']!r}, lang {lang!r}: text is not NFC "
                        "(load with normalize=True to normalise)",
                        stacklevel=4,
                    )


def _check_coverage(doc: dict, path: Path) -> None:
    """Parallel sets need equal counts per language; others must mark missing languages."""
    if doc["kind"] == "edge_cases":
        return
    if doc.get("parallel", False):
        counts = {lang: sum(lang in u["texts"] for u in doc["units"]) for lang in doc["languages"]}
        ref_lang = doc["languages"][0]
        for lang, n in counts.items():
            if n != counts[ref_lang]:
                raise ProbeError(
                    f"{path}: mismatched parallel counts: lang {lang!r} has {n} "
                    f"units, {ref_lang!r} has {counts[ref_lang]}"
                )
    for unit in doc["units"]:
        marked = set(unit.get("meta", {}).get("missing", []))
        for lang in doc["languages"]:
            if lang not in unit["texts"] and lang not in marked:
                raise ProbeError(
                    f"{path}: unit {unit['id']!r}, lang {lang!r}: missing language "
                    "(neither a text nor listed in meta.missing)"
                )


def _check_kind(doc: dict, path: Path) -> None:
    if doc["unit_dim"] != UNIT_DIM[doc["kind"]]:
        raise ProbeError(
            f"{path}: unit_dim {doc['unit_dim']!r} does not match kind "
            f"{doc['kind']!r} (expected {UNIT_DIM[doc['kind']]!r})"
        )


def _to_probe_set(doc: dict, path: Path, sha: str) -> ProbeSet:
    units = [u["id"] for u in doc["units"]]
    unit_meta = {u["id"]: dict(u.get("meta", {})) for u in doc["units"]}
    stimuli = []
    for unit in doc["units"]:
        base = {k: v for k, v in unit.get("meta", {}).items() if k != "missing"}
        for lang in doc["languages"]:
            if lang in unit["texts"]:
                meta = {**base, **unit.get("text_meta", {}).get(lang, {})}
                stimuli.append(Stimulus(unit["id"], lang, unit["texts"][lang], meta))
    return ProbeSet(
        doc["name"],
        doc["kind"],
        doc["version"],
        sha,
        doc["license"],
        doc["source"],
        doc["unit_dim"],
        units,
        unit_meta,
        list(doc["languages"]),
        stimuli,
        str(path),
        dict(doc.get("provenance", {})),
    )


def validate(path: str | Path, normalize: bool = False) -> ProbeSet:
    """Validate a probe JSON file (schema + semantics) and return it as a :class:`ProbeSet`.

    Raises ``ProbeError`` naming the file, unit and language at fault. Non-NFC text warns
    (``warnings.warn``) unless ``normalize=True``, which NFC-normalises it instead.
    """
    path = Path(path)
    doc, sha = _read_json(path)
    _check_schema(doc, path)
    _check_kind(doc, path)
    _check_languages(doc, path)
    _check_ids(doc, path)
    _check_texts(doc, path, normalize)
    _check_coverage(doc, path)
    return _to_probe_set(doc, path, sha)


# ----------------------------------------------------------------------------- loading
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
        from polylens.probes.flores import load_flores

        directory, _, split = text[len("flores:") :].partition("#")
        return load_flores(directory, split or "dev")
    if text in COMMITTED:
        return validate(committed_path(text), normalize)
    base, _, ref = text.partition("+")
    if base == "edge_cases" and ref:
        from polylens.probes.edge_cases import with_reference

        return with_reference(validate(committed_path(base), normalize), ref)
    path = Path(text)
    if not path.exists():
        raise ProbeError(
            f"unknown probe set {text!r}: not one of {', '.join(COMMITTED)}, "
            "not an existing file, not flores:<dir>"
        )
    return validate(path, normalize)


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
