"""Known-answer tests of model diffing (issue 18, part 2): organisms with a planted change.

On the tiny random Gemma-3 (4 blocks, layers 0..4): the diff must locate the planted layer
(+-1), single out the planted language (and only it) for the script-gated edit, and find no
significant layer or language on the null copy (same function, different weights hash).
"""

from __future__ import annotations

import numpy as np
import pytest

from polylens.errors import UnknownModelError
from polylens.hooks.organisms import OrganismConfig, parse_organism
from polylens.hooks.registry import resolve

BASE = "tiny-gemma3"
LANGS = ("en", "hi", "sw", "zh")


def _diff(a, b):
    from polylens.pipelines.diff import DiffConfig, diff

    cfg = DiffConfig(
        a=a.spec.name, b=b.spec.name, out="unused", langs=LANGS, limit=8,
        skip_maps=True, n_boot=200, max_tokens=32,
    )  # fmt: skip
    return diff(cfg, a, b)


@pytest.fixture(scope="module")
def organisms(tiny_gemma3):
    from polylens.hooks.models import load_model

    specs = {"null": "plant-null", "edit": "plant-edit:L2:hi", "lora": "plant-lora:L2-3:sw"}
    models = {k: load_model(f"{BASE}@{v}") for k, v in specs.items()}
    return {k: (m, _diff(tiny_gemma3, m)) for k, m in models.items()}


def test_spec_grammar():
    assert parse_organism("plant-edit:L6:hi") == OrganismConfig("edit", 6, 6, "hi")
    assert parse_organism("plant-lora:L4-6:sw").tag == "plant-lora:L4-6:sw"
    assert parse_organism("plant-null").tag == "plant-null"
    assert resolve("gemma-3-270m@plant-edit:L6:hi").quant == "plant-edit:L6:hi"
    for bad in ("plant-edit:L4-6:hi", "plant-lora", "plant-edit:L0:hi", "plant-foo", "plant-lora:L6-4:sw"):
        with pytest.raises(UnknownModelError):
            parse_organism(bad)


def test_layer_beyond_model_is_an_error():
    from polylens.hooks.models import load_model

    with pytest.raises(UnknownModelError, match="layers 1..4"):
        load_model(f"{BASE}@plant-edit:L9:hi")


def test_organisms_have_their_own_weights_hash(organisms, tiny_gemma3):
    hashes = {m.weights_sha256 for m, _ in organisms.values()} | {tiny_gemma3.weights_sha256}
    assert len(hashes) == 4
    assert all("organism" in m.extra for m, _ in organisms.values())


def test_null_copy_gives_no_significant_result(organisms):
    _, ds = organisms["null"]
    assert not ds["layer_change_significant"].values.any()
    assert not ds["lang_significant"].values.any()
    assert all(ds.attrs[f"onset_{m}"] == -1 for m in ("rel_change", "kl", "cka"))
    assert float(ds["rel_change"].max()) < 1e-4  # float reordering noise only


def test_edit_planted_layer_and_language_found(organisms):
    _, ds = organisms["edit"]
    assert abs(ds.attrs["onset_rel_change"] - 2) <= 1
    rel = ds["rel_change"].values
    assert np.all(rel[:2] == 0)  # nothing changes before the planted block
    sig = ds["lang_significant"].to_series()
    assert list(sig[sig].index) == ["hi"]  # the planted language, and only it
    effect = ds["lang_effect"].to_series()
    assert effect.idxmax() == "hi" and float(ds["lang_singled_out_p_bh"].sel(tested_lang="hi")) < 0.05


def test_lora_planted_layers_found(organisms):
    _, ds = organisms["lora"]
    assert abs(ds.attrs["onset_rel_change"] - 2) <= 1
    assert np.all(ds["rel_change"].values[:2] == 0)


def test_lora_deltas_are_cached(organisms, tmp_path):
    from polylens.hooks.models import cache_dir
    from polylens.hooks.organisms import cache_path

    m, _ = organisms["lora"]
    cfg = parse_organism("plant-lora:L2-3:sw")
    assert cache_path(cache_dir(), cfg, m.extra["base_weights_sha256"]).exists()
