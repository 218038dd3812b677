"""``models``: list the model registry (no model is loaded)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, kw_only=True)
class ModelsConfig:
    """List the model registry."""

    command: ClassVar[str] = "models"


def run(config: ModelsConfig) -> list[str]:
    """One table row per registry entry (name, source, family/variant, params, cached size)."""
    from polylens.hooks.models import cached_size
    from polylens.hooks.registry import REGISTRY

    rows = [f"{'name':<20} {'source':<9} {'family/variant':<24} {'params':>6} {'cached':>10}  description"]
    for spec in REGISTRY.values():
        size = cached_size(spec)
        cached = f"{size / 1e6:,.0f} MB" if size else "no"
        rows.append(
            f"{spec.name:<20} {spec.source:<9} {spec.family + '/' + spec.variant:<24} "
            f"{spec.approx_params:>6} {cached:>10}  {spec.description}"
        )
    return rows


def summary(result: list[str]) -> str:
    """The table."""
    return "\n".join(result)


#: the CLI commands of this module: command path -> (config class, run, summary)
COMMANDS = {
    "models": (ModelsConfig, run, summary),
}
