"""Stimulus sets: languages, concepts, parallel sentences and routing edge cases.

Public API: :func:`load_probe_set`, :func:`list_probe_sets`, :func:`validate`,
:class:`ProbeSet`, :class:`Stimulus`, :data:`LANGUAGES`, :func:`get_language`.
Builders live in :mod:`probes.build` (``build_all(out_dir)``). Module layers (no cycle):
``scripts``, ``variants`` -> ``languages`` -> ``model``, ``text`` -> ``checks``, ``flores``,
``upstream``, ``verify`` -> ``core``, ``edge_cases`` -> ``build``.
"""

from polylens.probes.checks import validate
from polylens.probes.core import list_probe_sets, load_probe_set
from polylens.probes.languages import LANGUAGES, Language, get_language
from polylens.probes.model import ProbeSet, Stimulus

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
