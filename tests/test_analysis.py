"""Tests for analysis/: known-answer synthetic data, CKA references, statistics, NaN, dask, determinism."""

from __future__ import annotations

import filecmp
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from polylens.analysis.alignment import analyze, run_analysis  # noqa: E402
from polylens.analysis.cka import linear_cka, pairwise_linear_cka  # noqa: E402
from polylens.analysis.commitment import commitment_layer, first_run, threshold_sweep  # noqa: E402
from polylens.analysis.core import unit_metrics  # noqa: E402
from polylens.errors import IncompatibleVariantsError  # noqa: E402

ATTRS = {
    "model_id": "synthetic",
    "pooling": "mean",
    "processing_mode": "raw",
    "probe_set_sha256": "p0",
    "weights_sha256": '{"base": "w0", "fire": "w1"}',
    "toolkit_version": "0.1.0",
}
LANGS = ["en", "hi", "noise", "perm"]
# noise scale per layer for "hi": high (cos ~0.55) except a one-layer spike at 1, low from layer 4 on
SIGMA = np.array([1.5, 0.3, 1.5, 1.5, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3])


def make_ds(n_units=40, d=256, sigma=SIGMA, variants=("base", "fire"), seed=0, attrs=None):
    """Synthetic store with known answers.

    - en: fixed concept vectors (the reference)
    - hi: en + Gaussian noise of scale sigma[layer]  -> cos ~ 1/sqrt(1 + sigma^2): 0.55 or 0.96
    - noise: independent Gaussian -> cos ~ 0, retrieval ~ chance, never commits
    - perm: en with concepts rotated by one -> matched cos ~ 0, retrieval exactly 0
    """
    rng = np.random.default_rng(seed)
    n_layers = len(sigma)
    base = rng.standard_normal((n_units, d))
    x = np.empty((len(variants), len(LANGS), n_units, n_layers, d), dtype=np.float32)
    for li, s in enumerate(sigma):
        x[:, 0, :, li] = base
        x[:, 1, :, li] = base + s * rng.standard_normal((len(variants), n_units, d))
        x[:, 2, :, li] = rng.standard_normal((len(variants), n_units, d))
        x[:, 3, :, li] = np.roll(base, 1, axis=0)
    return xr.Dataset(
        {"resid": (("variant", "lang", "concept", "layer", "d"), x.astype(np.float16))},
        coords={
            "variant": list(variants),
            "lang": LANGS,
            "concept": [f"c{i:03d}" for i in range(n_units)],
            "layer": np.arange(n_layers),
            "script": ("lang", ["Latn", "Deva", "Zzzz", "Latn"]),
            "resource": ("lang", ["high", "medium", "low", "low"]),
            "domain": ("concept", ["body"] * n_units),
        },
        attrs=dict(ATTRS if attrs is None else attrs),
    )


@pytest.fixture(scope="module")
def ds():
    return make_ds()


@pytest.fixture(scope="module")
def res(ds):
    return analyze(ds, n_boot=300, seed=0)


# ----------------------------------------------------------------------------------- CKA
def test_cka_reference_values():
    np.random.seed(1337)
    X = np.random.randn(100, 10)
    Y = np.random.randn(100, 10) + X
    assert linear_cka(X, Y) == pytest.approx(0.55761, abs=5e-6)
    assert linear_cka(X, Y, debiased=True) == pytest.approx(0.51346, abs=5e-6)


def test_cka_invariances_widths_and_nan():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((50, 8))
    Q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    assert linear_cka(X, 3 * X @ Q + 5) == pytest.approx(1.0)  # rotation, scale, shift
    Y = np.concatenate([X, rng.standard_normal((50, 20))], axis=1)  # different width works
    assert 0 < linear_cka(X, Y) < 1
    Xn = X.copy()
    Xn[7] = np.nan
    keep = np.arange(50) != 7
    assert linear_cka(Xn, Y) == pytest.approx(linear_cka(X[keep], Y[keep]))
    assert linear_cka(Xn, Y, debiased=True) == pytest.approx(linear_cka(X[keep], Y[keep], debiased=True))
    pw = pairwise_linear_cka(np.stack([X, Xn, X @ Q]))
    assert pw.shape == (3, 3) and np.allclose(np.diag(pw), 1) and np.allclose(pw, pw.T)


