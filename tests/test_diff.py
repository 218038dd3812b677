"""Model diffing (issue 8) on tiny random Cohere2 models where the right answers are known."""

import numpy as np
import pytest
import torch

from polylens.analysis.diffing import (
    cka_by_layer,
    mean_ci,
    reduction_ci,
    shared_vocab_filter,
)
from polylens.analysis.transport import (
    IdentityMap,
    ProcrustesMap,
    RidgeMap,
    group_kfold,
    group_split,
    shuffle_pairs,
)
from polylens.errors import IncompatibleVariantsError

TEXTS = [
    "All human beings are born free and equal in dignity and rights.",
    "Everyone has the right to life, liberty and security of person.",
    "Tous les êtres humains naissent libres et égaux en dignité et en droits.",
    "Toda persona tiene derecho a la vida, a la libertad y a la seguridad.",
    "सभी मनुष्यों को गौरव और अधिकारों के मामले में जन्मजात स्वतन्त्रता प्राप्त है।",
    "Watu wote wamezaliwa huru, hadhi na haki zao ni sawa.",
    "人人生而自由，在尊严和权利上一律平等。",
    "No one shall be held in slavery or servitude!",
]


def _load(name):
    from polylens.hooks.models import load_model

    return load_model(name)


def _perturbed(scale, seed=7):
    """A fresh tiny-cohere2 with seeded relative noise ``scale`` on every weight."""
    m = _load("tiny-cohere2")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.bridge.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * scale * p.std().clamp_min(1e-3))
    m.weights_sha256 = f"perturbed-{scale}"
    return m


@pytest.fixture(scope="module")
def base():
    return _load("tiny-cohere2")


@pytest.fixture(scope="module")
def twin():
    """An independently loaded identical copy of the base model."""
    return _load("tiny-cohere2")


@pytest.fixture(scope="module")
def batch(base):
    from polylens.hooks.patching import encode

    return encode(base, TEXTS, k=3)


# ------------------------------------------------------------------ positions


def test_content_positions_skip_specials_and_trailing_punctuation(base):
    from polylens.hooks.sites import content_mask, content_positions

    tok = base.tokenizer
    ids = tok("Hello world. !").input_ids
    one = np.ones((1, len(ids)), int)
    mask = content_mask(np.array([ids]), one, tok)[0]
    assert not mask[0]  # BOS
    last = content_positions(mask)[-1]
    assert tok.decode([ids[last]]).strip() not in ("", ".", "!")
    assert "world" in tok.decode(ids[: last + 1])
    pos = content_positions(mask, k=3)
    assert pos[-1] == last and len(pos) == len(set(pos)) <= 3
    assert content_mask(np.array([ids]), one, tok, strip_trailing_punct=False)[0][-1]


# ------------------------------------------------------------------ patching


def test_patching_own_activations_is_a_noop_and_foreign_values_are_not(base, batch):
    from polylens.hooks.patching import Patcher

    p = Patcher(base, base, batch)
    for site, layer in [("resid_post", 0), ("resid_post", 2), ("attn_out", 1), ("mlp_out", 4)]:
        own = p.values(site, layer)
        assert np.abs(p.kl(site, layer, own)).max() < 1e-6
        # the hook really writes: a different vector at the same place changes the output
        noise = np.random.default_rng(0).normal(size=own.shape) * 5 * own.std()
        assert p.kl(site, layer, own + noise).mean() > 1e-6


def test_identical_models_kl_zero_and_cka_one(base, twin, batch):
    from polylens.hooks.patching import Patcher, capture

    kl = Patcher(base, twin, batch, positions="all").kl_by_layer()
    assert kl.shape == (base.n_layers + 1, len(TEXTS))
    assert np.abs(kl).max() < 1e-6
    xa = capture(base, batch, "resid_post", range(base.n_layers + 1), pool="mean")
    xb = capture(twin, batch, "resid_post", range(base.n_layers + 1), pool="mean")
    out = cka_by_layer(xa, xb, n_boot=50)
    np.testing.assert_allclose(out["cka"], 1.0, atol=1e-6)
    np.testing.assert_allclose(out["ci"], 1.0, atol=1e-6)


def test_perturbed_kl_positive_and_grows_with_perturbation(base, batch):
    from polylens.hooks.patching import Patcher, capture

    means, ckas = [], []
    for scale in (0.05, 0.3):
        other = _perturbed(scale)
        kl = Patcher(other, base, batch).kl_by_layer()
        assert (kl[1:].mean(1) > 0).all()
        means.append(kl[1:].mean())
        xb = capture(other, batch, "resid_post", range(5), pool="mean")
        xa = capture(base, batch, "resid_post", range(5), pool="mean")
        ckas.append(cka_by_layer(xa, xb, n_boot=10)["cka"][0, -1])
    assert means[1] > 2 * means[0] > 0
    assert ckas[1] < ckas[0] < 1.0


