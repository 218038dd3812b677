"""Character n-gram naive Bayes (numpy only): romanized-text detector for the router.

Classes are ISO 639-1 codes for Latin-script probe languages (negatives: ``en``, ``fr``, ``sw``,
...) and ``<code>-Latn`` for romanized non-Latin languages (``hi-Latn``, ``bn-Latn``, ``ta-Latn``,
``ar-Latn``, ``am-Latn``). Features: character 1..4-grams of the lower-cased text with spaces
collapsed and a space on either side (so word starts and ends are features). Multinomial NB with
add-k smoothing and uniform class priors (the training corpus is unbalanced).

Training data (``training_corpus``) is polylens's own text: ``udhr_romanized`` + uroman-romanized
``medical`` sentences for the romanized classes, ``udhr`` + ``medical`` for the Latin-script
classes. Excluded: every held-out UDHR unit (``HELDOUT_UDHR_UNITS``, every third unit, used by the
evaluation, ``heldout_set()``) and every medical unit an edge case is built from (the edge cases are test items).
``build_model(path)`` retrains and writes the committed ``data/romanized_nb.npz``.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
from jaxtyping import Float

from polylens.probes import codeswitch
from polylens.probes.languages import LATIN_LANGS, ROMANIZED_LANGS

__all__ = [
    "CharNgramNB",
    "features",
    "MODEL_PATH",
    "training_corpus",
    "build_model",
    "load_model",
    "heldout_units",
    "heldout_set",
]

MODEL_PATH = Path(__file__).parent / "data" / "romanized_nb.npz"
_NON_WORD = re.compile(r"[^\w']+|[\d_]+")


def features(text: str, orders: tuple[int, ...] = (1, 2, 3, 4)) -> list[str]:
    """Character n-grams of ``" " + normalised text + " "`` (lower-case, digits/punctuation -> space)."""
    s = " " + " ".join(_NON_WORD.sub(" ", text.lower()).split()) + " "
    out: list[str] = []
    for n in orders:
        if n == 1:
            out.extend(s[1:-1].replace(" ", ""))
        else:
            out.extend(s[i : i + n] for i in range(len(s) - n + 1))
    return out


class CharNgramNB:
    """Multinomial naive Bayes over character n-grams; scikit-learn-like ``fit`` / ``predict``."""

    def __init__(self, orders: tuple[int, ...] = (1, 2, 3, 4), k: float = 0.1, min_count: int = 2):
        self.orders, self.k, self.min_count = tuple(orders), float(k), int(min_count)
        self.meta_: dict = {}

    def fit(self, texts: list[str], labels: list[str]) -> CharNgramNB:
        """Count n-grams per class (grams seen fewer than ``min_count`` times are dropped)."""
        classes = sorted(set(labels))
        counts: dict[str, np.ndarray] = {}
        for text, label in zip(texts, labels):
            ci = classes.index(label)
            for g in features(text, self.orders):
                row = counts.get(g)
                if row is None:
                    row = counts[g] = np.zeros(len(classes), dtype=np.int64)
                row[ci] += 1
        grams = sorted(g for g, row in counts.items() if row.sum() >= self.min_count)
        self.classes_ = classes
        self.grams_ = grams
        self.counts_ = (
            np.stack([counts[g] for g in grams]).astype(np.int32)
            if grams
            else np.zeros((0, len(classes)), np.int32)
        )
        self._finalise()
        return self

    def _finalise(self) -> None:
        c = self.counts_.astype(np.float64)
        v = c.shape[0] + 1  # + one bucket for unseen grams
        self.log_p_ = np.log((c + self.k) / (c.sum(0) + self.k * v)).astype(np.float32)
        self.index_ = {g: i for i, g in enumerate(self.grams_)}

    def scores(self, text: str) -> tuple[Float[np.ndarray, " n_classes"], int]:
        """Summed log-likelihood per class (uniform prior) and the number of known n-grams."""
        get = self.index_.get
        idx = [i for g in features(text, self.orders) if (i := get(g)) is not None]
        if not idx:
            return np.zeros(len(self.classes_), dtype=np.float32), 0
        return self.log_p_.take(idx, axis=0).sum(0), len(idx)

    def predict_proba(self, text: str) -> Float[np.ndarray, " n_classes"]:
        """Posterior per class; log-likelihoods are divided by sqrt(#n-grams) before the softmax
        (as py3langid does) so confidence does not saturate on every long input."""
        s, n = self.scores(text)
        s = s / math.sqrt(max(n, 1))
        p = np.exp(s - s.max())
        return p / p.sum()

    def predict(self, text: str) -> tuple[str, float]:
        """Most probable class and its probability."""
        p = self.predict_proba(text)
        i = int(p.argmax())
        return self.classes_[i], float(p[i])

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path, meta: dict | None = None) -> Path:
        """Write the model as an ``.npz`` (no pickles) with ``meta`` in its parameters."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        params = {
            "orders": list(self.orders),
            "k": self.k,
            "min_count": self.min_count,
            "classes": self.classes_,
            **(meta or {}),
        }
        with open(path, "wb") as fh:
            np.savez_compressed(
                fh,
                grams=np.array("\n".join(self.grams_)),
                counts=self.counts_,
                params=np.array(json.dumps(params, sort_keys=True)),
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> CharNgramNB:
        """Read a model written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            params = json.loads(str(z["params"]))
            grams = str(z["grams"]).split("\n") if z["counts"].shape[0] else []
            counts = z["counts"]
        self = cls(tuple(params["orders"]), params["k"], params["min_count"])
        self.classes_, self.grams_, self.counts_ = list(params["classes"]), grams, counts
        self.meta_ = params
        self._finalise()
        return self


def heldout_units(units: list[str]) -> list[str]:
    """Every third UDHR unit (indices 0, 3, 6, ...; includes ``a01.p1``, which edge cases use);
    the one rule lives in ``probes.codeswitch.heldout_units`` (the code-switching set uses it too)."""
    return codeswitch.heldout_units(units)


def _udhr_units() -> list[str]:
    from polylens import probes  # noqa: PLC0415

    return list(probes.load_probe_set("udhr").units)


@lru_cache(maxsize=1)
def heldout_set() -> frozenset[str]:
    """The held-out UDHR unit ids (cached)."""
    return frozenset(heldout_units(_udhr_units()))


def _edge_sources() -> set[str]:
    """Medical unit ids that edge cases are built from (``source: medical:<id>``)."""
    from polylens import probes  # noqa: PLC0415

    out = set()
    for s in probes.load_probe_set("edge_cases").stimuli:
        src = (s.meta or {}).get("source", "")
        if src.startswith("medical:"):
            out.add(src.split(":", 1)[1])
    return out


def training_corpus(romanize_medical: bool = True) -> tuple[list[str], list[str], dict]:
    """(texts, labels, provenance) for ``build_model``; test items and held-out units excluded."""
    from polylens import probes  # noqa: PLC0415

    held = heldout_set()
    edge = _edge_sources()
    texts, labels = [], []
    udhr = probes.load_probe_set("udhr")
    rom = probes.load_probe_set("udhr_romanized")
    med = probes.load_probe_set("medical")
    for s in udhr.stimuli:
        if s.lang in LATIN_LANGS and s.unit not in held:
            texts.append(s.text)
            labels.append(s.lang)
    for s in rom.stimuli:
        if s.lang in ROMANIZED_LANGS and s.unit not in held:
            texts.append(s.text)
            labels.append(f"{s.lang}-Latn")
    med_units = [u for u in med.units if u not in edge]
    n_med_rom = 0
    if romanize_medical:
        from polylens.probes.text import romanize, romanizer  # noqa: PLC0415 - uroman, build time only

        ur = romanizer()[0]
    for s in med.stimuli:
        if s.unit not in med_units:
            continue
        if s.lang in LATIN_LANGS:
            texts.append(s.text)
            labels.append(s.lang)
        elif s.lang in ROMANIZED_LANGS and romanize_medical:
            texts.append(romanize(s.text, s.lang, ur))
            labels.append(f"{s.lang}-Latn")
            n_med_rom += 1
    prov = {
        "udhr_sha256": udhr.sha256,
        "udhr_romanized_sha256": rom.sha256,
        "medical_sha256": med.sha256,
        "heldout_udhr_units": sorted(held),
        "excluded_medical_units": sorted(edge),
        "medical_units_used": med_units,
        "n_texts": len(texts),
        "n_medical_romanized": n_med_rom,
    }
    return texts, labels, prov


def build_model(path: str | Path = MODEL_PATH, **nb_kw) -> Path:
    """Retrain the romanized detector from the committed probe sets and write it (needs uroman)."""
    texts, labels, prov = training_corpus()
    model = CharNgramNB(**nb_kw).fit(texts, labels)
    return model.save(path, meta={"training": prov, "format": "polylens-charngram-nb/1"})


@lru_cache(maxsize=1)
def load_model(path: str | None = None) -> CharNgramNB:
    """The committed romanized-text detector (cached)."""
    return CharNgramNB.load(path or MODEL_PATH)
