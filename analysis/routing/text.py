"""Input checks, normalisation and script detection for the router (standard library only).

Script letters come from ``analysis.taxonomy.char_script`` (Unicode character names); this module
only adds the input contract and the normalisation applied before language identification.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache

from polylens.errors import RouterInputError
from polylens.probes.scripts import unicode_scripts

from ..taxonomy import char_script

__all__ = [
    "MAX_CHARS",
    "check_text",
    "read_stream",
    "normalise",
    "maybe_unicode_edge",
    "dominant_script",
    "script_segment",
    "script_tags",
    "script_tag",
    "SCRIPT_TAGS",
    "NO_SCRIPT",
]

#: longest input accepted (characters); longer input is refused, not silently truncated
MAX_CHARS = 100_000
#: characters removed before language ID: zero-width joiners/spaces, BOM, bidi controls
_STRIP = dict.fromkeys(
    map(
        ord,
        "\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u061c"
        "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
    ),
    None,
)
_STRIP[0x1361] = " "  # ETHIOPIC WORDSPACE -> space
_SURROGATE = re.compile("[\ud800-\udfff]")
#: characters that can make ``taxonomy.detect_unicode_edge`` fire (besides non-NFC text)
_EDGE_CHARS = re.compile(
    "[\u200b-\u200f\u2060\ufeff\u061c\u202a-\u202e\u2066-\u2069"
    "\ufe00-\ufe0f\U000e0100-\U000e01ef]|(?![0-9])\\d"
)
_CTRL = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # C0/C1 controls except tab/LF/CR


def check_text(text: object, max_chars: int = MAX_CHARS) -> str:
    """Return ``text`` as ``str`` or raise ``RouterInputError`` with a one-line reason.

    Accepts ``str`` or UTF-8 ``bytes``. Refuses: invalid UTF-8, NUL bytes or mostly control
    characters (binary), empty / whitespace-only text, more than ``max_chars`` characters.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        raw = bytes(text)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RouterInputError(
                f"input is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
            ) from None
    if not isinstance(text, str):
        raise RouterInputError(f"input must be text, got {type(text).__name__}")
    if len(text) > max_chars:
        raise RouterInputError(f"input too long: {len(text):,} characters (limit {max_chars:,}); split it")
    if "\x00" in text:
        raise RouterInputError("input looks binary (contains NUL characters)")
    if _SURROGATE.search(text):
        raise RouterInputError("input is not valid UTF-8 (lone surrogate code points)")
    if not text.strip():
        raise RouterInputError("input is empty (nothing but whitespace)")
    ctrl = len(_CTRL.findall(text))
    if ctrl > max(2, 0.1 * len(text)):
        raise RouterInputError(f"input looks binary ({ctrl} control characters in {len(text)})")
    return text


def read_stream(stream, max_chars: int = MAX_CHARS) -> str:
    """Read a binary stream (e.g. stdin) without ever holding more than ~4 x ``max_chars`` bytes."""
    data = stream.read(4 * max_chars + 1)
    if len(data) > 4 * max_chars:
        raise RouterInputError(
            f"input too long: more than {4 * max_chars:,} bytes (limit {max_chars:,} characters); split it"
        )
    return check_text(data, max_chars)


def normalise(text: str) -> str:
    """NFC, zero-width and bidi controls removed, Ethiopic wordspace -> space, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFC", text).translate(_STRIP).split())


def dominant_script(counts: Counter) -> str | None:
    """Script with most letters; Han + kana count as ``Jpan`` when kana are present."""
    if not counts:
        return None
    if counts.get("Hira", 0) + counts.get("Kana", 0) > 0:
        jpan = counts.get("Hani", 0) + counts.get("Hira", 0) + counts.get("Kana", 0)
        rest = {s: c for s, c in counts.items() if s not in ("Hani", "Hira", "Kana")}
        if not rest or jpan >= max(rest.values()):
            return "Jpan"
    return max(sorted(counts), key=lambda s: counts[s])


_BLANKER_SIZE = 1 << 16


class _Blanker(dict):
    """``str.translate`` table: code point -> itself when its letter script is kept (or it has none),
    else a space; filled on first sight of each code point (``char_script`` is the one rule), up to
    ``_BLANKER_SIZE`` entries (a stream of novel characters cannot grow it without bound)."""

    def __init__(self, keep: frozenset[str]):
        super().__init__()
        self.keep = keep

    def __missing__(self, cp: int) -> int:
        s = char_script(chr(cp))
        out = cp if s is None or s in self.keep else 32
        if len(self) < _BLANKER_SIZE:
            self[cp] = out
        return out


@lru_cache(maxsize=64)
def _blanker(script: str) -> _Blanker:
    return _Blanker(frozenset(unicode_scripts(script)) | {script})


def script_segment(text: str, script: str) -> str:
    """``text`` with letters of other scripts blanked (code-switched input -> matrix-script part)."""
    return " ".join(text.translate(_blanker(script)).split())


class _Tagger(dict):
    """``str.translate`` table: whitespace -> itself, a letter -> one private-use character per
    script (``SCRIPT_TAGS``), anything else -> ``NO_SCRIPT``; so ``text.split()`` and the tagged
    text's ``split()`` pair up word for word. Bounded like ``_Blanker``."""

    def __missing__(self, cp: int) -> int:
        ch = chr(cp)
        s = None if ch.isspace() else char_script(ch)
        if s is None:
            out = cp if ch.isspace() else ord(NO_SCRIPT)
        else:
            out = ord(script_tag(s))
        if len(self) < _BLANKER_SIZE:
            self[cp] = out
        return out


#: tag character -> ISO 15924 script (filled as scripts are first seen); ``NO_SCRIPT``: not a letter
SCRIPT_TAGS: dict[str, str] = {}
NO_SCRIPT = "\x01"
_TAG_OF: dict[str, str] = {}
_TAGGER = _Tagger()


def script_tags(text: str) -> str:
    """``text`` with every letter replaced by its script's tag character (``SCRIPT_TAGS``)."""
    return text.translate(_TAGGER)


def script_tag(script: str) -> str:
    """The tag character of ``script`` (``script_tags``)."""
    if script not in _TAG_OF:
        _TAG_OF[script] = chr(0xE000 + len(SCRIPT_TAGS))
        SCRIPT_TAGS[_TAG_OF[script]] = script
    return _TAG_OF[script]


def maybe_unicode_edge(text: str) -> bool:
    """Cheap pre-filter: False guarantees ``taxonomy.detect_unicode_edge(text)`` returns None
    (no zero-width/bidi/variation-selector characters, no non-ASCII digits, already NFC)."""
    return bool(_EDGE_CHARS.search(text)) or not unicodedata.is_normalized("NFC", text)
