"""Independent checks of the medical key terms: CLDR annotation vocabularies and FreeDict eng-xxx."""

from __future__ import annotations

import gzip
import re
import subprocess
from pathlib import Path

from polylens.probes.text import nfc

FREEDICT_DIR = Path("/usr/share/dictd")
FREEDICT_LANGS = {"hi": "hin", "fr": "fra", "es": "spa", "sw": "swh", "ar": "ara"}


def _tokens(text: str) -> set[str]:
    """Case-folded word tokens of ``text``."""
    return {t for t in re.split(r"[\s,.;:!?()\-–'’~/<>\"]+", nfc(text).casefold()) if t}


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _matches(term: str, vocabulary: set[str]) -> str | None:
    """The vocabulary entry equal to ``term`` or sharing a long prefix with it (inflection).

    A prefix match needs >= 4 shared code points covering >= 75% of the longer word.
    """
    term = nfc(term).casefold()
    if term in vocabulary:
        return term
    for word in sorted(vocabulary):
        shared = _common_prefix(term, word)
        if shared >= 4 and shared >= 0.75 * max(len(term), len(word)):
            return word
    return None


def _cldr_vocab(table: dict, anchors: str) -> dict[str, set[str]]:
    """Per anchor emoji: its tts names and keywords as a vocabulary (whole strings + tokens)."""
    out = {}
    for emoji in anchors.split():
        entry = table.get(emoji, {})
        words = [*entry.get("tts", []), *entry.get("default", [])]
        out[emoji] = {nfc(w).casefold() for w in words} | set().union(*map(_tokens, words or [""]))
    return out


def freedict_available() -> dict[str, Path]:
    """FreeDict eng-xxx index files present on this machine (Debian dict-freedict-eng-*)."""
    return {
        lang: FREEDICT_DIR / f"freedict-eng-{code}.index"
        for lang, code in FREEDICT_LANGS.items()
        if (FREEDICT_DIR / f"freedict-eng-{code}.index").exists()
    }


def _b64(text: str) -> int:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    value = 0
    for ch in text:
        value = value * 64 + alphabet.index(ch)
    return value


def freedict_entries(index: Path, headwords: list[str]) -> dict[str, str]:
    """Headword -> entry text from a dictd index + dictzip (gzip-compatible) body."""
    body = gzip.decompress(index.with_suffix(".dict.dz").read_bytes())
    wanted, out = {h.casefold() for h in headwords}, dict[str, str]()
    for line in index.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[0].casefold() in wanted:
            start, length = _b64(parts[1]), _b64(parts[2])
            out.setdefault(parts[0].casefold(), "")
            out[parts[0].casefold()] += body[start : start + length].decode("utf-8")
    return out


def freedict_version(lang: str) -> str:
    """``dict-freedict-eng-xxx=<Debian version>`` of the installed dictionary."""
    pkg = f"dict-freedict-eng-{FREEDICT_LANGS[lang]}"
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True, check=False
    )
    return f"{pkg}={proc.stdout.strip() or 'unknown'}"


def verify_key_term(entry: dict, lang: str, cldr_table: dict, dicts: dict[str, dict[str, str]]) -> dict:
    """Verification record for one translation's key term."""
    _, key, lemma = entry["s"][lang]
    term = lemma or key
    for emoji, vocab in _cldr_vocab(cldr_table, entry["anchors"]).items():
        hit = _matches(term, vocab)
        if hit:
            return {"verified": True, "source": "cldr", "evidence": f"{emoji} {hit}"}
    for headword, text in sorted(dicts.get(lang, {}).items()):
        if headword in {h.casefold() for h in entry["headwords"]}:
            hit = _matches(term, _tokens(text))
            if hit:
                return {"verified": True, "source": "freedict", "evidence": f"{headword} -> {hit}"}
    return {"verified": False, "source": None, "evidence": None}
