"""Routing rules generated from analysis results (``analysis.alignment.run_analysis`` output).

A language is routed to a non-Base variant only when that variant's alignment beats Base's with
statistical support in ``stats.csv``: scope ``language``, the chosen metric (default
``margin_auc``: matched-minus-mismatched cosine averaged over layers), a BH-adjusted paired
sign-flip permutation p-value below ``alpha`` *and* a bootstrap CI of the difference that excludes
zero in the favourable direction, and an effect of at least ``min_diff``. When several variants
qualify, the largest effect wins. Everything else routes to Base. The JSON file records which
results were used (paths, sha256 of the files, model/method attrs of ``alignment.nc``), the test
and the thresholds. Building reads files only; no model is ever loaded.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import json
import math
from pathlib import Path

from polylens.errors import StorageError

__all__ = ["RULES_FORMAT", "METRICS", "DEFAULT_POLICY", "build_rules", "write_rules", "load_rules"]

RULES_FORMAT = "polylens-router-rules/1"
#: metric -> +1 when higher is better, -1 when lower is better (commitment layer)
METRICS = {"margin_auc": 1, "cos_auc": 1, "peak_cos": 1, "commit": -1}
#: category routes that do not come from the alignment statistics (seed failure taxonomy)
DEFAULT_POLICY = {
    "MIXED": "global",
    "TRANSLITERATION": "global",
    "FORMAL_REGISTER": "base",
    "unknown_language": "base",
    "source": "seed failure taxonomy (romanized text -> global; formal/legal register -> base); "
    "mixed input -> global, the general model (issue 18); not derived from the alignment statistics",
}
_TEST = (
    "paired sign-flip permutation test over units (variant - baseline), Benjamini-Hochberg "
    "within the (scope=language, metric) family; bootstrap percentile CI of the mean difference "
    "(analysis.variant_tests)"
)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _num(x: str) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _results_attrs(nc: Path) -> dict:
    """Model/method attrs of alignment.nc (read lazily with xarray; empty if unavailable)."""
    keep = (
        "model_id",
        "weights_sha256",
        "processing_mode",
        "pooling",
        "probe_set",
        "probe_set_sha256",
        "toolkit_version",
        "created",
        "analysis_ref",
        "analysis_tau",
        "analysis_k",
        "analysis_n_boot",
        "analysis_n_perm",
        "analysis_baseline",
        "analysis_ci_level",
        "analysis_method_version",
    )
    try:
        import xarray as xr  # noqa: PLC0415 - build time only

        with xr.open_dataset(nc) as ds:
            attrs = dict(ds.attrs)
    except Exception as exc:  # noqa: BLE001
        raise StorageError(f"{nc}: cannot read analysis results ({exc.__class__.__name__}: {exc})") from None
    out = {}
    for k in keep:
        if k in attrs:
            v = attrs[k]
            out[k] = v.item() if hasattr(v, "item") else v
    return out


def build_rules(
    results_dir: str | Path,
    metric: str = "margin_auc",
    alpha: float = 0.05,
    min_diff: float = 0.0,
    baseline: str | None = None,
    require_ci: bool = True,
    policy: dict | None = None,
) -> dict:
    """Rules dict from a results directory (needs ``stats.csv``; ``alignment.nc`` and
    ``commitment_matrix.csv`` are recorded in the provenance when present)."""
    if metric not in METRICS:
        raise StorageError(f"unknown rules metric {metric!r} (choose from {', '.join(METRICS)})")
    root = Path(results_dir)
    rows = _read_stats(root)
    files = {
        name: _sha256(root / name)
        for name in ("stats.csv", "alignment.nc", "commitment_matrix.csv")
        if (root / name).is_file()
    }
    attrs = _results_attrs(root / "alignment.nc") if "alignment.nc" in files else {}
    baseline = baseline or attrs.get("analysis_baseline") or "base"
    sign = METRICS[metric]
    langs = _language_entries(rows, baseline, metric, alpha, min_diff, require_ci)
    notes = []
    if not langs:
        notes.append(
            f"stats.csv has no scope=language {metric} comparisons against {baseline} (e.g. "
            "single-variant results): every language routes to " + baseline
        )
    return {
        "format": RULES_FORMAT,
        "notes": notes,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "baseline": baseline,
        "test": {
            "description": _TEST,
            "scope": "language",
            "metric": metric,
            "direction": "higher is better" if sign > 0 else "lower is better",
            "alpha": alpha,
            "min_diff": min_diff,
            "require_ci_excludes_zero": require_ci,
        },
        "provenance": {
            "results_dir": str(root.resolve()),
            "files_sha256": files,
            "results_attrs": attrs,
            "n_stats_rows": len(rows),
        },
        "policy": dict(DEFAULT_POLICY if policy is None else policy),
        "languages": dict(sorted(langs.items())),
    }


def _read_stats(root: Path) -> list[dict[str, str]]:
    """The rows of ``root/stats.csv`` (``StorageError`` when the directory, file or columns are missing)."""
    stats = root / "stats.csv"
    if not root.is_dir():
        raise StorageError(f"results directory {root} does not exist")
    if not stats.is_file():
        raise StorageError(
            f"{root} has no stats.csv; run the analysis (analysis.alignment.run_analysis) first"
        )
    with open(stats, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    need = {"scope", "metric", "variant_a", "variant_b", "lang", "diff", "diff_ci_lo", "diff_ci_hi", "p_bh"}
    if rows and not need <= set(rows[0]):
        raise StorageError(f"{stats}: missing columns {sorted(need - set(rows[0]))}")
    return rows


def _language_entries(
    rows: list[dict[str, str]], baseline: str, metric: str, alpha: float, min_diff: float, require_ci: bool
) -> dict[str, dict]:
    """Per language: every (variant vs baseline) candidate on ``metric`` and the chosen variant."""
    sign = METRICS[metric]
    langs: dict[str, dict] = {}
    for r in rows:
        if r["scope"] != "language" or r["metric"] != metric:
            continue
        if baseline not in (r["variant_a"], r["variant_b"]) or r["variant_a"] == r["variant_b"]:
            continue
        cand = _candidate(r, baseline, sign, alpha, min_diff, require_ci)
        langs.setdefault(r["lang"], {"candidates": []})["candidates"].append(cand)
    for entry in langs.values():
        _choose_variant(entry, sign, baseline, metric, alpha, require_ci)
    return langs


def _candidate(
    r: dict[str, str], baseline: str, sign: int, alpha: float, min_diff: float, require_ci: bool
) -> dict:
    """One stats row as a candidate (variant - baseline) with the checks that must all hold."""
    a, b = r["variant_a"], r["variant_b"]
    flip = 1 if b == baseline else -1  # orient as (variant - baseline)
    variant = a if b == baseline else b
    diff = flip * _num(r["diff"])
    lo, hi = (_num(r["diff_ci_lo"]), _num(r["diff_ci_hi"]))[::flip]
    lo, hi = flip * lo, flip * hi
    p_bh = _num(r["p_bh"])
    gain = sign * diff  # > 0: the variant is better than baseline
    ci_ok = (lo > 0) if sign > 0 else (hi < 0)
    checks = {
        "p_bh<alpha": bool(p_bh < alpha),
        "better": bool(gain > 0),
        "gain>=min_diff": bool(gain >= min_diff),
    }
    if require_ci:
        checks["ci_excludes_0"] = bool(ci_ok)
    return {
        "variant": variant,
        "diff": round(diff, 6),
        "ci": [round(lo, 6), round(hi, 6)],
        "p_bh": p_bh,
        "n": int(_num(r.get("n", "nan"))) if not math.isnan(_num(r.get("n", "nan"))) else None,
        "supported": all(checks.values()),
        "checks": checks,
    }


def _choose_variant(
    entry: dict, sign: int, baseline: str, metric: str, alpha: float, require_ci: bool
) -> None:
    """Set ``entry``'s variant (the supported candidate with the largest effect, else baseline) and evidence."""
    ok = [c for c in entry["candidates"] if c["supported"]]
    best = max(ok, key=lambda c: (sign * c["diff"], c["variant"])) if ok else None
    entry["candidates"].sort(key=lambda c: c["variant"])
    if best:
        entry["variant"] = best["variant"]
        entry["evidence"] = (
            f"{best['variant']} beats {baseline} on {metric}: diff {best['diff']:+.4f} "
            f"(95% CI {best['ci'][0]:+.4f}..{best['ci'][1]:+.4f}), BH p={best['p_bh']:.3g}"
        )
    else:
        entry["variant"] = baseline
        entry["evidence"] = f"no variant beats {baseline} on {metric} with BH p<{alpha}" + (
            " and a CI excluding 0" if require_ci else ""
        )


def write_rules(rules: dict, path: str | Path) -> Path:
    """Write ``rules`` as JSON to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(rules, indent=1, ensure_ascii=False, allow_nan=True) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def load_rules(path: str | Path) -> dict:
    """Read and check a rules file (``StorageError`` naming the file when it is unusable)."""
    path = Path(path)
    try:
        rules = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StorageError(
            f"rules file {path} does not exist; build it with `cli.py route build --results DIR`"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StorageError(f"rules file {path} is unreadable: {exc}") from None
    if not isinstance(rules, dict) or rules.get("format") != RULES_FORMAT:
        raise StorageError(f"rules file {path} is not a {RULES_FORMAT} file")
    if not isinstance(rules.get("languages"), dict):
        raise StorageError(f"rules file {path} has no 'languages' table")
    return rules
