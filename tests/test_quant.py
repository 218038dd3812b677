"""Issue 7: simulated quantization, weight/activation statistics, bits per byte, disparity."""

import json
import math
import time

import numpy as np
import pytest
import torch
from scipy import stats

from polylens.analysis.quantization import (
    bits_per_byte,
    degradation,
    language_effect,
)
from polylens.analysis.stats import bootstrap_mean, correlate
from polylens.errors import UnknownModelError
from polylens.hooks.quant_weights import excess_kurtosis, weight_stats
from polylens.hooks.quantize import QuantConfig, keep_mask, linear_weights, parse_quant, quantize_weight
from polylens.hooks.registry import resolve


def synthetic(n_out=64, n_in=512, seed=0, outliers=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n_out, n_in, generator=g) * 0.02
    # heterogeneous input-channel scales: what per-group quantization is for
    w = w * torch.linspace(0.2, 3.0, n_in)[torch.randperm(n_in, generator=g)]
    if outliers:
        idx = torch.randperm(w.numel(), generator=g)[:outliers]
        w.view(-1)[idx] = torch.where(torch.rand(outliers, generator=g) > 0.5, 1.0, -1.0) * 0.8
    return w


def rel_err(a, b):
    return float((a - b).norm() / b.norm())


# ----------------------------------------------------------------------------- quantizer
def test_error_decreases_with_bits():
    w = synthetic()
    e8, e4, e3 = (rel_err(quantize_weight(w, QuantConfig(b)), w) for b in (8, 4, 3))
    assert e8 < e4 / 10 < e3 / 10 and e4 < e3
    assert e8 < 0.01


def test_per_group_no_worse_than_per_channel():
    w = synthetic(outliers=20)
    for bits in (3, 4, 8):
        pc = rel_err(quantize_weight(w, QuantConfig(bits)), w)
        g = rel_err(quantize_weight(w, QuantConfig(bits, group=128)), w)
        g32 = rel_err(quantize_weight(w, QuantConfig(bits, group=32)), w)
        assert g32 <= g <= pc


def test_kept_outliers_exactly_preserved_and_help():
    w = synthetic(outliers=30)
    cfg = QuantConfig(4, group=128, keep=0.1)  # 0.1% of 32768 -> 33 weights
    q = quantize_weight(w, cfg)
    mask = keep_mask(w, 0.1)
    assert int(mask.sum()) == math.ceil(w.numel() * 0.001)
    assert torch.equal(q[mask], w[mask])
    planted = w.abs() >= 0.8
    assert mask[planted].all()  # the planted outliers are the largest
    # excluding outliers from the ranges shrinks the error on everything else
    q0 = quantize_weight(w, QuantConfig(4, group=128))
    assert rel_err(q[~mask], w[~mask]) < 0.8 * rel_err(q0[~mask], w[~mask])


@pytest.mark.parametrize("bits,group,keep", [(3, None, 0.0), (4, 128, 0.0), (3, 64, 1.0), (4, None, 0.1)])
def test_distinct_levels_bounded(bits, group, keep):
    w = synthetic(n_out=16, n_in=256, outliers=10)
    q = quantize_weight(w, QuantConfig(bits, group, keep))
    mask = keep_mask(w, keep)
    g = w.shape[1] if group is None else group
    for r in range(w.shape[0]):
        for s in range(0, w.shape[1], g):
            block, kept = q[r, s : s + g], mask[r, s : s + g]
            assert len(torch.unique(block[~kept])) <= 2**bits
            assert len(torch.unique(block)) <= 2**bits + int(kept.sum())


def test_quantize_handles_ragged_groups_and_constant_rows():
    w = synthetic(n_out=8, n_in=100)
    w[0] = 0.5  # constant row: no division by zero, value reproduced
    q = quantize_weight(w, QuantConfig(4, group=64))
    assert torch.isfinite(q).all() and q.shape == w.shape
    assert torch.allclose(q[0], w[0], atol=1e-6)
    assert rel_err(q, w) < 0.1


