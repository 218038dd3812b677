"""Quantization (issue 7) and model-diffing (issue 8) figures and report sections.

The result sets are made by the REAL pipelines on the tiny random model ``tiny-cohere2``
(``pipelines.quant.run`` and ``pipelines.diff.run``); the
tests assert on the data actually drawn (line y-data, CI band polygons, scatter offsets, bar
heights) against the stored files, read independently of ``figures.Results``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from figures_fixture import assert_band as assert_band_within  # noqa: E402
from figures_fixture import the  # noqa: E402

from polylens.figures import REGISTRY, available, make_figure, render_all  # noqa: E402
from polylens.figures.quant.evaluate import degradation_order, intervention_families  # noqa: E402
from polylens.figures.report import build_report  # noqa: E402

QUANT_FIGS = {
    "quant_degradation_by_language",
    "quant_disparity_by_config",
    "quant_disparity_vs_keep",
    "quant_fertility_vs_degradation",
    "quant_weight_kurtosis",
    "quant_sink_by_layer",
    "quant_specific_heads_by_layer",
}
DIFF_FIGS = {"diff_cka_by_layer", "diff_kl_by_layer", "diff_alpha_sweep", "diff_controls"}
LANGS = ["en", "fr", "hi", "sw", "am", "yo"]  # 3 high, 3 low resource
CONFIGS = ("int8-pc", "int3-pc", "int3-pc-keep1")  # int3-pc at k = 0 and 1%: one intervention curve


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def quant_dir(tmp_path_factory) -> Path:
    from polylens.pipelines import quant

    out = tmp_path_factory.mktemp("quant")
    data = dict(model="tiny-cohere2", out=out, langs=tuple(LANGS), units=3)
    quant.run(quant.WeightsConfig(model="tiny-cohere2", out=out))
    quant.run(quant.EvaluateConfig(configs=CONFIGS, n_boot=50, n_perm=50, **data))
    quant.run(quant.SinksConfig(n_boot=50, n_perm=50, **data))
    quant.run(quant.HeadsConfig(n_perm=50, **data))
    shutil.rmtree(out / "scores")  # cached raw scores are not results
    return out


@pytest.fixture(scope="session")
def diff_dir(tmp_path_factory) -> Path:
    from polylens.pipelines.diff import DiffConfig, run

    out = tmp_path_factory.mktemp("diff")
    cfg = DiffConfig(
        a="tiny-cohere2",
        b="tiny-cohere2-fire",
        out=out,
        probes="udhr",
        langs=("en", "fr", "hi"),
        limit=4,
        k_positions=4,
        n_boot=50,
        alphas=(0.0, 0.5, 1.0),
        sites=("resid_post",),
        methods=("ridge",),
        patch_layers=(2,),
    )
    run(cfg)
    return out


def _load(path: Path) -> xr.Dataset:
    with xr.open_dataset(path) as ds:
        return ds.load()


@pytest.fixture(scope="session")
def ev(quant_dir):
    return _load(quant_dir / "evaluate.nc")


@pytest.fixture(scope="session")
def dd(diff_dir):
    return _load(diff_dir / "diff.nc")


@pytest.fixture
def draw():
    made = []

    def _draw(name, path):
        fig = make_figure(name, path)
        made.append(fig)
        return fig

    yield _draw
    for f in made:
        plt.close(f)


def assert_band(coll, x, lo, hi):
    """The band polygon's vertices at each x are exactly the stored bounds (float64 files)."""
    assert_band_within(coll, x, lo, hi, atol=1e-12)


def bar_heights(fig, gid):
    """Heights of the bars carrying ``gid`` (``ax.bar(..., gid=...)`` tags every rectangle), in order."""
    bars = fig.findobj(lambda a: a.get_gid() == gid)
    assert bars, f"no bars with gid {gid!r}"
    return [b.get_height() for b in bars]


def segments(coll, axis: int):
    """(lo, hi) per segment of an errorbar LineCollection along ``axis`` (0 = x, 1 = y)."""
    segs = coll.get_segments()
    return np.array([min(s[:, axis]) for s in segs]), np.array([max(s[:, axis]) for s in segs])