# ------------------------------------------------------------------- known-answer metrics
def test_aligned_language_rises_and_commits_at_known_layer(res):
    hi = res.sel(variant="base", lang="hi")
    expected = 1 / np.sqrt(1 + SIGMA**2)
    np.testing.assert_allclose(hi.cos.values, expected, atol=0.03)
    # spike at layer 1 lasts one layer: k=3 must skip it; commitment at layer 4
    assert float(hi.commit_layer) == 4
    assert float(hi.commit_layer_ci[0]) == 4 and float(hi.commit_layer_ci[1]) == 4
    assert int(hi.n_never) == 0 and int(hi.n_units) == 40
    assert float(hi.peak_cos) == pytest.approx(0.958, abs=0.02)
    assert float(hi.retrieval_mexa[5]) == 1.0
    assert (hi.margin.values > 0.5).all() and (hi.margin_z.values > 2).all()
    lo, hi_ = hi.cos_ci.values[:, 0], hi.cos_ci.values[:, 1]
    assert ((lo <= hi.cos.values) & (hi.cos.values <= hi_)).all() and ((hi_ - lo) > 0).all()
    assert (hi.cka.values[4:] > 0.9).all() and hi.cka_debiased.values[0] < hi.cka_debiased.values[5]


def test_noise_language_never_commits_chance_retrieval_zero_margin(res):
    nz = res.sel(variant="base", lang="noise")
    assert np.isnan(float(nz.commit_layer)) and np.isinf(float(nz.commit_layer_ci[1]))
    assert float(nz.commit_p_never) == 1.0
    assert int(nz.n_never) == 40 and int(nz.n_committed) == 0
    assert np.abs(nz.cos.values).max() < 0.05
    assert np.abs(nz.margin.values).max() < 0.05
    assert nz.retrieval_fwd.values.mean() < 0.15  # chance = 1/40
    ci = nz.margin_ci.values
    assert (ci[:, 0] < 0.02).all()  # CI touches 0: no spurious alignment
    assert np.isnan(float(nz.commit_layer_free)) or float(nz.commit_layer_free) >= 0  # defined, not crash
    assert np.abs(nz.cka_debiased.values).max() < 0.1


def test_permuted_concepts_retrieval_zero(res):
    p = res.sel(variant="base", lang="perm")
    assert (p.retrieval_fwd.values == 0).all() and (p.retrieval_bwd.values == 0).all()
    assert (p.retrieval_mexa.values == 0).all()
    assert (p.margin.values < 0.05).all()


def test_language_centred_cosine_removes_shared_offset():
    ds = make_ds(n_units=30, d=128, sigma=np.full(4, 2.0))
    off = ds.copy(deep=True)
    r = off["resid"].values.astype(np.float32)
    r[:, 1] += 20.0  # big language-specific offset on "hi" only... and the same on noise
    r[:, 2] += 20.0
    r[:, 0] += 20.0
    off["resid"] = (off["resid"].dims, r.astype(np.float16))
    a = analyze(off, n_boot=10)
    nz = a.sel(variant="base", lang="noise")
    assert nz.cos.values.mean() > 0.8  # raw cosine fooled by the shared offset
    assert abs(nz.cos_centred.values.mean()) < 0.1  # centred cosine is not


def test_commitment_primitives():
    m = np.array([[0.9, 0.9, 0.1, 0.9, 0.9, 0.9], [0.1] * 6, [0.9] * 6])
    np.testing.assert_array_equal(commitment_layer(m, 0.85, 3), [3, np.nan, 0])
    np.testing.assert_array_equal(first_run(m > 0.5, 2), [0, np.nan, 0])
    # run must fit in the network: 2 good layers at the end do not commit with k=3
    assert np.isnan(commitment_layer(np.array([0, 0, 0, 0, 0.9, 0.9]), 0.85, 3))
    sw = threshold_sweep(m, [0.05, 0.5, 0.95], 3)
    np.testing.assert_array_equal(sw, [[0, 0, 0], [3, np.nan, 0], [np.nan, np.nan, np.nan]])


