"""The pipelines layer and the thin CLI: config binding, TOML config files, validation, help."""

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from polylens import cli
from polylens.pipelines import COMMANDS
from polylens.pipelines.analyze import AnalyzeConfig
from polylens.pipelines.config import load_config_file, to_toml

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def _resolved(argv: list[str], monkeypatch) -> object:
    """The config ``cli.main(argv)`` would run (the job ``argv[0]`` is replaced by a stub)."""
    seen: dict[str, object] = {}
    path = argv[0]
    cls, _, _ = COMMANDS[path]
    monkeypatch.setitem(COMMANDS, path, (cls, lambda cfg: seen.setdefault("cfg", cfg), lambda _: ""))
    assert cli.main(argv) == 0
    return seen["cfg"]


def test_config_file_value_used_and_cli_flag_overrides(tmp_path, monkeypatch):
    study = tmp_path / "study.toml"
    study.write_text('[analyze]\nstore = "s.nc"\nout = "res"\nn_boot = 7\ntau = 0.5\n\n[run]\nlimit = 3\n')
    cfg = _resolved(["analyze", "--config", str(study)], monkeypatch)
    assert cfg == AnalyzeConfig(store=Path("s.nc"), out=Path("res"), n_boot=7, tau=0.5)
    cfg = _resolved(["analyze", "--config", str(study), "--n-boot", "11"], monkeypatch)
    assert cfg.n_boot == 11 and cfg.tau == 0.5  # the flag wins, the rest comes from the file
    run_cfg = _resolved(["run", "--config", str(study), "--model", "a,b"], monkeypatch)
    assert run_cfg.limit == 3 and run_cfg.model == ("a", "b") and run_cfg.probes == ("concepts", "medical")


def test_top_level_keys_and_written_config_round_trip(tmp_path, monkeypatch):
    flat = tmp_path / "flat.toml"
    flat.write_text('store = "s.nc"\nout = "res"\nk = 4\n')
    cfg = _resolved(["analyze", "--config", str(flat)], monkeypatch)
    assert cfg.k == 4
    again = tmp_path / "again.toml"
    again.write_text(to_toml(cfg, "analyze"))
    assert load_config_file(again, "analyze")["k"] == 4
    assert _resolved(["analyze", "--config", str(again)], monkeypatch) == cfg


def test_unknown_config_key_is_exit_2_naming_key_and_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[run]\nlimit = 3\nn_bootz = 5\n")
    r = _cli("run", "--config", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "n_bootz" in r.stderr and str(bad) in r.stderr


@pytest.mark.parametrize(
    "args,flag",
    [
        (["analyze", "--store", "s", "--out", "o", "--n-boot", "abc"], "--n-boot"),
        (["analyze", "--store", "s", "--out", "o", "--n-boot", "0"], "--n-boot"),
        (["analyze", "--store", "s", "--out", "o", "--tau", "nan"], "--tau"),
        (["run", "--limit", "-3"], "--limit"),
        (["run", "--batch-size", "1.5"], "--batch-size"),
        (["cache", "--out", "o", "--shard", "3/2"], "--shard"),
        (["route", "x", "--alpha", "inf"], "--alpha"),
    ],
)
def test_bad_numeric_value_is_one_line_naming_the_flag(args, flag, tmp_path):
    r = _cli(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and flag in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()  # refused before any work


def test_help_lists_every_field_with_its_help_text(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "10000")  # no wrapping: argparse breaks lines at hyphens too
    for path, (cls, _, _) in COMMANDS.items():
        with pytest.raises(SystemExit) as done:
            cli.main([*path.split(), "--help"])
        assert done.value.code == 0
        text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
        assert " ".join(cls.__doc__.split()) in text, path
        for f in dataclasses.fields(cls):
            positional = f.metadata.get("positional")
            assert (f.name if positional else "--" + f.name.replace("_", "-")) in text, (path, f.name)
            assert f.metadata["help"], (path, f.name)
            assert " ".join(f.metadata["help"].split()) in text, (path, f.name)


def test_console_script_help_works():
    exe = Path(sys.executable).parent / "polylens"
    if not exe.exists():
        pytest.skip("console script not installed in this environment")
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "run" in r.stdout and "route" in r.stdout


def test_cli_stays_thin():
    assert len((ROOT / "cli.py").read_text().splitlines()) <= 150


HEAVY_MODULES = ("torch", "transformers", "transformer_lens", "xarray", "scipy")


def test_importing_the_cli_stays_light():
    """Building the parser imports every job module: none may pull in torch, xarray or scipy."""
    code = (
        "import sys, time; t = time.perf_counter(); import polylens.cli; t = time.perf_counter() - t; "
        f"print(round(t, 3)); print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    seconds, heavy = r.stdout.splitlines()
    assert heavy == "", f"import polylens.cli imported {heavy}"
    assert float(seconds) < 1.0, f"import polylens.cli took {seconds} s (about 0.1 s expected)"


def test_storage_imports_only_the_torch_free_hooks_modules():
    allowed = {"polylens.hooks.method", "polylens.hooks.sites"}
    for path in (ROOT / "storage").glob("*.py"):
        used = set(re.findall(r"polylens\.hooks(?:\.\w+)?", path.read_text()))
        assert used <= allowed, (path, used - allowed)
