"""Capture sites / content tokens and method metadata: one torch-free source each."""

import json
import subprocess
import sys

import numpy as np
import pytest

from polylens.errors import IncompatibleVariantsError
from polylens.hooks import method, sites


class FakeTokenizer:
    """Ids 0 = BOS, 1 = EOS, 2 = pad (special); 3 = ".", 4 = " ", 5.. = words."""

    all_special_ids = [0, 1, 2]
    pieces = {0: "<bos>", 1: "<eos>", 2: "<pad>", 3: ".", 4: "\u2581", 5: "hello", 6: "world"}

    def convert_ids_to_tokens(self, ids):
        return [self.pieces.get(i) for i in ids]

    def convert_tokens_to_string(self, tokens):
        return "".join(tokens)


def test_layer_axis_and_hook_names():
    assert sites.hook_name("resid", 0) == "blocks.0.hook_resid_pre"
    assert sites.hook_name("resid_post", 3) == sites.hook_name("resid", 3) == "blocks.2.hook_resid_post"
    assert sites.hook_name("mlp_out", 1) == "blocks.0.hook_mlp_out"
    for site, layer in [("attn_out", 0), ("resid", -1), ("resid_mid", 1)]:
        with pytest.raises(ValueError):
            sites.hook_name(site, layer)
    assert sites.site_layers("resid_post", 2) == [0, 1, 2] and sites.site_layers("attn_out", 2) == [1, 2]
    assert sites.hook_names("resid", 2) == [
        "blocks.0.hook_resid_pre",
        "blocks.0.hook_resid_post",
        "blocks.1.hook_resid_post",
    ]
    assert sites.layer_labels(2) == ["embed", "blocks.0.resid_post", "blocks.1.resid_post"]
    assert sites.hook_templates(["resid", "attn_out"]) == [
        "blocks.0.hook_resid_pre",
        "blocks.{i}.hook_resid_post",
        "blocks.{i}.hook_attn_out",
    ]


def test_content_mask_rule():
    tok = FakeTokenizer()
    ids = np.array([[0, 5, 6, 3, 4, 1], [0, 3, 3, 2, 2, 2], [0, 5, 3, 6, 2, 2]])
    attn = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 0, 0]])
    mask = sites.content_mask(ids, attn, tok)
    assert mask.tolist() == [
        [False, True, True, False, False, False],  # BOS, trailing ". " and EOS out
        [False, True, True, False, False, False],  # all filler: the non-special tokens stay
        [False, True, True, True, False, False],  # inner "." is content; padding never is
    ]
    raw = sites.content_mask(ids, attn, tok, strip_trailing_punct=False)
    assert raw[0].tolist() == [False, True, True, True, True, False]
    assert sites.last_content(mask).tolist() == [2, 2, 3]
    assert sites.content_positions(mask[2], k=2) == [1, 3]
    assert sites.content_positions(mask[2], k=9) == [1, 2, 3]
    with pytest.raises(ValueError):
        sites.content_positions(np.zeros(3, bool))


def test_differences_and_check_compatible():
    a = {"pooling": "mean", "weights_sha256": json.dumps({"base": "x", "fire": "y"}), "dtype": "f"}
    b = {"pooling": "last", "weights_sha256": {"base": "x", "fire": "z", "earth": "w"}}
    diffs = method.differences(a, b, ("pooling", "weights_sha256", "dtype", "absent"))
    assert set(diffs) == {"pooling", "weights_sha256[fire]", "dtype"}
    method.check_compatible(a, a)
    with pytest.raises(IncompatibleVariantsError, match="different weights.*pooling"):
        method.check_compatible(a, b)
    with pytest.raises(IncompatibleVariantsError, match="different tokenizers"):
        method.check_compatible(
            {"tokenizer_sha256": "a" * 64}, {"tokenizer_sha256": "b" * 64}, method.LIVE_KEYS
        )


def test_dataset_attrs_record_every_required_key():
    m = method.Method("concepts", "abc", "concept", "mean", ("resid",), "float16", "raw")
    prov = {
        "model_id": "tiny",
        "weights_sha256": "w",
        "transformer_lens_version": "4.3",
        "transformers_version": "5.9",
        "torch_version": "2",
    }
    attrs = method.dataset_attrs({"method": m.as_dict(), "variants": {"base": prov}, "created": "now"})
    assert set(method.RECORDED) <= set(attrs)
    assert set(method.STORE_KEYS) == set(m.as_dict())
    assert json.loads(attrs["hook_sites"]) == ["blocks.0.hook_resid_pre", "blocks.{i}.hook_resid_post"]


def test_storage_analysis_figures_import_no_torch():
    code = (
        "import sys; import polylens.storage.store, polylens.storage.assemble, polylens.hooks.sites, "
        "polylens.hooks.method, polylens.analysis.regress, polylens.analysis.failures, "
        "polylens.figures.results; "
        "bad = [m for m in ('torch', 'transformers', 'transformer_lens') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