def test_incompatible_pair_refused(base):
    from polylens.hooks.patching import Patcher, encode

    other = _load("tiny-gemma3")  # same tokenizer and shapes, different architecture
    with pytest.raises(IncompatibleVariantsError, match="different architectures"):
        Patcher(base, other, encode(base, TEXTS[:2]))


def test_incompatible_processing_refused(base):
    from polylens.hooks.models import load_model
    from polylens.hooks.patching import Patcher, encode

    compat = load_model("tiny-cohere2", processing="compat")
    with pytest.raises(IncompatibleVariantsError):
        Patcher(base, compat, encode(base, TEXTS[:2]))


# ------------------------------------------------------------------ transport maps


def _planted(n_prompts=80, per=6, d_in=24, d_out=16, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_prompts), per)
    x = rng.normal(size=(len(groups), d_in)) * rng.uniform(0.5, 3, d_in) + 4
    w = rng.normal(size=(d_in, d_out))
    y = x @ w - 2 + noise * rng.normal(size=(len(groups), d_out))
    return x, y, groups


@pytest.mark.parametrize("est", [RidgeMap(), RidgeMap(rank=24), ProcrustesMap(whiten=True)])
def test_maps_recover_planted_linear_map(est):
    x, y, groups = _planted()
    if isinstance(est, ProcrustesMap):  # Procrustes recovers a scaled rotation
        q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(24, 24)))
        y = 2.5 * x @ q + 1
    tr, va = group_split(groups, 0.25, seed=3)
    est.fit(x[tr], y[tr], groups[tr])
    assert est.score(x[va], y[va]) > 0.999
    assert est.coef_.shape == (24, y.shape[1])


def test_plain_procrustes_recovers_scaled_rotation():
    x, _, groups = _planted(d_in=20, d_out=20)
    q, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(20, 20)))
    y = 0.3 * x @ q + 5
    tr, va = group_split(groups, 0.3)
    est = ProcrustesMap().fit(x[tr], y[tr])
    assert abs(est.scale_ - 0.3) < 1e-8
    assert est.score(x[va], y[va]) > 1 - 1e-10
    np.testing.assert_allclose(est.rotation_ @ est.rotation_.T, np.eye(20), atol=1e-8)


def test_residual_ridge_recovers_identity_plus_low_rank_with_few_rows():
    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(20), 3)  # 60 rows, d = 64: n < d
    x = rng.normal(size=(60, 64))
    u = rng.normal(size=(64, 1)) * 0.1
    y = x + x @ u @ u.T
    tr, va = group_split(groups, 0.3)
    plain = RidgeMap().fit(x[tr], y[tr], groups[tr]).score(x[va], y[va])
    resid = RidgeMap(residual=True).fit(x[tr], y[tr], groups[tr]).score(x[va], y[va])
    assert resid > 0.99 > plain


def test_identity_on_identical_activations():
    x, _, groups = _planted(d_out=24)
    assert IdentityMap().fit(x, x).score(x, x) == 1.0
    est = RidgeMap().fit(x, x, groups)  # a learned map on B == A is the identity
    assert est.score(x, x) > 0.9999


@pytest.mark.parametrize("est", [RidgeMap(), ProcrustesMap(), ProcrustesMap(whiten=True)])
def test_shuffled_pairs_give_no_r2(est):
    x, y, groups = _planted()
    tr, va = group_split(groups, 0.3)
    perm = shuffle_pairs(groups[tr], seed=0)
    assert (groups[tr][perm] != groups[tr]).all()
    est.fit(x[tr], y[tr][perm], groups[tr])
    assert est.score(x[va], y[va]) <= 0.02


def test_ridge_cv_picks_stronger_penalty_for_noise():
    x, y, groups = _planted(noise=0.0)
    clean = RidgeMap().fit(x, y, groups).alpha_
    rng = np.random.default_rng(5)
    noisy = RidgeMap().fit(x, rng.normal(size=y.shape), groups).alpha_
    assert noisy > clean


