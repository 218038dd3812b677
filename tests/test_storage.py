"""Activation stores: labelled schema, resume after kill -9, shards, incremental languages,
method checks, lazy opening."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from polylens.errors import StorageError
from polylens.hooks.batching import plan_fixed_batches as plan_batches
from polylens.pipelines import capture
from polylens.storage.assemble import assemble, merged_manifest, open_activations
from polylens.storage.store import FINAL

ROOT = Path(__file__).resolve().parents[1]
LANGS = ("en", "hi", "am", "zh")


def cache(out, **kw):
    kw = {
        "models": ("tiny-cohere2",),
        "probes": "concepts",
        "out": out,
        "langs": LANGS,
        "limit": 12,
        "batch_size": 4,
        **kw,
    }
    return capture.run(capture.CaptureConfig(**kw))


def load(path):
    with open_activations(path, chunks=None) as ds:
        return ds.load()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted two-variant run."""
    out = tmp_path_factory.mktemp("ref")
    return load(cache(out, models=("tiny-cohere2", "tiny-cohere2-fire")))


def test_schema_and_metadata(reference):
    ds = reference
    assert ds["resid"].dims == ("variant", "lang", "concept", "layer", "d")
    assert ds["resid"].dtype == np.float32
    assert list(ds.variant.values) == ["base", "fire"] and tuple(ds.lang.values) == LANGS
    assert ds.sizes["layer"] == 5 and ds.layer_label.values[0] == "embed"
    assert list(ds.script.values) == ["Latn", "Deva", "Ethi", "Hans"]
    assert (ds.n_tokens > 0).all() and (ds.text != "").all()
    assert "domain" in ds.coords
    for key in (
        "model_id",
        "weights_sha256",
        "transformer_lens_version",
        "processing_mode",
        "pooling",
        "hook_sites",
        "dtype",
        "probe_set_sha256",
        "toolkit_version",
        "created",
    ):
        assert ds.attrs[key], key
    shas = json.loads(ds.attrs["weights_sha256"])
    assert set(shas) == {"base", "fire"} and shas["base"] != shas["fire"]
    assert not ds["resid"].isnull().any()


def test_values_match_direct_capture(reference, tiny_cohere2):
    from polylens.hooks.capture import pool_batch

    direct = pool_batch(tiny_cohere2, [str(t) for t in reference.text.sel(lang="hi").values[:3]])
    stored = reference.resid.sel(variant="base", lang="hi").values[:3].astype(np.float32)
    np.testing.assert_allclose(
        stored, direct.acts["resid"], rtol=2e-3, atol=2e-3
    )  # BitRound to 10 mantissa bits


