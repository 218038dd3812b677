"""Token-budget batching: every stimulus once, order restorable, budget and waste respected."""

import numpy as np
import pytest

from polylens.hooks.batching import padded_tokens, plan_fixed_batches, plan_token_batches, restore_order


def random_lengths(seed, n=500, long=False):
    rng = np.random.default_rng(seed)
    hi = 400 if long else 20
    return {(f"l{i % 7}", f"u{i}"): int(rng.integers(1, hi)) for i in range(n)}


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("budget", [64, 1024, 4096])
def test_every_stimulus_exactly_once_within_budget_and_waste(seed, budget):
    lengths = random_lengths(seed, long=seed % 2 == 1)
    batches = plan_token_batches(lengths, token_budget=budget, max_waste=0.25, max_batch=100)
    flat = [k for b in batches for k in b]
    assert sorted(flat) == sorted(lengths) and len(flat) == len(set(flat))
    for b in batches:
        lens = [lengths[k] for k in b]
        assert len(b) <= 100
        if len(b) > 1:  # a single over-long stimulus is the only way past the budget
            assert padded_tokens(lens) <= budget
            assert 1 - sum(lens) / padded_tokens(lens) <= 0.25
    singles = [b for b in batches if padded_tokens([lengths[k] for k in b]) > budget]
    assert all(len(b) == 1 for b in singles)


def test_order_restored():
    lengths = random_lengths(7)
    keys = list(lengths)
    batches = plan_token_batches(lengths, token_budget=256)
    where = restore_order(batches, keys)
    assert [batches[b][r] for b, r in where] == keys


def test_short_stimuli_share_big_batches_long_ones_small():
    short = {("en", str(i)): 6 for i in range(300)}
    long = {("en", str(i)): 200 for i in range(300)}
    assert len(plan_token_batches(short, token_budget=4096)[0]) == 300
    assert len(plan_token_batches(long, token_budget=4096)[0]) == 20


def test_waste_bound_separates_short_from_long():
    lengths = {("a", "short"): 2, ("a", "long"): 100}
    assert len(plan_token_batches(lengths, token_budget=10_000, max_waste=0.25)) == 2
    assert len(plan_token_batches(lengths, token_budget=10_000, max_waste=0.99)) == 1


def test_deterministic_and_fixed_batches():
    lengths = random_lengths(3)
    assert plan_token_batches(lengths) == plan_token_batches(dict(reversed(list(lengths.items()))))
    fixed = plan_fixed_batches(lengths, 16)
    assert all(len(b) == 16 for b in fixed[:-1]) and sum(map(len, fixed)) == len(lengths)
    with pytest.raises(ValueError):
        plan_token_batches(lengths, token_budget=0)


def test_cache_options_checked(tmp_path):
    from polylens.errors import ConfigError
    from polylens.pipelines.capture import CaptureConfig, plan

    with pytest.raises(ConfigError, match="--batch-size or --token-budget"):
        CaptureConfig(out=tmp_path / "s", batch_size=16, token_budget=512)
    for bad in ({"threads": 0}, {"token_budget": -1}, {"threads": 5000}):
        with pytest.raises(ConfigError):
            CaptureConfig(out=tmp_path / "s", **bad)
    todo, lengths = [("en", str(i)) for i in range(100)], [5] * 100
    assert len(plan(CaptureConfig(out=tmp_path / "s"), todo, lengths)) == 1  # token budget by default
    assert len(plan(CaptureConfig(out=tmp_path / "s", batch_size=16), todo, lengths)) == 7
    assert len(plan(CaptureConfig(out=tmp_path / "s", token_budget=50), todo, lengths)) == 10
