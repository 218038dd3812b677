"""Golden test: the full ``run`` job on a tiny random model reproduces the committed results.

The fixture in ``tests/fixtures/golden/`` is written by::

    python cli.py run --model tiny-cohere2,tiny-cohere2-fire --probes concepts --limit 6 \
        --n-boot 50 --no-figures --lens-concepts 0 --out OUT

Every stored array must agree to 1e-6 (absolute, plus 1e-6 relative) and every table (CSV, JSON, the printed headline)
exactly. Rendering is left out (the figure tests cover it); the numbers are the whole pipeline's.
A deliberate change of numbers must regenerate the fixture and say why. History:
- written by the pre-refactor code (commit cac2d81); the architecture refactor (issue 13)
  reproduced it unchanged through commit 754083e;
- regenerated after two deliberate changes: the float32 + BitRound(10 bits) store encoding
  (issue 19: activations differ from the float16 store by at most 6.1e-5) and the reviewer-grade
  statistics (issue 14: hygiene-flagged pairs excluded by default, exact proportion CIs,
  selection-aware peaks, the error-controlled commitment rule; METHOD_VERSION alignment-2);
- regenerated after three more (issues 14 and 17): per-layer MEXA and CKA nulls with effect sizes
  (new ``alignment.nc`` variables), the exact (Clopper-Pearson) committed-fraction CI instead of a
  percentile bootstrap of a proportion, the headline table leading with centred cosine and MEXA
  (reference row dropped), and token-budget batching as ``run``'s default (padding changes move
  stored activations by at most 2.1e-6 through float32 summation order);
- regenerated after the stage-1 kernel scales the (unit, unit) products instead of the (unit, d)
  inputs (issue 17: two fewer passes over ``d``): float32 rounding only, stored values move by
  at most 3.2e-5 relative (``margin_z``), tables in their sixth significant digit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
TABLES = ("stats.csv", "commitment_matrix.csv", "failure_cases.csv")


@pytest.fixture(scope="module")
def golden_run(tmp_path_factory) -> tuple[Path, str]:
    """Run the job once in a subprocess; return (out dir, stdout)."""
    out = tmp_path_factory.mktemp("golden")
    cmd = [
        sys.executable,
        str(ROOT / "cli.py"),
        "run",
        "--model",
        "tiny-cohere2,tiny-cohere2-fire",
        "--probes",
        "concepts",
        "--limit",
        "6",
        "--n-boot",
        "50",
        "--no-figures",
        "--lens-concepts",
        "0",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc.stdout


def _open(path: Path) -> xr.Dataset:
    """Open any store we write or wrote (old float16 stores need h5netcdf)."""
    try:
        return xr.load_dataset(path, engine="h5netcdf")
    except (OSError, ValueError):
        return xr.load_dataset(path)


def assert_same_dataset(new: xr.Dataset, old: xr.Dataset, atol: float = 1e-6, rtol: float = 1e-6) -> None:
    """Same variables, coordinates and dims; every numeric value within ``atol + rtol * |old|``.

    The relative part matters for large float32 values (a z of 19 has an ulp of 1.9e-6), whose
    last bit may differ between runs with another BLAS thread count.
    """
    assert set(new.data_vars) == set(old.data_vars), set(new.data_vars) ^ set(old.data_vars)
    assert set(new.coords) == set(old.coords), set(new.coords) ^ set(old.coords)
    for name in [*old.coords, *old.data_vars]:
        a, b = new[name], old[name]
        assert a.dims == b.dims, name
        if np.issubdtype(b.dtype, np.number) or b.dtype == bool:
            np.testing.assert_allclose(
                a.values.astype(np.float64),
                b.values.astype(np.float64),
                atol=atol,
                rtol=rtol,
                equal_nan=True,
                err_msg=name,
            )
        else:
            assert (a.values == b.values).all(), name


def test_results_arrays_match_golden(golden_run):
    out, _ = golden_run
    assert_same_dataset(_open(out / "results" / "concepts" / "alignment.nc"), _open(GOLDEN / "alignment.nc"))


def test_activation_stores_match_golden(golden_run):
    out, _ = golden_run
    for probes, name in (("concepts", "concepts_activations.nc"), ("edge_cases+en", "edge_activations.nc")):
        assert_same_dataset(_open(out / "stores" / probes / "activations.nc"), _open(GOLDEN / name))


@pytest.mark.parametrize("table", TABLES)
def test_tables_match_golden_exactly(golden_run, table):
    out, _ = golden_run
    assert (out / "results" / "concepts" / table).read_text() == (GOLDEN / table).read_text()


def test_curves_json_and_headline_match_golden(golden_run):
    out, stdout = golden_run
    new = json.loads((out / "results" / "concepts" / "alignment_curves.json").read_text())
    assert new == json.loads((GOLDEN / "alignment_curves.json").read_text())
    expected = (GOLDEN / "headline.txt").read_text().splitlines()[1:]  # line 0 names the old out dir
    start = next(i for i, line in enumerate(stdout.splitlines()) if line.startswith("variant  lang"))
    assert stdout.splitlines()[start : start + len(expected)] == expected
