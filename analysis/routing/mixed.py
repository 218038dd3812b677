"""Every language in one input, with its share: script runs, then token-level language ID.

1. Words (whitespace tokens) get the script of their first letter (``taxonomy.char_script``);
   consecutive words of one script form a *script run* (Han and kana form one CJK run).
2. A run in a script written by one probe language is that language (``probes.LANGUAGES``).
   A run in another shared script (Devanagari, Arabic, Cyrillic, Han) is identified with py3langid
   restricted to that script's probe languages (the router's whole-text ID when it is the
   dominant script: the same letters).
3. Latin runs get token-level language ID: each word's character n-gram log-likelihoods from the
   router's naive Bayes (12 Latin-script languages + 5 romanized ones), summed over a window of
   ``WINDOW`` words on either side, argmax per word; one-word islands join their neighbour,
   stretches under ``MIN_STRETCH`` words join a neighbour, and each stretch takes the class with the
   highest summed scores over it (the whole-text py3langid result when it is the whole text).
4. Shares are fractions of the letters; a word counts as one token (``letters // 2`` tokens for a
   run in a script written without spaces).

The input is *mixed* when at least two languages each have ``MIN_TOKENS`` tokens and a share of
at least ``MIN_SHARE``: a single inserted word ("बच्चे को तेज़ fever है") is an insertion routed by
its matrix language, not a mixed input. Only the first ``MIX_CHARS`` characters are analysed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from jaxtyping import Float, Int

from . import text as tx
from .ngram import _NON_WORD, CharNgramNB

__all__ = [
    "LangShare",
    "LatinScores",
    "MixAnalyser",
    "MIN_TOKENS",
    "MIN_SHARE",
    "WINDOW",
    "MIX_CHARS",
    "is_mixed",
]

#: tokens a language needs before the input counts as mixed (one inserted word does not)
MIN_TOKENS = 2
#: share of the letters a language needs before the input counts as mixed
MIN_SHARE = 0.15
#: words on either side summed into each word's token-level scores
WINDOW = 2
#: fewest words in a Latin stretch of one language (shorter stretches join a neighbour)
MIN_STRETCH = 3
#: characters analysed (bounds the latency of very long inputs)
MIX_CHARS = 400
_CJK = {"Hani", "Hira", "Kana"}
_UNSPACED = _CJK | {"Thai", "Khmr", "Laoo", "Mymr", "Tibt"}
_HIRA, _KANA = tx.script_tag("Hira"), tx.script_tag("Kana")


@dataclass(frozen=True)
class LangShare:
    """One language found in the input: its share of the letters, tokens, script, romanized."""

    lang: str | None
    script: str
    share: float
    letters: int
    tokens: int
    romanized: bool = False

    @property
    def label(self) -> str:
        """``hi``, ``hi-Latn`` for romanized Hindi, ``?-Thai`` for a script no probe language uses."""
        if self.lang is None:
            return f"?-{self.script}"
        return self.lang + ("-Latn" if self.romanized else "")

    def to_dict(self) -> dict:
        """JSON-ready dict (written out: ``dataclasses.asdict`` deep-copies, a hot path here)."""
        return {
            "lang": self.lang,
            "script": self.script,
            "share": self.share,
            "letters": self.letters,
            "tokens": self.tokens,
            "romanized": self.romanized,
        }


def is_mixed(shares: list[LangShare]) -> bool:
    """At least two languages with ``MIN_TOKENS`` tokens and ``MIN_SHARE`` of the letters each."""
    return sum(1 for s in shares if s.tokens >= MIN_TOKENS and s.share >= MIN_SHARE) >= 2


def script_runs(text: str) -> list[tuple[str, list[str], int, bool]]:
    """(script key, words, letters, has kana) for each run of words in one script (Han+kana: CJK);
    a word's script is that of its first letter (``text.script_tags`` pairs words with tags)."""
    runs: list[tuple[str, list[str], int, bool]] = []
    for word, tagged in zip(text.split(), tx.script_tags(text).split()):
        letters = tagged.replace(tx.NO_SCRIPT, "")
        if not letters:
            continue
        script = tx.SCRIPT_TAGS[letters[0]]
        key = "CJK" if script in _CJK else script
        kana = key == "CJK" and (_HIRA in letters or _KANA in letters)
        if runs and runs[-1][0] == key:
            k, words, m, had = runs[-1]
            words.append(word)
            runs[-1] = (k, words, m + len(letters), had or kana)
        else:
            runs.append((key, [word], len(letters), kana))
    return runs