# ------------------------------------------------------------------------------ registry
def test_each_directory_renders_exactly_its_figures(quant_dir, diff_dir, tmp_path):
    assert {s.name for s in available(quant_dir)} == QUANT_FIGS
    assert {s.name for s in available(diff_dir)} == DIFF_FIGS
    out = render_all(quant_dir, tmp_path / "q")
    assert set(out) == QUANT_FIGS and all(p.stat().st_size > 3000 for ps in out.values() for p in ps)
    assert set(render_all(diff_dir, tmp_path / "d", formats=["svg"])) == DIFF_FIGS
    assert QUANT_FIGS | DIFF_FIGS <= set(REGISTRY)
    from polylens.figures.registry import PLUGIN_MODULES

    assert {"polylens.figures.quant", "polylens.figures.diff"} <= set(PLUGIN_MODULES)


def test_partial_results_render_what_they_hold(quant_dir, dd, tmp_path):
    """Only weights.nc -> only the kurtosis figure; a --skip-maps diff (no sweep / controls),
    written by the diffing writer, -> CKA and KL only."""
    from polylens.pipelines.diff import write_results

    w = tmp_path / "w"
    w.mkdir()
    shutil.copy(quant_dir / "weights.nc", w)
    assert [s.name for s in available(w)] == ["quant_weight_kurtosis"]
    skip = dd.drop_vars(
        [
            v
            for v in dd.data_vars
            if v.startswith(("sweep", "control", "kl_reduction", "best_alpha", "transport"))
        ]
    )
    write_results(skip, tmp_path / "s")
    assert {s.name for s in available(tmp_path / "s")} == {"diff_cka_by_layer", "diff_kl_by_layer"}
    html = build_report(tmp_path / "s", tmp_path / "s.html").read_text()
    assert "Model diffing" in html and "Mapped patching and controls" not in html


def test_renders_are_deterministic(quant_dir, diff_dir, tmp_path):
    for d in (quant_dir, diff_dir):
        a = render_all(d, tmp_path / "a")
        b = render_all(d, tmp_path / "b")
        for name in a:
            for pa, pb in zip(a[name], b[name]):
                assert pa.read_bytes() == pb.read_bytes(), pa.name


# ------------------------------------------------------------------------------ quantization: data drawn
def test_degradation_by_language_draws_stored_values_grouped_by_resource(draw, quant_dir, ev):
    fig = draw("quant_degradation_by_language", quant_dir)
    order = degradation_order(ev)
    res = [str(ev["resource"].sel(lang=g).values) for g in order]
    assert res == sorted(res, key=["high", "medium", "low"].index) and set(order) == set(LANGS)
    for v in CONFIGS:
        s = ev.sel(variant=v)
        for r in ("high", "low"):
            langs = [g for g, rr in zip(order, res) if rr == r]
            line = the(fig, f"rel_degradation:{v}:{r}")
            np.testing.assert_array_equal(line.get_xdata(), s["rel_degradation"].sel(lang=langs).values)
            np.testing.assert_array_equal(line.get_ydata(), [order.index(g) for g in langs])
            lo, hi = segments(the(fig, f"rel_degradation_ci:{v}:{r}"), 0)
            np.testing.assert_allclose(lo, s["rel_degradation_lo"].sel(lang=langs).values, rtol=0, atol=1e-12)
            np.testing.assert_allclose(hi, s["rel_degradation_hi"].sel(lang=langs).values, rtol=0, atol=1e-12)
            colors = {matplotlib.colors.to_hex(line.get_color())}
            assert colors == {{"high": "#0072b2", "low": "#d55e00"}[r]}
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks[0].endswith(f"({order[0]})") and len(ticks) == len(LANGS)


def test_disparity_by_config_and_parity(draw, quant_dir, ev):
    fig = draw("quant_disparity_by_config", quant_dir)
    np.testing.assert_array_equal(the(fig, "disparity_ratio").get_ydata(), ev["disparity_ratio"].values)
    lo, hi = segments(the(fig, "disparity_ratio_ci"), 1)
    np.testing.assert_allclose(lo, ev["disparity_ratio_lo"].values, atol=1e-12)
    np.testing.assert_allclose(hi, ev["disparity_ratio_hi"].values, atol=1e-12)
    assert list(the(fig, "parity").get_ydata()) == [1.0, 1.0]


