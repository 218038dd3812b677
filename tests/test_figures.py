"""Tests for figures/: every figure drawn from a stored result set made by the REAL analysis,
with assertions on the data actually drawn; determinism; no torch; CLI; the HTML report in
headless Chromium."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from figures_fixture import assert_band, make_results, the  # noqa: E402

from polylens.errors import StorageError, ToolkitError  # noqa: E402
from polylens.figures import REGISTRY, Results, available, make_figure, render_all  # noqa: E402
from polylens.figures.alignment.choices import collapse_layer, three_panel_langs  # noqa: E402
from polylens.figures.style import OKABE_ITO  # noqa: E402


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def results_dir(tmp_path_factory) -> Path:
    return make_results(tmp_path_factory.mktemp("results") / "run")


@pytest.fixture(scope="session")
def res(results_dir) -> Results:
    return Results(results_dir)


@pytest.fixture(scope="session")
def nc(results_dir) -> xr.Dataset:
    with xr.open_dataset(results_dir / "alignment.nc") as ds:  # independent read, not via Results
        return ds.load()


@pytest.fixture(scope="session")
def rendered(results_dir, tmp_path_factory) -> dict[str, list[Path]]:
    return render_all(results_dir, tmp_path_factory.mktemp("figs"))


@pytest.fixture
def draw(res):
    made = []

    def _draw(name):
        fig = make_figure(name, res)
        made.append(fig)
        return fig

    yield _draw
    for f in made:
        plt.close(f)


# ------------------------------------------------------------------------------ registry
def test_registry_renders_every_figure_as_png_and_svg(rendered):
    out = rendered
    # the full alignment result set allows every alignment figure (quant/diff figures need their own files)
    assert set(out) == {
        n for n, s in REGISTRY.items() if s.func.__module__.startswith("polylens.figures.alignment.")
    }
    for name, paths in out.items():
        assert [p.suffix for p in paths] == [".png", ".svg"]
        assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[0].stat().st_size > 5000
        assert b"<svg" in paths[1].read_bytes()[:2000]
    names = {
        "alignment_curves",
        "three_panel",
        "rise_peak_collapse",
        "commitment_heatmap",
        "commitment_by_concept",
        "threshold_sweep",
        "retrieval_by_layer",
        "cka_by_layer",
    }
    assert names <= set(out)


def test_registry_renders_only_what_the_files_allow(results_dir, tmp_path):
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(results_dir / "commitment_matrix.csv", partial)
    assert [s.name for s in available(partial)] == ["commitment_heatmap"]
    assert set(render_all(partial, tmp_path / "out")) == {"commitment_heatmap"}
    with pytest.raises(ToolkitError, match="needs alignment.nc"):
        make_figure("alignment_curves", partial)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StorageError, match="empty"):
        render_all(empty, tmp_path / "o")
    with pytest.raises(StorageError, match="does not exist"):
        render_all(tmp_path / "missing", tmp_path / "o")
    with pytest.raises(ToolkitError, match="unknown figure"):
        render_all(results_dir, tmp_path / "o", only=["nope"])


def test_figure_decorator_extends_registry_with_variable_level_needs(results_dir, tmp_path):
    from polylens.figures.registry import figure

    @figure("test_extra_quant", needs=["quant.nc:disparity"])
    def _extra(res):  # pragma: no cover - never drawn here
        raise AssertionError

    try:
        assert "test_extra_quant" not in [s.name for s in available(results_dir)]
        assert Results(results_dir).has("alignment.nc:cka") and not Results(results_dir).has(
            "alignment.nc:nope"
        )
    finally:
        REGISTRY.pop("test_extra_quant")


# ------------------------------------------------------------------------------ data drawn
def test_alignment_curves_draw_stored_curves_ci_and_null(draw, res, nc, results_dir):
    fig = draw("alignment_curves")
    curves = json.loads((results_dir / "alignment_curves.json").read_text())
    layers = nc["layer"].values
    assert res.langs == ["sw", "hi", "am", "fr", "yo"]  # reference (en) excluded
    for g in res.langs:
        for v in res.variants:
            s = nc.sel(variant=v, lang=g)
            line = the(fig, f"cos:{v}:{g}")
            np.testing.assert_array_equal(line.get_xdata(), layers)
            np.testing.assert_array_equal(line.get_ydata(), s["cos"].values)
            np.testing.assert_allclose(
                line.get_ydata(), curves[v][g], atol=1e-6
            )  # same as the JSON side file
            assert_band(
                the(fig, f"cos_ci:{v}:{g}"),
                layers,
                s["cos_ci"].sel(ci="lo").values,
                s["cos_ci"].sel(ci="hi").values,
            )
            assert_band(the(fig, f"null:{v}:{g}"), layers, s["null_mean"].values, s["null_q95_mean"].values)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert "Hindi (hi) · Devanagari" in titles and "Amharic (am) · Ethiopic" in titles


def test_three_panel_picks_latin_indic_ethiopic_from_script_coord(draw, res, nc):
    picks = three_panel_langs(res)
    assert [g for g, _ in picks] == ["sw", "hi", "am"]
    assert [str(nc["script"].sel(lang=g).values) for g, _ in picks] == ["Latn", "Deva", "Ethi"]
    fig = draw("three_panel")
    layers = nc["layer"].values
    for g, _ in picks:  # lead metrics, each over its OWN per-layer null (not one shared band)
        for var, panel, null in (
            ("cos_centred", f"panel:{g}", "null_centred"),
            ("retrieval_mexa", f"panel_retrieval_mexa:{g}", "null_mexa"),
        ):
            ax = the(fig, panel)
            for v in res.variants:
                s = nc.sel(variant=v, lang=g)
                line = the(fig, f"{var}:{v}:{g}")
                assert line.axes is ax
                np.testing.assert_array_equal(line.get_ydata(), s[var].values)
                band = the(fig, f"null_{var}:{v}:{g}")
                assert band.axes is ax
                assert_band(band, layers, s[f"{null}_mean"].values, s[f"{null}_q95"].values)
        assert not fig.findobj(
            lambda a: a.get_gid() == f"cos:{res.variants[0]}:{g}"
        )  # raw: not a lead metric
    assert the(fig, f"panel:{picks[0][0]}").get_ylabel().startswith("centred cosine")
    assert [ax.get_title() for ax in fig.axes][:3] == [
        "Swahili (sw) — Latin script",
        "Hindi (hi) — Indic script",
        "Amharic (am) — Ethiopic script",
    ]


def test_rise_peak_collapse_marks_are_at_stored_layers(draw, res, nc, results_dir):
    fig = draw("rise_peak_collapse")
    v, g = "base", "hi"  # baseline variant, the Indic panel
    s = nc.sel(variant=v, lang=g)
    np.testing.assert_array_equal(the(fig, f"cos:{v}:{g}").get_ydata(), s["cos"].values)
    peak = the(fig, "peak")
    assert peak.get_xdata()[0] == float(s["peak_layer"]) and peak.get_ydata()[0] == pytest.approx(
        float(s["peak_cos"])
    )
    seg = the(fig, "peak_ci").get_segments()[0]
    np.testing.assert_allclose(sorted(seg[:, 1]), s["peak_cos_ci"].values, atol=1e-9)
    # collapse recomputed here from the stored arrays by its documented rule
    tau = float(nc.attrs["analysis_tau"])
    after = (nc["layer"].values > float(s["peak_layer"])) & (s["cos_ci"].sel(ci="hi").values < tau)
    expected = float(nc["layer"].values[np.argmax(after)])
    assert after.any() and collapse_layer(res, v, g) == expected
    col = the(fig, "collapse")
    assert col.get_xdata()[0] == expected and col.get_ydata()[0] == pytest.approx(
        float(s["cos"].sel(layer=expected))
    )
    assert float(s["peak_layer"]) < expected < nc["layer"].values[-1]
    cm = pd.read_csv(results_dir / "commitment_matrix.csv").set_index(["variant", "lang"])
    commit = the(fig, "commit")
    assert commit.get_xdata()[0] == cm.loc[(v, g), "commit_layer"]
    assert the(fig, "peak_label").xy[0] == float(s["peak_layer"])
    assert the(fig, "collapse_label").xy[0] == expected


def test_collapse_fallback_when_peak_below_tau(res, nc):
    s = nc.sel(variant="base", lang="yo")  # never reaches tau
    assert float(s["peak_cos"]) < float(nc.attrs["analysis_tau"])
    after = (nc["layer"].values > float(s["peak_layer"])) & (
        s["cos_ci"].sel(ci="hi").values < float(s["peak_cos_ci"][0])
    )
    expected = float(nc["layer"].values[np.argmax(after)]) if after.any() else float("nan")
    np.testing.assert_equal(collapse_layer(res, "base", "yo"), expected)


def test_commitment_heatmap_array_equals_commitment_matrix(draw, results_dir):
    fig = draw("commitment_heatmap")
    cm = pd.read_csv(results_dir / "commitment_matrix.csv")
    expected = cm.pivot(index="lang", columns="variant", values="commit_layer")
    expected = expected.loc[list(dict.fromkeys(cm["lang"])), list(dict.fromkeys(cm["variant"]))]
    im = the(fig, "commitment")
    arr = im.get_array()
    np.testing.assert_array_equal(np.ma.getmaskarray(arr), expected.isna().values)
    np.testing.assert_array_equal(arr.filled(np.nan), expected.values)
    assert expected.loc["yo"].isna().all()  # the fixture's never-committing language
    assert the(fig, "cell:yo:base").get_text() == "never"
    r = cm.set_index(["lang", "variant"]).loc[("hi", "fire")]
    assert (
        the(fig, "cell:hi:fire").get_text() == f"{r.commit_layer:g}\n[{r.commit_ci_lo:g}, {r.commit_ci_hi:g}]"
    )
    ax = im.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "Swahili (sw)",
        "Hindi (hi)",
        "Amharic (am)",
        "French (fr)",
        "Yoruba (yo)",
    ]


def test_commitment_by_concept_equals_per_unit_commitment(draw, res, nc):
    fig = draw("commitment_by_concept")
    for v in res.variants:
        arr = the(fig, f"commit_unit:{v}").get_array()
        expected = nc["commit_unit"].sel(variant=v, lang=res.langs).transpose("concept", "lang").values
        np.testing.assert_array_equal(np.ma.getmaskarray(arr), np.isnan(expected))
        np.testing.assert_array_equal(arr.filled(np.nan), expected)
    assert np.isnan(nc["commit_unit"].sel(lang="am", concept="c15")).all()  # missing unit stays masked


def test_threshold_sweeps_draw_stored_sweep(draw, res, nc):
    for name, var in (
        ("threshold_sweep", "sweep_n_committed"),
        ("threshold_sweep_layer", "sweep_commit_layer"),
    ):
        fig = draw(name)
        for g in res.langs:
            for v in res.variants:
                line = the(fig, f"{var}:{v}:{g}")
                np.testing.assert_array_equal(line.get_xdata(), nc["tau"].values)
                np.testing.assert_array_equal(line.get_ydata(), nc[var].sel(variant=v, lang=g).values)
            if name == "threshold_sweep":
                assert the(fig, f"tau:{g}").get_xdata()[0] == float(nc.attrs["analysis_tau"])


@pytest.mark.parametrize(
    "name,var,ci",
    [
        ("retrieval_by_layer", "retrieval_mexa", True),
        ("cka_by_layer", "cka", False),
        ("cka_debiased_by_layer", "cka_debiased", False),
        ("margin_by_layer", "margin", True),
    ],
)
def test_layer_metric_figures_draw_stored_values(draw, res, nc, name, var, ci):
    fig = draw(name)
    for g in res.langs:
        for v in res.variants:
            s = nc.sel(variant=v, lang=g)
            np.testing.assert_array_equal(the(fig, f"{var}:{v}:{g}").get_ydata(), s[var].values)
            if ci:
                assert_band(
                    the(fig, f"{var}_ci:{v}:{g}"),
                    nc["layer"].values,
                    s[f"{var}_ci"].sel(ci="lo").values,
                    s[f"{var}_ci"].sel(ci="hi").values,
                )


def test_single_variant_results_without_script_coord(tmp_path):
    from figures_fixture import make_activation_ds

    from polylens.analysis.alignment import run_analysis
    from polylens.figures.report import build_report

    ds = make_activation_ds(n_units=8, d=24).sel(variant=["base"]).drop_vars("script")
    run_analysis(ds, tmp_path / "r", n_boot=30, n_perm=50)
    res = Results(tmp_path / "r")
    assert res.table("stats.csv").empty  # no variant pairs
    assert [g for g, _ in three_panel_langs(res)] == ["sw", "hi", "am"]  # scripts from probes.LANGUAGES
    fig = make_figure("three_panel", res)
    assert fig.axes[1].get_title() == "Hindi (hi) — Indic script"
    plt.close(fig)
    html = build_report(tmp_path / "r", tmp_path / "r.html").read_text()
    assert "No variant tests" in html and "Q4_K_M" not in html


# ------------------------------------------------------------------------------ style
def test_palette_is_okabe_ito_and_variants_are_distinguishable(draw, res):
    fig = draw("alignment_curves")
    allowed = {c.lower() for c in OKABE_ITO.values()}
    styles = set()
    for v in res.variants:
        line = the(fig, f"cos:{v}:hi")
        assert matplotlib.colors.to_hex(line.get_color()) in allowed
        styles.add((matplotlib.colors.to_hex(line.get_color()), str(line.get_linestyle())))
    assert len(styles) == len(res.variants)  # colour AND dash differ


def test_output_is_deterministic_without_dates(results_dir, rendered, tmp_path):
    a = rendered
    b = render_all(results_dir, tmp_path / "b")
    for name in a:
        for pa, pb in zip(a[name], b[name]):
            assert pa.read_bytes() == pb.read_bytes(), pa.name
    svg = a["alignment_curves"][1].read_text()
    assert "<dc:date>" not in svg and "Matplotlib v" not in svg
    png = a["alignment_curves"][0].read_bytes()
    assert b"tIME" not in png and b"matplotlib version" not in png.lower()


def test_figures_and_report_never_import_torch_or_models(results_dir, rendered, tmp_path):
    """The report draws every registered figure; one figure is also saved and must be byte-identical
    to the one rendered in this process (determinism across processes)."""
    code = f"""
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'transformer_lens', 'transformers') or (name.startswith('polylens.hooks') and name not in ('polylens.hooks', 'polylens.hooks.method', 'polylens.hooks.sites')):
            raise ImportError('figures must not import ' + name)
