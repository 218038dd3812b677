"""Latent-language lens: exactness vs the model's own output, tuned lens, prompts/filter, statistics."""

import numpy as np
import pytest
import torch
import xarray as xr

from polylens.analysis.lens import layer_verdict, lens_statistics, overtake_layer, peak_summary
from polylens.probes import load_probe_set
from polylens.probes.lens_prompts import PROMPT_KINDS, build_prompts, language_label

TEXTS = [
    'Français: "chat" - 中文: "猫"\nFrançais: "chien" - 中文: "',
    "Hello world, a longer text here.",
    "ab",
]


# ----------------------------------------------------------------------------- exactness
def _model_next_token(model, texts, dtype=torch.float32):
    tok = model.tokenizer(texts, return_tensors="pt", padding=True, padding_side="right")
    with torch.no_grad():
        logits = model.bridge(tok.input_ids, attention_mask=tok.attention_mask)
    last = tok.attention_mask.sum(-1) - 1
    return torch.softmax(logits[torch.arange(len(texts)), last].to(dtype), -1)


def _check_last_layer_exact(model):
    from polylens.hooks.lens import Unembed, full_log_probs, last_position_resid, run_lens

    ref = _model_next_token(model, TEXTS)
    with torch.no_grad():
        resid = last_position_resid(model, TEXTS)
        lens = full_log_probs(Unembed.of(model), resid[:, -1]).exp()
    assert (lens - ref).abs().max().item() <= 1e-5
    ids = np.array([[5, 100, -1]] * len(TEXTS))
    out = run_lens(model, TEXTS, ids, batch_size=2, chunk=997)  # chunk not dividing the vocabulary
    assert np.abs(out["prob"][:, -1, :2] - ref[:, [5, 100]].numpy()).max() <= 1e-5
    assert np.isnan(out["prob"][:, :, 2]).all() and np.isnan(out["rank"][:, :, 2]).all()
    ref64 = _model_next_token(model, TEXTS, torch.float64)  # float32 sums over 262k terms drift ~1e-4
    entropy = -(ref64 * ref64.clamp_min(1e-300).log()).sum(-1).numpy()
    assert np.abs(out["entropy"][:, -1] - entropy).max() <= 1e-4
    assert out["prob"].shape == (len(TEXTS), model.n_layers + 1, 3)


@pytest.mark.parametrize("fixture", ["tiny_cohere2", "tiny_gemma3"])
def test_last_layer_lens_is_the_model_output(fixture, request):
    _check_last_layer_exact(request.getfixturevalue(fixture))


@pytest.mark.slow
def test_last_layer_lens_is_the_model_output_gemma(gemma):
    _check_last_layer_exact(gemma)


def test_identity_translators_reproduce_logit_lens(tiny_gemma3):
    from polylens.hooks.lens import run_lens
    from polylens.hooks.tuned_lens import Translators

    ids = np.array([[7, 11]] * len(TEXTS))
    plain = run_lens(tiny_gemma3, TEXTS, ids)
    ident = Translators(tiny_gemma3.n_layers + 1, tiny_gemma3.d_model)
    tuned = run_lens(tiny_gemma3, TEXTS, ids, translators=ident)
    for key in plain:
        np.testing.assert_array_equal(plain[key], tuned[key])


def test_trained_translators_lower_heldout_kl(tiny_cohere2):
    from polylens.hooks.lens import Unembed
    from polylens.hooks.tuned_lens import (
        TunedLensSettings,
        all_position_resid,
        kl_per_point,
        train_translators,
    )

    udhr = load_probe_set("udhr").select(langs=["en", "fr", "zh", "hi", "sw", "ru"])
    first = set(udhr.units[:30])
    train = [s.text for s in udhr.stimuli if s.unit in first]
    held = [s.text for s in udhr.stimuli if s.unit not in first][:40]
    settings = TunedLensSettings(steps=40, lr=2e-3, batch_positions=128, max_tokens=32)
    lens = train_translators(tiny_cohere2, all_position_resid(tiny_cohere2, train, 32), settings)
    h = all_position_resid(tiny_cohere2, held, 32)
    unembed = Unembed.of(tiny_cohere2)
    logit, tuned = kl_per_point(unembed, h), kl_per_point(unembed, h, lens)
    print("\nheld-out KL(final || lens), nats, per layer: logit lens vs tuned lens")
    for layer, (a, b) in enumerate(zip(logit.tolist(), tuned.tolist())):
        print(f"  layer {layer}: {a:.5f} -> {b:.5f}")
    assert (tuned[:-1] < logit[:-1]).all()
    assert abs(float(tuned[-1])) < 1e-6 and abs(float(logit[-1])) < 1e-6  # the output itself


# ----------------------------------------------------------------------------- prompts / filter
@pytest.fixture(scope="module")
def concepts():
    return load_probe_set("concepts").select(langs=["en", "fr", "de", "zh", "ru", "hi"], limit=30)


@pytest.mark.parametrize("kind", PROMPT_KINDS)
def test_prompts_shape_and_pairing(concepts, kind):
    prompts = build_prompts(concepts, kind, shots=3)
    assert {p.lang for p in prompts} == {"fr", "de", "zh", "ru", "hi"}  # English is the reference
    assert all(p.text.endswith('"') and p.text.count("\n") == 3 for p in prompts)
    assert all(p.answers["en"] == concepts.texts("en")[p.concept] for p in prompts)
    assert all(p.answer == concepts.texts(p.lang)[p.concept] for p in prompts)
    # demonstrations are the same concepts in every language (paired prompts)
    by = {(p.lang, p.concept): p for p in prompts}
    zh, hi = by[("zh", concepts.units[0])], by[("hi", concepts.units[0])]
    assert zh.text.count("\n") == hi.text.count("\n")
    if kind == "emoji":
        assert zh.text.split(" - ")[0] == hi.text.split(" - ")[0]
    if kind == "translation":
        assert by[("fr", concepts.units[0])].source == "de" and zh.source == "fr"