def test_splits_never_leak_a_prompt():
    groups = np.repeat(np.arange(37), np.random.default_rng(0).integers(1, 9, 37))
    for seed in range(5):
        tr, va = group_split(groups, 0.3, seed)
        assert not set(groups[tr]) & set(groups[va])
        assert len(tr) + len(va) == len(groups)
    folds = group_kfold(groups, 5)
    seen = np.concatenate([va for _, va in folds])
    assert sorted(seen) == list(range(len(groups)))
    for tr, va in folds:
        assert not set(groups[tr]) & set(groups[va])


# ------------------------------------------------------------------ statistics, fairness


def test_cka_by_layer_reference_and_widths():
    np.random.seed(1337)
    x = np.random.randn(100, 10)
    y = np.random.randn(100, 10) + x
    out = cka_by_layer(x[None], y[None], n_boot=200)
    np.testing.assert_allclose(out["cka"][:, 0], [0.55761, 0.51346], atol=1e-4)
    lo, hi = out["ci"][0, 0]
    assert lo < 0.55761 < hi
    wide = cka_by_layer(x[None], np.hstack([y, y[:, :3]])[None], n_boot=10)  # different widths
    assert np.isfinite(wide["cka"]).all()


def test_reduction_ci_paired():
    raw = np.array([1.0, 2.0, 3.0, 4.0])
    point, ci = reduction_ci(raw, raw / 2, n_boot=100)
    assert point == pytest.approx(0.5) and np.allclose(ci, 0.5)
    m, ci = mean_ci(np.arange(10.0), n_boot=200)
    assert m == 4.5 and ci[0] < 4.5 < ci[1]


class _Tok:
    """Whitespace tokenizer stub: unknown words become the special ``<unk>`` token."""

    all_special_tokens = ["<unk>"]

    def __init__(self, vocab):
        self.vocab = {w: i for i, w in enumerate(["<unk>"] + vocab)}
        self.inv = {i: w for w, i in self.vocab.items()}

    def get_vocab(self):
        return dict(self.vocab)

    def __call__(self, text, add_special_tokens=True):
        return type("Enc", (), {"input_ids": [self.vocab.get(w, 0) for w in text.split()]})

    def convert_ids_to_tokens(self, ids):
        return [self.inv[i] for i in ids]


def test_fairness_filter_counts():
    a = _Tok(["the", "cat", "sat", "mat", "dog"])
    b = _Tok(["the", "cat", "sat", "hat", "bird", "dog"])
    texts = ["the cat sat", "the dog sat", "dog mat hat", "the cat mat", "bird bird"]
    rep = shared_vocab_filter(a, b, texts, min_shared_ratio=1.0)
    assert rep.kept == [0, 1] and rep.n_kept == 2 and rep.n_total == 5
    assert "kept 2/5" in rep.summary()
    rep = shared_vocab_filter(a, b, texts, min_shared_ratio=0.6)
    assert rep.kept == [0, 1, 3]
    # "dog mat hat": A knows dog, mat (mat not in B) and maps hat to <unk> (never shared)
    np.testing.assert_allclose(rep.ratio_a, [1, 1, 1 / 3, 2 / 3, 0])
    np.testing.assert_allclose(rep.ratio_b, [1, 1, 1 / 3, 2 / 3, 0])
    assert not rep.identical_tokenizers
    same = shared_vocab_filter(b, b, texts, 1.0)
    assert same.identical_tokenizers and same.kept == [0, 1, 4]


# ------------------------------------------------------------------ end to end


def test_run_diff_end_to_end(base, twin, tmp_path):
    import xarray as xr

    from polylens.pipelines.diff import DiffConfig, run

    cfg = DiffConfig(
        a="tiny-cohere2",
        b="tiny-cohere2",
        out=tmp_path,
        probes="udhr",
        langs=("en", "fr", "hi"),
        limit=6,
        k_positions=8,
        n_boot=50,
        alphas=(0.0, 0.5, 1.0),
        methods=("identity", "ridge", "ridge_residual"),
        patch_layers=(2,),
    )
    result = run(cfg, models=(base, twin))
    ds = result.dataset
    np.testing.assert_allclose(ds["cka"].values, 1.0, atol=1e-6)
    assert np.abs(ds["kl"].values).max() < 1e-6
    t = ds["transport"].sel(site="resid_post", layer=2)
    assert t.sel(map_method="identity", metric="r2") == pytest.approx(1.0)
    assert t.sel(map_method="ridge", metric="r2") > 0.99  # n_train rows > d = 64
    assert t.sel(map_method="ridge_residual", metric="r2") > 0.999
    assert t.sel(map_method="shuffled_pairs", metric="r2") < 0.2
    tr = set(ds.unit.values[ds.split.values == "train"])
    va = set(ds.unit.values[ds.split.values == "val"])
    assert tr and va and not tr & va
    path = result.path
    assert path == tmp_path / "diff.nc" and (tmp_path / "summary.json").exists()
    back = xr.open_dataset(path)
    assert back.attrs["a_weights_sha256"] == base.weights_sha256
    assert back.attrs["probe_set_sha256"] and back.attrs["fairness_n_kept"] == 18
    assert set(back["control_kl"].condition.values) >= {
        "raw",
        "mapped",
        "mismatched_layer",
        "shuffled_pairs",
        "ablate",
    }
    assert back["cka_ci"].sel(ci="lo").shape == back["cka"].shape
    back.close()