sys.meta_path.insert(0, Block())
sys.path.insert(0, {str(ROOT)!r})
import polylens.figures as figures, polylens.figures.report
figures.render_all({str(results_dir)!r}, {str(tmp_path / "f")!r}, only=['rise_peak_collapse'])
figures.report.build_report({str(results_dir)!r}, {str(tmp_path / "r.html")!r})
bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformer_lens', 'transformers') or (m.startswith('polylens.hooks') and m not in ('polylens.hooks', 'polylens.hooks.method', 'polylens.hooks.sites'))]
assert not bad, bad
print('ok')
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
    for p in rendered["rise_peak_collapse"]:
        assert (tmp_path / "f" / p.name).read_bytes() == p.read_bytes(), p.name


# ------------------------------------------------------------------------------ CLI
def test_cli_figures_and_report(results_dir, tmp_path, capsys):
    from polylens import cli

    assert (
        cli.main(
            [
                "figures",
                "--results",
                str(results_dir),
                "--out",
                str(tmp_path / "f"),
                "--formats",
                "svg",
                "--only",
                "three_panel",
                "commitment_heatmap",
            ]
        )
        == 0
    )
    written = sorted(p.name for p in (tmp_path / "f").iterdir())
    assert written == ["commitment_heatmap.svg", "run.json", "three_panel.svg"]  # run.json: the run drawn
    assert cli.main(["report", "--results", str(results_dir), "--out", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").is_file() and "wrote" in capsys.readouterr().out
    assert cli.main(["figures", "--results", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err


# ------------------------------------------------------------------------------ report
@pytest.fixture(scope="session")
def report_html(results_dir, tmp_path_factory) -> Path:
    from polylens.figures.report import build_report

    return build_report(results_dir, tmp_path_factory.mktemp("report") / "report.html")


def test_report_is_self_contained_and_holds_stored_numbers(report_html, results_dir, nc, tmp_path):
    from polylens.figures.report import build_report

    text = report_html.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", text)  # no network resources
    assert "<link" not in text and "@import" not in text
    imgs = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(imgs) == len(available(results_dir))
    data = json.loads(
        re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', text, re.S)
        .group(1)
        .replace("<\\/", "</")
    )
    for m in ("cos_centred", "retrieval_mexa", "cos"):
        np.testing.assert_allclose(
            data["series"][m]["value"]["fire"]["hi"], nc[m].sel(variant="fire", lang="hi").values, atol=1e-6
        )
        np.testing.assert_allclose(
            data["series"][m]["hi"]["earth"]["am"],
            nc[f"{m}_ci"].sel(variant="earth", lang="am", ci="hi"),
            atol=1e-6,
        )
    np.testing.assert_allclose(
        data["series"]["retrieval_mexa"]["null_q95"]["base"]["sw"],
        nc["null_mexa_q95"].sel(variant="base", lang="sw"),
        atol=1e-6,
    )
    assert data["layer_labels"][0] == "embed" and len(data["layers"]) == nc.sizes["layer"]
    for needle in (
        "synthetic/tiny-aya-like",
        "aa11",
        "bb22",
        "cc33",
        "4.3.0",
        "pooling",
        "mean",
        "analysis_n_boot",
        "Hindi (hi)",
    ):
        assert needle in text, needle
    from polylens.analysis.summary import ci_decimals

    sm = pd.read_csv(results_dir / "summary.csv").set_index(["variant", "lang"])
    r = sm.loc[("fire", "hi")]
    for m in ("centred", "mexa", "raw_cos"):  # stored selection-aware peaks, verbatim
        peak, lo, hi = (getattr(r, f"{m}_peak{k}") for k in ("", "_lo", "_hi"))
        d = ci_decimals(lo, hi, 3)
        assert f"{peak:.{d}f} <span class=ci>[{lo:.{d}f}, {hi:.{d}f}]" in text, m
    again = build_report(results_dir, tmp_path / "again.html")
    assert again.read_bytes() == report_html.read_bytes()  # deterministic


def _chromium_or_skip():
    from _cdp import find_chromium

    pytest.importorskip(
        "websocket", reason="PyPI websocket-client is needed to drive chromium (pip install websocket-client)"
    )
    binary = find_chromium()
    if binary is None:
        pytest.skip(
            "chromium is not installed (Debian: apt-get install -y chromium; setup.sh does this as root)"
        )
    return binary


def test_report_in_headless_chromium(report_html):
    binary = _chromium_or_skip()
    from _cdp import Browser, file_url

    with Browser(binary) as b:
        b.navigate(file_url(report_html))
        assert b.console_errors() == []
        foreign = [u for u in b.requested_urls() if not u.startswith(("file:", "data:"))]
        assert foreign == []  # nothing fetched from a network
        decoded = b.eval(
            "Promise.all(Array.from(document.images).map(i => i.decode().then(() => i.naturalWidth)))",
            await_promise=True,
        )
        assert len(decoded) >= 10 and all(w > 0 for w in decoded)

        state = (
            "JSON.stringify({readout: document.getElementById('layer-readout').textContent,"
            " points: Array.from(document.querySelectorAll('#explorer-svg circle.point')).map(c =>"
            " [c.dataset.variant, c.dataset.lang, +c.getAttribute('cx'), +c.dataset.value]),"
            " rows: Array.from(document.querySelectorAll('#explorer-table tbody tr')).map(r => r.textContent),"
            " value: document.getElementById('layer-slider').value})"
        )
        before = json.loads(b.eval(state))
        assert before["value"] == "0" and before["readout"].startswith("layer 0 ")
        data = json.loads(b.eval("document.getElementById('explorer-data').textContent"))
        n_points = len(data["variants"]) * len(data["langs"])
        assert len(before["points"]) == n_points and len(before["rows"]) == n_points
        b.eval("document.getElementById('layer-slider').focus()")
        b.key("End", "End", 35)  # a real key press on the focused range input
        after = json.loads(b.eval(state))
        last = len(data["layers"]) - 1
        assert after["value"] == str(last) and after["readout"].startswith(f"layer {data['layers'][last]} ")
        assert after["points"] != before["points"] and after["rows"] != before["rows"]
        for variant, lang, _, value in after["points"]:  # what is shown is the stored value at that layer
            assert value == pytest.approx(data["series"]["cos_centred"]["value"][variant][lang][last])
        assert b.eval("document.getElementById('metric-select').value") == "cos_centred"
        b.eval(
            "var s = document.getElementById('metric-select'); s.value = 'retrieval_mexa';"
            " s.dispatchEvent(new Event('change'))"
        )
        mexa = json.loads(b.eval(state))
        for variant, lang, _, value in mexa["points"]:  # switching metric shows that metric's stored values
            assert value == pytest.approx(data["series"]["retrieval_mexa"]["value"][variant][lang][last])

        b.eval("document.getElementById('explorer').scrollIntoView()")
        shot = b.screenshot()
    img = plt.imread(io.BytesIO(shot), format="png")
    assert img.shape[0] > 100 and img.shape[1] > 100
    assert float(img[..., :3].std()) > 0.05  # not blank
    assert len(np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 20


# ------------------------------------------------------------------------------ what users read first
def test_report_leads_with_centred_cosine_and_mexa_with_nulls(report_html, results_dir, nc):
    """Title is the model (not a dict repr); the first table and the explorer default are the lead metrics."""
    text = report_html.read_text()
    title = re.search(r"<title>(.*?)</title>", text).group(1)
    assert title == "polylens report: cross-lingual alignment of synthetic/tiny-aya-like" and "{" not in title
    first = re.search(r"<table[^>]*>(.*?)</table>", text[text.index('<section id="headline"') :], re.S).group(
        1
    )
    heads = re.findall(r"<th>(.*?)</th>", first)
    assert heads[2].startswith("centred cosine peak") and heads[6].startswith("MEXA peak")
    assert heads[4].startswith("centred cosine null") and heads[8].startswith("MEXA null")
    assert heads[5] == "centred cosine z" and heads[9] == "MEXA z"
    assert "comparability" in heads[10] and heads[10].startswith("raw cosine")
    assert text.index('<section id="headline"') < text.index('<section id="explorer"')
    data = json.loads(
        re.search(r'id="explorer-data">(.*?)</script>', text, re.S).group(1).replace("<\\/", "</")
    )
    assert data["default_metric"] == "cos_centred" and data["metrics"][1]["key"] == "retrieval_mexa"
    assert re.search(r'<select id="metric-select"><option value="cos_centred" selected>', text)
    for m, null in (("cos_centred", "null_centred"), ("retrieval_mexa", "null_mexa")):
        s = data["series"][m]
        assert {"value", "lo", "hi", "null_mean", "null_q95"} <= set(s)
        np.testing.assert_allclose(
            s["null_q95"]["fire"]["am"], nc[f"{null}_q95"].sel(variant="fire", lang="am"), atol=1e-6
        )
