"""The architecture holds: one-way imports, no torch below hooks, short modules and functions.

These are the checks of issue 13 that a new back-edge or a sprawling function must fail.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("probes", "hooks", "storage", "analysis", "figures", "pipelines")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _sources() -> list[Path]:
    """Every Python source of the installed package (the checkout minus tests/benchmarks)."""
    files = [ROOT / "cli.py", ROOT / "errors.py", ROOT / "__init__.py"]
    for pkg in PACKAGES:
        files += sorted((ROOT / pkg).rglob("*.py"))
    return [f for f in files if f.exists()]


def _functions(tree: ast.AST):
    """Every (async) function definition, nested ones included."""
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def test_no_module_over_400_lines():
    long = {
        str(f.relative_to(ROOT)): n
        for f in _sources()
        if (n := len(f.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, long


def test_no_function_over_60_lines():
    long = {}
    for f in _sources():
        for fn in _functions(ast.parse(f.read_text())):
            n = fn.end_lineno - fn.lineno + 1
            if n > MAX_FUNCTION_LINES:
                long[f"{f.relative_to(ROOT)}:{fn.name}"] = n
    assert not long, long


def test_public_functions_have_docstrings():
    missing = []
    for f in _sources():
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if not node.name.startswith("_") and ast.get_docstring(node) is None:
                    missing.append(f"{f.relative_to(ROOT)}:{node.lineno}:{node.name}")
    assert not missing, missing


JAXTYPING = {"Float", "Int", "Bool", "Shaped", "Num", "Real", "Integer", "Inexact", "UInt", "Complex"}
ARRAY_TYPES = {"np.ndarray", "numpy.ndarray", "torch.Tensor", "ndarray", "Tensor"}


def _bare_array_annotations(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """Annotations that name an array/tensor type outside a jaxtyping ``Float[...]``-style shape."""
    args = fn.args
    notes = [a.annotation for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)] + [fn.returns]
    bare = []
    for note in filter(None, notes):
        shaped = {
            id(n)
            for s in ast.walk(note)
            if isinstance(s, ast.Subscript) and ast.unparse(s.value) in JAXTYPING
            for n in ast.walk(s.slice)
        }
        bare += [
            ast.unparse(n) for n in ast.walk(note) if ast.unparse(n) in ARRAY_TYPES and id(n) not in shaped
        ]
    return bare


def test_array_signatures_state_shapes_with_jaxtyping():
    bare = []
    for f in _sources():
        for fn in _functions(ast.parse(f.read_text())):
            if _bare_array_annotations(fn):
                bare.append(f"{f.relative_to(ROOT)}:{fn.lineno}:{fn.name}")
    assert not bare, bare


def _lint_imports(pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    """Run import-linter with the project's contracts (on a copy of the package if ``pythonpath``)."""
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    env = {**os.environ, **({"PYTHONPATH": str(pythonpath)} if pythonpath else {})}
    return subprocess.run(
        [sys.executable, "-c", code, "--config", str(ROOT / "pyproject.toml")],
        cwd=pythonpath or ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_import_contracts_hold():
    proc = _lint_imports()
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "0 broken" in proc.stdout


def test_analysis_importing_torch_breaks_the_contracts(tmp_path):
    pkg = tmp_path / "polylens"
    shutil.copytree(
        ROOT,
        pkg,
        ignore=shutil.ignore_patterns(".git", "tests", "benchmarks", "docs", "runs", "*.nc", "__pycache__"),
    )
    target = pkg / "analysis" / "cka.py"
    target.write_text(target.read_text() + "\nimport torch  # a back-edge the contracts must catch\n")
    proc = _lint_imports(tmp_path)
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "polylens.analysis.cka -> torch" in proc.stdout