def test_threshold_sweep_in_results(res):
    n = res.sweep_n_committed.sel(variant="base", lang="hi").values
    assert (np.diff(n) <= 0).all()  # higher tau -> fewer units commit
    assert res.sweep_n_committed.sel(variant="base", lang="noise").values.max() == 0


# ------------------------------------------------------------------------------- NaN
def test_missing_cells_excluded_not_propagated():
    ds = make_ds(n_units=30, d=64)
    r = ds["resid"].values.copy()
    r[0, 1, 5] = np.nan  # unit 5 missing in hi (base)
    r[0, 1, 9, :, :] = np.nan
    dsn = ds.copy()
    dsn["resid"] = (ds["resid"].dims, r)
    a = analyze(dsn, n_boot=20).sel(variant="base", lang="hi")
    assert not np.isnan(a.cos.values).any() and not np.isnan(a.cka.values).any()
    assert int(a.n_units) == 28
    keep = [i for i in range(30) if i not in (5, 9)]
    b = analyze(ds.isel(concept=keep), n_boot=20).sel(variant="base", lang="hi")
    for v in (
        "cos",
        "cos_centred",
        "margin",
        "retrieval_fwd",
        "retrieval_bwd",
        "null_mean",
        "null_std",
        "cka",
        "cka_debiased",
    ):
        if v == "cos_centred":  # language mean uses all of the language's own units: differs by design
            continue
        np.testing.assert_allclose(a[v].values, b[v].values, rtol=1e-4, atol=1e-5, err_msg=v)
    assert np.isnan(a.commit_unit.sel(concept="c005"))


# ------------------------------------------------------------------------------- dask
def test_dask_backed_matches_in_memory(ds, res, tmp_path):
    path = tmp_path / "store.nc"
    ds.to_netcdf(path, encoding={"resid": {"dtype": "f4"}})  # netCDF4 has no float16 type
    with xr.open_dataset(path, chunks={"layer": 3, "variant": 1}) as lazy:
        um = unit_metrics(lazy)
        assert um["cos"].chunks is not None  # still lazy
        r2 = analyze(lazy, n_boot=300, seed=0)
    for v in res.data_vars:
        np.testing.assert_allclose(
            res[v].values, r2[v].values, rtol=1e-5, atol=1e-6, equal_nan=True, err_msg=v
        )


def test_variant_test_detects_degraded_variant():
    ds = make_ds(n_units=40, d=128)
    r = ds["resid"].values.astype(np.float32)
    rng = np.random.default_rng(9)
    r[1, 1] += 1.0 * rng.standard_normal(r[1, 1].shape)  # fire's hi is noisier at every layer
    ds["resid"] = (ds["resid"].dims, r.astype(np.float16))
    a = analyze(ds, n_boot=200)
    from polylens.analysis.variant_tests import variant_tests

    t = variant_tests(a, baseline="base", n_perm=2000)
    row = t[(t.scope == "language") & (t.metric == "cos_auc") & (t.lang == "hi")].iloc[0]
    assert row.variant_a == "fire" and row["diff"] < 0 and row.p_bh < 0.01 and row.dz < -1
    assert row.diff_ci_hi < 0
    nz = t[(t.scope == "language") & (t.metric == "cos_auc") & (t.lang == "noise")].iloc[0]
    assert not nz.significant
    layer = t[(t.scope == "layer") & (t.metric == "cos") & (t.lang == "hi")]
    assert len(layer) == 10 and layer.significant.all()


# ------------------------------------------------------------------- outputs, determinism
def test_run_analysis_outputs_and_determinism(ds, tmp_path):
    a = run_analysis(ds, tmp_path / "r1", n_boot=100, n_perm=500)
    run_analysis(ds, tmp_path / "r2", n_boot=100, n_perm=500)
    for f in ("alignment_curves.json", "commitment_matrix.csv", "stats.csv"):
        assert filecmp.cmp(tmp_path / "r1" / f, tmp_path / "r2" / f, shallow=False), f
    with (
        xr.open_dataset(tmp_path / "r1" / "alignment.nc") as x1,
        xr.open_dataset(tmp_path / "r2" / "alignment.nc") as x2,
    ):
        xr.testing.assert_identical(x1, x2)
        assert x1.attrs["model_id"] == "synthetic" and x1.attrs["analysis_tau"] == 0.85
        np.testing.assert_allclose(x1["cos"].values, a["cos"].values)
    import json

    curves = json.loads((tmp_path / "r1" / "alignment_curves.json").read_text())
    assert set(curves) == {"base", "fire", "_ci", "_meta"}
    assert len(curves["base"]["hi"]) == 10 and len(curves["_ci"]["base"]["hi"]["lo"]) == 10
    b = analyze(ds, n_boot=100, seed=1)
    assert not np.array_equal(a.cos_ci.values, b.cos_ci.values)  # the seed matters