def test_quantizer_is_fast_on_gemma_sized_matrices():
    w = torch.randn(2048, 640)
    t = time.time()
    for cfg in (QuantConfig(4, 128, 1.0), QuantConfig(3, None, 0.1)):
        quantize_weight(w, cfg)
    assert time.time() - t < 3.0


# ----------------------------------------------------------------------------- variant names
def test_variant_names_parse_and_canonicalize():
    spec = resolve("tiny-gemma3@INT3-PC-KEEP0.10")
    assert spec.quant == "int3-pc-keep0.1" and spec.name == "tiny-gemma3@int3-pc-keep0.1"
    assert spec.variant == "base@int3-pc-keep0.1" and spec.unquantized() == resolve("tiny-gemma3")
    assert parse_quant("int4-g128") == QuantConfig(4, 128, 0.0)
    assert parse_quant("int8-pc").group is None
    assert resolve("gemma-3-270m").quant == ""


@pytest.mark.parametrize(
    "name,message",
    [
        ("gemma-3-270m@int5-g128", "bits must be one of"),
        ("gemma-3-270m@int4-x128", "expected int"),
        ("gemma-3-270m@int4", "expected int"),
        ("gemma-3-270m@int4-g128-keep", "expected int"),
        ("gemma-3-270m@int4-g1", "group size"),
        ("gemma-3-270m@int4-pc-keep100", "keep is a percentage"),
        ("gemma-3-270m@int4-g128@int8-pc", "bad quantization spec|only one"),
        ("gemma-3-27m@int4-g128", "did you mean gemma-3-270m"),
    ],
)
def test_bad_variant_names(name, message):
    with pytest.raises(UnknownModelError, match=message):
        resolve(name)


# ----------------------------------------------------------------------------- weight stats
def test_weight_stats_on_planted_outliers():
    g = torch.Generator().manual_seed(1)
    w = torch.randn(512, 512, generator=g)
    clean = weight_stats(w)
    assert abs(clean["kurtosis"]) < 0.05
    assert clean["n_sigma10"] == 0 and clean["n_sigma5"] <= 3
    assert 0.0027 * 0.8 < clean["n_sigma3"] / w.numel() < 0.0027 * 1.2  # Gaussian tail
    w2 = w.clone()
    w2.view(-1)[:7] = torch.tensor([40.0, -40, 45, -50, 60, 42, -44])
    dirty = weight_stats(w2)
    assert dirty["n_sigma10"] == 7
    assert dirty["kurtosis"] > 20 and dirty["max_over_std"] > 50
    assert dirty["top1_share"] > clean["top1_share"]
    assert math.isclose(dirty["concentration"], dirty["top1_share"] / dirty["top10_share"])
    # Gaussian: top 1% of |w| holds 2 phi(2.576) / E|z| = 3.62% of the |w| mass
    expected = 2 * stats.norm.pdf(stats.norm.ppf(0.995)) / math.sqrt(2 / math.pi)
    assert abs(clean["top1_share"] - expected) < 0.002
    x = torch.randn(10000, generator=g).double()
    assert math.isclose(float(excess_kurtosis(x)), stats.kurtosis(x.numpy()), rel_tol=1e-9)


