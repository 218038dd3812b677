"""Pure planning of a capture into a store: which stimuli a shard owns, in which batches.

The capture loop itself (booting models, running batches) is ``polylens.pipelines.capture``.
"""

from __future__ import annotations


def plan_batches(lengths: dict[tuple[str, str], int], batch_size: int) -> list[list[tuple[str, str]]]:
    """Deterministic batches of similar token length (least padding): sort, then chunk."""
    order = sorted(lengths, key=lambda k: (lengths[k], k))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def shard_of(keys: list[tuple[str, str]], shard: tuple[int, int]) -> list[tuple[str, str]]:
    """The stimuli of shard i of n: every n-th one in the canonical (probe-set) order."""
    i, n = shard
    return [k for j, k in enumerate(keys) if j % n == i]