# ------------------------------------------------------------------------------- regress
def _degrade(ds, lang="hi", scale=1.5, seed=11):
    out = ds.copy(deep=True)
    r = out["resid"].values.astype(np.float32)
    gi = list(out["lang"].values).index(lang)
    r[:, gi] += scale * np.random.default_rng(seed).standard_normal(r[:, gi].shape)
    out["resid"] = (out["resid"].dims, r.astype(np.float16))
    return out


def test_regress_passes_identical_fails_degraded_refuses_incompatible(ds, tmp_path):
    from polylens.analysis.regress import regress

    run_analysis(ds, tmp_path / "old", n_boot=200, n_perm=200)
    run_analysis(ds, tmp_path / "same", n_boot=200, n_perm=200)
    table, failed = regress(tmp_path / "old", tmp_path / "same")
    assert not failed and (table["delta"].abs() < 1e-12).all()
    bad = _degrade(ds)
    run_analysis(bad, tmp_path / "bad", n_boot=200, n_perm=200)
    table, failed = regress(tmp_path / "old", tmp_path / "bad")
    assert failed
    hit = table[table.degraded]
    assert set(hit.lang) == {"hi"} and {"peak_cos", "commit_layer"} <= set(hit.metric)
    _, failed_other = regress(tmp_path / "old", tmp_path / "bad", langs=["noise"])
    assert not failed_other  # only the named languages gate
    with pytest.raises(IncompatibleVariantsError):
        regress(tmp_path / "old", tmp_path / "bad", langs=["xx"])
    other = ds.copy()
    other.attrs = {**ds.attrs, "pooling": "last"}
    run_analysis(other, tmp_path / "last", n_boot=50, n_perm=100)
    with pytest.raises(IncompatibleVariantsError, match="pooling"):
        regress(tmp_path / "old", tmp_path / "last")
    run_analysis(ds, tmp_path / "tau", tau=0.7, n_boot=50, n_perm=100)
    with pytest.raises(IncompatibleVariantsError, match="analysis_tau"):
        regress(tmp_path / "old", tmp_path / "tau")


# ------------------------------------------------------------------------------- taxonomy
def test_taxonomy_detectors_on_hand_examples():
    from polylens.analysis.taxonomy import classify_text, detect_unicode_edge, script_profile

    def cats(text, lang, **kw):
        return {f.category for f in classify_text(text, lang, **kw)}

    assert "TRANSLITERATION" in cats("mujhe bukhar hai aur sir mein dard hai", "hi")
    assert "TRANSLITERATION" not in cats("मुझे बुखार है और सिर में दर्द है", "hi")
    cs = cats("मुझे fever है and my head is paining", "hi")
    assert "CODE_SWITCH" in cs and "TRANSLITERATION" not in cs
    assert "CODE_SWITCH" in cats("I have had fever since yesterday, mujhe dawai chahiye kya", "en")
    assert cats("I have a headache since yesterday", "en") == set()
    assert "ZWJ" in detect_unicode_edge("क्\u200dष") and "ZWNJ" in detect_unicode_edge("می\u200cخواهم")
    assert "NFD" in detect_unicode_edge("cafe\u0301") and detect_unicode_edge("café") is None
    assert "RLM" in detect_unicode_edge("مرحبا\u200f") and "non-ASCII digits" in detect_unicode_edge(
        "खुराक ५ mg"
    )
    assert "FORMAL_REGISTER" in cats("The patient presented with acute myocardial infarction", "en")
    assert "FORMAL_REGISTER" in cats("उच्च रक्तचाप का निदान", "hi")
    assert "FORMAL_REGISTER" not in cats("my heart hurts", "en")
    assert "LOW_RESOURCE_VARIANT" in cats("ቤት ውስጥ ነኝ", "am")
    assert "LOW_RESOURCE_VARIANT" not in cats("ቤት ውስጥ ነኝ", "am", resource="medium")  # dataset coord wins
    assert script_profile("मुझे fever")["Deva"] == 4