class GramIndex:
    """Vectorised n-gram lookup for a ``CharNgramNB``: each known gram is one int64 key (characters
    as indices into the model's alphabet, base ``B``; order in the top digit), found by
    ``np.searchsorted`` instead of one dict lookup per gram. A character no gram contains gets the
    reserved digit ``B - 1``, so every n-gram holding one has a key no known gram has."""

    def __init__(self, nb: CharNgramNB):
        self.nb = nb
        self.max_order = max(nb.orders)
        if sorted(nb.orders) != list(range(1, self.max_order + 1)):
            raise ValueError(f"GramIndex needs n-gram orders 1..n, got {nb.orders}")
        alphabet = sorted({c for g in nb.grams_ for c in g} | {" "})
        points = np.array([ord(c) for c in alphabet], dtype=np.int64)
        self.base = len(alphabet) + 2  # digits 1..len(alphabet), plus the unknown-character digit
        self.lut_ = np.full(int(points.max()) + 2, self.base - 1, dtype=np.int64)  # code point -> digit
        self.lut_[points] = np.arange(1, len(alphabet) + 1)
        self.space = alphabet.index(" ") + 1  # code of the word separator
        keys = np.array([self._key([alphabet.index(c) + 1 for c in g]) for g in nb.grams_], dtype=np.int64)
        self.order_ = np.argsort(keys)
        self.keys_ = keys[self.order_]
        self.log_p_t_ = np.ascontiguousarray(nb.log_p_.T, dtype=np.float64)  # (cls, gram): fast row sums

    def _key(self, ids: list[int]) -> int:
        """Key of a gram: its alphabet indices (all >= 1) as base-``B`` digits, so lengths never collide."""
        key = 0
        for i in ids:
            key = key * self.base + i
        return key

    def codes(self, s: str) -> Int[np.ndarray, " char"]:
        """Alphabet digit (1..) of each character of ``s``; ``B - 1`` for characters no gram contains."""
        cp = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32)
        return self.lut_[np.minimum(cp, len(self.lut_) - 1)]

    def rows(
        self, codes: Int[np.ndarray, " char"]
    ) -> tuple[Int[np.ndarray, " hit"], Int[np.ndarray, " hit"]]:
        """(start position, model row) of every known n-gram (all orders) of the coded string, in
        order of start position (then of gram length)."""
        k = self.max_order
        keys = np.zeros((len(codes), k), dtype=np.int64)  # position-major: hits come sorted; 0 = no gram
        key = codes
        for n in range(1, k + 1):  # n-gram keys from (n-1)-gram keys
            m = len(codes) - n + 1
            if m <= 0:
                break
            key = key[:m] * self.base + codes[n - 1 :] if n > 1 else key
            keys[:m, n - 1] = key
        flat = keys.ravel()
        pos = np.searchsorted(self.keys_, flat)
        np.minimum(pos, len(self.keys_) - 1, out=pos)
        hit = np.flatnonzero(self.keys_[pos] == flat)
        return hit // k, self.order_[pos[hit]]


def single_run(norm: str, counts: Counter) -> list[tuple[str, list[str], int, bool]] | None:
    """The text as one run when all its letters are in one script group (else ``None``); a Latin
    run is cut to ``MIX_CHARS`` (token-level ID), other runs need no per-word work."""
    keys = {"CJK" if s in _CJK else s for s in counts}
    if len(keys) != 1:
        return None
    key = keys.pop()
    if key == "Latn":
        return [(key, norm[:MIX_CHARS].split(), 0, False)]
    kana = bool(counts.get("Hira", 0) + counts.get("Kana", 0))
    return [(key, norm.split(), sum(counts.values()), kana)]


def text_scores(index: GramIndex, text: str) -> tuple[Float[np.ndarray, " cls"], int]:
    """``CharNgramNB.scores(text)`` computed with the vectorised index (same n-grams, float64 sum)."""
    clean = " ".join(_NON_WORD.sub(" ", text.lower()).split())
    _, rows = index.rows(index.codes(" " + clean + " "))
    return np.take(index.log_p_t_, rows, axis=1).sum(1), len(rows)


