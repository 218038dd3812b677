"""Text helpers shared by the builders and the router: NFC normalisation and uroman romanization."""

from __future__ import annotations

import unicodedata
from typing import Any

from polylens.probes.languages import LANGUAGES


def nfc(text: str) -> str:
    """``text`` in Unicode normalisation form C."""
    return unicodedata.normalize("NFC", text)


def romanizer() -> tuple[Any, str]:
    """A ``uroman.Uroman`` instance and its version string."""
    import importlib.metadata

    import uroman

    return uroman.Uroman(), f"uroman=={importlib.metadata.version('uroman')}"


def romanize(text: str, lang: str, ur: Any = None) -> str:
    """Romanize ``text`` of ``lang`` with uroman (ISO 639-3 hint)."""
    ur = ur or romanizer()[0]
    lcode = {"ar": "ara"}.get(lang, LANGUAGES[lang].udhr_code[:3])
    return " ".join(ur.romanize_string(text, lcode=lcode).split())