# ----------------------------------------------------------------------------- statistics
def test_disparity_bootstrap_on_synthetic_data():
    rng = np.random.default_rng(0)
    n_lang, n_unit = 6, 40
    nb = rng.uniform(50, 150, size=(n_lang, n_unit))
    by = nb * rng.uniform(0.8, 1.2, size=(n_lang, 1))
    true = np.array([0.2, 0.2, 0.2, 0.1, 0.1, 0.1])
    nq = nb * (1 + true[:, None]) * rng.normal(1, 0.02, size=nb.shape)
    low, high = true > 0.15, true < 0.15
    out = degradation(nb, nq, by, low, high, n_boot=500)
    assert np.allclose(out["bpb_base"], bits_per_byte(nb.sum(1), by.sum(1)))
    assert np.allclose(out["rel_degradation"], true, atol=0.01)
    assert out["disparity_ratio_lo"] < 2.0 < out["disparity_ratio_hi"]
    assert out["disparity_ratio_hi"] - out["disparity_ratio_lo"] < 0.2
    assert out["disparity_diff_lo"] > 0
    # no disparity: the CI covers 1; and a missing unit does not break anything
    nq2 = nb * 1.1 * rng.normal(1, 0.05, size=nb.shape)
    nq2[0, 3] = nb[0, 3] = by[0, 3] = np.nan
    out2 = degradation(nb, nq2, by, low, high, n_boot=500)
    assert out2["disparity_ratio_lo"] < 1.0 < out2["disparity_ratio_hi"]
    with pytest.raises(ValueError):
        degradation(nb, nq, by, np.zeros(6, bool), high)


def test_bootstrap_mean_and_correlate():
    rng = np.random.default_rng(2)
    v = rng.normal(3.0, 1.0, size=(4, 200))
    v[0, :10] = np.nan
    point, lo, hi = bootstrap_mean(v, n_boot=500)
    assert np.allclose(point, np.nanmean(v, 1)) and (lo < point).all() and (point < hi).all()
    assert ((hi - lo) < 0.5).all()
    x = rng.normal(size=27)
    y = 0.8 * x + rng.normal(size=27) * 0.5
    c = correlate(x, y, n_perm=2000)
    assert math.isclose(c["pearson_r"], stats.pearsonr(x, y).statistic, rel_tol=1e-9)
    assert math.isclose(c["spearman_rho"], stats.spearmanr(x, y).statistic, rel_tol=1e-9)
    assert c["pearson_p"] < 0.01 and c["pearson_lo"] < c["pearson_r"] < c["pearson_hi"]
    assert c["n"] == 27
    null = correlate(x, rng.normal(size=27), n_perm=2000)
    assert null["pearson_p"] > 0.01 or null["pearson_lo"] < 0 < null["pearson_hi"]


def test_language_effect_finds_planted_heads_only():
    rng = np.random.default_rng(3)
    v = rng.normal(size=(8, 30, 2, 5))  # lang, unit, layer, head
    v += rng.normal(size=(1, 30, 1, 1)) * 3  # strong unit effects must not count
    v[:, :, 1, 2] += np.arange(8)[:, None] * 0.8  # one language-specific head
    out = language_effect(v, n_perm=300)
    assert out["p"][1, 2] < 0.01 and out["q"][1, 2] < 0.05
    assert (np.delete(out["q"].ravel(), 7) > 0.05).sum() >= 8
    assert out["eta2"][1, 2] > 0.5


# ----------------------------------------------------------------------------- models
def test_quantized_tiny_model_boots_and_differs(tiny_gemma3):
    from polylens.hooks.models import load_model

    q8 = load_model("tiny-gemma3@int8-pc")
    q3 = load_model("tiny-gemma3@int3-pc")
    assert len({tiny_gemma3.weights_sha256, q8.weights_sha256, q3.weights_sha256}) == 3
    prov = q3.provenance()
    assert '"bits": 3' in prov["quant"] and prov["base_weights_sha256"] == tiny_gemma3.weights_sha256
    assert prov["model_id"] == "tiny-gemma3@int3-pc" and "quant" not in tiny_gemma3.provenance()
    assert len(linear_weights(q3.bridge.original_model)) == 7 * q3.n_layers
    ids = tiny_gemma3.tokenizer("Human rights are universal.", return_tensors="pt").input_ids
    with torch.no_grad():
        base, l8, l3 = (m.bridge(ids) for m in (tiny_gemma3, q8, q3))
    assert 0 < (l8 - base).abs().max() < (l3 - base).abs().max()
    # the bridge really runs the quantized weights: matches its own HF model
    with torch.no_grad():
        assert torch.allclose(q3.bridge.original_model(ids).logits, l3, atol=1e-4)
    # and the base model was not modified by loading a variant
    assert load_model("tiny-gemma3").weights_sha256 == tiny_gemma3.weights_sha256


