"""Stimulus hygiene flags per (concept, language), computed when the concept set is built.

A flagged pair can inflate or blur cross-lingual alignment for reasons that are not shared
meaning: the same surface string as the English reference, a near-identical romanisation
(cognate / loanword), a name shared by two concepts of one language, an English reference that
names several concepts, or an English word left untranslated. Headline analyses exclude them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from rapidfuzz.distance import Levenshtein

#: every hygiene flag, in the order stored
HYGIENE_FLAGS = ("identical", "near_identical", "duplicate", "polysemous_ref", "untranslated")
#: normalised edit distance (after romanisation) at or below which two names are near-identical
NEAR_IDENTICAL = 0.25
_WORD = re.compile(r"[a-z]+")


def _key(text: str) -> str:
    """Comparison key: casefolded letters and digits only."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def near_identical(a: str, b: str, threshold: float = NEAR_IDENTICAL) -> bool:
    """True when the normalised Levenshtein distance of the comparison keys is <= ``threshold``."""
    ka, kb = _key(a), _key(b)
    return bool(ka and kb) and Levenshtein.normalized_distance(ka, kb) <= threshold


def untranslated(name: str, en_name: str) -> bool:
    """True when every Latin word of ``name`` is a word of the English name (left in English)."""
    words = _WORD.findall(name.casefold())
    en_words = set(_WORD.findall(en_name.casefold()))
    return bool(words) and all(w in en_words for w in words) and len(words) >= max(1, len(en_words) // 2)


def polysemous_refs(units: list[dict], en_keywords: dict[str, set[str]]) -> set[str]:
    """Unit ids whose English reference also names a concept of another domain (another sense).

    A same-domain keyword hit ("dog" for "guide dog") is a related concept, not polysemy; a
    cross-domain one ("mouse" for the animal and the computer device) is a second sense.
    """
    names = {u["id"]: u["texts"]["en"].casefold() for u in units if "en" in u["texts"]}
    domain = {u["id"]: u["meta"].get("domain") for u in units}
    out = set()
    for uid, name in names.items():
        others = [
            o
            for o in names
            if o != uid
            and (names[o] == name or (name in en_keywords.get(o, set()) and domain[o] != domain[uid]))
        ]
        if others:
            out.add(uid)
    return out


def hygiene_flags(
    units: list[dict],
    en_keywords: dict[str, set[str]],
    romanize: Callable[[str, str], str],
) -> None:
    """Add ``text_meta[lang]["hygiene"]`` (a sorted list of HYGIENE_FLAGS) to every unit in place.

    ``en_keywords``: unit id -> casefolded CLDR English keywords of that unit's emoji;
    ``romanize(text, lang)``: romanisation used for near-identity across scripts.
    """
    poly = polysemous_refs(units, en_keywords)
    for unit in units:
        en = unit["texts"].get("en", "")
        for lang, name in unit["texts"].items():
            meta = unit["text_meta"][lang]
            flags = set()
            if unit["id"] in poly:
                flags.add("polysemous_ref")
            if "duplicate_name" in meta["flags"]:
                flags.add("duplicate")
            if lang != "en":
                if _key(name) == _key(en):
                    flags.add("identical")
                elif near_identical(romanize(name, lang), en):
                    flags.add("near_identical")
                if untranslated(name, en):
                    flags.add("untranslated")
            meta["hygiene"] = [f for f in HYGIENE_FLAGS if f in flags]
