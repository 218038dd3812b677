"""Tests for the statistics engine (analysis/stats): agreement with scipy / numpy references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from polylens.analysis import stats as st


# ------------------------------------------------------------------------------- BH
def test_bh_matches_scipy():
    rng = np.random.default_rng(3)
    p = np.concatenate([rng.uniform(size=40), rng.uniform(0, 0.01, size=10)])
    np.testing.assert_array_equal(st.bh_adjust(p), scipy.stats.false_discovery_control(p, method="bh"))
    pn = p.copy()
    pn[[3, 17]] = np.nan
    ok = ~np.isnan(pn)
    np.testing.assert_array_equal(
        st.bh_adjust(pn)[ok], scipy.stats.false_discovery_control(pn[ok], method="bh")
    )
    assert np.isnan(st.bh_adjust(pn)[3])
    grid = p[:48].reshape(6, 8)  # any shape is one family
    np.testing.assert_array_equal(
        st.bh_adjust(grid).ravel(), scipy.stats.false_discovery_control(grid.ravel(), method="bh")
    )
    assert st.bh_adjust(np.full(3, np.nan)).shape == (3,)


# ------------------------------------------------------------------------------- intervals
def test_percentile_ci_equals_np_percentile_of_same_resamples():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((4, 3, 30))
    w = st.resample_weights(30, 999, seed=11)
    _, boot = st.boot_means(a, w)
    ci = st.percentile_ci(boot, 0.95)
    ref = np.percentile(boot, [2.5, 97.5], axis=-1)
    np.testing.assert_allclose(np.moveaxis(ci, -1, 0), ref, rtol=1e-13, atol=0)
    alpha = (1 - 0.95) / 2  # exactly numpy's quantile at the same q
    np.testing.assert_array_equal(ci[..., 0], np.quantile(boot, alpha, axis=-1))
    np.testing.assert_array_equal(ci[..., 1], np.quantile(boot, 1 - alpha, axis=-1))
    boot[0, 0, :100] = np.nan  # NaN resamples ignored, as np.nanpercentile
    np.testing.assert_allclose(
        st.percentile_ci(boot, 0.95)[0, 0], np.nanpercentile(boot[0, 0], [2.5, 97.5]), rtol=1e-13
    )


def test_percentile_ci_keeps_inf_as_never():
    boot = np.r_[np.arange(90.0), np.full(10, np.inf)]  # 10% of resamples never commit
    lo, hi = st.percentile_ci(boot, 0.95)
    assert lo == pytest.approx(2.475) and hi == np.inf  # 0.025 * 99 = 2.475
    assert st.nanquantile_sorted(boot, 0.9) == np.inf  # between 89 and the first inf


def test_proportion_ci_exact():
    lo, hi = st.proportion_ci(0, 48)
    assert lo == 0.0 and hi > 0 and round(hi, 3) == 0.074
    ci = st.proportion_ci(np.array([[3, 48], [0, 0]]), np.array([[10, 48], [5, 0]]))
    ref = scipy.stats.binomtest(3, 10).proportion_ci(0.95)
    np.testing.assert_allclose(ci[0, 0], (ref.low, ref.high), rtol=1e-12)  # beta quantiles = binomtest
    assert tuple(ci[0, 1]) == (scipy.stats.binomtest(48, 48).proportion_ci().low, 1.0)
    assert np.isnan(ci[1, 1]).all()
    wil = st.proportion_ci(0, 48, method="wilson")
    ref = scipy.stats.binomtest(0, 48).proportion_ci(method="wilson")
    assert tuple(wil) == (ref.low, ref.high) and wil[1] > 0


# ------------------------------------------------------------------------------- resampling
def test_bootstrap_weights_match_indexing():
    idx = st.bootstrap_indices(20, 50, seed=2)
    w = st.bootstrap_weights(idx)
    np.testing.assert_array_equal(w, st.resample_weights(20, 50, seed=2))
    a = np.random.default_rng(0).standard_normal((3, 20))
    np.testing.assert_allclose(st.nanmean_weighted(a, w), a[:, idx].mean(-1))
    assert st.nanquantile_sorted(np.array([[1, np.nan, 3, 2.0]]), 0.5)[0] == 2.0
    np.testing.assert_array_equal(st.nanquantile_sorted(a, 0.3), np.quantile(a, 0.3, axis=-1))


def test_bootstrap_counts_are_a_resampling():
    c = st.bootstrap_counts(17, 40, seed=3)
    assert c.shape == (40, 17) and (c.sum(1) == 17).all()
    v = np.random.default_rng(1).standard_normal(17)
    m, lo, hi = st.bootstrap_mean(v, n_boot=400)
    assert m == pytest.approx(v.mean()) and lo < m < hi


# ------------------------------------------------------------------------------- sign-flip
def _scipy_paired(a, b, n_resamples, rng=None):
    return scipy.stats.permutation_test(
        (a, b),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        n_resamples=n_resamples,
        vectorized=True,
        rng=rng,
    )


def test_signflip_matches_scipy_exact():
    rng = np.random.default_rng(4)
    a = rng.standard_normal(10) + 0.6
    b = rng.standard_normal(10)
    ours = st.signflip_test((a - b)[None, :], n_perm=5000)
    ref = _scipy_paired(a, b, 5000)
    assert ours["p"][0] == pytest.approx(ref.pvalue, rel=1e-12)
    assert ours["stat"][0] == pytest.approx(ref.statistic)


def test_signflip_random_agrees_with_scipy_within_mc_error():
    rng = np.random.default_rng(8)
    n_perm = 20000
    for shift in (0.15, 0.3, 0.0):
        a = rng.standard_normal(40) + shift
        b = rng.standard_normal(40)
        ours = st.signflip_test((a - b)[None, :], n_perm=n_perm, seed=1)["p"][0]
        ref = _scipy_paired(a, b, n_perm, rng=np.random.default_rng(2)).pvalue
        se = np.sqrt(2 * ref * (1 - ref) / n_perm) + 1 / n_perm  # two independent MC estimates
        assert abs(ours - ref) < 4 * se, (shift, ours, ref)


def test_signflip_random_power_and_null():
    rng = np.random.default_rng(5)
    d = np.stack([rng.standard_normal(200) * 0.1 + 0.05, rng.standard_normal(200)])
    t = st.signflip_test(d, n_perm=2000, seed=1)
    assert t["p"][0] < 0.001 and t["p"][1] > 0.01
    d[1, :50] = np.nan
    t2 = st.signflip_test(d, n_perm=2000, seed=1)
    assert t2["n"][1] == 150 and np.isfinite(t2["p"][1])
    assert st.cohens_dz(d[:1])[0] == pytest.approx(d[0].mean() / d[0].std(ddof=1))


# ------------------------------------------------------------------------------- associations
def test_correlate_matches_scipy_and_is_seeded():
    rng = np.random.default_rng(6)
    x = rng.normal(size=30)
    y = 0.6 * x + rng.normal(size=30)
    c = st.correlate(x, y, n_boot=500, n_perm=2000)
    assert c["pearson_r"] == scipy.stats.pearsonr(x, y).statistic
    assert c["spearman_rho"] == scipy.stats.spearmanr(x, y).statistic
    assert c["pearson_lo"] < c["pearson_r"] < c["pearson_hi"] and c["pearson_p"] < 0.01
    assert c == st.correlate(x, y, n_boot=500, n_perm=2000)
    assert np.isnan(st.correlate(x[:3], y[:3])["pearson_r"])


def test_linear_fit_matches_linregress():
    rng = np.random.default_rng(9)
    x = rng.uniform(0, 5, size=25)
    y = 1.5 - 0.7 * x + 0.3 * rng.normal(size=25)
    f = st.linear_fit(x, y, n_boot=400)
    ref = scipy.stats.linregress(x, y)
    assert f["slope"] == pytest.approx(ref.slope, rel=1e-12)
    assert f["intercept"] == pytest.approx(ref.intercept, rel=1e-12)
    assert f["slope_lo"] < f["slope"] < f["slope_hi"]
    assert (f["fit_lo"] <= f["fit"] + 1e-12).all() and (f["fit"] <= f["fit_hi"] + 1e-12).all()