def test_resume_after_kill_9_is_identical(tmp_path, reference):
    """kill -9 a running capture mid-way; re-running the same command ends identical."""
    out = tmp_path / "store"
    cmd = [
        sys.executable,
        str(ROOT / "cli.py"),
        "cache",
        "--models",
        "tiny-cohere2,tiny-cohere2-fire",
        "--probes",
        "concepts",
        "--out",
        str(out),
        "--langs",
        ",".join(LANGS),
        "--limit",
        "12",
        "--batch-size",
        "4",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    deadline = time.time() + 120
    while len(list(out.glob("parts/*/*.nc"))) < 3 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_parts = len(list(out.glob("parts/*/*.nc")))
    assert 3 <= n_parts < 24 and not (out / FINAL).exists()  # really interrupted mid-way
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "already captured" in done.stdout
    ledger = [json.loads(line) for line in (out / "parts.jsonl").read_text().splitlines()]
    assert sorted(len(e["keys"]) for e in ledger) == [48, 48]  # every stimulus once, in the final file
    assert not list(out.glob("parts/*/*.nc"))  # parts removed after the verified assembly
    resumed = load(out / FINAL)
    assert resumed.attrs.pop("created") != reference.attrs["created"]  # a separate run...
    xr.testing.assert_identical(
        resumed,
        reference.drop_attrs(deep=False).assign_attrs(
            {k: v for k, v in reference.attrs.items() if k != "created"}
        ),
    )  # ...same dataset


def test_shards_merge_to_the_single_run(tmp_path, reference):
    stores = [tmp_path / f"s{i}" for i in range(3)]
    for i, store in enumerate(stores):
        assert cache(store, models=("tiny-cohere2", "tiny-cohere2-fire"), shard=f"{i}/3") is None
    merged = assemble(
        stores,
        tmp_path / "merged.nc",
        probe_set=__import__("polylens.probes", fromlist=["x"])
        .load_probe_set("concepts")
        .select(langs=LANGS, limit=12),
    )
    got = load(merged)
    # shards batch differently: equal up to 10-bit rounding of ~1e-6 relative differences
    np.testing.assert_allclose(
        got.resid.values.astype(np.float32), reference.resid.values.astype(np.float32), rtol=2e-3, atol=1e-4
    )
    assert got.attrs["weights_sha256"] == reference.attrs["weights_sha256"]
    np.testing.assert_array_equal(got.n_tokens.values, reference.n_tokens.values)


def test_adding_a_language_reuses_finished_work(tmp_path):
    out = tmp_path / "grow"
    first = load(cache(out, langs=("en", "hi"), keep_parts=True))
    parts_before = {p.name: p.stat().st_mtime_ns for p in out.glob("parts/*/*.nc")}
    grown = load(cache(out, langs=("en", "hi", "sw"), keep_parts=True))
    for name, mtime in parts_before.items():
        assert next(out.glob(f"parts/*/{name}")).stat().st_mtime_ns == mtime  # untouched
    assert list(grown.lang.values) == ["en", "hi", "sw"]
    np.testing.assert_array_equal(grown.resid.sel(lang=["en", "hi"]).values, first.resid.values)


def test_method_mismatch_is_refused(tmp_path):
    out = tmp_path / "m"
    cache(out, langs=("en",), limit=2)
    with pytest.raises(StorageError, match="pooling"):
        cache(out, langs=("en",), limit=2, pooling="last")
    other = tmp_path / "other"
    cache(other, langs=("en",), limit=2, pooling="last")
    with pytest.raises(StorageError, match="refusing to combine"):
        merged_manifest([out, other])


def test_lazy_open_and_analysis_on_store(tmp_path, reference):
    from polylens.analysis.alignment import run_analysis

    path = tmp_path / "lazy.nc"
    reference.to_netcdf(path)
    lazy = open_activations(path, chunks={"layer": 1})
    assert lazy.resid.chunks is not None
    res = run_analysis(lazy, tmp_path / "results", n_boot=50, n_perm=200)
    assert (tmp_path / "results" / "alignment.nc").exists()
    assert res.sizes["layer"] == 5


def test_plan_is_deterministic_and_sorted_by_length():
    lengths = {("en", "a"): 5, ("hi", "a"): 2, ("en", "b"): 9, ("hi", "b"): 2, ("zh", "a"): 7}
    batches = plan_batches(lengths, 2)
    assert batches == [[("hi", "a"), ("hi", "b")], [("en", "a"), ("zh", "a")], [("en", "b")]]


def test_cli_bad_store_errors(tmp_path):
    proc = subprocess.run(
        [sys.executable, "cli.py", "merge", str(tmp_path), "--out", str(tmp_path / "x.nc")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2 and "no manifest.json" in proc.stderr and "Traceback" not in proc.stderr


def test_rerun_with_nothing_new_keeps_the_final_file(tmp_path):
    out = tmp_path / "again"
    final = cache(out, langs=("en", "hi"), limit=3)
    mtime = final.stat().st_mtime_ns
    assert cache(out, langs=("en", "hi"), limit=3).stat().st_mtime_ns == mtime
    grown = load(cache(out, langs=("en", "hi", "am"), limit=3))  # a new request re-assembles
    assert list(grown.lang.values) == ["en", "hi", "am"]


def test_growing_without_parts_reads_the_previous_final(tmp_path):
    """Parts are removed after assembly; a grown run reads the old stimuli back from the final file."""
    out = tmp_path / "grow2"
    first = load(cache(out, langs=("en", "hi"), limit=3))
    assert not list(out.glob("parts/*/*.nc"))
    grown = load(cache(out, langs=("en", "hi", "am"), limit=3))
    np.testing.assert_array_equal(grown.resid.sel(lang=["en", "hi"]).values, first.resid.values)
    assert (grown.n_tokens.sel(lang="am") > 0).all()


def test_every_file_opens_with_default_xarray_and_ncdump(tmp_path):
    out = tmp_path / "open"
    final = cache(out, langs=("en", "am"), limit=3, keep_parts=True, sites=("resid", "attn_out"))
    files = [final, *out.glob("parts/*/*.nc")]
    assert len(files) >= 3
    for path in files:
        with xr.open_dataset(path) as ds:  # default engine, no options
            assert ds["resid"].dtype == np.float32 and np.isfinite(ds["resid"].values).all()
        dump = subprocess.run(["ncdump", "-h", str(path)], capture_output=True, text=True)
        assert dump.returncode == 0 and "float resid(" in dump.stdout, dump.stderr
    with xr.open_dataset(final) as ds:
        assert ds["attn_out"].isel(layer=0).isnull().all() and ds["attn_out"].isel(layer=1).notnull().all()


def test_old_float16_store_still_opens(tmp_path, reference):
    path = tmp_path / "old.nc"
    reference.assign(resid=reference.resid.astype(np.float16)).to_netcdf(
        path, engine="h5netcdf", invalid_netcdf=True
    )
    with open_activations(path, chunks=None) as ds:
        assert ds.resid.dtype == np.float16 and ds.sizes == reference.sizes


def test_bitround_keeps_float16_precision_and_float32_range(tmp_path):
    from polylens.storage.encoding import as_stored

    rng = np.random.default_rng(0)
    x = (rng.standard_normal((3, 2, 8)) * 1e5).astype(np.float32)  # beyond float16's 65504
    ds = xr.Dataset({"resid": (("stim", "layer", "d"), as_stored(x, [("en", "a")] * 3, "resid"))})
    from polylens.storage.encoding import array_encoding

    ds.to_netcdf(tmp_path / "r.nc", encoding={"resid": array_encoding()})
    back = xr.open_dataset(tmp_path / "r.nc").resid.values
    assert np.isfinite(back).all() and np.abs(back / x - 1).max() < 2**-10
    x[1, 0, 3] = np.inf
    with pytest.raises(StorageError, match="non-finite resid activation for stimulus 'b'"):
        as_stored(x, [("en", "a"), ("hi", "b"), ("en", "c")], "resid")


def test_truncated_final_is_detected_and_recaptured(tmp_path):
    out = tmp_path / "trunc"
    final = cache(out, langs=("en",), limit=4)
    good = load(final)
    size = final.stat().st_size
    with open(final, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(StorageError, match="damaged"):
        open_activations(final)
    np.testing.assert_array_equal(load(cache(out, langs=("en",), limit=4)).resid.values, good.resid.values)


def test_damaged_parts_are_named_then_recaptured(tmp_path):
    out = tmp_path / "dmg"
    good = load(cache(out, langs=("en",), limit=4, batch_size=2, keep_parts=True))
    p1, p2 = sorted(out.glob("parts/*/*.nc"))
    with open(p1, "r+b") as f:  # truncated: the resume check (size) redoes it
        f.truncate(100)
    data = bytearray(p2.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one flipped byte: assembly's sha256 catches it
    p2.write_bytes(data)
    (out / "manifest.json").write_text(
        json.dumps({**json.loads((out / "manifest.json").read_text()), "final": None})
    )
    with pytest.raises(StorageError, match=f"{p2.name} is damaged"):
        cache(out, langs=("en",), limit=4, batch_size=2, keep_parts=True)
    again = load(cache(out, langs=("en",), limit=4, batch_size=2, keep_parts=True))
    np.testing.assert_array_equal(again.resid.values, good.resid.values)


def test_two_concurrent_writers(tmp_path):
    """Two cache runs on one --out: one finishes, the other exits 2 naming the holder's pid."""
    single = load(cache(tmp_path / "single", langs=("en", "hi"), limit=6, batch_size=2))
    out = tmp_path / "two"
    cmd = [sys.executable, str(ROOT / "cli.py"), "cache", "--models", "tiny-cohere2", "--out", str(out)]
    cmd += ["--langs", "en,hi", "--limit", "6", "--batch-size", "2"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.time() + 120
    while not (out / ".lock.pid").exists() and time.time() < deadline:
        time.sleep(0.02)
    second = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert first.wait() == 0
    assert second.returncode == 2 and f"pid {first.pid}" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1 and "Traceback" not in second.stderr
    got = load(out / FINAL)
    xr.testing.assert_equal(got.drop_attrs(), single.drop_attrs())


def test_merge_refuses_missing_shards(tmp_path):
    stores = [tmp_path / f"s{i}" for i in range(3)]
    for i in (0, 2):
        cache(stores[i], langs=("en",), limit=3, shard=f"{i}/3")
    proc = subprocess.run(
        [sys.executable, "cli.py", "merge", str(stores[0]), str(stores[2]), "--out", str(tmp_path / "m.nc")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2 and "missing shard(s) 1/3" in proc.stderr
    assert not (tmp_path / "m.nc").exists()
