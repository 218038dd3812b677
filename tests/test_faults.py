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
from polylens.errors import StorageError
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
    "figures format gif": (
        ["figures", "--results", "{ws}/results", "--out", "{ws}/f", "--formats", "gif"],
        "gif",
    ),
    "report results missing": (
        ["report", "--results", "{ws}/nores", "--out", "{ws}/r.html"],
        "does not exist",
    ),
    "report out a directory": (["report", "--results", "{ws}/results", "--out", "{ws}/results"], "directory"),
    "report title huge": (
        ["report", "--results", "{ws}/results", "--out", "{ws}/r.html", "--title", "t" * 500],
        "--title",
    ),
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
    # --threads on every job that runs a model
    "quant threads 0": (["quant", "evaluate", "--threads", "0", "--out", "{ws}/q"], "--threads"),
    "quant weights threads huge": (["quant", "weights", "--threads", "5000", "--out", "{ws}/q"], "--threads"),
    "lens threads -1": (["lens", "--threads", "-1", "--out", "{ws}/l"], "--threads"),
    "diff threads 0": (
        ["diff", "--a", "tiny-gemma3", "--b", "tiny-gemma3", "--out", "{ws}/d", "--threads", "0"],
        "--threads",
    ),
    "cache threads nan": (CACHE + ["--threads", "x"], "--threads"),
}


@pytest.mark.parametrize("case", list(FLAG_CASES))
def test_bad_flag_is_one_line_exit_2(case, ws, capsys):
    argv, match = FLAG_CASES[case]
    expect_refusal(ws, argv, capsys, match)


GOOD = json.loads((ROOT / "tests" / "fixtures" / "good_user_concepts.json").read_text())


def _with_text(text: str) -> str:
    doc = json.loads(json.dumps(GOOD))
    doc["units"][0]["texts"]["fr"] = text
    return json.dumps(doc)


PROBE_FILES = {
    "NUL character": (_with_text("ea\u0000u"), "NUL character"),
    "lone surrogate": (_with_text("eau").replace('"eau"', '"e\\ud800u"'), "lone surrogate"),
    "control character": (_with_text("e\u0007au"), "control character U+0007"),
    "1 MB text": (_with_text("e" * 1_000_000), "characters, more than the limit"),
    "100k-deep JSON": ("[" * 100_000 + "]" * 100_000, "nested deeper"),
    "40-deep meta": (
        json.dumps({**GOOD, "provenance": json.loads("[" * 40 + "]" * 40)}),
        "nested deeper",
    ),
    "not UTF-8": (b"\xff\xfe{}", "not a UTF-8 JSON"),
    "empty file": ("", "not a UTF-8 JSON"),
}


@pytest.mark.parametrize("case", list(PROBE_FILES))
@pytest.mark.parametrize("command", ["validate", "cache"])
def test_bad_probe_file_is_refused_at_validate_and_at_load(case, command, ws, capsys):
    content, match = PROBE_FILES[case]
    path = ws / "probes" / f"{case.replace(' ', '_')}.json"
    if not path.exists():
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    argv = ["probes", "validate", str(path)] if command == "validate" else CACHE + ["--probes", str(path)]
    expect_refusal(ws, argv, capsys, match)


def test_variant_label_cannot_escape_the_parts_directory():
    from polylens.storage.store import safe_name

    for label in ("..", ".", "../../etc", "/abs", "", "a/../../b", ".hidden"):
        name = safe_name(label)
        assert "/" not in name and not name.startswith(".") and name not in ("", ".", "..")