def posterior(s: Float[np.ndarray, " cls"], n: int) -> Float[np.ndarray, " cls"]:
    """``CharNgramNB.predict_proba``'s formula on summed scores ``s`` of ``n`` known n-grams."""
    s = s / np.sqrt(max(n, 1))
    p = np.exp(s - s.max())
    return p / p.sum()


def text_proba(index: GramIndex, text: str) -> Float[np.ndarray, " cls"]:
    """``CharNgramNB.predict_proba(text)`` with the vectorised index (same formula)."""
    return posterior(*text_scores(index, text))


def word_scores(
    index: GramIndex, words: list[str]
) -> tuple[Float[np.ndarray, "word cls"], Int[np.ndarray, " word"]]:
    """Per word: summed n-gram log-likelihood per class, and its number of known n-grams. N-grams
    are read off the whole string ``" w1 w2 ... "`` (as in training) and each belongs to the word
    its first letter is in (a gram starting on a space belongs to the next word)."""
    codes = index.codes(" " + " ".join(words) + " ")
    at, rows = index.rows(codes)
    out = np.zeros((len(words), index.nb.log_p_.shape[1]), dtype=np.float64)
    if not len(at):
        return out, np.zeros(len(words), dtype=np.int64)
    word_at = np.cumsum(codes == index.space) - 1  # word of each position (a space opens the next word)
    word = np.minimum(word_at[at], len(words) - 1)  # non-decreasing: ``rows`` sorts by position
    edge = np.searchsorted(word, np.arange(len(words) + 1))
    has = edge[1:] > edge[:-1]
    out[has] = np.add.reduceat(index.nb.log_p_[rows], edge[:-1][has], axis=0)
    return out, np.diff(edge)


@dataclass(frozen=True)
class LatinScores:
    """Token-level n-gram scores of a Latin text, computed once and shared by the router's
    whole-text naive Bayes (``prefix_proba``) and the language mix (``MixAnalyser``)."""

    words: list[str]  # cleaned words (lower case, digits and punctuation removed)
    scores: Float[np.ndarray, "word cls"]
    grams: Int[np.ndarray, " word"]

    @classmethod
    def of(cls, index: GramIndex, text: str) -> LatinScores:
        """Scores of ``text`` (normalised) cleaned as the naive Bayes cleans its input."""
        words = _NON_WORD.sub(" ", text.lower()).split()
        if not words:
            return cls(words, np.zeros((0, index.nb.log_p_.shape[1])), np.zeros(0, dtype=np.int64))
        return cls(words, *word_scores(index, words))

    def prefix_proba(self, n_chars: int) -> Float[np.ndarray, " cls"]:
        """Naive Bayes posterior of the words that start in the first ``n_chars`` characters."""
        starts = np.cumsum([0] + [len(w) + 1 for w in self.words[:-1]])
        k = int(np.searchsorted(starts, n_chars)) if self.words else 0
        return posterior(self.scores[:k].sum(0), int(self.grams[:k].sum()))


def smooth_labels(scores: Float[np.ndarray, "word cls"], window: int = WINDOW) -> Int[np.ndarray, " word"]:
    """Argmax class per word of the scores summed over ``window`` words each side; a one-word
    island (label differs from both neighbours) takes its left neighbour's label."""
    n = scores.shape[0]
    cs = np.zeros((n + 1, scores.shape[1]))
    np.cumsum(scores, axis=0, out=cs[1:])
    i = np.arange(n)
    lab = (cs[np.minimum(n, i + window + 1)] - cs[np.maximum(0, i - window)]).argmax(1)
    if n >= 3:
        island = np.flatnonzero((lab[1:-1] != lab[:-2]) & (lab[1:-1] != lab[2:])) + 1
        lab[island] = lab[island - 1]
    return lab


def merge_short(cuts: list[int], min_words: int = MIN_STRETCH) -> list[int]:
    """Stretch boundaries with every stretch shorter than ``min_words`` merged into a neighbour
    (the shortest first; into the following stretch at the start, else into the preceding one)."""
    cuts = list(cuts)
    while len(cuts) > 2:
        sizes = [b - a for a, b in zip(cuts, cuts[1:])]
        k = min(range(len(sizes)), key=lambda i: (sizes[i], i))
        if sizes[k] >= min_words:
            break
        del cuts[k + 1 if k == 0 else k]
    return cuts