def test_bits_per_byte_matches_hand_computation(tiny_cohere2):
    from polylens import probes
    from polylens.hooks.quant_measure import score_texts

    ps = probes.load_probe_set("udhr").select(langs=["en", "am"], limit=3)
    ds = score_texts(tiny_cohere2, ps, max_tokens=200)  # forces several batches
    hf, tok = tiny_cohere2.bridge.original_model, tiny_cohere2.tokenizer
    for s in ps.stimuli:
        ids = tok(s.text, return_tensors="pt").input_ids
        assert ids[0, 0] == tok.bos_token_id
        with torch.no_grad():
            logp = hf(ids).logits[0].double().log_softmax(-1)
        nll = -sum(float(logp[i, ids[0, i + 1]]) for i in range(ids.shape[1] - 1))
        cell = ds.sel(lang=s.lang, unit=s.unit)
        assert math.isclose(float(cell.nll), nll, rel_tol=1e-4)
        assert int(cell.n_tokens) == ids.shape[1] - 1
        assert int(cell.n_bytes) == len(s.text.encode("utf-8"))
        bpb = float(bits_per_byte(cell.nll, cell.n_bytes))
        assert math.isclose(bpb, nll / math.log(2) / len(s.text.encode()), rel_tol=1e-4)


def test_detail_scores_are_sane(tiny_gemma3):
    from polylens import probes
    from polylens.hooks.quant_measure import score_texts

    ps = probes.load_probe_set("udhr").select(langs=["en", "zh"], limit=2)
    ds = score_texts(tiny_gemma3, ps, detail=True)
    assert ((ds.sink >= 0) & (ds.sink <= 1)).all()
    assert (ds.entropy >= 0).all()
    assert np.isfinite(ds.pooled).all() and ds.pooled.sizes["layer"] == tiny_gemma3.n_layers + 1
    assert float(ds.n_act_tokens.sel(lang="en")) == float(ds.n_tokens.sel(lang="en").sum())
    assert ds.energy_down_in.sizes["d_down_in"] == tiny_gemma3.bridge.original_model.config.intermediate_size
    assert ds.attrs["probe_set_sha256"] == ps.sha256


@pytest.mark.slow
def test_gemma_int8_is_nearly_lossless_int3_is_not(gemma):
    from polylens import probes
    from polylens.hooks.models import load_model
    from polylens.hooks.quant_measure import score_texts

    torch.set_num_threads(1)
    ps = probes.load_probe_set("udhr").select(langs=["en", "sw"], limit=2)
    base = score_texts(gemma, ps)
    bpb = {}
    for q in ("int8-pc", "int3-pc"):
        ds = score_texts(load_model(f"gemma-3-270m@{q}"), ps)
        bpb[q] = float(ds.nll.sum() / ds.n_bytes.sum())
    b0 = float(base.nll.sum() / base.n_bytes.sum())
    assert abs(bpb["int8-pc"] / b0 - 1) < 0.02
    assert bpb["int3-pc"] / b0 - 1 > 0.05


def test_pooled_matches_capture_engine(tiny_cohere2):
    """The scoring pass pools exactly like hooks.capture (same content tokens, same layers)."""
    from polylens import probes
    from polylens.hooks.capture import pool_batch
    from polylens.hooks.quant_measure import score_texts

    ps = probes.load_probe_set("udhr").select(langs=["en", "hi"], limit=2)
    ds = score_texts(tiny_cohere2, ps)
    for s in ps.stimuli:
        ref = pool_batch(tiny_cohere2, [s.text])
        ours = ds.pooled.sel(lang=s.lang, unit=s.unit).values
        assert np.allclose(ours, ref.acts["resid"][0], atol=1e-4, rtol=1e-4)
        assert int(ds.n_content.sel(lang=s.lang, unit=s.unit)) == int(ref.n_content[0])


