"""Browse stored results under a few roots: list result directories, their figures and tables.

Every path the client names is resolved (symlinks included) and must stay inside the root it
names; anything else is "not found". Only figure / table / report / text files are served.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from polylens.errors import ToolkitError

#: files that make a directory a results directory
RESULT_SUFFIXES = {".nc", ".csv", ".html"}
#: files served to the client (media type by suffix)
SERVED = {
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".csv": "text/csv; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".md": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".toml": "text/plain; charset=utf-8",
}
MAX_DEPTH = 4
#: the table a results directory opens with: ``analysis.summary.SUMMARY_FILE`` (lead metrics first)
FIRST_TABLE = "summary.csv"
TABLE_ROWS = 50


class NotFound(ToolkitError):
    """A results path that does not exist inside the roots (or is not served)."""


def resolve(roots: list[Path], root: int, rel: str) -> Path:
    """The real path of ``rel`` under root number ``root``; NotFound outside it or when missing."""
    if not 0 <= root < len(roots) or "\x00" in rel:
        raise NotFound(f"no such results path: {root}/{rel[:80]!r}")
    base = roots[root].resolve()
    try:
        path = (base / rel).resolve()
    except (OSError, ValueError, RuntimeError):
        raise NotFound(f"no such results path: {root}/{rel[:80]!r}") from None
    if not path.is_relative_to(base) or not path.exists():
        raise NotFound(f"no such results path: {root}/{rel[:80]!r}")
    return path


def _is_results(d: Path) -> bool:
    """A directory holding a results file or a figures folder."""
    try:
        return (d / "figures").is_dir() or any(
            f.suffix in RESULT_SUFFIXES and f.is_file() for f in d.iterdir()
        )
    except OSError:
        return False


def list_results(roots: list[Path]) -> list[dict[str, Any]]:
    """Every results directory under the roots (depth <= MAX_DEPTH), as {id, root, path}."""
    out = []
    for i, root in enumerate(roots):
        base = root.resolve()
        for dirpath, dirnames, _ in os.walk(base, followlinks=False):
            d = Path(dirpath)
            depth = len(d.relative_to(base).parts)
            dirnames[:] = sorted(
                n for n in dirnames if not n.startswith((".", "_")) and n not in ("figures", "parts")
            )
            if depth >= MAX_DEPTH:
                dirnames[:] = []
            if _is_results(d):
                rel = d.relative_to(base).as_posix()
                out.append({"id": f"{i}/{rel}", "root": str(root), "path": rel})
    return out


def _table(path: Path) -> dict[str, Any]:
    """The first TABLE_ROWS rows of a CSV file."""
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        rows = [r for _, r in zip(range(TABLE_ROWS + 1), csv.reader(f))]
    return {"name": path.name, "header": rows[0] if rows else [], "rows": rows[1:]}


def describe(roots: list[Path], rid: str) -> dict[str, Any]:
    """Figures (URLs), tables (first rows), the report and other files of one results directory."""
    root, _, rel = rid.partition("/")
    if not root.isdigit():
        raise NotFound(f"no such results directory: {rid[:80]!r}")
    d = resolve(roots, int(root), rel or ".")
    if not d.is_dir() or not _is_results(d):
        raise NotFound(f"not a results directory: {rid[:80]!r}")
    base = roots[int(root)].resolve()
    url = lambda p: f"/files/{root}/{p.relative_to(base).as_posix()}"  # noqa: E731
    files = sorted(
        f
        for f in [*d.iterdir(), *((d / "figures").iterdir() if (d / "figures").is_dir() else [])]
        if f.is_file()
    )
    return {
        "id": rid,
        "figures": [{"name": f.name, "url": url(f)} for f in files if f.suffix in (".png", ".svg")],
        # the headline summary (centred cosine, MEXA, their nulls) is the table shown first
        "tables": [
            _table(f) | {"url": url(f)}
            for f in sorted(files, key=lambda f: f.name != FIRST_TABLE)
            if f.suffix == ".csv"
        ],
        "report": next((url(f) for f in files if f.name == "report.html"), None),
        "files": [{"name": f.name, "url": url(f) if f.suffix in SERVED else None} for f in files],
    }