def test_failure_cases_flags_degraded_variant(ds, res, tmp_path):
    from polylens.analysis.failures import failure_cases

    edge = make_ds(n_units=6, d=128, seed=3)
    edge = edge.rename({"concept": "item"})
    r = edge["resid"].values.astype(np.float32)
    r[1, 1, :2] += 3.0 * np.random.default_rng(0).standard_normal(
        r[1, 1, :2].shape
    )  # fire worse on hi items 0,1
    edge["resid"] = (edge["resid"].dims, r.astype(np.float16))
    texts = np.array(
        [
            ["x"] * 6,
            [
                "mujhe bukhar hai aur dard hai",
                "मुझे fever है",
                "क्\u200dष",
                "cafe\u0301",
                "myocardial infarction",
                "ठीक",
            ],
            ["a"] * 6,
            ["b"] * 6,
        ],
        dtype=object,
    )
    edge["text"] = (("lang", "item"), texts)
    fc = failure_cases(edge, res)
    hi = fc[(fc.lang == "hi") & (fc.variant == "fire")].set_index("item")
    assert hi.loc["c000", "failure"] and hi.loc["c001", "failure"]
    assert not hi.loc[["c002", "c003", "c004", "c005"], "failure"].any()
    assert "TRANSLITERATION" in hi.loc["c000", "categories"] and "CODE_SWITCH" in hi.loc["c001", "categories"]
    assert (
        "UNICODE_EDGE" in hi.loc["c002", "categories"] and "FORMAL_REGISTER" in hi.loc["c004", "categories"]
    )
    assert "peak cos" in hi.loc["c000", "model_evidence"]
    bad = edge.copy()
    bad.attrs = {**edge.attrs, "weights_sha256": '{"base": "other", "fire": "w1"}'}
    with pytest.raises(IncompatibleVariantsError):
        failure_cases(bad, res)
    run_analysis(ds, tmp_path / "withedge", n_boot=50, n_perm=100, edge_ds=edge)
    assert (tmp_path / "withedge" / "failure_cases.csv").exists()


def test_analysis_package_does_not_import_torch():
    import subprocess

    code = (
        "import sys, analysis.alignment, analysis.taxonomy, analysis.regress, analysis.failures, analysis.cka; "
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1]).returncode == 0
    )


def test_headline_table_reads_the_known_answers(res):
    from polylens.analysis.summary import format_headline, headline_table

    table = headline_table(res).set_index(["variant", "lang"])
    hi, noise = table.loc[("base", "hi")], table.loc[("base", "noise")]
    assert hi.centred_layer >= 4 and hi.centred_peak_lo <= hi.centred_peak <= hi.centred_peak_hi
    assert hi.mexa_peak > 0.9 and noise.mexa_peak < 0.2 and np.isnan(noise.commit)
    assert hi.commit == 4 and hi.centred_peak > noise.centred_peak + 0.5
    # the lead metrics are far above their own nulls for "hi", within them for "noise"
    assert hi.centred_z > 5 and hi.centred_peak > hi.centred_null and hi.mexa_peak > hi.mexa_null
    assert noise.mexa_peak_lo <= noise.mexa_null_mean + 0.2 and abs(noise.centred_z) < 5
    # one peak method: the stored selection-aware peak, not a CI at a fixed layer
    peak = res.sel(variant="base", lang="hi")
    assert hi.centred_peak_lo == float(peak.peak_cos_centred_ci[0])
    assert hi.mexa_peak_hi == float(peak.peak_retrieval_mexa_ci[1])
    assert "en" not in table.index.get_level_values("lang")
    text = format_headline(headline_table(res))
    assert "never" in text and text.splitlines()[0].split()[3:5] == ["centred", "cos"]