def test_absolute_degradation_and_its_ratio():
    nb = np.full((2, 10), 100.0)
    by = np.full((2, 10), 80.0)
    nq = nb * np.array([[1.5], [1.25]])  # low language: +50%, high: +25%
    out = degradation(nb, nq, by, np.array([True, False]), np.array([False, True]), n_boot=50)
    bpb = 100 / math.log(2) / 80
    assert np.allclose(out["abs_degradation"], [0.5 * bpb, 0.25 * bpb])
    assert math.isclose(float(out["disparity_ratio"]), 2.0)
    assert math.isclose(float(out["disparity_ratio_abs"]), 2.0)
    assert math.isclose(float(out["disparity_ratio_lo"]), 2.0)  # no unit variance at all


def test_quant_pipeline_on_tiny_model(tmp_path):
    """weights / evaluate / sinks / heads write labelled netCDF with CIs and provenance."""
    import xarray as xr

    from polylens.pipelines import quant

    common = dict(model="tiny-gemma3", out=tmp_path)
    data = dict(langs=("en", "fr", "sw", "am"), units=3, n_perm=50)
    quant.run(quant.WeightsConfig(**common))
    ev_result = quant.run(
        quant.EvaluateConfig(**common, **data, n_boot=50, configs=("int8-pc", "int3-pc", "int3-pc-keep1"))
    )
    quant.run(quant.SinksConfig(**common, **data, n_boot=50))
    quant.run(quant.HeadsConfig(**common, **data))
    assert "Intervention curve" in quant.summary(ev_result)
    assert quant.summary(ev_result) == (tmp_path / "summary_evaluate.md").read_text()
    ev = xr.load_dataset(tmp_path / "evaluate.nc")
    assert list(ev.variant.values) == ["int8-pc", "int3-pc", "int3-pc-keep1"]
    assert list(ev.keep_percent.values) == [0, 0, 1] and list(ev.bits.values) == [8, 3, 3]
    for v in ("rel_degradation", "disparity_ratio", "drift_cosine", "bpb_base"):
        assert {v, f"{v}_lo", f"{v}_hi"} <= set(ev.data_vars)
    assert ev.attrs["probe_set_sha256"] and ev.attrs["weights_sha256"]
    assert len(set(ev.variant_weights_sha256.values)) == 3
    assert (ev.drift_cosine.sel(layer=0) > 0.9999).all()  # embeddings are not quantized
    assert set(ev.resource.values) == {"high", "low"}
    for name in ("weights", "sinks", "heads"):
        ds = xr.load_dataset(tmp_path / f"{name}.nc")
        assert ds.attrs["model_id"] == "tiny-gemma3"
        assert (tmp_path / f"summary_{name}.md").exists()
    with pytest.raises(UnknownModelError, match="bad quantization spec"):
        quant.run(quant.EvaluateConfig(**common, configs=("int4-zz",)))


def test_quant_configs_validate():
    from polylens.errors import ConfigError
    from polylens.pipelines import quant

    with pytest.raises(ConfigError, match="--n-boot"):
        quant.EvaluateConfig(n_boot=0)
    with pytest.raises(ConfigError, match="--alpha"):
        quant.HeadsConfig(alpha=1.5)
    with pytest.raises(ConfigError, match="--units"):
        quant.SinksConfig(units=-1)
    assert quant.HeadsConfig().n_perm == 2000 and quant.SinksConfig().n_perm == 5000


