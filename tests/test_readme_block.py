"""The README results block: generated from the stored summary, byte-identical on regeneration."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from polylens.analysis.alignment import run_analysis
from polylens.analysis.seed_claims import write_seed_claims
from polylens.analysis.token_control import write_token_control
from polylens.errors import ConfigError
from polylens.figures.report.claims import render_block
from polylens.pipelines.readme import BEGIN, END, ReadmeConfig, collect, load_summary, run

sys.path.insert(0, str(Path(__file__).parent))
from test_seed_claims import MID, make_store  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs" / "results"


def test_committed_block_matches_regeneration_from_committed_summary():
    summary = load_summary(DOCS / "summary.json")
    assert render_block(summary) == (DOCS / "README_block.md").read_text(encoding="utf-8")


def test_readme_carries_the_committed_block():
    readme = (DOCS.parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    assert block.strip() == (DOCS / "README_block.md").read_text(encoding="utf-8").strip()


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    ds = make_store([MID] * 4, ["Latn", "Latn", "Deva", "Ethi"], ["high", "medium", "low", "low"])
    res = run_analysis(ds, out, n_boot=200, n_perm=200)
    rng = np.random.default_rng(0)
    n_tokens = xr.DataArray(
        rng.integers(1, 4, (1, ds.sizes["lang"], ds.sizes["concept"])),
        dims=("variant", "lang", "concept"),
        coords={k: ds[k] for k in ("variant", "lang", "concept")},
    )
    write_token_control(res, n_tokens, out)
    write_seed_claims(res, out)
    return out


def test_block_is_built_from_the_results(results):
    summary = collect(results)
    block = render_block(summary)
    assert [r["lang"] for r in summary["headline"]] == ["l0", "l1", "l2", "l3"]
    for r in summary["headline"]:
        assert f"| {r['variant']} | {r['lang']} |" in block
        assert f"{r['centred_lo']:.2f}" in block and r["centred_lo"] < r["centred_hi"]
    for claim in summary["seed_claims"]:
        assert claim["measurement"] in block and f"**{claim['verdict']}**" in block
    assert "share [95% CI]" in block and "Method: model synthetic" in block
    # a changed number in the summary changes the block: the regeneration test can fail
    summary["headline"][0]["centred"] = summary["headline"][0]["centred"] + 0.5
    assert render_block(summary) != block


def test_readme_job_replaces_only_the_block(results, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nbefore\n{BEGIN}\nold block\n{END}\nafter\n", encoding="utf-8")
    summary_out, block_out = tmp_path / "summary.json", tmp_path / "block.md"
    out = run(ReadmeConfig(results=results, readme=readme, summary_out=summary_out, block_out=block_out))
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# title\n\nbefore\n" + BEGIN + "\n") and text.endswith(END + "\nafter\n")
    assert "old block" not in text and out.block in text
    assert block_out.read_text(encoding="utf-8") == out.block
    # the stored summary regenerates the same block (what the committed-block test relies on)
    assert render_block(load_summary(summary_out)) == out.block
    assert json.loads(summary_out.read_text())["summary_version"] == "readme-summary-1"


def test_readme_without_markers_is_refused(results, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="markers"):
        run(ReadmeConfig(results=results, readme=readme))
    assert readme.read_text(encoding="utf-8") == "# no markers\n"