def test_disparity_vs_keep_is_the_intervention_curve(draw, quant_dir, ev):
    fams = intervention_families(ev)
    assert fams == {(3, 0): ["int3-pc", "int3-pc-keep1"]}
    fig = draw("quant_disparity_vs_keep", quant_dir)
    s = ev.sel(variant=["int3-pc", "int3-pc-keep1"])
    line = the(fig, "disparity_ratio:int3 per-channel")
    np.testing.assert_array_equal(line.get_xdata(), [0.0, 1.0])
    np.testing.assert_array_equal(line.get_ydata(), s["disparity_ratio"].values)
    assert_band(
        the(fig, "disparity_ratio_ci:int3 per-channel"),
        [0.0, 1.0],
        s["disparity_ratio_lo"].values,
        s["disparity_ratio_hi"].values,
    )
    assert list(the(fig, "parity").get_ydata()) == [1.0, 1.0]
    assert line.axes.get_xscale() == "symlog"


def test_fertility_scatter_fit_and_band_are_stored(draw, quant_dir, ev):
    fig = draw("quant_fertility_vs_degradation", quant_dir)
    drawn = [v for v in CONFIGS if float(ev["keep_percent"].sel(variant=v)) == 0]
    for p in ("fertility_tokens_per_byte", "fertility_tokens_per_unit"):
        x = ev["predictor_value"].sel(predictor=p).values
        for v in drawn:
            s = ev.sel(variant=v, corr_predictor=p)
            y = s["rel_degradation"].values
            np.testing.assert_array_equal(the(fig, f"points:{p}:{v}").get_offsets(), np.column_stack([x, y]))
            fit = the(fig, f"fit:{p}:{v}")
            np.testing.assert_array_equal(fit.get_xdata(), s["fit_x"].values)
            np.testing.assert_array_equal(fit.get_ydata(), s["fit_y"].values)
            assert_band(
                the(fig, f"fit_ci:{p}:{v}"), s["fit_x"].values, s["fit_y_lo"].values, s["fit_y_hi"].values
            )
            # the stored fit (written by the pipeline) is the least-squares line over languages
            slope, icpt = np.polyfit(x, y, 1)
            np.testing.assert_allclose(
                s["fit_y"].values, icpt + slope * s["fit_x"].values, rtol=1e-9, atol=1e-12
            )
            np.testing.assert_allclose(s["fit_x"].values[[0, -1]], [x.min(), x.max()])
            assert float(s["fit_slope_lo"]) <= float(s["fit_slope_hi"])
            r = float(s["correlation"].sel(stat="pearson_r"))
            assert f"r = {r:.2f}" in the(fig, f"r:{p}:{v}").get_text()
    assert not fig.findobj(lambda a: a.get_gid() == "points:fertility_tokens_per_byte:int3-pc-keep1")


def test_weight_kurtosis_sinks_and_heads(draw, quant_dir):
    w = _load(quant_dir / "weights.nc")
    fig = draw("quant_weight_kurtosis", quant_dir)
    assert len(w["matrix"]) == 7
    for m in w["matrix"].values:
        line = the(fig, f"kurtosis:{m}")
        np.testing.assert_array_equal(line.get_xdata(), w["layer"].values)
        np.testing.assert_array_equal(line.get_ydata(), w["kurtosis"].sel(matrix=m).values)
    s = _load(quant_dir / "sinks.nc")
    fig = draw("quant_sink_by_layer", quant_dir)
    np.testing.assert_array_equal(the(fig, "layer_sink").get_ydata(), s["layer_sink"].values)
    assert_band(
        the(fig, "layer_sink_ci"), s["block"].values, s["layer_sink_lo"].values, s["layer_sink_hi"].values
    )
    h = _load(quant_dir / "heads.nc")
    np.testing.assert_array_equal(h["specific_share"].values, h["specific"].mean("head").values)
    fig = draw("quant_specific_heads_by_layer", quant_dir)
    for m in h["metric"].values:
        np.testing.assert_array_equal(
            bar_heights(fig, f"specific_share:{m}"), h["specific_share"].sel(metric=m).values
        )
        np.testing.assert_array_equal(
            bar_heights(fig, f"significant_share:{m}"), h["significant_share"].sel(metric=m).values
        )