# ----------------------------------------------------------------------------- issue 18
def test_gguf_specs_parse_and_hash_apart():
    """``gguf-<format>`` parses (any case), carries the double-quantization flag, bad formats fail."""
    from polylens.hooks.quantize import GGUF_FORMATS, GGUFConfig

    for fmt in GGUF_FORMATS:
        cfg = parse_quant(f"GGUF-{fmt.upper()}")
        assert isinstance(cfg, GGUFConfig) and cfg.tag == f"gguf-{fmt}" and cfg.group == 32
        assert json.loads(cfg.to_json())["double_quantization"] is True
    assert resolve("gemma-3-270m@gguf-q4_0").quant == "gguf-q4_0"
    with pytest.raises(UnknownModelError, match="bad quantization spec"):
        parse_quant("gguf-q4_k")  # K-quants only dequantize in the gguf package


def test_gguf_roundtrip_q8_near_lossless_q4_worse(tiny_gemma3):
    """Q8_0 reproduces a tiny model's logits nearly exactly; Q4_0 is clearly worse; rows of a
    length that is not a multiple of 32 survive the padding."""
    from polylens.hooks.models import load_model
    from polylens.hooks.quantize import gguf_roundtrip

    w = synthetic(n_out=8, n_in=70)
    for fmt, bound in (("q8_0", 0.01), ("q5_1", 0.06), ("q4_0", 0.15), ("mxfp4", 0.2)):
        assert gguf_roundtrip(w, fmt).shape == w.shape and rel_err(gguf_roundtrip(w, fmt), w) < bound
    ids = tiny_gemma3.tokenizer("Hello world, this is a test.", return_tensors="pt").input_ids
    with torch.no_grad():
        ref = tiny_gemma3.bridge(ids).float()
    errs = {}
    for fmt in ("q8_0", "q4_0"):
        m = load_model(f"tiny-gemma3@gguf-{fmt}")
        assert json.loads(m.extra["quant"])["method"] == f"gguf-{fmt}"
        with torch.no_grad():
            errs[fmt] = float((m.bridge(ids).float() - ref).norm() / ref.norm())
        errs[fmt + "_w"] = float(m.extra["quant_rel_frobenius_error"])
    assert errs["q8_0_w"] < 0.01 and errs["q8_0"] < 0.05, errs
    assert errs["q4_0_w"] > 5 * errs["q8_0_w"] and errs["q4_0"] > 5 * errs["q8_0"]


def test_quant_scores_resume_equals_uninterrupted(tmp_path):
    """An evaluate interrupted after two languages resumes with only the rest, and the combined
    scores equal an uninterrupted run's; a changed unit list re-scores."""
    from polylens import probes
    from polylens.pipelines.quant_scores import scores

    ps = probes.load_probe_set("udhr").select(
        langs=["en", "sw", "hi", "am"], units=probes.load_probe_set("udhr").units[:2]
    )

    class Interrupt(Exception):
        pass

    seen: list[str] = []

    def stop_after_two(lang):
        seen.append(lang)
        if len(seen) == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        scores("tiny-gemma3", ps, tmp_path / "a", detail=True, on_part=stop_after_two)
    resumed: list[str] = []
    a = scores("tiny-gemma3", ps, tmp_path / "a", detail=True, on_part=resumed.append)
    assert len(seen) == 2 and sorted(resumed + seen) == sorted(ps.languages)
    again: list[str] = []
    scores("tiny-gemma3", ps, tmp_path / "a", detail=True, on_part=again.append)
    assert again == []
    b = scores("tiny-gemma3", ps, tmp_path / "b", detail=True)
    for v in ("nll", "pooled", "sink", "energy_down_in", "n_act_tokens"):
        np.testing.assert_allclose(a[v].values, b[v].values, rtol=1e-5, atol=1e-6)
    assert list(a.lang.values) == list(ps.languages)
    grown: list[str] = []
    ps3 = probes.load_probe_set("udhr").select(langs=["en"], units=probes.load_probe_set("udhr").units[:3])
    assert scores("tiny-gemma3", ps3, tmp_path / "a", detail=True, on_part=grown.append).sizes["unit"] == 3
    assert grown == ["en"]


