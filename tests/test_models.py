"""The model layer: registry, offline loading, bridge fidelity, variants, errors."""

import subprocess
import sys
import time

import pytest
import torch

from polylens.errors import IncompatibleVariantsError, ModelUnavailableError, UnknownModelError
from polylens.hooks.models import check_comparable, load_model, local_folder, pick_device
from polylens.hooks.registry import REGISTRY, resolve
from polylens.hooks.smoke import top_next_tokens

LONG_TEXT = (
    "All human beings are born free and equal in dignity and rights. "
    "सभी मनुष्यों को गौरव और अधिकारों के मामले में जन्मजात स्वतन्त्रता प्राप्त है।"
)


def check_bridge_fidelity(model, text=LONG_TEXT, tol=1e-4):
    """Bridge logits == HF logits; resid chain consistent; HF hidden_states == resid_pre."""
    ids = model.tokenizer(text, return_tensors="pt").input_ids
    hf = model.bridge.original_model
    with torch.no_grad():
        hf_out = hf(ids, output_hidden_states=True)
        logits, cache = model.bridge.run_with_cache(
            ids, names_filter=lambda n: n.endswith(("hook_resid_pre", "hook_resid_post"))
        )
    assert (logits - hf_out.logits).abs().max().item() <= tol
    L = model.n_layers
    for i in range(L - 1):
        assert torch.equal(cache[f"blocks.{i}.hook_resid_post"], cache[f"blocks.{i + 1}.hook_resid_pre"])
    for i in range(L):
        assert (cache[f"blocks.{i}.hook_resid_pre"] - hf_out.hidden_states[i]).abs().max() <= tol
    # HF's last hidden state is AFTER the final norm: it must NOT equal our raw resid_post
    assert (cache[f"blocks.{L - 1}.hook_resid_post"] - hf_out.hidden_states[L]).abs().max() > 1e-2
    return ids.shape[1]


def test_registry_has_required_models():
    for name in ["gemma-3-270m", "tiny-cohere2", "tiny-gemma3"] + [
        f"tiny-aya-{v}" for v in ("base", "global", "fire", "earth", "water")
    ]:
        assert name in REGISTRY
    assert resolve("tiny-aya-earth").location == "CohereLabs/tiny-aya-earth"
    assert resolve("tiny-aya-earth").family == "tiny-aya"
    assert resolve("google/gemma-3-270m").source == "hub"


def test_unknown_model_suggests_close_names(tmp_path):
    with pytest.raises(UnknownModelError, match="tiny-aya-fire"):
        resolve("tiny-aya-fir")
    with pytest.raises(UnknownModelError, match="no config.json"):
        resolve(str(tmp_path))


def test_local_folder_resolves(tiny_cohere2):
    folder = local_folder(tiny_cohere2.spec)
    spec = resolve(str(folder))
    assert spec.source == "local" and spec.location == str(folder.resolve())


@pytest.mark.parametrize("fixture", ["tiny_cohere2", "tiny_gemma3"])
def test_tiny_bridge_matches_transformers(fixture, request):
    model = request.getfixturevalue(fixture)
    layer_types = model.bridge.original_model.config.layer_types
    assert {"sliding_attention", "full_attention"} <= set(layer_types)
    n_tokens = check_bridge_fidelity(model)
    assert n_tokens > model.bridge.original_model.config.sliding_window  # sliding matters


def test_tiny_models_are_deterministic(tiny_cohere2):
    assert load_model("tiny-cohere2").weights_sha256 == tiny_cohere2.weights_sha256
    assert tiny_cohere2.provenance()["model_id"] == "tiny-cohere2"


def test_variants_share_shapes_but_not_weights(tiny_cohere2):
    fire = load_model("tiny-cohere2-fire")
    assert fire.weights_sha256 != tiny_cohere2.weights_sha256
    assert (fire.spec.family, fire.variant) == ("tiny-cohere2", "fire")
    check_comparable([tiny_cohere2, fire])  # same tokenizer and shapes: no error
    base_w = tiny_cohere2.bridge.original_model.model.embed_tokens.weight
    fire_w = fire.bridge.original_model.model.embed_tokens.weight
    rel = ((fire_w - base_w).norm() / base_w.norm()).item()
    assert 0.01 < rel < 0.2  # a perturbed copy, not an unrelated model


def test_compat_mode_is_recorded_and_changes_resid(tiny_gemma3):
    compat = load_model("tiny-gemma3", processing="compat")
    assert compat.provenance()["processing_mode"] == "compat"
    assert tiny_gemma3.provenance()["processing_mode"] == "raw"
    with pytest.raises(IncompatibleVariantsError, match="processing modes"):
        check_comparable([tiny_gemma3, compat])


def test_device_choice():
    assert pick_device("cpu") == "cpu"
    assert pick_device() in ("cuda", "mps", "cpu")


def test_gated_hub_model_offline_is_one_clear_error():
    t0 = time.time()
    with pytest.raises(ModelUnavailableError, match="HF token|token"):
        load_model("tiny-aya-base")
    assert time.time() - t0 < 30  # no endless retries offline


def test_cli_user_errors_exit_2_without_traceback():
    for args in (["quickstart", "--model", "tiny-aya-fir"], ["quickstart", "--model", "tiny-aya-water"]):
        proc = subprocess.run(
            [sys.executable, "cli.py", *args],
            capture_output=True,
            text=True,
            env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
        )
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("error: ")


def test_cli_models_lists_registry():
    proc = subprocess.run([sys.executable, "cli.py", "models"], capture_output=True, text=True)
    assert proc.returncode == 0
    for name in ("gemma-3-270m", "tiny-aya-water", "tiny-cohere2"):
        assert name in proc.stdout


@pytest.mark.slow
def test_gemma_bridge_matches_transformers(gemma):
    check_bridge_fidelity(gemma)


@pytest.mark.slow
def test_gemma_continues_sensibly(gemma):
    en = [tok for tok, _ in top_next_tokens(gemma, "The capital of France is", k=3)]
    assert " Paris" in en
    assert top_next_tokens(gemma, "Paris is the capital of", k=1)[0][0] == " France"
    assert top_next_tokens(gemma, "भारत की राजधानी", k=1)[0][0] == " दिल्ली"


@pytest.mark.slow
def test_gemma_cache_reused_and_provenance(gemma, tiny_cohere2):
    folder = local_folder(gemma.spec)
    assert folder is not None and (folder / "polylens_source.json").exists()
    mtime = (folder / "model.safetensors").stat().st_mtime_ns
    again = load_model("gemma-3-270m")
    assert (folder / "model.safetensors").stat().st_mtime_ns == mtime  # not rebuilt
    assert again.weights_sha256 == gemma.weights_sha256
    assert (gemma.n_layers, gemma.d_model) == (18, 640)
    with pytest.raises(IncompatibleVariantsError, match="tokenizers"):
        check_comparable([gemma, tiny_cohere2])
