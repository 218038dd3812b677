"""Stimulus sets: languages, concepts, parallel sentences and routing edge cases.

Public API: :func:`load_probe_set`, :func:`list_probe_sets`, :func:`validate`,
:class:`ProbeSet`, :class:`Stimulus`, :data:`LANGUAGES`, :func:`get_language`.
Builders live in :mod:`probes.build` (``build_all(out_dir)``).
"""

from polylens.probes.core import ProbeSet, Stimulus, list_probe_sets, load_probe_set, validate
from polylens.probes.languages import LANGUAGES, Language, get_language

__all__ = [
    "LANGUAGES",
    "Language",
    "ProbeSet",
    "Stimulus",
    "get_language",
    "list_probe_sets",
    "load_probe_set",
    "validate",
]
