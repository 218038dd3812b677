"""Failure taxonomy: text-evidence detectors (torch-free; the router imports this module).

Categories (seed study): TRANSLITERATION, CODE_SWITCH, FORMAL_REGISTER, LOW_RESOURCE_VARIANT,
UNICODE_EDGE. Each detector returns ``None`` or a short human-readable evidence string;
``classify_text`` runs all of them. Only the standard library is required; language ID uses
``py3langid`` when it is installed (evidence only, never the sole trigger).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from polylens.probes.languages import LOW_RESOURCE_LANGS, TABLE
from polylens.probes.scripts import UCD_PREFIX_TO_SCRIPT, unicode_scripts

__all__ = [
    "CATEGORIES",
    "Finding",
    "char_script",
    "script_profile",
    "identify_language",
    "detect_unicode_edge",
    "detect_transliteration",
    "detect_code_switch",
    "detect_formal_register",
    "detect_low_resource",
    "classify_text",
    "EXPECTED_SCRIPT",
    "LOW_RESOURCE_LANGS",
]

CATEGORIES = ("TRANSLITERATION", "CODE_SWITCH", "FORMAL_REGISTER", "LOW_RESOURCE_VARIANT", "UNICODE_EDGE")

#: writing system per language (ISO 639-1 -> ISO 15924) when the dataset has no script coordinate
EXPECTED_SCRIPT: dict[str, str] = {code: lang.script for code, lang in TABLE.items()}

# Romanized Hindi/Urdu (and a few Bengali/Tamil) function and health words
_ROMANIZED = {
    "hi": {
        "hai",
        "hain",
        "nahi",
        "nahin",
        "kya",
        "mujhe",
        "mera",
        "meri",
        "mere",
        "aur",
        "ko",
        "ka",
        "ki",
        "ke",
        "mein",
        "bahut",
        "dard",
        "bukhar",
        "dawai",
        "dawa",
        "sir",
        "pet",
        "khansi",
        "haan",
        "theek",
        "kaise",
        "kyun",
        "hoon",
        "tha",
        "thi",
        "raha",
        "rahi",
        "kal",
        "aaj",
        "abhi",
        "lekin",
        "yeh",
        "woh",
        "sab",
        "doctor",
    },
    "bn": {"ami", "tumi", "ache", "amar", "jor", "byatha", "kemon", "bhalo", "na", "hobe"},
    "ta": {"enakku", "irukku", "vali", "kaaichal", "illa", "romba", "eppadi", "naan"},
}
_ENGLISH_FUNCTION = {
    "the",
    "and",
    "is",
    "are",
    "i",
    "have",
    "has",
    "with",
    "my",
    "of",
    "to",
    "in",
    "for",
    "what",
    "please",
    "since",
    "not",
    "a",
    "an",
    "this",
    "that",
    "can",
    "you",
    "was",
    "from",
    "very",
}

#: formal / medical register terms (lower-case; substring match for non-Latin scripts)
FORMAL_TERMS = {
    "en": [
        "hypertension",
        "myocardial",
        "infarction",
        "contraindicat",
        "administer",
        "diagnos",
        "dosage",
        "pharmaceutical",
        "patholog",
        "respiratory",
        "gastrointestinal",
        "haemorrhage",
        "hemorrhage",
        "analgesic",
        "antipyretic",
        "therapeutic",
        "prophyla",
        "cardiovascular",
        "anaemia",
        "anemia",
        "diabetes mellitus",
        "hypoglyc",
        "hyperglyc",
        "intravenous",
        "intramuscular",
        "subcutaneous",
        "oedema",
        "edema",
        "dyspnea",
        "dyspnoea",
        "pyrexia",
        "malignan",
        "benign",
        "prognosis",
        "etiology",
        "aetiology",
        "hereby",
        "pursuant",
        "heretofore",
        "whereas",
        "notwithstanding",
    ],
    "hi": [
        "चिकित्सा",
        "उच्च रक्तचाप",
        "रक्तचाप",
        "मधुमेह",
        "निदान",
        "औषधि",
        "उपचार",
        "संक्रमण",
        "रोगनिरोधी",
        "हृदयाघात",
        "प्रतिजैविक",
        "शल्य",
        "ज्वरनाशक",
    ],
    "bn": ["চিকিৎসা", "উচ্চ রক্তচাপ", "ডায়াবেটিস", "রোগনির্ণয়", "সংক্রমণ"],
    "ta": ["மருத்துவ", "உயர் இரத்த அழுத்தம்", "நீரிழிவு", "நோயறிதல்"],
    "es": ["hipertensión", "diagnóstico", "infarto", "posología", "contraindicad", "analgésico", "patología"],
    "fr": [
        "hypertension",
        "diagnostic",
        "infarctus",
        "posologie",
        "contre-indiqu",
        "analgésique",
        "pathologie",
    ],
    "sw": ["shinikizo la damu", "uchunguzi", "kisukari", "matibabu", "dawa za kutuliza"],
    "ar": ["ارتفاع ضغط الدم", "تشخيص", "احتشاء", "السكري", "جرعة"],
    "am": ["የደም ግፊት", "ምርመራ", "ስኳር በሽታ"],
}
_MEDICAL_SUFFIX = re.compile(r"\b[a-z]{4,}(itis|osis|emia|aemia|ectomy|otomy|algia|opathy|plasty|oscopy)\b")

_ZW = {"\u200d": "ZWJ", "\u200c": "ZWNJ", "\u200b": "ZWSP", "\ufeff": "BOM", "\u2060": "WJ"}
_BIDI = {
    "\u200e": "LRM",
    "\u200f": "RLM",
    "\u061c": "ALM",
    "\u202a": "LRE",
    "\u202b": "RLE",
    "\u202c": "PDF",
    "\u202d": "LRO",
    "\u202e": "RLO",
    "\u2066": "LRI",
    "\u2067": "RLI",
    "\u2068": "FSI",
    "\u2069": "PDI",
}
_ZW_RE = re.compile("[" + "".join(_ZW) + "]")
_BIDI_RE = re.compile("[" + "".join(_BIDI) + "]")
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")  # Unicode category Nd outside ASCII 0-9
_VARIATION_SELECTOR = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")


@dataclass(frozen=True)
class Finding:
    """One detected category with its evidence string."""

    category: str
    evidence: str
    details: dict = field(default_factory=dict, compare=False)


@lru_cache(maxsize=4096)
def char_script(ch: str) -> str | None:
    """ISO 15924 code of a letter or script-specific mark (``None`` for digits, punctuation, spaces,
    generic combining marks)."""
    cat = unicodedata.category(ch)
    if not (cat.startswith("L") or cat.startswith("M")):
        return None
    name = unicodedata.name(ch, "")
    if not name:
        return None
    first = name.split(" ")[0]
    if cat.startswith("M") and first not in UCD_PREFIX_TO_SCRIPT:
        return None
    if first == "CJK" or name.startswith("KANGXI") or "IDEOGRAPH" in name:
        return "Hani"
    if first in ("HALFWIDTH", "FULLWIDTH"):
        first = name.split(" ")[1] if len(name.split(" ")) > 1 else first
    return UCD_PREFIX_TO_SCRIPT.get(first, first.title()[:4])


def script_profile(text: str) -> Counter:
    """Counter of letter scripts in ``text`` (ISO 15924, after NFC)."""
    out: Counter = Counter()
    for ch, n in Counter(unicodedata.normalize("NFC", text)).items():  # distinct characters only
        script = char_script(ch)
        if script:
            out[script] += n
    return out


def _compatible(expected: str | None, script: str) -> bool:
    """Whether letters of Unicode script ``script`` belong to writing system ``expected``."""
    if expected is None:
        return True
    return script == expected or script in unicode_scripts(expected)


@lru_cache(maxsize=1)
def _identifier():
    try:
        from .lid import load_identifier  # noqa: PLC0415 - loads py3langid's model on first use

        return load_identifier()
    except Exception:  # noqa: BLE001 - optional dependency, any failure means "not available"
        return None


def identify_language(text: str) -> tuple[str, float] | None:
    """(ISO 639-1, probability) from py3langid, or None when it is not installed."""
    ident = _identifier()
    if ident is None or not text.strip():
        return None
    lang, prob = ident.classify(text)
    return str(lang), float(prob)


def detect_unicode_edge(text: str) -> str | None:
    """Zero-width joiners/non-joiners, bidi controls, non-NFC text, non-ASCII digits, variation selectors."""
    found = []
    zw = Counter(_ZW[c] for c in _ZW_RE.findall(text))
    found += [f"{k}x{v}" for k, v in sorted(zw.items())]
    bidi = Counter(_BIDI[c] for c in _BIDI_RE.findall(text))
    found += [f"bidi:{k}x{v}" for k, v in sorted(bidi.items())]
    if not unicodedata.is_normalized("NFC", text):
        found.append("NFD" if unicodedata.is_normalized("NFD", text) else "non-NFC")
    digits = sorted(set(_OTHER_DIGIT.findall(text)))
    if digits:
        found.append(
            "non-ASCII digits " + "".join(digits) + f" ({unicodedata.name(digits[0]).split(' DIGIT')[0]})"
        )
    vs = len(_VARIATION_SELECTOR.findall(text))
    if vs:
        found.append(f"variation selectors x{vs}")
    return "; ".join(found) or None


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W\d_]+", text.lower())


def detect_transliteration(text: str, lang: str | None = None, script: str | None = None) -> str | None:
    """Text in Latin letters for a language whose script is not Latin (e.g. romanized Hindi)."""
    expected = script or EXPECTED_SCRIPT.get(lang or "")
    prof = script_profile(text)
    n = sum(prof.values())
    if n == 0:
        return None
    latin = prof.get("Latn", 0) / n
    words = _words(text)
    own = sum(c for sc, c in prof.items() if _compatible(expected, sc)) / n if expected else 0.0
    if expected and expected != "Latn" and latin >= 0.8 and own < 0.1:
        lid = identify_language(text)
        extra = f"; langid={lid[0]}:{lid[1]:.2f}" if lid else ""
        return f"{latin:.0%} Latin letters, expected {expected}{extra}"
    if expected in (None, "Latn") and latin >= 0.8 and words:
        for rl, lex in _ROMANIZED.items():
            if rl == lang:
                continue
            hits = [w for w in words if w in lex]
            if len(hits) >= 2 and len(hits) / len(words) >= 0.3:
                return f"romanized {rl} markers: {', '.join(hits[:6])}"
    return None


def detect_code_switch(
    text: str, lang: str | None = None, script: str | None = None, prof: Counter | None = None
) -> str | None:
    """Two or more scripts each carrying >= 15% of the letters, or a romanized language mixed with English.

    ``prof``: the text's ``script_profile`` when the caller already has it.
    """
    prof = script_profile(text) if prof is None else prof
    n = sum(prof.values())
    if n == 0:
        return None
    major = {s: c for s, c in prof.items() if c / n >= 0.15 and c >= 2}
    if len(major) >= 2 and not (set(major) <= {"Hani", "Hira", "Kana"}):
        return "script mix " + ", ".join(
            f"{s}:{c / n:.0%}" for s, c in sorted(major.items(), key=lambda kv: -kv[1])
        )
    words = _words(text)
    if words and prof.get("Latn", 0) / n >= 0.8:
        en = [w for w in words if w in _ENGLISH_FUNCTION]
        for rl, lex in _ROMANIZED.items():
            hits = [w for w in words if w in lex and w not in _ENGLISH_FUNCTION]
            if len(hits) >= 2 and len(en) >= 2:
                return f"romanized {rl} ({', '.join(hits[:4])}) mixed with English ({', '.join(en[:4])})"
    return None


def detect_formal_register(text: str, lang: str | None = None) -> str | None:
    """Formal / medical terminology from the term list, or Latinate medical suffixes."""
    low = unicodedata.normalize("NFC", text).lower()
    langs = [lang] if lang in FORMAL_TERMS else []
    langs += [x for x in FORMAL_TERMS if x not in langs]
    hits = []
    for lg in langs:
        for term in FORMAL_TERMS[lg]:
            if term in low and term not in hits:
                hits.append(term)
    hits += [
        m.group(0) for m in _MEDICAL_SUFFIX.finditer(low) if not any(m.group(0).startswith(h) for h in hits)
    ]
    return ("formal/medical terms: " + ", ".join(hits[:6])) if hits else None


def detect_low_resource(lang: str | None, resource: str | None = None) -> str | None:
    """The language is low-resource (dataset ``resource`` coordinate if known, else built-in list)."""
    if resource:
        return f"resource={resource} ({lang})" if str(resource).lower() == "low" else None
    if lang in LOW_RESOURCE_LANGS:
        return f"{lang} in Joshi classes 0-2 (probes.languages table)"
    return None


def classify_text(
    text: str, lang: str | None = None, script: str | None = None, resource: str | None = None
) -> list[Finding]:
    """All categories whose detector fires, in CATEGORIES order, each with its evidence."""
    text = "" if text is None else str(text)
    checks = {
        "TRANSLITERATION": lambda: detect_transliteration(text, lang, script),
        "CODE_SWITCH": lambda: detect_code_switch(text, lang, script),
        "FORMAL_REGISTER": lambda: detect_formal_register(text, lang),
        "LOW_RESOURCE_VARIANT": lambda: detect_low_resource(lang, resource),
        "UNICODE_EDGE": lambda: detect_unicode_edge(text),
    }
    out = []
    for cat in CATEGORIES:
        ev = checks[cat]()
        if ev:
            out.append(Finding(cat, ev))
    return out
