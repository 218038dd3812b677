"""Validation of probe JSON files: schema (``jsonschema``) and semantic checks -> ``ProbeSet``."""

from __future__ import annotations

import hashlib
import json
import unicodedata
import warnings
from pathlib import Path

import jsonschema

from polylens.errors import ProbeError
from polylens.probes.languages import LANGUAGES
from polylens.probes.model import DATA_DIR, ProbeSet, Stimulus

SCHEMA_PATH = DATA_DIR / "probe_set.schema.json"
UNIT_DIM = {"concepts": "concept", "sentences": "item", "edge_cases": "item"}
#: longest probe text accepted, in characters (token limits are checked at capture: --max-tokens)
MAX_CHARS = 20_000
#: deepest JSON nesting accepted in a probe file, and its largest size in bytes
MAX_DEPTH = 32
MAX_BYTES = 256 * 1024 * 1024
_ALLOWED_CC = {"\t", "\n", "\r"}


def _schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _read_json(path: Path) -> tuple[dict, str]:
    """Return the decoded document and the sha256 of its bytes."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ProbeError(f"{path}: probe file larger than {MAX_BYTES // 2**20} MB")
        raw = path.read_bytes()
    except OSError as exc:
        raise ProbeError(f"{path}: cannot read probe file ({exc.strerror})") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProbeError(f"{path}: not a UTF-8 JSON probe file ({str(exc)[:100]})") from None
    except RecursionError:
        raise ProbeError(f"{path}: JSON nested deeper than {MAX_DEPTH} levels") from None
    if _depth(doc) > MAX_DEPTH:
        raise ProbeError(f"{path}: JSON nested deeper than {MAX_DEPTH} levels")
    return doc, hashlib.sha256(raw).hexdigest()


def _depth(doc: object) -> int:
    """Nesting depth of a decoded JSON document (iterative: no recursion limit)."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_DEPTH:
            break
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((c, d + 1) for c in children if isinstance(c, dict | list))
    return deepest


def text_problem(text: str, max_chars: int = MAX_CHARS) -> str | None:
    """Why a probe text cannot be used (NUL, lone surrogate, control character, length), or None."""
    if len(text) > max_chars:
        return f"text is {len(text)} characters, more than the limit of {max_chars}"
    for i, c in enumerate(text):
        if c == "\0":
            return f"NUL character at position {i}"
        if "\ud800" <= c <= "\udfff":
            return f"lone surrogate U+{ord(c):04X} at position {i} (not valid Unicode text)"
        if unicodedata.category(c) == "Cc" and c not in _ALLOWED_CC:
            return f"control character U+{ord(c):04X} at position {i}"
    return None


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
            problem = text_problem(text)
            if problem:
                raise ProbeError(f"{path}: unit {str(unit['id'])[:60]!r}, lang {lang!r}: {problem}")
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
