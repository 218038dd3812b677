"""Issue 14: the threshold-free commitment rule controls the family-wise false-positive rate."""

from __future__ import annotations

import numpy as np

from polylens.analysis.simulate import free_commitment_layers, synthetic_block


def _fpr(n_data: int, n_units: int, batch: int = 50) -> float:
    """Share of null datasets in which the rule declares commitment at any layer."""
    hits = 0
    for b in range(0, n_data, batch):
        x = synthetic_block(min(batch, n_data - b), n_units, 19, 16, seed=1000 + b)
        hits += int((~np.isnan(free_commitment_layers(x, seed=b))).sum())
    return hits / n_data


def test_commitment_fpr_null_fast():
    """>= 500 null datasets (48 concepts, 19 layers): FPR over the layer scan <= 0.06."""
    fpr = _fpr(500, 48)
    assert fpr <= 0.06, fpr


def test_commitment_finds_planted_layer():
    """A signal planted from layer 9 on is found at layer 9 in (almost) every dataset."""
    x = synthetic_block(40, 48, 19, 16, seed=7, planted_layer=9, signal=1.5)
    layers = free_commitment_layers(x)
    assert np.mean(layers == 9) >= 0.9, layers
