"""Latent-language prompts (Wendler et al. 2024 format) built from the committed CLDR concept set.

Three kinds, all few-shot and all ending right before the answer's first token (after an
opening quote), so the next-token distribution at the last position is the model's answer:

- ``translation``: ``Français: "fleur" - 中文: "花"`` lines, then ``Français: "<query>" - 中文: "``;
  the answer is the concept's name in the target language.
- ``repetition``: ``中文: "花" - 中文: "花"`` lines, then ``中文: "<query>" - 中文: "``.
- ``emoji``: ``🌸 - 中文: "花"`` lines, then ``<emoji> - 中文: "``: a cloze whose cue is
  language-neutral (the concept's CLDR emoji). Wendler's cloze prompts need a definition
  sentence per concept; the concept set has none, so the emoji is the cue the data allows.

Pure text: no tokenizer here (the first-token filter lives in :mod:`polylens.hooks.lens`).
Demonstrations are drawn with a seeded generator per query concept and are the same concepts
in every language, so prompts are paired across languages.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import babel

from polylens.errors import ProbeError
from polylens.probes.core import ProbeSet

PROMPT_KINDS = ("translation", "repetition", "emoji")
REFERENCE_LANG = "en"


@dataclass(frozen=True)
class LensPrompt:
    """One prompt: kind, query concept, target language, text and the answer in every language."""

    kind: str
    concept: str
    lang: str
    text: str
    answers: dict[str, str] = field(compare=False, hash=False)
    source: str | None = None

    @property
    def answer(self) -> str:
        """The expected answer (the concept's name in the target language)."""
        return self.answers[self.lang]


def language_label(code: str) -> str:
    """The language's own name for itself (CLDR via babel), capitalised: ``Français``, ``中文``."""
    try:
        name = babel.Locale.parse(code).get_display_name(code) or code
    except (babel.UnknownLocaleError, ValueError):
        name = code
    return name[:1].upper() + name[1:]


def _demo_concepts(units: Sequence[str], query: str, shots: int, seed: int) -> list[str]:
    """``shots`` other concepts for ``query``'s demonstrations (seeded by concept, not language)."""
    rng = random.Random(f"{seed}:{query}")
    pool = [u for u in units if u != query]
    return rng.sample(pool, min(shots, len(pool)))


def _line(kind: str, cue: str, tgt_label: str, answer: str | None, src_label: str) -> str:
    """One demonstration (``answer`` given) or the open query line (``answer`` None)."""
    head = {
        "translation": f'{src_label}: "{cue}" - {tgt_label}: "',
        "repetition": f'{tgt_label}: "{cue}" - {tgt_label}: "',
        "emoji": f'{cue} - {tgt_label}: "',
    }[kind]
    return head if answer is None else f'{head}{answer}"'


def _cue(kind: str, ps: ProbeSet, texts: dict[str, dict[str, str]], unit: str, lang: str, src: str) -> str:
    if kind == "emoji":
        return str(ps.unit_meta[unit].get("emoji", ""))
    return texts[src if kind == "translation" else lang][unit]


def _source_for(lang: str, source: str, alt_source: str) -> str:
    return alt_source if lang == source else source


def build_prompts(
    ps: ProbeSet,
    kind: str = "translation",
    targets: Sequence[str] | None = None,
    source: str = "fr",
    alt_source: str = "de",
    shots: int = 4,
    seed: int = 0,
) -> list[LensPrompt]:
    """Prompts for every (target language, concept) of ``ps`` that has the texts it needs.

    ``targets`` defaults to every language but English (the reference answer language).
    Translation uses ``source`` as the source language (``alt_source`` when the target is
    ``source``). Concepts lacking a needed text (or, for ``emoji``, an emoji) are skipped.
    """
    if kind not in PROMPT_KINDS:
        raise ProbeError(f"prompt kind must be one of {PROMPT_KINDS}, not {kind!r}")
    if ps.kind != "concepts":
        raise ProbeError(f"lens prompts need a concept set, not a {ps.kind!r} set ({ps.name})")
    targets = [lang for lang in ps.languages if lang != REFERENCE_LANG] if targets is None else list(targets)
    texts = {lang: ps.texts(lang) for lang in ps.languages}
    labels = {lang: language_label(lang) for lang in ps.languages}
    out = []
    for lang in targets:
        src = _source_for(lang, source, alt_source)
        for unit in ps.units:
            prompt = _one_prompt(ps, kind, texts, labels, unit, lang, src, shots, seed)
            if prompt is not None:
                out.append(prompt)
    return out


def _one_prompt(
    ps: ProbeSet,
    kind: str,
    texts: dict[str, dict[str, str]],
    labels: dict[str, str],
    unit: str,
    lang: str,
    src: str,
    shots: int,
    seed: int,
) -> LensPrompt | None:
    """The prompt for one (concept, target language), or None when a needed text is missing."""
    needed = [unit, *_demo_concepts(ps.units, unit, shots, seed)]
    cue_lang = src if kind == "translation" else lang
    for u in needed:
        if u not in texts[lang] or (kind != "emoji" and u not in texts[cue_lang]):
            return None
        if kind == "emoji" and not ps.unit_meta[u].get("emoji"):
            return None
    if REFERENCE_LANG not in texts or unit not in texts[REFERENCE_LANG]:
        return None
    lines = [
        _line(kind, _cue(kind, ps, texts, u, lang, src), labels[lang], texts[lang][u], labels[src])
        for u in needed[1:]
    ]
    lines.append(_line(kind, _cue(kind, ps, texts, unit, lang, src), labels[lang], None, labels[src]))
    answers = {code: texts[code][unit] for code in ps.languages if unit in texts[code]}
    return LensPrompt(kind, unit, lang, "\n".join(lines), answers, src if kind == "translation" else None)
