"""Per-metric nulls (MEXA, CKA) against brute force, and no degenerate interval in a real run's summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from polylens.analysis.cka import linear_cka
from polylens.analysis.core import derangements
from polylens.analysis.nulls import cka_null_moments, cka_perm_null, joint_permutations, mexa_perm_null

STORE = Path(__file__).resolve().parent / "fixtures" / "golden" / "concepts_activations.nc"


def _toy(seed: int = 0, n: int = 14) -> tuple[np.ndarray, np.ndarray]:
    """(x Float[lang, unit, d], joint Bool[lang, unit]): lang 1 aligned with ref 0, lang 2 noise, gaps."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, n, 6))
    x[1] = x[0] + 0.4 * rng.standard_normal((n, 6))
    joint = np.ones((3, n), bool)
    joint[2, [1, 4]] = False
    return x, joint


def test_mexa_null_equals_brute_force_mutual_nearest_neighbour():
    x, joint = _toy()
    xn = x / np.linalg.norm(x, axis=-1, keepdims=True)
    S = xn[0:1] @ np.swapaxes(xn, -1, -2)
    perms = derangements(x.shape[1], 12, 3)
    got = mexa_perm_null(S, joint, perms)
    for g in range(3):
        J = np.flatnonzero(joint[g])
        for p in range(12):
            pairs = [(i, perms[p, i]) for i in J if joint[g, perms[p, i]]]
            hits = [
                S[g, i, j] > max(S[g, i, k] for k in J if k != j)
                and S[g, i, j] > max(S[g, k, j] for k in J if k != i)
                for i, j in pairs
            ]
            assert got[g, p] == pytest.approx(np.mean(hits))
    assert got[1].mean() < 0.2  # the aligned language's true partner wins: mismatched pairs rarely do


def test_cka_permutation_null_exact_per_draw_and_exact_moments():
    x, joint = _toy(1, n=24)
    xc = np.where(joint[..., None], x, 0)
    grams = xc @ np.swapaxes(xc, -1, -2)
    perms = np.argsort(np.random.default_rng(5).random((4000, x.shape[1])), 1)
    sigma = joint_permutations(joint, perms)
    for debiased in (False, True):
        draws = cka_perm_null(grams, joint, 0, perms, debiased=debiased)
        for g in range(3):  # each draw is CKA of the re-paired joint units
            J = joint[g] & joint[0]
            for p in range(3):
                s = sigma[g, p]
                assert sorted(s[J]) == list(np.flatnonzero(J))
                ref = linear_cka(x[0][J], x[g][s][J], debiased=debiased)
                assert draws[g, p] == pytest.approx(ref, rel=1e-9, abs=1e-12)
        mean, sd = cka_null_moments(grams[..., :1, :, :], grams, joint, debiased=debiased)
        np.testing.assert_allclose(draws.mean(-1), mean, atol=4 * draws.std(-1).max() / np.sqrt(4000))
        if debiased:  # exact SD sqrt(2 / (n (n - 3))) vs 4000 sampled permutations
            n = joint.sum(-1)
            np.testing.assert_allclose(sd, np.sqrt(2 / (n * (n - 3))))
            np.testing.assert_allclose(draws.std(-1), sd, rtol=0.06)
        else:
            assert np.isnan(sd).all() and (mean > 0).all()  # plain CKA's null sits above 0 (its bias)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    """``analyze`` (the pipeline, hygiene exclusion on) of the stored tiny-Cohere2 capture."""
    from polylens.pipelines.analyze import AnalyzeConfig, run

    out = tmp_path_factory.mktemp("real") / "res"
    run(AnalyzeConfig(store=STORE, out=out, n_boot=200, n_perm=200))
    return out


def test_real_run_summary_and_results_have_no_degenerate_interval(real_run):
    """Every interval stored in summary.csv / alignment.nc has lo < hi unless exactly determined."""
    sm = pd.read_csv(real_run / "summary.csv")
    assert len(sm) > 0 and {"centred_peak", "mexa_peak", "centred_null", "mexa_z", "raw_cos_peak"} <= set(sm)
    for col in [c for c in sm if c.endswith("_lo") and "layer" not in c]:
        lo, hi = sm[col], sm[col[:-3] + "_hi"]
        assert (lo < hi).all(), (col, sm.loc[~(lo < hi), ["variant", "lang", col, col[:-3] + "_hi"]])
    res = xr.open_dataset(real_run / "alignment.nc")
    ref = res.attrs["analysis_ref"]
    for name in [v for v in res.data_vars if v.endswith("_ci") and "layer" not in v]:
        ci = res[name]
        lo, hi = ci.sel(ci="lo"), ci.sel(ci="hi")
        flat = (lo == hi) & np.isfinite(lo)
        unit_var = "unit_" + name[:-3]
        if unit_var in res:  # a curve: flat only where every unit has the same value (exactly determined)
            u = res[unit_var]
            assert not (
                flat & (u.max(res.attrs["analysis_unit_dim"]) > u.min(res.attrs["analysis_unit_dim"]))
            ).any(), name
        else:  # a summary: only the reference compared with itself is exactly determined
            assert not flat.drop_sel(lang=ref).any(), name
    zero = res["retrieval_mexa_ci"].where(res["retrieval_mexa"] == 0)
    assert (zero.sel(ci="hi") > 0).where(zero.sel(ci="hi").notnull(), True).all()  # 0 of n: upper > 0


def test_results_browser_opens_with_the_summary_table(real_run):
    """The served results browser shows summary.csv (centred cosine / MEXA with nulls) as its first table."""
    from polylens.pipelines._serve.browse import describe

    d = describe([real_run.parent], f"0/{real_run.name}")
    names = [t["name"] for t in d["tables"]]
    assert names[0] == "summary.csv" and "commitment_matrix.csv" in names
    head = d["tables"][0]["header"]
    assert head.index("centred_peak") < head.index("mexa_peak") < head.index("raw_cos_peak")
    assert {"centred_null", "centred_z", "mexa_null", "mexa_z"} <= set(head)