def test_partial_correlation_matches_reference():
    """r(x, y | z) equals scipy's Pearson r of lstsq residuals; CI covers it; p small for a real
    partial effect and large when x relates to y only through z."""
    from scipy import stats as sps

    from polylens.analysis.quant_stats import partial_correlate

    rng = np.random.default_rng(3)
    z = rng.normal(size=40)
    x = z + rng.normal(size=40)
    y = 2 * z + 0.8 * x + rng.normal(size=40)
    design = np.column_stack([np.ones(40), z])
    res = [v - design @ np.linalg.lstsq(design, v, rcond=None)[0] for v in (x, y)]
    ref = sps.pearsonr(*res).statistic
    out = partial_correlate(x, y, z, n_boot=500, n_perm=500)
    assert out["partial_r"] == pytest.approx(ref, abs=1e-10)
    assert out["partial_lo"] < ref < out["partial_hi"] and out["partial_p"] < 0.01
    y_only_z = 2 * z + rng.normal(size=40)
    assert partial_correlate(x, y_only_z, z, n_boot=200, n_perm=500)["partial_p"] > 0.05


def test_ablation_effect_and_same_rank_controls():
    """A planted +10% NLL in one language is singled out against controls (excess CI excludes 0
    there only); controls are other weights within the target's magnitude-rank window."""
    from polylens.analysis.quant_stats import ablation_effect
    from polylens.hooks.quant_weights import same_rank_controls

    rng = np.random.default_rng(0)
    base = rng.uniform(50, 100, size=(3, 40))
    noise = lambda: base * (1 + rng.normal(0, 0.002, size=base.shape))  # noqa: E731
    target = noise()
    target[0] *= 1.10
    out = ablation_effect(base, np.stack([target, noise(), noise(), noise()]), n_boot=500)
    assert out["rel"].shape == (4, 3) and out["excess"][0] == pytest.approx(0.10, abs=0.01)
    assert out["excess_lo"][0] > 0.05
    assert all(out["excess_lo"][i] < 0 < out["excess_hi"][i] for i in (1, 2))
    w = synthetic(n_out=16, n_in=64)
    order = w.abs().flatten().argsort(descending=True)
    row, col = divmod(int(order[20]), 64)
    ctl = same_rank_controls(w, row, col, n=3, window=5)
    ranks = [int((order == r * 64 + c).nonzero()[0, 0]) for r, c in ctl]
    assert len(set(ctl)) == 3 and (row, col) not in ctl and all(15 <= k <= 25 for k in ranks)


def test_quant_scoring_runs_on_its_thread_share(tmp_path, monkeypatch):
    """``--threads 1`` is applied to torch while a variant is scored and the job leaves the registry."""
    import torch

    from polylens.pipelines import quant

    monkeypatch.setenv("POLYLENS_JOBS_DIR", str(tmp_path / "jobs"))
    before = torch.get_num_threads()
    seen = []
    cfg = quant.EvaluateConfig(
        model="tiny-gemma3", out=tmp_path / "q", langs=("en", "sw"), units=2, n_perm=20, n_boot=20,
        configs=("int8-pc",), threads=1,
    )  # fmt: skip
    try:
        torch.set_num_threads(2)
        orig = quant.probe_selection

        def spy(config):
            seen.append(torch.get_num_threads())  # inside score_variant, after the share was applied
            return orig(config)

        monkeypatch.setattr(quant, "probe_selection", spy)
        quant.run(cfg)
        assert seen == [1, 1] and torch.get_num_threads() == 1  # base, then the int8 variant
        assert (tmp_path / "jobs" / "polylens-jobs.json").read_text() == "[]"
    finally:
        torch.set_num_threads(before)
