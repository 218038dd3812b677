"""Fault injection: bad flags, bad files, corrupt stores, resource faults, kill -9, two writers.

Every case asserts exit 2, one line on stderr (<= 300 characters), no traceback, and that
nothing changed on disk (every file's size and mtime, and no new files).
"""

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from polylens.cli import main
from polylens.pipelines import analyze, capture

ROOT = Path(__file__).resolve().parents[1]
LANGS = ("en", "hi")


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and mtime."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """A workspace: a two-variant store, its results, a plain file, a probe-file folder."""
    root = tmp_path_factory.mktemp("faults")
    capture.run(
        capture.CaptureConfig(
            models=("tiny-cohere2", "tiny-cohere2-fire"),
            out=root / "store",
            langs=LANGS,
            limit=4,
            batch_size=4,
        )
    )
    analyze.run(analyze.AnalyzeConfig(store=root / "store", out=root / "results", n_boot=20, n_perm=50))
    (root / "afile").write_text("not a directory\n")
    (root / "probes").mkdir()
    return root


def expect_refusal(ws: Path, argv: list[str], capsys, match: str = "") -> str:
    """Run the CLI in-process; assert exit 2, one short line, no traceback, nothing changed."""
    before = snapshot(ws)
    code = main([a.replace("{ws}", str(ws)) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err[:2000]
    assert len(lines[0]) <= 310 and "Traceback" not in err
    assert match in lines[0], lines[0]
    assert snapshot(ws) == before, "the refused command changed files on disk"
    return lines[0]


CACHE = ["cache", "--models", "tiny-cohere2", "--langs", "en", "--limit", "2", "--out", "{ws}/new"]
ANALYZE = ["analyze", "--store", "{ws}/store", "--out", "{ws}/results", "--n-boot", "20", "--n-perm", "50"]

FLAG_CASES = {
    # cache: numbers at 0, negative, nan, inf, huge, not a number
    "batch-size 0": (CACHE + ["--batch-size", "0"], "--batch-size"),
    "batch-size -1": (CACHE + ["--batch-size", "-1"], "--batch-size"),
    "batch-size nan": (CACHE + ["--batch-size", "nan"], "--batch-size"),
    "batch-size inf": (CACHE + ["--batch-size", "inf"], "--batch-size"),
    "batch-size huge": (CACHE + ["--batch-size", "99999999"], "--batch-size"),
    "batch-size 1.5": (CACHE + ["--batch-size", "1.5"], "--batch-size"),
    "limit 0": (CACHE + ["--limit", "0"], "--limit"),
    "limit -1": (CACHE + ["--limit", "-1"], "--limit"),
    "limit nan": (CACHE + ["--limit", "nan"], "--limit"),
    "max-tokens 0": (CACHE + ["--max-tokens", "0"], "--max-tokens"),
    "max-tokens huge": (CACHE + ["--max-tokens", "10000000000"], "--max-tokens"),
    "unknown site": (CACHE + ["--sites", "resid,bogus"], "unknown site"),
    "empty sites": (CACHE + ["--sites", ","], "--sites"),
    "huge site value": (CACHE + ["--sites", "x" * 1_000_000], "--sites"),
    "device cuda": (CACHE + ["--device", "cuda"], "--device"),
    "device cuda:7": (CACHE + ["--device", "cuda:7"], "--device"),
    "device tpu": (CACHE + ["--device", "tpu"], "unknown device"),
    "shard 2/2": (CACHE + ["--shard", "2/2"], "--shard"),
    "shard 0/0": (CACHE + ["--shard", "0/0"], "--shard"),
    "shard x": (CACHE + ["--shard", "x"], "--shard"),
    "langs empty": (CACHE[:3] + ["--langs", ",", "--out", "{ws}/new"], "--langs"),
    "langs unknown": (CACHE[:3] + ["--langs", "xx", "--out", "{ws}/new"], "xx"),
    "models empty": (["cache", "--models", ",", "--out", "{ws}/new"], "--models"),
    "model unknown": (["cache", "--models", "no-such-model-xyz", "--langs", "en", "--out", "{ws}/new2"], ""),
    "pooling bogus": (CACHE + ["--pooling", "median"], "--pooling"),
    "dtype bogus": (CACHE + ["--dtype", "int3"], "--dtype"),
    "out is a file": (CACHE[:-1] + ["{ws}/afile"], "is a file"),
    "out under a file": (CACHE[:-1] + ["{ws}/afile/sub"], "not a directory"),
    "out under /proc": (CACHE[:-1] + ["/proc/polylens"], "/proc"),
    "probes missing": (CACHE + ["--probes", "{ws}/nope.json"], "unknown probe set"),
    "unknown flag": (CACHE + ["--frobnicate", "1"], "frobnicate"),
    "config missing": (CACHE + ["--config", "{ws}/nope.toml"], "does not exist"),
    "store written by another method": (
        ["cache", "--models", "tiny-cohere2", "--langs", "en", "--limit", "2", "--out", "{ws}/store"]
        + ["--pooling", "last"],
        "different method",
    ),
    # analyze
    "tau 2": (ANALYZE + ["--tau", "2"], "--tau"),
    "tau -2": (ANALYZE + ["--tau", "-2"], "--tau"),
    "tau nan": (ANALYZE + ["--tau", "nan"], "--tau"),
    "tau inf": (ANALYZE + ["--tau", "inf"], "--tau"),
    "k 0": (ANALYZE + ["--k", "0"], "--k"),
    "k -1": (ANALYZE + ["--k", "-1"], "--k"),
    "k 99": (ANALYZE + ["--k", "99"], "--k"),
    "n-boot 0": (ANALYZE + ["--n-boot", "0"], "--n-boot"),
    "n-boot -5": (ANALYZE + ["--n-boot", "-5"], "--n-boot"),
    "n-boot huge": (ANALYZE + ["--n-boot", "1000000000000"], "--n-boot"),
    "n-perm -1": (ANALYZE + ["--n-perm", "-1"], "--n-perm"),
    "n-perm 0": (ANALYZE + ["--n-perm", "0"], "--n-perm"),
    "seed -1": (ANALYZE + ["--seed", "-1"], "--seed"),
    "baseline unknown": (ANALYZE + ["--baseline", "nope"], "--baseline"),
    "ref unknown": (ANALYZE + ["--ref", "zz"], "--ref"),
    "ref empty": (ANALYZE + ["--ref", " "], "--ref"),
    "store missing": (["analyze", "--store", "{ws}/nostore", "--out", "{ws}/results"], "does not exist"),
    "edge store missing": (ANALYZE + ["--edge-store", "{ws}/noedge"], "--edge-store"),
    "analyze out is a file": (["analyze", "--store", "{ws}/store", "--out", "{ws}/afile"], "is a file"),
    "analyze out under /proc": (["analyze", "--store", "{ws}/store", "--out", "/proc/x"], "/proc"),
    "store is not netCDF": (["analyze", "--store", "{ws}/afile", "--out", "{ws}/r2"], "not a readable"),
    # figures / report
    "figures results missing": (["figures", "--results", "{ws}/nores", "--out", "{ws}/f"], "does not exist"),
    "figures results a file": (["figures", "--results", "{ws}/afile", "--out", "{ws}/f"], "not a directory"),
    "figures out a file": (["figures", "--results", "{ws}/results", "--out", "{ws}/afile"], "is a file"),
    "figures format gif": (["figures", "--results", "{ws}/results", "--out", "{ws}/f", "--formats", "gif"], "gif"),
    "report results missing": (["report", "--results", "{ws}/nores", "--out", "{ws}/r.html"], "does not exist"),
    "report out a directory": (["report", "--results", "{ws}/results", "--out", "{ws}/results"], "directory"),
    "report title huge": (["report", "--results", "{ws}/results", "--out", "{ws}/r.html", "--title", "t" * 500], "--title"),
    # merge
    "merge no manifest": (["merge", "{ws}/probes", "--out", "{ws}/m.nc"], "no manifest.json"),
    "merge store missing": (["merge", "{ws}/nostore", "--out", "{ws}/m.nc"], "does not exist"),
    "merge out a directory": (["merge", "{ws}/store", "--out", "{ws}/results"], "directory"),
    # quant
    "quant units 0": (["quant", "evaluate", "--units", "0", "--out", "{ws}/q"], "--units"),
    "quant n-boot 0": (["quant", "evaluate", "--n-boot", "0", "--out", "{ws}/q"], "--n-boot"),
    "quant langs empty": (["quant", "evaluate", "--langs", ",", "--out", "{ws}/q"], "--langs"),
    "quant out a file": (["quant", "weights", "--out", "{ws}/afile"], "is a file"),
    "quant device tpu": (["quant", "weights", "--device", "tpu", "--out", "{ws}/q"], "unknown device"),
}


@pytest.mark.parametrize("case", list(FLAG_CASES))
def test_bad_flag_is_one_line_exit_2(case, ws, capsys):
    argv, match = FLAG_CASES[case]
    expect_refusal(ws, argv, capsys, match)
