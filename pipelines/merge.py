"""``merge``: assemble shard stores into one dataset (refuses mixed methods)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from polylens.pipelines.config import check, input_path, opt, output_dir


@dataclass(frozen=True, kw_only=True)
class MergeConfig:
    """Assemble shard stores into one dataset."""

    command: ClassVar[str] = "merge"
    stores: tuple[Path, ...] = opt(help="shard store directories", positional=True)
    out: Path = opt(help="output .nc file")

    def __post_init__(self) -> None:
        """Need at least one existing store directory and a writable output file."""
        check(bool(self.stores), "stores", "give at least one store")
        output_dir(self, "out", is_file=True)


def run(config: MergeConfig) -> Path:
    """Assemble the shards (refusing mixed methods, missing or unfinished shards) into ``config.out``."""
    from contextlib import ExitStack

    from polylens import probes
    from polylens.errors import ProbeError
    from polylens.storage.assemble import assemble, merged_manifest
    from polylens.storage.integrity import resource_guard, store_lock

    resource_guard()
    input_path(config, "stores", kind="dir")
    merged_manifest(list(config.stores))  # refuse non-stores before touching them
    with ExitStack() as locks:
        for store in config.stores:  # no shard may be written while we read it
            locks.enter_context(store_lock(Path(store)))
        manifest = merged_manifest(list(config.stores), require_complete=True)
        try:
            probe_set = probes.load_probe_set(manifest["method"]["probe_set"])
        except ProbeError:
            probe_set = None
        if probe_set is not None and probe_set.sha256 != manifest["method"]["probe_set_sha256"]:
            probe_set = None  # the committed set changed since capture: keep first-seen order
        return assemble(list(config.stores), config.out, probe_set, require_complete=True)


def summary(result: Path) -> str:
    """``wrote FILE``."""
    return f"wrote {result}"


#: the CLI commands of this module: command path -> (config class, run, summary)
COMMANDS = {
    "merge": (MergeConfig, run, summary),
}
