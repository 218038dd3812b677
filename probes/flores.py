"""Optional FLORES-200 / FLORES+ loader for a user-supplied directory (never committed).

Expected layout: ``<dir>/<split>/<flores_code>`` with one sentence per line, where the file
may also be named ``<flores_code>.<split>`` or ``<flores_code>.txt`` (FLORES-200 tarball and
FLORES+ text exports). Languages absent from the directory are skipped; all present files
must have the same number of lines. Use ``load_probe_set("flores:<dir>#devtest")``.
"""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path

from polylens.errors import ProbeError
from polylens.probes.languages import LANGUAGES
from polylens.probes.model import ProbeSet, Stimulus

#: probe language -> FLORES-200 file code (``Language.flores_code``)
FLORES_CODES: dict[str, str] = {code: lang.flores_code for code, lang in LANGUAGES.items()}


def _find(split_dir: Path, code: str, split: str) -> Path | None:
    for name in (code, f"{code}.{split}", f"{code}.txt"):
        if (split_dir / name).is_file():
            return split_dir / name
    return None


def _read_lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def load_flores(directory: str | Path, split: str = "dev") -> ProbeSet:
    """Load FLORES sentences as a parallel ``sentences`` ProbeSet (units ``<split>.<n>``)."""
    split_dir = Path(directory) / split
    if not split_dir.is_dir():
        raise ProbeError(
            f"{split_dir}: FLORES split directory not found (expected <dir>/<split>/<flores_code> files)"
        )
    files = {lang: p for lang, code in FLORES_CODES.items() if (p := _find(split_dir, code, split))}
    if not files:
        raise ProbeError(f"{split_dir}: no FLORES files for any target language")
    texts = {lang: _read_lines(path) for lang, path in files.items()}
    ref = "en" if "en" in texts else next(iter(texts))
    for lang, lines in texts.items():
        if len(lines) != len(texts[ref]):
            raise ProbeError(
                f"{files[lang]}: mismatched parallel counts: lang {lang!r} has "
                f"{len(lines)} lines, {ref!r} has {len(texts[ref])}"
            )
        for i, line in enumerate(lines):
            if not line.strip():
                raise ProbeError(
                    f"{files[lang]}: unit '{split}.{i + 1}', lang {lang!r}: empty or whitespace-only text"
                )
    digest = hashlib.sha256()
    for lang in texts:
        digest.update(files[lang].read_bytes())
    units = [f"{split}.{i + 1}" for i in range(len(texts[ref]))]
    langs = [lang for lang in LANGUAGES if lang in texts]
    stimuli = [
        Stimulus(u, lang, unicodedata.normalize("NFC", texts[lang][i]), {})
        for i, u in enumerate(units)
        for lang in langs
    ]
    return ProbeSet(
        f"flores_{split}",
        "sentences",
        "user-supplied",
        digest.hexdigest(),
        "CC-BY-SA-4.0 (FLORES); not redistributed",
        f"FLORES directory {directory}",
        "item",
        units,
        {u: {} for u in units},
        langs,
        stimuli,
        str(split_dir),
        {"files": {lang: files[lang].name for lang in langs}},
    )
