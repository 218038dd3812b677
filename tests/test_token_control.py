"""Token-count control: share explained, controlled and length-matched alignment, the threshold."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from polylens.analysis.token_control import THRESHOLD, token_control, write_token_control

N = 200


def make_results(seed=0):
    """A minimal results Dataset: per-unit centred cosine at one layer for en + two languages.

    ``long``: alignment falls with token count (y = 0.9 - 0.1 * tokens + noise, tokens 1-4);
    ``flat``: alignment independent of token count. English stimuli are all 1 token.
    """
    rng = np.random.default_rng(seed)
    tok = np.stack([np.ones(N), rng.integers(1, 5, N), rng.integers(1, 5, N)]).astype(float)
    y = np.stack(
        [np.ones(N), 0.9 - 0.1 * tok[1] + 0.05 * rng.standard_normal(N), 0.6 + 0.05 * rng.standard_normal(N)]
    )
    unit = np.repeat(y[None, :, :, None], 2, axis=-1)  # (variant, lang, concept, layer)
    unit[..., 0] *= 0.5  # layer 0 lower: the peak is layer 1
    coords = {
        "variant": ["base"],
        "lang": ["en", "long", "flat"],
        "concept": [f"c{i}" for i in range(N)],
        "layer": [0, 1],
    }
    res = xr.Dataset(
        {
            "unit_cos_centred": (("variant", "lang", "concept", "layer"), unit),
            "cos_centred": (("variant", "lang", "layer"), unit.mean(2)),
        },
        coords=coords,
        attrs={
            "analysis_ref": "en",
            "analysis_unit_dim": "concept",
            "analysis_n_boot": 500,
            "analysis_seed": 0,
        },
    )
    n_tokens = xr.DataArray(
        tok[None].astype(np.int32),
        dims=("variant", "lang", "concept"),
        coords={k: coords[k] for k in ("variant", "lang", "concept")},
    )
    return res, n_tokens, tok, y


@pytest.fixture(scope="module")
def table():
    res, n_tokens, tok, y = make_results()
    return token_control(res, n_tokens, metrics=("cos_centred",)).set_index("lang"), tok, y


def test_share_matches_scipy_and_flags_the_confounded_language(table):
    t, tok, y = table
    for i, lang in ((1, "long"), (2, "flat")):
        r2 = stats.linregress(tok[i], y[i]).rvalue ** 2
        assert t.loc[lang, "share"] == pytest.approx(r2, abs=1e-9)
        assert t.loc[lang, "share_lo"] < t.loc[lang, "share"] < t.loc[lang, "share_hi"]
    assert t.loc["long", "share"] > 0.5 and t.loc["long", "uses_controlled"]
    assert t.loc["flat", "share"] < THRESHOLD and not t.loc["flat", "uses_controlled"]
    assert t.loc["flat", "headline"] == t.loc["flat", "alignment"]
    assert (t["layer"] == 1).all()


def test_controlled_value_is_the_fit_at_the_reference_token_count(table):
    t, tok, y = table
    fit = stats.linregress(tok[1], y[1])
    assert t.loc["long", "controlled"] == pytest.approx(fit.intercept + fit.slope * 1.0, abs=1e-9)
    assert t.loc["long", "controlled"] == pytest.approx(0.8, abs=0.02)  # planted: 0.9 - 0.1 * 1
    assert t.loc["long", "alignment"] < 0.7  # raw mean is pulled down by long stimuli
    assert t.loc["long", "headline"] == t.loc["long", "controlled"]
    lo, hi = t.loc["long", "controlled_lo"], t.loc["long", "controlled_hi"]
    assert lo < t.loc["long", "controlled"] < hi and 0 < hi - lo < 0.05


def test_length_matched_subset_agrees(table):
    t, tok, y = table
    same = tok[1] == 1
    assert t.loc["long", "n_matched"] == same.sum()
    assert t.loc["long", "matched"] == pytest.approx(y[1][same].mean())
    assert t.loc["long", "matched_lo"] <= t.loc["long", "controlled"] <= t.loc["long", "matched_hi"]


def test_missing_and_excluded_stimuli_are_dropped():
    res, n_tokens, tok, y = make_results(seed=1)
    res["unit_cos_centred"][0, 1, :10] = np.nan  # hygiene-excluded pairs
    n_tokens[0, 1, 10:20] = 0  # no stimulus
    t = token_control(res, n_tokens, metrics=("cos_centred",)).set_index("lang")
    assert t.loc["long", "n"] == N - 20
    keep = np.arange(N) >= 20
    assert t.loc["long", "share"] == pytest.approx(stats.linregress(tok[1][keep], y[1][keep]).rvalue ** 2)


def test_written_files_record_the_threshold(tmp_path):
    res, n_tokens, _, _ = make_results()
    res["unit_retrieval_mexa"] = (res["unit_cos_centred"] > 0.6).astype(float)
    res["retrieval_mexa"] = res["unit_retrieval_mexa"].mean("concept")
    write_token_control(res, n_tokens, tmp_path)
    with xr.open_dataset(tmp_path / "token_control.nc") as ds:
        assert ds.attrs["token_control_threshold"] == THRESHOLD
        assert set(ds["metric"].values) == {"cos_centred", "retrieval_mexa"}
    assert (tmp_path / "token_control.csv").read_text().startswith("variant,lang,metric,layer")