def test_diff_skip_maps_writes_kl_and_cka(tmp_path):
    import xarray as xr

    from polylens.pipelines import diff

    cfg = diff.DiffConfig(
        a="tiny-cohere2",
        b="tiny-cohere2-fire",
        probes="udhr",
        langs=("en", "fr"),
        limit=5,
        kl_layers=(0, 2, 4),
        skip_maps=True,
        n_boot=50,
        out=tmp_path,
    )
    out = diff.summary(diff.run(cfg))
    assert "tiny-cohere2 vs tiny-cohere2-fire" in out and "wrote" in out
    ds = xr.open_dataset(tmp_path / "diff.nc")
    kl = ds["kl"].sel(direction="a_to_b")
    assert np.isnan(kl.sel(layer=1)) and (kl.sel(layer=[2, 4]) > 0).all()
    assert (ds["cka"].sel(kind="linear", layer=4) < 1).item()
    assert ds.attrs["b_name"] == "tiny-cohere2-fire" and "transport" not in ds
    ds.close()


def test_diff_refuses_incompatible(tmp_path):
    from polylens.pipelines import diff

    cfg = diff.DiffConfig(
        a="tiny-cohere2", b="tiny-gemma3", probes="udhr", langs=("en",), limit=8, out=tmp_path
    )
    with pytest.raises(IncompatibleVariantsError, match="different architectures"):
        diff.run(cfg)
    assert not (tmp_path / "diff.nc").exists()


def test_diff_config_validates():
    from polylens.errors import ConfigError
    from polylens.pipelines.diff import DiffConfig

    with pytest.raises(ConfigError, match="--val-frac"):
        DiffConfig(a="x", b="y", out="o", val_frac=1.0)
    with pytest.raises(ConfigError, match="--sites"):
        DiffConfig(a="x", b="y", out="o", sites=("resid_pre",))
    with pytest.raises(ConfigError, match="--n-boot"):
        DiffConfig(a="x", b="y", out="o", n_boot=0)


def _change_ds(rel, langs, units):
    """A minimal diff dataset for the change tests: rel_change and a flat CKA (no dip)."""
    import xarray as xr

    L = rel.shape[0]
    return xr.Dataset(
        {
            "rel_change": (("layer", "prompt"), rel),
            "cka_ci": (("kind", "layer", "ci"), np.ones((2, L, 2))),
        },
        coords={
            "layer": np.arange(L),
            "kind": ["linear", "debiased"],
            "ci": ["lo", "hi"],
            "lang": ("prompt", langs),
            "unit": ("prompt", units),
        },
    )


def test_change_tests_known_answers():
    """Planted language/layer found; float noise below the floor finds nothing; ties single out none."""
    from polylens.analysis.variant_tests import change_tests

    rng = np.random.default_rng(0)
    langs = np.repeat(["en", "hi", "sw", "zh"], 10)
    units = np.tile([f"u{i}" for i in range(10)], 4)
    rel = np.zeros((7, 40))
    rel[3:, langs == "hi"] = 0.05 + 0.01 * rng.random((4, 10))
    ds = change_tests(_change_ds(rel, langs, units), n_perm=2000)
    assert ds.attrs["onset_rel_change"] == 3
    assert list(ds["lang_significant"].to_series().pipe(lambda s: s[s]).index) == ["hi"]
    noise = change_tests(_change_ds(1e-6 * rng.random((7, 40)), langs, units), n_perm=2000)
    assert not noise["lang_significant"].any() and noise.attrs["onset_rel_change"] == -1
    both = rel.copy()
    both[3:, langs == "sw"] = both[3:, langs == "hi"]
    tie = change_tests(_change_ds(both, langs, units), n_perm=2000)
    assert not tie["lang_significant"].any()  # changed, but neither singled out
    assert (tie["lang_changed_p_bh"].sel(tested_lang=["hi", "sw"]) < 0.05).all()