def _damaged_copy(ws: Path, how: str) -> Path:
    """A copy of the workspace store with its final file damaged."""
    store = ws / f"store_{how}"
    shutil.copytree(ws / "store", store)
    final = store / "activations.nc"
    data = bytearray(final.read_bytes())
    if how == "truncated":
        data = data[: len(data) * 2 // 3]
    elif how == "flipped":
        data[len(data) // 2] ^= 0x40
    elif how == "hole":  # a byte range zeroed, same size
        data[1000:3000] = bytes(2000)
    final.write_bytes(bytes(data))
    if how == "manifest":
        (store / "manifest.json").write_text("{not json")
    return store


@pytest.mark.parametrize("how", ["truncated", "flipped", "hole", "manifest"])
def test_damaged_store_is_named_on_the_next_command(how, ws, capsys):
    store = _damaged_copy(ws, how)
    expect_refusal(ws, ["analyze", "--store", str(store), "--out", "{ws}/r_dmg"], capsys, str(store))


def test_report_refuses_results_of_mixed_runs(ws, capsys):
    results = ws / "results_mixed"
    shutil.copytree(ws / "results", results)
    (results / "figures").mkdir()
    (results / "figures" / "run.json").write_text(
        json.dumps({"run_id": "f", "source_run_id": "0123456789ab"})
    )
    expect_refusal(
        ws, ["report", "--results", str(results), "--out", "{ws}/mixed.html"], capsys, "built from run"
    )


def test_figures_record_the_run_they_were_drawn_from(ws):
    from polylens.pipelines import figures
    from polylens.storage.integrity import RUN_FILE, check_run_ids, run_id

    results = ws / "results_figs"
    shutil.copytree(ws / "results", results)
    figures.run(figures.FiguresConfig(results=results, out=results / "figures", only=("alignment_curves",)))
    record = json.loads((results / "figures" / RUN_FILE).read_text())
    assert record["source_run_id"] == run_id(results) and record["command"] == "figures"
    check_run_ids(results)  # consistent: accepted
    stamp_results = json.loads((results / RUN_FILE).read_text())
    (results / RUN_FILE).write_text(json.dumps({**stamp_results, "run_id": "another"}))
    with pytest.raises(StorageError, match="built from run"):
        check_run_ids(results)


def _cli(args: list[str], fsize: int | None = None, **kw) -> subprocess.CompletedProcess:
    """Run the CLI in a subprocess, optionally under RLIMIT_FSIZE (a real EFBIG on write)."""

    def limit() -> None:
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    cmd = [sys.executable, str(ROOT / "cli.py"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, preexec_fn=limit, **kw)


def _assert_one_line_exit_2(proc: subprocess.CompletedProcess, match: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert lines and lines[-1].startswith("error: ") and match in lines[-1], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and len(lines[-1]) <= 310
    assert sum(line.startswith("error") for line in lines) == 1


def _no_temporaries(root: Path) -> None:
    assert not [p for p in root.rglob(".*tmp*")], list(root.rglob(".*tmp*"))


def test_file_size_limit_during_assembly(ws):
    out = ws / "efbig_cache"
    proc = _cli(
        ["cache", "--models", "tiny-cohere2", "--langs", "en,hi", "--limit", "4", "--out", str(out)], 20_000
    )
    _assert_one_line_exit_2(proc, "file too large")
    assert not (out / "activations.nc").exists()
    _no_temporaries(out)
    done = _cli(["cache", "--models", "tiny-cohere2", "--langs", "en,hi", "--limit", "4", "--out", str(out)])
    assert done.returncode == 0 and "already captured" in done.stdout  # the parts were kept


def test_file_size_limit_during_merge(ws, tmp_path):
    stores = []
    for i in range(2):
        stores.append(tmp_path / f"s{i}")
        capture.run(
            capture.CaptureConfig(
                models=("tiny-cohere2",), langs=LANGS, limit=4, out=stores[-1], shard=f"{i}/2"
            )
        )
    before = snapshot(tmp_path)
    proc = _cli(["merge", *map(str, stores), "--out", str(tmp_path / "m.nc")], 20_000)
    _assert_one_line_exit_2(proc, "file too large")
    assert snapshot(tmp_path) == before
    _no_temporaries(tmp_path)


def test_file_size_limit_during_analyze_keeps_previous_results(ws):
    before = snapshot(ws / "results")
    proc = _cli(ANALYZE_ARGS(ws), 2_000)
    _assert_one_line_exit_2(proc, "file too large")
    assert snapshot(ws / "results") == before
    _no_temporaries(ws)


def ANALYZE_ARGS(ws: Path) -> list[str]:  # noqa: N802
    return [a.replace("{ws}", str(ws)) for a in ANALYZE]


def test_file_size_limit_during_report_leaves_no_partial_file(ws):
    out = ws / "report_efbig.html"
    proc = _cli(["report", "--results", str(ws / "results"), "--out", str(out)], 5_000)
    _assert_one_line_exit_2(proc, "file too large")
    assert not out.exists()
    _no_temporaries(ws)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
@pytest.mark.parametrize("command", ["cache", "analyze"])
def test_read_only_output_directory(command, ws, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    argv = (CACHE[:-1] if command == "cache" else ANALYZE[:-5]) + [str(ro / "x")]
    if command == "analyze":
        argv = ["analyze", "--store", "{ws}/store", "--out", str(ro / "x")]
    try:
        expect_refusal(ws, argv, capsys, "not writable")
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("after_parts", [1, 2, 3])
def test_kill_9_then_resume_equals_one_run(after_parts, ws, tmp_path):
    """kill -9 after N finished parts; the lock is free again and the re-run ends identical."""
    out = tmp_path / "killed"
    args = ["cache", "--models", "tiny-cohere2,tiny-cohere2-fire", "--langs", "en,hi", "--limit", "4"]
    args += ["--batch-size", "4", "--out", str(out)]  # the batches of the workspace store
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while len(list(out.glob("parts/*/*.nc"))) < after_parts and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "activations.nc").exists()
    done = _cli(args)
    assert done.returncode == 0, done.stderr[-2000:]
    import xarray as xr

    with (
        xr.open_dataset(out / "activations.nc") as got,
        xr.open_dataset(ws / "store" / "activations.nc") as ref,
    ):
        xr.testing.assert_equal(got.drop_attrs(), ref.drop_attrs())


def test_corrupt_sidecar_of_a_merged_file_is_named(ws, capsys):
    merged = ws / "standalone.nc"
    shutil.copy(ws / "store" / "activations.nc", merged)
    (ws / "standalone.nc.sha256").write_text("garbage")
    expect_refusal(ws, ["analyze", "--store", str(merged), "--out", "{ws}/r_side"], capsys, "checksum file")