# ------------------------------------------------------------------------------ diffing: data drawn
def test_diff_cka_and_kl_by_layer(draw, diff_dir, dd):
    layers = dd["layer"].values
    fig = draw("diff_cka_by_layer", diff_dir)
    for kind in ("linear", "debiased"):
        np.testing.assert_array_equal(the(fig, f"cka:{kind}").get_ydata(), dd["cka"].sel(kind=kind).values)
        ci = dd["cka_ci"].sel(kind=kind)
        assert_band(the(fig, f"cka_ci:{kind}"), layers, ci.sel(ci="lo").values, ci.sel(ci="hi").values)
    fig = draw("diff_kl_by_layer", diff_dir)
    for d in ("a_to_b", "b_to_a"):
        line = the(fig, f"kl:{d}")
        np.testing.assert_array_equal(line.get_xdata(), layers)
        np.testing.assert_array_equal(line.get_ydata(), dd["kl"].sel(direction=d).values)
        ci = dd["kl_ci"].sel(direction=d)
        assert_band(the(fig, f"kl_ci:{d}"), layers, ci.sel(ci="lo").values, ci.sel(ci="hi").values)
    assert (dd["kl"].values > 0).all()  # two different models: both directions move the output
    assert the(fig, "peak_kl_layer").get_xdata()[0] == dd.attrs["peak_kl_layer"]
    assert the(fig, "control_layer").get_xdata()[0] == dd.attrs["control_layer"]
    labels = [t.get_text() for t in the(fig, "kl:a_to_b").axes.get_legend().get_texts()]
    assert labels[0] == "A → B: tiny-cohere2 into tiny-cohere2-fire"


def test_diff_alpha_sweep_draws_validation_sweep(draw, diff_dir, dd):
    fig = draw("diff_alpha_sweep", diff_dir)
    alphas = dd["alpha"].values
    for p in ("raw", "mapped"):
        sel = dict(sweep_split="val", site="resid_post", patch_layer=2, patch=p)
        line = the(fig, f"sweep_kl:resid_post:2:{p}")
        np.testing.assert_array_equal(line.get_xdata(), alphas)
        np.testing.assert_array_equal(line.get_ydata(), dd["sweep_kl"].sel(**sel).values)
        ci = dd["sweep_kl_ci"].sel(**sel)
        assert_band(
            the(fig, f"sweep_kl_ci:resid_post:2:{p}"), alphas, ci.sel(ci="lo").values, ci.sel(ci="hi").values
        )
    assert the(fig, "best_alpha:resid_post:2").get_xdata()[0] == float(
        dd["best_alpha_train"].sel(site="resid_post", patch_layer=2)
    )


def test_diff_controls_bar_heights_are_stored_kl(draw, diff_dir, dd):
    fig = draw("diff_controls", diff_dir)
    conds = ["raw", "mapped", "mismatched_layer", "shuffled_pairs"]
    c = dd.sel(site="resid_post", patch_layer=2)
    np.testing.assert_array_equal(
        bar_heights(fig, "control_kl:resid_post:2"), c["control_kl"].sel(condition=conds).values
    )
    lo, hi = segments(the(fig, "control_kl_ci:resid_post:2"), 1)
    np.testing.assert_allclose(lo, c["control_kl_ci"].sel(condition=conds, ci="lo").values, atol=1e-15)
    np.testing.assert_allclose(hi, c["control_kl_ci"].sel(condition=conds, ci="hi").values, atol=1e-15)
    assert the(fig, "ablate:resid_post:2").get_ydata()[0] == float(c["control_kl"].sel(condition="ablate"))


# ------------------------------------------------------------------------------ report
def _imgs(html: str) -> list[str]:
    return re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)


def test_quant_report_section(quant_dir, ev, tmp_path):
    html = build_report(quant_dir, tmp_path / "q.html").read_text()
    assert '<section id="quantization"><h2>Quantization</h2>' in html
    assert "Layer explorer" not in html and "<script>" not in html  # no alignment results, no explorer
    assert len(_imgs(html)) == len(QUANT_FIGS)
    for name in QUANT_FIGS:
        assert f'id="fig-{name}"' in html
    for v in CONFIGS:  # the headline table: disparity per config with its CI, as stored
        s = ev.sel(variant=v)
        cell = (
            f"{float(s.disparity_ratio):.2f} <span class=ci>[{float(s.disparity_ratio_lo):.2f}, "
            f"{float(s.disparity_ratio_hi):.2f}]</span>"
        )
        assert f"<code>{v}</code>" in html and cell in html, v
    assert "tiny-cohere2" in html and "6 languages (3 low, 3 high resource)" in html
    assert build_report(quant_dir, tmp_path / "q2.html").read_bytes() == (tmp_path / "q.html").read_bytes()


