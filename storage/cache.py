"""Pure planning of a capture into a store: which stimuli a shard owns (batches: ``hooks.batching``).

The capture loop itself (booting models, running batches) is ``polylens.pipelines.capture``.
"""

from __future__ import annotations


def shard_of(keys: list[tuple[str, str]], shard: tuple[int, int]) -> list[tuple[str, str]]:
    """The stimuli of shard i of n: every n-th one in the canonical (probe-set) order."""
    i, n = shard
    return [k for j, k in enumerate(keys) if j % n == i]