def test_language_labels():
    assert language_label("fr") == "Français" and language_label("zh") == "中文"


def test_wendler_filter(tiny_gemma3, concepts):
    from polylens.hooks.lens import first_answer_tokens, wendler_filter

    prompts = build_prompts(concepts, "translation", shots=2)
    langs = list(concepts.languages)
    kept = wendler_filter(tiny_gemma3.tokenizer, prompts, langs)
    col = {lang: j for j, lang in enumerate(langs)}
    for k, p in enumerate(prompts):
        tgt, en = kept.token_ids[k, col[p.lang]], kept.token_ids[k, col["en"]]
        assert kept.keep[k] == (tgt >= 0 and en >= 0 and tgt != en)
        if kept.keep[k]:  # the kept id really is the first token of the answer in context
            full = tiny_gemma3.tokenizer(p.text + p.answer).input_ids
            assert full[len(tiny_gemma3.tokenizer(p.text).input_ids)] == tgt
    survivors = kept.survivors([p.lang for p in prompts])
    assert sum(survivors.values()) == int(kept.keep.sum()) and set(survivors) == {
        "fr",
        "de",
        "zh",
        "ru",
        "hi",
    }
    # an answer identical to English can never survive
    assert (
        first_answer_tokens(tiny_gemma3.tokenizer, 'x: "', ["taxi", "taxi"])[0]
        == first_answer_tokens(tiny_gemma3.tokenizer, 'x: "', ["taxi"])[0]
    )


# ----------------------------------------------------------------------------- statistics
def _planted(n_concepts=60, n_points=19, seed=0, peak=12, flip=16, noise=0.05):
    """P(en) bump peaking at ``peak``, target rising from ``flip``; early layers near zero."""
    rng = np.random.default_rng(seed)
    layers = np.arange(n_points)
    en = 0.6 * np.exp(-0.5 * ((layers - peak) / 2.0) ** 2)
    tgt = 0.7 / (1 + np.exp(-(layers - flip - 0.5) * 2.0))
    jitter = lambda base: np.clip(base + rng.normal(0, noise, (n_concepts, n_points)), 0, 1)
    return jitter(en), jitter(tgt)


def test_overtake_layer_definition():
    en = np.array([0.0, 0.5, 0.4, 0.1, 0.0])
    tg = np.array([0.1, 0.0, 0.5, 0.2, 0.6])  # ahead at 0 and 2, but for good only from 2
    assert overtake_layer(en, tg) == 2
    assert np.isnan(overtake_layer(en, np.zeros(5)))


def test_planted_english_phase_is_found():
    p_en, p_tgt = _planted()
    out = peak_summary(p_en, p_tgt, n_boot=500)
    assert out["peak_p_en_lo"] <= out["peak_p_en"] <= out["peak_p_en_hi"]
    assert 0.55 <= out["peak_p_en"] <= 0.7
    assert out["peak_depth_lo"] <= 12 / 18 <= out["peak_depth_hi"]
    assert out["overtake_layer_lo"] <= 16 <= out["overtake_layer_hi"] + 1
    v = layer_verdict(p_en, p_tgt, n_perm=2000)["verdict"]
    assert (v[10:14] == 1).all() and (v[-2:] == -1).all() and (v[:3] == 0).all()


def test_peak_ci_is_selection_aware():
    # a flat English plateau: the peak layer is ill-defined, so its depth CI must be wide
    rng = np.random.default_rng(1)
    p_en = np.clip(0.3 + rng.normal(0, 0.1, (40, 19)), 0, 1)
    out = peak_summary(p_en, np.zeros_like(p_en), n_boot=500)
    assert out["peak_depth_hi"] - out["peak_depth_lo"] > 0.3


def test_lens_statistics_dataset_and_variant_test():
    p_en, p_tgt = _planted(n_concepts=30)
    p_en2 = np.clip(p_en * 0.5, 0, 1)  # the variant halves the English phase
    prob = np.zeros((2, 1, 30, 19, 2))
    prob[0, 0, :, :, 0], prob[0, 0, :, :, 1] = p_en, p_tgt
    prob[1, 0, :, :, 0], prob[1, 0, :, :, 1] = p_en2, p_tgt
    ds = xr.Dataset(
        {
            "prob": (("variant", "lang", "concept", "layer", "answer_lang"), prob),
            "entropy": (("variant", "lang", "concept", "layer"), np.ones((2, 1, 30, 19))),
            "keep": (("lang", "concept"), np.ones((1, 30), dtype=np.int8)),
        },
        coords={
            "variant": ["base", "ft"],
            "lang": ["zh"],
            "answer_lang": ["en", "zh"],
            "layer": np.arange(19),
        },
    )
    st = lens_statistics(ds, n_boot=300)
    assert st["p_en_mean"].dims == ("variant", "lang", "layer")
    assert (st["p_en_lo"] <= st["p_en_mean"]).all() and (st["p_en_mean"] <= st["p_en_hi"]).all()
    assert float(st["variant_peak_diff"].sel(variant="ft", lang="zh")) < 0
    assert float(st["variant_peak_q"].sel(variant="ft", lang="zh")) < 0.01
    assert int(st["n_concepts"].sel(lang="zh")) == 30
