"""Token-budget batching: sort stimuli by token length, fill each batch up to a token budget.

A batch costs about ``len(batch) * longest`` padded tokens. Short stimuli (a concept word)
then share a batch by the hundred, long ones (a UDHR article) by the dozen, and the padding
waste ``1 - real / padded`` stays under a bound. Torch-free: pure planning over lengths.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

#: a stimulus key: (lang, unit) in the pipeline, an index in the benchmarks
K = TypeVar("K", tuple[str, str], int)

#: padded tokens per forward pass when no ``--token-budget`` / ``--batch-size`` is given
DEFAULT_TOKEN_BUDGET = 4096
#: largest fraction of a batch's padded tokens that may be padding
DEFAULT_MAX_WASTE = 0.25
#: stimuli per batch at most, however short they are
DEFAULT_MAX_BATCH = 512


def padded_tokens(lengths: Sequence[int]) -> int:
    """Tokens a right-padded batch of these lengths computes: count x longest."""
    return len(lengths) * max(lengths, default=0)


def plan_token_batches(
    lengths: dict[K, int],
    token_budget: int = DEFAULT_TOKEN_BUDGET,
    max_waste: float = DEFAULT_MAX_WASTE,
    max_batch: int = DEFAULT_MAX_BATCH,
) -> list[list[K]]:
    """Batches of keys, shortest first, each within ``token_budget`` padded tokens.

    A batch grows while (count + 1) x longest <= ``token_budget``, its padding share stays
    <= ``max_waste`` and it has fewer than ``max_batch`` stimuli. A stimulus longer than the
    budget gets a batch of its own. Deterministic (ties broken by key); every key once.
    """
    if token_budget < 1 or max_batch < 1 or not 0 <= max_waste < 1:
        raise ValueError("token_budget and max_batch must be >= 1 and max_waste in [0, 1)")
    order = sorted(lengths, key=lambda k: (lengths[k], k))
    batches: list[list[K]] = []
    batch: list[K] = []
    real = 0
    for key in order:
        n = max(lengths[key], 1)
        longest = n  # ascending order: the newcomer is the longest
        padded = (len(batch) + 1) * longest
        fits = (
            batch
            and padded <= token_budget
            and len(batch) < max_batch
            and 1 - (real + n) / padded <= max_waste
        )
        if batch and not fits:
            batches.append(batch)
            batch, real = [], 0
        batch.append(key)
        real += n
    if batch:
        batches.append(batch)
    return batches


def plan_fixed_batches(lengths: dict[K, int], batch_size: int) -> list[list[K]]:
    """Length-sorted batches of exactly ``batch_size`` stimuli (the last may be smaller)."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    order = sorted(lengths, key=lambda k: (lengths[k], k))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def restore_order(batches: Sequence[Sequence[K]], keys: Sequence[K]) -> list[tuple[int, int]]:
    """For each key of ``keys`` (original order): (batch index, row in that batch)."""
    where = {k: (b, r) for b, batch in enumerate(batches) for r, k in enumerate(batch)}
    return [where[k] for k in keys]
