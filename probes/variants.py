"""The Tiny Aya variants: name, Hugging Face model id, region, tiny stand-in; the ``@quant`` syntax.

This is the one list of variant names. ``hooks.registry`` builds its model specs from it,
``probes.languages`` checks every target variant against it, the router's policy and the
figures' colours are keyed by it. Regions follow the Tiny Aya release: ``fire`` South Asia,
``earth`` Africa and West Asia, ``water`` Europe and Asia-Pacific, ``global`` every language.

Any model name may carry a simulated weight quantization: ``<model>@<spec>`` (e.g.
``gemma-3-270m@int4-g128``, ``tiny-aya-fire@int3-pc-keep0.1``, ``gemma-3-270m@gguf-q4_0``); the spec grammar is
:data:`QUANT_SPEC` (meaning of each part: ``hooks.quantize``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FAMILY = "tiny-aya"


@dataclass(frozen=True)
class Variant:
    """One Tiny Aya variant; ``tiny_seed`` seeds its random offline stand-in (None: no stand-in)."""

    name: str
    model_id: str
    region: str
    tiny_seed: int | None

    @property
    def model_name(self) -> str:
        """Registry name of the variant (``tiny-aya-fire``)."""
        return f"{FAMILY}-{self.name}"


# name, region, seed of the tiny random stand-in (tiny-cohere2-fire ...; base is the unperturbed model)
_ROWS: list[tuple[str, str, int | None]] = [
    ("base", "none (pretrained base)", 0),
    ("global", "all regions", None),
    ("fire", "South Asia", 1),
    ("earth", "Africa and West Asia", 2),
    ("water", "Europe and Asia-Pacific", 3),
]

VARIANTS: dict[str, Variant] = {
    name: Variant(name, f"CohereLabs/{FAMILY}-{name}", region, seed) for name, region, seed in _ROWS
}
VARIANT_NAMES: tuple[str, ...] = tuple(VARIANTS)

#: separator between a model name and its quantization spec
QUANT_SEPARATOR = "@"
#: ``int{bits}-{pc|g<N>}[-keep<percent>]`` (simulated RTN) or ``gguf-<format>`` (llama.cpp format)
QUANT_SPEC = re.compile(
    r"^(?:int(\d+)-(pc|g(\d+))(?:-keep(\d*\.?\d+))?|gguf-(q8_0|q5_0|q5_1|q4_0|q4_1|mxfp4))$"
)
QUANT_SPEC_HELP = (
    "expected int{8,4,3,2}-{pc|g<N>}[-keep<percent>] (e.g. int4-g128, int3-pc-keep0.1) "
    "or gguf-{q8_0,q5_0,q5_1,q4_0,q4_1,mxfp4}"
)
#: model organisms with a planted change (``hooks.organisms``): ``plant-{edit|lora}:L<a>[-<b>]:<lang>``, ``plant-null``
ORGANISM_PREFIX = "plant-"
ORGANISM_SPEC = re.compile(r"^plant-(edit|lora|null)(?::L(\d+)(?:-(\d+))?:([a-z]{2,3}))?$")
ORGANISM_SPEC_HELP = "expected plant-edit:L<layer>:<lang>, plant-lora:L<a>-<b>:<lang> or plant-null"


def split_quant(name: str) -> tuple[str, str]:
    """``"a@int4-g128"`` -> ``("a", "int4-g128")``; ``"a"`` -> ``("a", "")`` (last ``@`` splits)."""
    base, sep, quant = name.rpartition(QUANT_SEPARATOR)
    return (base, quant) if sep else (name, "")


def with_quant(name: str, quant: str) -> str:
    """``name@quant`` (``name`` unchanged when ``quant`` is empty)."""
    return f"{name}{QUANT_SEPARATOR}{quant}" if quant else name
