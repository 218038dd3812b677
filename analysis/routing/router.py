"""The language router: text -> recommended Tiny Aya variant + reasons. Never loads a model.

Pipeline per input (all CPU, no torch):

1. ``text.check_text`` (refuses empty / binary / invalid UTF-8 / enormous input) and
   ``text.normalise`` (NFC, zero-width + bidi controls removed, Ethiopic wordspace -> space).
2. Script from Unicode character names (``analysis.taxonomy.char_script``); the dominant script's
   letters are the matrix-language segment (code-switched words in other scripts are blanked).
3. Language: a script written by one probe language decides it (``bn`` for Bengali script...);
   Latin script goes through the romanized-text detector (``ngram.CharNgramNB``) and then
   py3langid restricted to the Latin-script probe languages; other shared scripts (Devanagari,
   Arabic, Cyrillic, Han) use py3langid restricted to the probe languages of that script.
4. Language mix (``mixed.MixAnalyser``): every language present with its share, from script runs
   and token-level language ID; two or more languages with >= 2 tokens and >= 15% each = mixed.
5. Failure-taxonomy findings from ``analysis.taxonomy`` (the same detectors the analysis uses).
6. Route: mixed -> ``policy.MIXED`` (the general model, ``global``); romanized -> ``policy.TRANSLITERATION``; formal register -> ``policy.FORMAL_REGISTER``;
   otherwise the language's rule from the rules file (``rules.build_rules``) or, without a rules
   file, the language's target variant in ``probes.LANGUAGES`` (the documented default).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from polylens.probes.languages import LANGUAGES
from polylens.probes.scripts import unicode_scripts

from .. import taxonomy
from ..lid import restricted
from . import text as tx
from .mixed import MIN_SHARE, MIN_TOKENS, MIX_CHARS, LangShare, LatinScores, MixAnalyser, is_mixed, text_proba
from .ngram import load_model
from .rules import DEFAULT_POLICY, load_rules

__all__ = ["Decision", "Router", "LID_CHARS", "read_lines"]

#: characters of the matrix-script segment given to language ID (keeps p99 latency bounded)
LID_CHARS = 200
#: characters given to the romanized-text detector (held-out accuracy is flat from 30 chars on)
NB_CHARS = 100
#: below this language-ID confidence the decision says so (route unchanged)
LOW_CONFIDENCE = 0.5


@dataclass
class Decision:
    """A routing decision. ``category`` is the failure category that drove or best explains the
    route (``None`` when no detector fired); ``categories`` lists every category detected;
    ``languages`` every language present with its share (``mixed.LangShare`` dicts, largest first);
    ``mixed``: two or more languages with ``MIN_TOKENS`` tokens and ``MIN_SHARE`` each."""

    variant: str
    lang: str | None
    confidence: float
    category: str | None
    reasons: list[str]
    script: str | None = None
    romanized: bool = False
    categories: list[str] = field(default_factory=list)
    languages: list[dict] = field(default_factory=list)
    mixed: bool = False

    def to_dict(self) -> dict:
        """The decision as a JSON-ready dict."""
        return asdict(self)


def _script_langs() -> dict[str, tuple[str, ...]]:
    """char_script code (or ``Jpan``) -> probe languages written in it (``probes.scripts``)."""
    out: dict[str, list[str]] = {}
    for code, lang in LANGUAGES.items():
        for s in unicode_scripts(lang.script):
            out.setdefault(s, []).append(code)
    out["Jpan"] = [c for c, lang in LANGUAGES.items() if lang.script == "Jpan"]
    return {s: tuple(v) for s, v in out.items()}


@lru_cache(maxsize=1)
def _langid_groups() -> dict[tuple[str, ...], object]:
    """One py3langid identifier per multi-language script group (``analysis.lid``: model shared)."""
    return {langs: restricted(langs) for langs in set(_script_langs().values()) if len(langs) > 1}


class Router:
    """``Router.load(rules_path=None).route(text) -> Decision``.

    ``rules``: a dict from ``rules.build_rules`` / ``load_rules`` or ``None`` (default routing:
    each language's target variant per ``probes.LANGUAGES``).
    """

    def __init__(self, rules: dict | None = None, rules_path: str | None = None, lid_chars: int = LID_CHARS):
        self.rules = rules
        self.rules_path = rules_path
        self.policy = dict(DEFAULT_POLICY, **((rules or {}).get("policy") or {}))
        self.lid_chars = lid_chars
        self.script_langs = _script_langs()
        self.groups = _langid_groups()
        self.nb = load_model()
        self._rom_idx = [i for i, c in enumerate(self.nb.classes_) if c.endswith("-Latn")]
        self.mixer = MixAnalyser(self)

    @classmethod
    def load(cls, rules_path: str | Path | None = None, **kw) -> Router:
        """A router with the rules file at ``rules_path`` (None: each language's target variant)."""
        rules = load_rules(rules_path) if rules_path is not None else None
        return cls(rules, str(rules_path) if rules_path is not None else None, **kw)

    # ------------------------------------------------------------------ language
    def _latin(self, seg: str, reasons: list[str], latin: LatinScores | None) -> tuple[str, float, bool]:
        if latin is not None:  # all-Latin text: the words starting in the first NB_CHARS characters
            p = latin.prefix_proba(NB_CHARS)
        else:
            p = text_proba(self.mixer.index, seg[:NB_CHARS])  # = self.nb.predict_proba, vectorised
        top = int(p.argmax())
        cls = self.nb.classes_[top]
        p_rom = float(p[self._rom_idx].sum())
        if cls.endswith("-Latn"):
            reasons.append(
                f"romanized: character n-gram model says {cls} (p={p[top]:.2f}; P(romanized)={p_rom:.2f})"
            )
            return cls[:-5], float(p[top]), True
        marker = taxonomy.detect_transliteration(seg, None, None) if p[top] < 0.95 else None
        if marker:
            lang = marker.split()[1]
            reasons.append(
                f"romanized: taxonomy word markers ({marker}); n-gram model unsure ({cls} p={p[top]:.2f})"
            )
            return lang, float(p_rom), True
        lang, conf = self._py3langid(("Latn",), seg, reasons)
        return lang, conf, False

    def _py3langid(self, key: tuple[str, ...], seg: str, reasons: list[str]) -> tuple[str, float]:
        langs = self.script_langs[key[0]]
        ident: Any = self.groups[langs]
        lang, conf = ident.classify(seg)
        reasons.append(f"language: {lang} (py3langid restricted to {', '.join(langs)}: p={conf:.2f})")
        return str(lang), float(conf)

    def identify(
        self, norm: str, counts, reasons: list[str], latin: LatinScores | None = None
    ) -> tuple[str | None, float, str | None, bool]:
        """(lang, confidence, dominant script, romanized) for normalised text (``latin``: its
        ``LatinScores`` when it is all Latin, shared with the language mix)."""
        script = tx.dominant_script(counts)
        if script is None:
            reasons.append("script: no letters (digits/punctuation/symbols only)")
            return None, 0.0, None, False
        total = sum(counts.values())
        shares = ", ".join(f"{s} {c / total:.0%}" for s, c in counts.most_common(3))
        reasons.append(f"script: {shares} (dominant {script})")
        langs = self.script_langs.get(script, ())
        if not langs:
            reasons.append(f"language: none of the probe languages is written in {script}")
            return None, 0.0, script, False
        if len(langs) == 1:
            reasons.append(f"language: {langs[0]} (the only probe language written in {script})")
            return langs[0], 1.0, script, False
        seg = (tx.script_segment(norm, script) if len(counts) > 1 else norm)[: self.lid_chars]
        if script == "Latn":
            lang, conf, rom = self._latin(seg, reasons, latin)
            return lang, conf, script, rom
        lang, conf = self._py3langid((script,), seg, reasons)
        return lang, conf, script, False

    # ------------------------------------------------------------------ route
    def _lang_route(self, lang: str) -> tuple[str, str]:
        if self.rules is None:
            v = LANGUAGES[lang].target_variant
            return v, (
                f"route: no rules file, documented default = target variant of {lang} in "
                f"probes.LANGUAGES ({v})"
            )
        entry = self.rules["languages"].get(lang)
        base = self.rules.get("baseline", "base")
        if entry is None:
            return base, f"route: {lang} is not in the rules' analysis results -> {base}"
        return (
            entry["variant"],
            f"route: rules {Path(self.rules_path or 'dict').name}: {lang} -> {entry['variant']} ({entry.get('evidence', '')})",
        )

    def _findings(
        self, raw: str, norm: str, lang: str | None, script: str | None, romanized: bool, counts: Counter
    ) -> dict:
        """Failure-taxonomy category -> evidence for this input."""
        found: dict[str, str] = {}
        if romanized and lang is not None:
            found["TRANSLITERATION"] = (
                f"romanized {lang} (Latin script, native script {LANGUAGES[lang].script})"
            )
        for cat, ev in (
            ("CODE_SWITCH", taxonomy.detect_code_switch(norm, lang, script, counts)),
            ("FORMAL_REGISTER", taxonomy.detect_formal_register(norm, lang)),
            (
                "LOW_RESOURCE_VARIANT",
                taxonomy.detect_low_resource(lang, LANGUAGES[lang].resource) if lang else None,
            ),
            ("UNICODE_EDGE", taxonomy.detect_unicode_edge(raw) if tx.maybe_unicode_edge(raw) else None),
        ):
            if ev:
                found[cat] = ev
        return found

    def _language_mix(
        self,
        norm: str,
        counts,
        lang: str | None,
        script: str | None,
        romanized: bool,
        reasons: list[str],
        latin: LatinScores | None = None,
    ) -> list[LangShare]:
        """Every language present with its share; a single-language top entry takes the whole-text ID,
        and so do the runs of the dominant (non-Latin) script."""
        shares = self.mixer.analyse(norm, None if romanized else lang, counts, script, latin)
        if shares and lang is not None and not is_mixed(shares):
            top = shares[0]
            shares[0] = LangShare(lang, top.script, top.share, top.letters, top.tokens, romanized)
        if shares:
            listed = ", ".join(f"{s.label} {s.share:.0%} ({s.tokens} tok)" for s in shares)
            cut = f"; first {MIX_CHARS} characters" if len(norm) > MIX_CHARS else ""
            reasons.append(f"languages: {listed} (script runs + token-level language ID{cut})")
        return shares

    def _choose(self, lang: str | None, romanized: bool, found: dict, mixed: list[LangShare]) -> tuple:
        """(variant, primary category, reason) from the language, findings and language mix."""
        src = self.policy.get("source", "rules file")
        if mixed:
            named = " + ".join(f"{s.label} {s.share:.0%}" for s in mixed)
            v = self.policy.get("MIXED", DEFAULT_POLICY["MIXED"])
            return v, "CODE_SWITCH", f"route: mixed input ({named}) -> general model {v} (policy: {src})"
        if lang is None:
            v = self.policy["unknown_language"]
            return v, None, f"route: unknown language -> {v}"
        if romanized:
            v = self.policy["TRANSLITERATION"]
            return v, "TRANSLITERATION", f"route: romanized text -> {v} (policy: {src})"
        if "FORMAL_REGISTER" in found:
            v = self.policy["FORMAL_REGISTER"]
            return v, "FORMAL_REGISTER", f"route: formal register -> {v} (policy: {src})"
        v, why = self._lang_route(lang)
        cat = next((c for c in ("CODE_SWITCH", "UNICODE_EDGE", "LOW_RESOURCE_VARIANT") if c in found), None)
        return v, cat, why

    def route(self, text: str | bytes) -> Decision:
        """Route one input (see the module docstring for the steps)."""
        raw = tx.check_text(text)
        norm = tx.normalise(raw)
        reasons: list[str] = []
        counts = taxonomy.script_profile(norm)
        latin = LatinScores.of(self.mixer.index, norm[:MIX_CHARS]) if counts.keys() == {"Latn"} else None
        lang, conf, script, romanized = self.identify(norm, counts, reasons, latin)
        shares = self._language_mix(norm, counts, lang, script, romanized, reasons, latin)
        mixed = (
            [s for s in shares if s.tokens >= MIN_TOKENS and s.share >= MIN_SHARE] if is_mixed(shares) else []
        )
        if mixed:
            lang, romanized, script = mixed[0].lang, mixed[0].romanized, mixed[0].script
        if lang is not None and not romanized and conf < LOW_CONFIDENCE and not mixed:
            reasons.append(
                f"low language-ID confidence ({conf:.2f}); consider {self.policy['unknown_language']}"
            )
        found = self._findings(raw, norm, lang, script, romanized, counts)
        if mixed:
            found["CODE_SWITCH"] = "mixed input: " + ", ".join(f"{s.label} {s.share:.0%}" for s in mixed)
        reasons += [f"{cat}: {ev}" for cat, ev in found.items()]
        variant, category, why = self._choose(lang, romanized, found, mixed)
        reasons.append(why)
        return Decision(
            variant=variant,
            lang=lang,
            confidence=round(float(conf), 4),
            category=category,
            reasons=reasons,
            script=script,
            romanized=romanized,
            categories=[c for c in taxonomy.CATEGORIES if c in found],
            languages=[s.to_dict() for s in shares],
            mixed=bool(mixed),
        )

    def route_many(self, texts) -> list[Decision]:
        """Route each input in order."""
        return [self.route(t) for t in texts]


def read_lines(path: str | Path):
    """Yield (line number, str | RouterInputError) for a batch file, one input per line.

    Each line is decoded on its own, so one bad line (invalid UTF-8, NUL bytes) does not spoil
    the rest; blank lines are skipped. A missing/unreadable file raises ``RouterInputError``.
    """
    from polylens.errors import RouterInputError  # noqa: PLC0415

    try:
        fh = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise RouterInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    with fh:
        for i, raw in enumerate(fh, 1):
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                continue
            try:
                yield i, tx.check_text(line)
            except RouterInputError as exc:
                yield i, exc
