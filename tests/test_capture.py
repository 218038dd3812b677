"""Pooled capture: equals Hugging Face hidden states, batch/padding invariance, early stop,
content-token convention and the seed study's layer-0 artefact."""

import numpy as np
import pytest
import torch

from polylens.hooks.capture import pool_batch
from polylens.hooks.sites import content_mask, layer_labels

TEXTS = [
    "All human beings are born free and equal in dignity and rights.",
    "सभी मनुष्यों को गौरव और अधिकारों के मामले में जन्मजात स्वतन्त्रता प्राप्त है।",
    "Watu wote wamezaliwa huru.",
    "人人生而自由,在尊严和权利上一律平等。",
    "Hello.",
]
UNRELATED = [
    "The cat sleeps on the warm roof.",
    "Mvua inanyesha sana leo asubuhi.",
    "Je mange une pomme rouge.",
    "El tren llega tarde otra vez.",
]


def reference_pooled(model, text, strip=True):
    """Mean over content tokens of HF hidden_states (raw resid), one text, no padding."""
    ids = model.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        hs = model.bridge.original_model(**ids, output_hidden_states=True).hidden_states
    mask = torch.from_numpy(
        content_mask(ids.input_ids.numpy(), ids.attention_mask.numpy(), model.tokenizer, strip)[0]
    )
    return np.stack([h[0][mask].mean(0).numpy() for h in hs[:-1]])  # last hs is post-norm


@pytest.mark.parametrize("fixture", ["tiny_cohere2", "tiny_gemma3"])
def test_pooled_equals_hidden_states(fixture, request):
    model = request.getfixturevalue(fixture)
    got = pool_batch(model, TEXTS).acts["resid"]
    assert got.shape == (len(TEXTS), model.n_layers + 1, model.d_model)
    for i, text in enumerate(TEXTS):
        ref = reference_pooled(model, text)
        np.testing.assert_allclose(got[i, : model.n_layers], ref, rtol=1e-4, atol=1e-5)


