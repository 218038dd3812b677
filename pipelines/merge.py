"""``merge``: assemble shard stores into one dataset (refuses mixed methods)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from polylens.pipelines.config import check, opt


@dataclass(frozen=True, kw_only=True)
class MergeConfig:
    """Assemble shard stores into one dataset."""

    command: ClassVar[str] = "merge"
    stores: tuple[Path, ...] = opt(help="shard store directories", positional=True)
    out: Path = opt(help="output .nc file")

    def __post_init__(self) -> None:
        """Need at least one store."""
        check(bool(self.stores), "stores", "give at least one store")


def run(config: MergeConfig) -> Path:
    """Assemble the shards (refusing mixed methods) into ``config.out``."""
    from polylens import probes
    from polylens.storage.assemble import assemble, merged_manifest

    manifest = merged_manifest(list(config.stores))
    probe_set = probes.load_probe_set(manifest["method"]["probe_set"])
    if probe_set.sha256 != manifest["method"]["probe_set_sha256"]:
        probe_set = None  # the committed set changed since capture: keep first-seen order
    return assemble(list(config.stores), config.out, probe_set)


def summary(result: Path) -> str:
    """``wrote FILE``."""
    return f"wrote {result}"


#: the CLI commands of this module: command path -> (config class, run, summary)
COMMANDS = {
    "merge": (MergeConfig, run, summary),
}