class MixAnalyser:
    """``MixAnalyser(router).analyse(norm_text) -> [LangShare, ...]`` (largest share first)."""

    def __init__(self, router: Any):
        self.router = router
        self.nb: CharNgramNB = router.nb
        self.index = GramIndex(self.nb)

    def _identify(self, script: str, text: str, main: str | None = None) -> str | None:
        """Language of a run: the script's only probe language, ``main`` (the whole-text ID, when the
        run is the whole text), else py3langid restricted to the script's probe languages."""
        langs = self.router.script_langs.get(script, ())
        if len(langs) <= 1:
            return langs[0] if langs else None
        if main is not None:
            return main
        lang, _ = self.router.groups[langs].classify(text[: self.router.lid_chars])
        return str(lang)

    def _latin(
        self, words: list[str], main: str | None, pre: LatinScores | None = None
    ) -> list[tuple[str | None, bool, list[str]]]:
        """Token-level ID of a Latin run: stretches of (lang, romanized, cleaned words). A stretch's
        language is the class with the highest summed word scores over it (``main`` when the
        stretch is the whole text and not romanized). ``pre``: the run's scores, already computed."""
        pre = pre if pre is not None else LatinScores.of(self.index, " ".join(words))
        clean, scores = pre.words, pre.scores
        if not clean:
            return []
        lab = smooth_labels(scores)
        cuts = merge_short([0, *(np.flatnonzero(lab[1:] != lab[:-1]) + 1).tolist(), len(clean)])
        out: list[tuple[str | None, bool, list[str]]] = []
        for a, b in zip(cuts, cuts[1:]):
            cls = self.nb.classes_[int(scores[a:b].sum(0).argmax())]
            rom = cls.endswith("-Latn")
            lang = cls[:-5] if rom else (main if main is not None and len(cuts) == 2 else cls)
            out.append((lang, rom, clean[a:b]))
        return out

    def analyse(
        self,
        norm: str,
        main: str | None = None,
        counts: Counter | None = None,
        main_script: str | None = None,
        latin: LatinScores | None = None,
    ) -> list[LangShare]:
        """Every language in ``norm`` (normalised text) with its share, largest first. ``main``: the
        whole-text language ID, reused for a run that is the whole text and for the non-Latin runs
        of ``main_script`` (the dominant script it was read from: saves a second py3langid);
        ``counts``: letters per script of ``norm`` (``taxonomy.script_profile``), enables the one-run path;
        ``latin``: ``LatinScores`` of ``norm[:MIX_CHARS]`` when ``norm`` is all Latin (the router's). Non-Latin runs of one script are identified together (one py3langid call per script)."""
        acc: dict[tuple[str | None, bool, str], list[int]] = {}
        runs = single_run(norm, counts) if counts is not None else None
        runs = runs if runs is not None else script_runs(norm[:MIX_CHARS])
        whole = main if len(runs) == 1 else None
        by_script: dict[str, list] = {}
        for key, words, n_letters, kana in runs:
            if key == "Latn":
                for lang, rom, part in self._latin(words, whole, latin if len(runs) == 1 else None):
                    a = acc.setdefault((lang, rom, "Latn"), [0, 0])
                    a[0] += sum(len(w) for w in part)
                    a[1] += len(part)
                continue
            script = ("Jpan" if kana else "Hani") if key == "CJK" else key
            tokens = n_letters // 2 if script in _UNSPACED or script == "Jpan" else len(words)
            got = by_script.setdefault(script, [[], 0, 0])
            got[0] += words
            got[1] += n_letters
            got[2] += tokens
        for script, (words, n_letters, tokens) in by_script.items():
            lang = self._identify(script, " ".join(words), whole if script != main_script else main)
            a = acc.setdefault((lang, False, script), [0, 0])
            a[0] += n_letters
            a[1] += tokens
        total = sum(v[0] for v in acc.values()) or 1
        shares = [
            LangShare(lang, script, round(v[0] / total, 4), v[0], v[1], rom)
            for (lang, rom, script), v in acc.items()
        ]
        return sorted(shares, key=lambda s: (-s.letters, s.label))