def test_diff_report_section(diff_dir, dd, tmp_path):
    html = build_report(diff_dir, tmp_path / "d.html").read_text()
    assert '<section id="diffing"><h2>Model diffing</h2>' in html and "Quantization" not in html
    assert "<title>polylens report: tiny-cohere2 vs tiny-cohere2-fire</title>" in html
    assert len(_imgs(html)) == len(DIFF_FIGS)
    c = dd.sel(site="resid_post", patch_layer=2)
    for cond in ("raw", "mapped", "mismatched_layer", "shuffled_pairs", "ablate"):
        kl, ci = c["control_kl"].sel(condition=cond), c["control_kl_ci"].sel(condition=cond)
        row = (
            f"<td>{cond.replace('_', ' ')}</td><td>{float(kl):.3g} <span class=ci>[{float(ci[0]):.3g}, "
            f"{float(ci[1]):.3g}]</span></td>"
        )
        assert row in html, cond


def test_combined_directory_report_and_cli(quant_dir, diff_dir, tmp_path, capsys):
    """Alignment + quantization + diffing results in one directory: every section, every figure."""
    from figures_fixture import make_results

    from polylens import cli

    both = make_results(tmp_path / "all", n_boot=30, n_perm=50)
    for d in (quant_dir, diff_dir):
        for f in d.iterdir():
            shutil.copy(f, both)
    specs = available(both)
    assert QUANT_FIGS | DIFF_FIGS <= {s.name for s in specs}
    assert cli.main(["report", "--results", str(both), "--out", str(tmp_path / "all.html")]) == 0
    html = (tmp_path / "all.html").read_text()
    ids = re.findall(r'<section id="([a-z]+)">', html)
    assert ids[:2] == ["methods", "headline"] and ids.index("quantization") < ids.index("diffing")
    assert len(_imgs(html)) == len(specs) and "explorer-data" in html
    assert (
        cli.main(["figures", "--results", str(diff_dir), "--out", str(tmp_path / "f"), "--formats", "svg"])
        == 0
    )
    assert sorted(p.stem for p in (tmp_path / "f").glob("*.svg")) == sorted(DIFF_FIGS)
    assert (tmp_path / "f" / "run.json").is_file()  # the run the figures were drawn from
    assert (
        cli.main(
            [
                "figures",
                "--results",
                str(quant_dir),
                "--out",
                str(tmp_path / "g"),
                "--formats",
                "png",
                "--only",
                "quant_disparity_vs_keep",
            ]
        )
        == 0
    )
    assert [p.name for p in (tmp_path / "g").glob("*.png")] == ["quant_disparity_vs_keep.png"]
    capsys.readouterr()


def test_rendering_never_imports_torch_or_hooks(quant_dir, diff_dir, tmp_path):
    code = f"""
import sys, importlib.abc
BLOCK = ('torch', 'transformer_lens', 'transformers', 'hooks')
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCK or (name.startswith('polylens.hooks') and name not in ('polylens.hooks', 'polylens.hooks.method', 'polylens.hooks.sites')):
            raise ImportError('figures must not import ' + name)
sys.meta_path.insert(0, Block())
sys.path.insert(0, {str(ROOT)!r})
import polylens.figures as figures, polylens.figures.report
for d, o in (({str(quant_dir)!r}, 'q'), ({str(diff_dir)!r}, 'd')):
    figures.render_all(d, {str(tmp_path)!r} + '/' + o, formats=['png'])
    figures.report.build_report(d, {str(tmp_path)!r} + '/' + o + '.html')
bad = [m for m in sys.modules if m.split('.')[0] in BLOCK or (m.startswith('polylens.hooks') and m not in ('polylens.hooks', 'polylens.hooks.method', 'polylens.hooks.sites')) or m in ('polylens.analysis.quantization', 'polylens.analysis.diffing')]
assert not bad, bad
print('ok')
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
    assert len(list((tmp_path / "q").glob("*.png"))) == len(QUANT_FIGS)
