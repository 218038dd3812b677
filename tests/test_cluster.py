"""Scale-out on dask.distributed: ``cache`` and ``analyze`` on a cluster give the single-process
store and results, value for value; resume on a cluster recomputes nothing; bad flags are one line."""

import json
from pathlib import Path

import pytest
import xarray as xr

from polylens import cli
from polylens.pipelines import analyze, capture
from polylens.storage.assemble import open_activations
from polylens.storage.store import read_ledger

LANGS = ("en", "hi", "am", "zh")
#: attributes that name the run, not the data
RUN_ATTRS = ("created", "analysis_created")


def cache(out: Path, **kw) -> Path | None:
    """A small tiny-model capture (local unless ``workers`` / ``scheduler`` is given)."""
    kw = {"models": ("tiny-cohere2",), "out": out, "langs": LANGS, "limit": 6, "batch_size": 4, **kw}
    return capture.run(capture.CaptureConfig(**kw))


def load(path: Path) -> xr.Dataset:
    """The assembled store, in memory."""
    with open_activations(path, chunks=None) as ds:
        return ds.load()


def assert_same_data(got: xr.Dataset, want: xr.Dataset) -> None:
    """Data variables and coordinates identical (values, dtypes, names, attrs) but run-specific attrs."""
    xr.testing.assert_identical(got.drop_attrs(deep=False), want.drop_attrs(deep=False))
    for key in set(got.attrs) | set(want.attrs):
        if key not in RUN_ATTRS:
            assert got.attrs.get(key) == want.attrs.get(key), key


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Path:
    """The single-process store."""
    out = tmp_path_factory.mktemp("single")
    cache(out)
    return out


@pytest.fixture(scope="module")
def scheduler():
    """A running two-process cluster, reached with ``--scheduler`` (kept up for the module)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def test_cache_on_two_local_workers_equals_single_process(tmp_path, single):
    final = cache(tmp_path / "c", workers=2)
    assert final is not None
    assert_same_data(load(final), load(single))
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["final"]["sha256"]  # the coordinator recorded and verified the final file


def test_resume_on_a_cluster_recomputes_nothing_and_duplicates_nothing(tmp_path, single, scheduler):
    out = tmp_path / "resume"
    cache(out, keep_parts=True, scheduler=scheduler)
    parts = sorted(out.glob("parts/*/*.nc"))
    assert len(parts) == 6  # 24 stimuli in batches of 4
    for lost in parts[:2]:  # as if the run had been killed before these two batches finished
        lost.unlink()
    (out / "activations.nc").unlink()
    kept = {p.name: p.stat().st_mtime_ns for p in parts[2:]}
    final = cache(out, keep_parts=True, scheduler=scheduler)
    now = {p.name: p.stat().st_mtime_ns for p in out.glob("parts/*/*.nc")}
    assert set(now) == {p.name for p in parts}  # the two lost parts, and nothing else, recomputed
    assert all(now[name] == mtime for name, mtime in kept.items())
    keys = [tuple(k) for e in read_ledger(out) for k in e["keys"]]
    assert len(keys) == len(set(keys)) == len(LANGS) * 6  # every stimulus recorded exactly once
    assert final is not None
    assert_same_data(load(final), load(single))


def test_analyze_on_a_cluster_equals_local(tmp_path, single, scheduler):
    kw = {"store": single, "n_boot": 50, "n_perm": 200}
    local = analyze.run(analyze.AnalyzeConfig(out=tmp_path / "local", **kw))
    remote = analyze.run(analyze.AnalyzeConfig(out=tmp_path / "remote", scheduler=scheduler, **kw))
    assert_same_data(remote.results, local.results)
    for name in ("alignment_curves.json", "commitment_matrix.csv", "stats.csv"):
        assert (tmp_path / "remote" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name


def test_run_on_a_cluster_equals_local(tmp_path, scheduler):
    """``run --scheduler``: capture and analysis on the cluster give the local run's stores and results."""
    from polylens.pipelines import run

    kw = {"model": ("tiny-cohere2",), "probes": ("concepts",), "limit": 4, "n_boot": 50}
    kw |= {"figures": False, "lens_concepts": 0}
    local = run.run(run.RunConfig(out=tmp_path / "local", **kw))
    remote = run.run(run.RunConfig(out=tmp_path / "remote", scheduler=scheduler, **kw))
    for probes in ("edge_cases+en", "concepts"):
        store = Path("stores") / probes / "activations.nc"
        assert_same_data(load(remote / store), load(local / store))
    with (
        xr.open_dataset(local / "results/concepts/alignment.nc") as a,
        xr.open_dataset(remote / "results/concepts/alignment.nc") as b,
    ):
        assert_same_data(b.load(), a.load())


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--workers", "0"], "--workers: must be >= 1"),
        (["--workers", "-2"], "--workers: must be >= 1"),
        (["--workers", "two"], "--workers"),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], "not both"),
        (["--scheduler", "tcp://127.0.0.1:1"], "no scheduler reachable"),
        (["--scheduler", "http://example.org/x"], "expected tcp://HOST:PORT"),
        (["--scheduler", "tcp://host:99999"], "expected tcp://HOST:PORT"),
    ],
)
@pytest.mark.parametrize("command", ["cache", "analyze", "run"])
def test_bad_cluster_flags_exit_2_with_one_line(command, extra, needle, tmp_path, capsys):
    base = [command, "--out", str(tmp_path / "o")]
    if command == "analyze":
        base = ["analyze", "--store", str(tmp_path / "s"), "--out", str(tmp_path / "o")]
    assert cli.main([*base, *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and needle in err, err
    assert not (tmp_path / "o").exists()
