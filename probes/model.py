"""The probe-set data model: ``Stimulus`` and ``ProbeSet`` (ordered units x languages)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from polylens.errors import ProbeError

DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Stimulus:
    """One text: unit id, language code, text and its metadata (unit meta + per-language meta)."""

    unit: str
    lang: str
    text: str
    meta: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class ProbeSet:
    """A stimulus set: ordered units x languages, with provenance."""

    name: str
    kind: str
    version: str
    sha256: str
    license: str
    source: str
    unit_dim: str
    units: list[str]
    unit_meta: dict[str, dict]
    languages: list[str]
    stimuli: list[Stimulus]
    path: str = ""
    provenance: dict = field(default_factory=dict, compare=False)

    def select(
        self, langs: Iterable[str] | None = None, units: Iterable[str] | None = None, limit: int | None = None
    ) -> ProbeSet:
        """Return a subset by languages, unit ids and/or the first ``limit`` units (order kept)."""
        keep_langs = _checked(langs, self.languages, "language", self.name)
        keep_units = _checked(units, self.units, "unit", self.name)
        keep_units = keep_units[:limit] if limit is not None else keep_units
        lang_set, unit_set = set(keep_langs), set(keep_units)
        return replace(
            self,
            units=keep_units,
            languages=keep_langs,
            unit_meta={u: self.unit_meta[u] for u in keep_units},
            stimuli=[s for s in self.stimuli if s.lang in lang_set and s.unit in unit_set],
        )

    def texts(self, lang: str) -> dict[str, str]:
        """Map unit id -> text for one language."""
        return {s.unit: s.text for s in self.stimuli if s.lang == lang}

    def counts(self) -> dict[str, int]:
        """Number of stimuli per language (in ``languages`` order)."""
        out = dict.fromkeys(self.languages, 0)
        for s in self.stimuli:
            out[s.lang] += 1
        return out

    def verified_share(self) -> float | None:
        """Share of stimuli whose meta says ``verified: true`` (None if the set has no such flag)."""
        flags = [s.meta["verified"] for s in self.stimuli if "verified" in s.meta]
        return sum(map(bool, flags)) / len(flags) if flags else None


def _checked(wanted: Iterable[str] | None, have: list[str], what: str, name: str) -> list[str]:
    """Keep ``have`` order; raise if ``wanted`` names something absent."""
    if wanted is None:
        return list(have)
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    unknown = [w for w in wanted if w not in set(have)]
    if unknown:
        raise ProbeError(f"probe set {name!r}: unknown {what}(s) {unknown}")
    return [h for h in have if h in set(wanted)]