def test_batch_size_order_and_padding_side_do_not_matter(tiny_cohere2):
    full = pool_batch(tiny_cohere2, TEXTS).acts["resid"]
    singles = np.concatenate([pool_batch(tiny_cohere2, [t]).acts["resid"] for t in TEXTS])
    order = [3, 0, 4, 2, 1]
    shuffled = pool_batch(tiny_cohere2, [TEXTS[i] for i in order]).acts["resid"]
    left = pool_batch(tiny_cohere2, TEXTS, padding_side="left").acts["resid"]
    np.testing.assert_allclose(full, singles, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(full[order], shuffled, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(full, left, rtol=1e-5, atol=1e-5)


def test_last_pooling_takes_last_content_token(tiny_gemma3):
    got = pool_batch(tiny_gemma3, ["Hello world."], pooling="last").acts["resid"][0]
    ids = tiny_gemma3.tokenizer("Hello world.", return_tensors="pt")
    with torch.no_grad():
        hs = tiny_gemma3.bridge.original_model(**ids, output_hidden_states=True).hidden_states
    # the final "." token is trailing punctuation: the last content token is the one before
    np.testing.assert_allclose(got[2], hs[2][0, -2].numpy(), rtol=1e-5, atol=1e-6)


def test_content_mask_convention(tiny_gemma3):
    tok = tiny_gemma3.tokenizer
    batch = tok(["Hello world .", "!!"], return_tensors="np", padding=True)
    mask = content_mask(batch.input_ids, batch.attention_mask, tok)
    pieces = tok.convert_ids_to_tokens(batch.input_ids[0])
    assert not mask[0, 0]  # BOS excluded
    assert not mask[0, len(pieces) - 1 - pieces[::-1].index(".")]  # trailing "." excluded
    assert mask[1].sum() >= 1  # an all-punctuation text keeps its last token
    assert not mask[1][batch.attention_mask[1] == 0].any()  # padding never counts


def test_stops_after_last_needed_layer_and_never_runs_lm_head(tiny_cohere2):
    calls = {"last_block": 0, "head": 0}
    bridge = tiny_cohere2.bridge
    handles = [
        bridge.blocks[-1].register_forward_pre_hook(
            lambda *a: calls.__setitem__("last_block", calls["last_block"] + 1)
        ),
        bridge.unembed.register_forward_hook(lambda *a: calls.__setitem__("head", calls["head"] + 1)),
    ]
    try:
        part = pool_batch(tiny_cohere2, TEXTS[:2], points=[0, 2]).acts["resid"]
        assert calls == {"last_block": 0, "head": 0}
        assert np.isnan(part[:, [1, 3, 4]]).all() and not np.isnan(part[:, [0, 2]]).any()
        pool_batch(tiny_cohere2, TEXTS[:2])
        assert calls == {"last_block": 1, "head": 0}
    finally:
        for h in handles:
            h.remove()


def test_extra_sites_on_the_layer_axis(tiny_gemma3):
    acts = pool_batch(tiny_gemma3, TEXTS[:2], sites=("resid", "attn_out", "mlp_out")).acts
    assert np.isnan(acts["attn_out"][:, 0]).all() and np.isnan(acts["mlp_out"][:, 0]).all()
    assert not np.isnan(acts["mlp_out"][:, 1:]).any()
    assert layer_labels(2) == ["embed", "blocks.0.resid_post", "blocks.1.resid_post"]


def layer0_cosines(model, **kwargs):
    acts = pool_batch(model, UNRELATED, **kwargs).acts["resid"][:, 0]
    unit = acts / np.linalg.norm(acts, axis=-1, keepdims=True)
    sims = unit @ unit.T
    return sims[np.triu_indices(len(UNRELATED), 1)]


def test_defaults_avoid_the_seed_studys_layer0_artefact(tiny_cohere2):
    """Seed method (last token incl. the final '.') gives cosine 1.0 between unrelated
    sentences at layer 0; our default pooling must not."""
    seed = layer0_cosines(tiny_cohere2, pooling="last", strip_trailing_punct=False)
    ours = layer0_cosines(tiny_cohere2)
    assert seed.min() > 0.999
    assert ours.max() < 0.9


@pytest.mark.slow
def test_gemma_defaults_avoid_layer0_artefact(gemma):
    seed = layer0_cosines(gemma, pooling="last", strip_trailing_punct=False)
    ours = layer0_cosines(gemma)
    last_content = layer0_cosines(gemma, pooling="last")
    assert seed.min() > 0.999
    assert ours.max() < 0.9 and last_content.max() < 0.9


@pytest.mark.slow
def test_gemma_pooled_equals_hidden_states(gemma):
    got = pool_batch(gemma, TEXTS).acts["resid"]
    for i, text in enumerate(TEXTS):
        ref = reference_pooled(gemma, text)
        np.testing.assert_allclose(got[i, : gemma.n_layers], ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


#: bfloat16 keeps 8 mantissa bits (relative rounding 2**-8 = 0.4% per operation); through the
#: tiny model's 4 blocks the pooled vectors stay within 2% of float32 (max |diff| / max |value|
#: per text and point; measured 0.6%) and at cosine >= 0.999 (measured 0.99998).
BF16_REL_TOL = 2e-2
BF16_MIN_COSINE = 0.999


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_capture_agrees_with_float32(tiny_cohere2, dtype):
    from polylens.hooks.models import load_model

    half = load_model("tiny-cohere2", device="cpu", dtype=dtype)
    assert half.provenance()["dtype"] == dtype
    assert next(half.bridge.original_model.parameters()).dtype == getattr(torch, dtype)
    a = pool_batch(tiny_cohere2, TEXTS).acts["resid"]
    b = pool_batch(half, TEXTS).acts["resid"]
    assert b.dtype == np.float32 and np.isfinite(b).all()
    rel = np.abs(a - b).max(-1) / np.abs(a).max(-1)
    cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    assert rel.max() <= BF16_REL_TOL and cos.min() >= BF16_MIN_COSINE
    assert rel.max() > 0  # really computed in the lower precision


def test_last_pooling_with_precomputed_index_matches(tiny_gemma3):
    texts = ["Hello world.", "Watu wote wamezaliwa huru na sawa."]
    got = pool_batch(tiny_gemma3, texts, pooling="last").acts["resid"]
    single = np.concatenate([pool_batch(tiny_gemma3, [t], pooling="last").acts["resid"] for t in texts])
    np.testing.assert_allclose(got, single, rtol=1e-5, atol=1e-5)


def test_gpu_benchmark_runs_small_on_cpu():
    """benchmarks/bench_gpu_capture.py --small: builds, captures, compares, prints every figure."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_gpu_capture.py"
    cmd = [sys.executable, str(script), "--small", "--device", "cpu", "--limit", "1", "--langs", "en,hi"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    for pattern in (r"ours: .* tokens/s .* stimuli/s", r"ratio ours / seed .*: \d+\.\d+x", r"TFLOP/s .*: \d"):
        assert re.search(pattern, out.stdout), out.stdout
