"""Scripts (ISO 15924): English names, Unicode character-name prefixes, writing systems.

Two kinds of ISO 15924 code occur, and this module is the one place that tells them apart:

- a **Unicode script** is the ``Script`` property of a character (``Hani`` for every CJK
  ideograph, ``Hira``, ``Kana``, ``Hang``, ``Latn``...); ``analysis.taxonomy.char_script``
  reads it from the character's Unicode name (prefix in :attr:`Script.ucd_prefix`);
- a **writing system** is what a language is written in (the ``script`` of
  :class:`probes.languages.Language`). Most are a single Unicode script (Hindi is ``Deva``),
  but ``Hans`` / ``Hant`` (simplified / traditional Chinese) are written with ``Hani``
  characters, ``Jpan`` mixes ``Hani`` + ``Hira`` + ``Kana`` and ``Kore`` mixes ``Hang`` +
  ``Hani``. :data:`WRITING_SYSTEMS` lists these; :func:`unicode_scripts` resolves any code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Script:
    """One ISO 15924 script: English label and the Unicode character-name prefix of its letters."""

    code: str
    name: str
    ucd_prefix: str | None  # None: a writing system, not a Unicode script property value


# code, English label (figures), first word of the Unicode names of its letters
_ROWS: list[tuple[str, str, str | None]] = [
    ("Latn", "Latin", "LATIN"),
    ("Deva", "Devanagari", "DEVANAGARI"),
    ("Beng", "Bengali", "BENGALI"),
    ("Taml", "Tamil", "TAMIL"),
    ("Telu", "Telugu", "TELUGU"),
    ("Knda", "Kannada", "KANNADA"),
    ("Mlym", "Malayalam", "MALAYALAM"),
    ("Gujr", "Gujarati", "GUJARATI"),
    ("Guru", "Gurmukhi", "GURMUKHI"),
    ("Orya", "Odia", "ORIYA"),
    ("Sinh", "Sinhala", "SINHALA"),
    ("Ethi", "Ethiopic", "ETHIOPIC"),
    ("Arab", "Arabic", "ARABIC"),
    ("Hebr", "Hebrew", "HEBREW"),
    ("Cyrl", "Cyrillic", "CYRILLIC"),
    ("Grek", "Greek", "GREEK"),
    ("Armn", "Armenian", "ARMENIAN"),
    ("Geor", "Georgian", "GEORGIAN"),
    ("Thai", "Thai", "THAI"),
    ("Laoo", "Lao", "LAO"),
    ("Khmr", "Khmer", "KHMER"),
    ("Mymr", "Myanmar", "MYANMAR"),
    ("Hang", "Hangul", "HANGUL"),
    ("Hira", "Hiragana", "HIRAGANA"),
    ("Kana", "Katakana", "KATAKANA"),
    ("Hani", "Han", "CJK"),
    ("Tibt", "Tibetan", "TIBETAN"),
    ("Thaa", "Thaana", "THAANA"),
    ("Syrc", "Syriac", "SYRIAC"),
    ("Tfng", "Tifinagh", "TIFINAGH"),
    ("Nkoo", "N’Ko", "NKO"),
    ("Vaii", "Vai", "VAI"),
    ("Cher", "Cherokee", "CHEROKEE"),
    ("Mong", "Mongolian", "MONGOLIAN"),
    ("Olck", "Ol Chiki", "OL"),
    ("Hans", "Han (simplified)", None),
    ("Hant", "Han (traditional)", None),
    ("Jpan", "Japanese", None),
    ("Kore", "Korean", None),
]

SCRIPTS: dict[str, Script] = {code: Script(code, name, prefix) for code, name, prefix in _ROWS}

#: writing systems made of other Unicode scripts (a script not listed here is its own)
WRITING_SYSTEMS: dict[str, tuple[str, ...]] = {
    "Hans": ("Hani",),
    "Hant": ("Hani",),
    "Jpan": ("Hani", "Hira", "Kana"),
    "Kore": ("Hang", "Hani"),
}

#: Unicode character-name prefix -> ISO 15924 Unicode script
UCD_PREFIX_TO_SCRIPT: dict[str, str] = {s.ucd_prefix: c for c, s in SCRIPTS.items() if s.ucd_prefix}


def unicode_scripts(script: str) -> tuple[str, ...]:
    """Unicode script property values whose letters write ``script`` (``Jpan`` -> Hani, Hira, Kana)."""
    return WRITING_SYSTEMS.get(script, (script,))


def script_name(code: str) -> str:
    """English label of an ISO 15924 code (the code itself when unknown)."""
    script = SCRIPTS.get(code)
    return script.name if script is not None else code
