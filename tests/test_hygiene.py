"""Issue 14: stimulus hygiene flags and the headline subset of the shipped concept set."""

from __future__ import annotations

import numpy as np
import xarray as xr

from polylens import probes
from polylens.analysis.hygiene import exclude_flagged
from polylens.analysis.stats import peak_summary
from polylens.probes.hygiene import near_identical, untranslated
from polylens.storage.assemble import hygiene_coord


def test_headline_subset_has_no_identical_or_duplicate_pair():
    """Unflagged pairs: never the English string, never a name shared within a language."""
    ps = probes.load_probe_set("concepts")
    en = {s.unit: s.text for s in ps.stimuli if s.lang == "en"}
    kept = [s for s in ps.stimuli if s.lang != "en" and not s.meta["hygiene"]]
    assert kept and all(s.text.casefold() != en[s.unit].casefold() for s in kept)
    seen: dict[tuple[str, str], str] = {}
    for s in kept:
        assert seen.setdefault((s.lang, s.text.casefold()), s.unit) == s.unit, s
    flagged = {(s.unit, s.lang) for s in ps.stimuli if "identical" in s.meta["hygiene"]}
    assert ("thermometer", "de") in flagged and ("fire_engine", "hi") not in {(u, l) for u, l in flagged}
    dup = {(s.unit, s.lang) for s in ps.stimuli if "duplicate" in s.meta["hygiene"]}
    assert {("fire_engine", "hi"), ("fire_extinguisher", "hi")} <= dup


def test_flag_rules():
    """Near-identity after romanisation and untranslated names."""
    assert near_identical("Lampe", "lamp") and not near_identical("Hund", "dog")
    assert untranslated("lab coat", "lab coat") and not untranslated("ihlo", "eye")


def test_exclude_flagged_masks_pairs_and_counts():
    """Flagged pairs become missing; counts per language and per flag."""
    ps = probes.load_probe_set("concepts").select(langs=["en", "de"], limit=40)
    hyg = hygiene_coord(ps, ["en", "de"], ps.units)
    ds = xr.Dataset(
        {"resid": (("lang", "concept", "d"), np.ones((2, len(ps.units), 3)))},
        coords={"lang": ["en", "de"], "concept": ps.units, "hygiene": (("lang", "concept"), hyg)},
    )
    out, counts = exclude_flagged(ds)
    n_flag = int((hyg[1] != "").sum())
    assert int(out["resid"].sel(lang="de").isnull().any("d").sum()) == n_flag > 0
    assert counts.set_index("lang").loc["de", "n_excluded"] == n_flag


def test_peak_summary_reselects_the_peak_layer():
    """Two near-equal peaks: resamples split between them; the CI is of the resampled maxima."""
    rng = np.random.default_rng(0)
    units = rng.normal(0, 0.3, size=(200, 5)) + np.array([0.0, 0.5, 1.0, 1.0, 0.2])
    units[:, 3] += units[:, 2].mean() - units[:, 3].mean() + 1e-6  # equal sample peaks
    idx = rng.integers(0, 200, size=(500, 200))
    boot = units[idx].mean(1).T  # (layer, boot)
    p = peak_summary(units.mean(0), boot, np.arange(5.0))
    assert p["layer"] in (2.0, 3.0) and p["modal_layer"] in (2.0, 3.0)
    assert 0.4 < p["modal_share"] < 0.9
    assert p["ci"][0] < p["value"] < p["ci"][1]
