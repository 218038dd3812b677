"""``readme``: the README's results block, generated from a results directory's stored summary.

Two steps, both pure functions of their input: :func:`collect` reads a results directory
(``alignment.nc``, ``token_control.csv``, ``seed_claims.csv``, ``excluded_stimuli.csv``) into a
small JSON summary; :func:`render_block` turns a summary into the Markdown between
``<!-- results:begin -->`` and ``<!-- results:end -->``. Every number in the block comes from
the summary; the committed ``docs/results/summary.json`` regenerates the committed
``docs/results/README_block.md`` exactly (a test checks it).

Contract (what the summary reads, by name): ``alignment.nc`` variables ``peak_cos_centred``,
``peak_cos_centred_ci``, ``peak_cos_centred_layer``, ``peak_cos_centred_modal_share``,
``peak_retrieval_mexa`` (+ ``_ci``, ``_layer``), ``null_centred_q95``, ``cos_centred_z``,
``peak_cos``, ``commit_layer_free`` (+ ``_ci``), ``n_units``; coordinate ``resource``; attrs
``model_id``, ``weights_sha256``, ``pooling``, ``sites``, versions, ``analysis_*``. The MEXA null
is the first of ``MEXA_NULL_VARS`` present (per layer), else chance ``1/n``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from polylens.errors import ConfigError, StorageError
from polylens.pipelines.config import input_path, opt, output_dir

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
SUMMARY_VERSION = "readme-summary-1"
#: per-layer MEXA null variables accepted (first present wins); chance 1/n otherwise
MEXA_NULL_VARS = ("null_mexa_q95", "null_retrieval_mexa_q95", "retrieval_mexa_null_q95")
METHOD_ATTRS = (
    "model_id", "weights_sha256", "pooling", "sites", "processing_mode", "probe_set", "probe_set_sha256",
    "toolkit_version", "transformer_lens_version", "transformers_version", "torch_version",
    "analysis_ref", "analysis_n_boot", "analysis_ci_level", "analysis_seed", "analysis_method_version",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class ReadmeConfig:
    """Write the README results block from a results directory (or a stored summary JSON)."""

    command: ClassVar[str] = "readme"
    results: Path = opt(help="results directory of analyze, or a summary JSON written by this command")
    readme: Path | None = opt(None, "README to update between the results markers (default: none)")
    summary_out: Path | None = opt(None, "also write the summary JSON here (e.g. docs/results/summary.json)")
    block_out: Path | None = opt(None, "also write the block alone here (e.g. docs/results/README_block.md)")

    def __post_init__(self) -> None:
        """Output paths must be writable files."""
        for name in ("summary_out", "block_out"):
            if getattr(self, name) is not None:
                output_dir(self, name, is_file=True)


@dataclass(frozen=True)
class ReadmeResult:
    """The block written and where it went."""

    block: str
    written: tuple[Path, ...]


def _f(x: Any) -> float | None:
    """JSON-safe float rounded to 4 decimals (None for NaN / inf / missing)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return round(v, 4) if math.isfinite(v) else None


def _need(res: Any, names: tuple[str, ...], path: Path) -> None:
    """Refuse a results file lacking a variable the summary reads."""
    missing = [n for n in names if n not in res]
    if missing:
        raise StorageError(f"{path}: missing {', '.join(missing)} (run analyze with this version)")


def _headline_row(r: Any, mexa_null: str | None) -> dict[str, Any]:
    """One (variant, lang) row: centred cosine and MEXA peaks with CI and null, raw, commitment."""
    layer = float(r["peak_cos_centred_layer"])
    at = r.sel(layer=layer) if math.isfinite(layer) else r.isel(layer=0)
    m_layer = float(r["peak_retrieval_mexa_layer"])
    m_at = r.sel(layer=m_layer) if math.isfinite(m_layer) else r.isel(layer=0)
    n = int(r["n_units"])
    return {
        "variant": str(r["variant"].values), "lang": str(r["lang"].values),
        "resource": str(r["resource"].values) if "resource" in r.coords else "",
        "n_units": n,
        "centred": _f(r["peak_cos_centred"]), "centred_lo": _f(r["peak_cos_centred_ci"][0]),
        "centred_hi": _f(r["peak_cos_centred_ci"][1]), "centred_layer": _f(layer),
        "centred_modal_share": _f(r["peak_cos_centred_modal_share"]),
        "centred_null_q95": _f(at["null_centred_q95"]), "centred_z": _f(at["cos_centred_z"]),
        "mexa": _f(r["peak_retrieval_mexa"]), "mexa_lo": _f(r["peak_retrieval_mexa_ci"][0]),
        "mexa_hi": _f(r["peak_retrieval_mexa_ci"][1]), "mexa_layer": _f(m_layer),
        "mexa_null": _f(m_at[mexa_null]) if mexa_null else _f(1.0 / n if n else math.nan),
        "raw_cos_peak": _f(r["peak_cos"]),
        "commit_free": _f(r["commit_layer_free"]), "commit_free_lo": _f(r["commit_layer_free_ci"][0]),
        "commit_free_hi": _f(r["commit_layer_free_ci"][1]),
    }  # fmt: skip


def _headline(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    """(headline rows, method attrs, MEXA null kind) from ``alignment.nc``."""
    import xarray as xr

    names = (
        "peak_cos_centred", "peak_cos_centred_ci", "peak_cos_centred_layer", "peak_cos_centred_modal_share",
        "peak_retrieval_mexa", "peak_retrieval_mexa_ci", "peak_retrieval_mexa_layer", "null_centred_q95",
        "cos_centred_z", "peak_cos", "commit_layer_free", "commit_layer_free_ci", "n_units",
    )  # fmt: skip
    with xr.open_dataset(path) as res:
        _need(res, names, path)
        mexa_null = next((v for v in MEXA_NULL_VARS if v in res), None)
        ref = res.attrs.get("analysis_ref", "en")
        rows = [
            _headline_row(res.sel(variant=v, lang=g), mexa_null)
            for v in res["variant"].values
            for g in res["lang"].values
            if g != ref
        ]
        method = {k: res.attrs[k] for k in METHOD_ATTRS if k in res.attrs}
    return rows, method, mexa_null or "chance 1/n"


def _records(path: Path, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows of a CSV (selected columns; floats rounded, NaN -> None); empty if the file is absent."""
    import pandas as pd

    if not path.exists():
        return []
    df = pd.read_csv(path, keep_default_na=True)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise StorageError(f"{path}: missing columns {', '.join(missing)}")
    return [
        {c: (_f(v) if isinstance(v, float) else v.item() if hasattr(v, "item") else v) for c, v in r.items()}
        for r in df[list(columns)].to_dict("records")
    ]


TOKEN_COLUMNS = ("variant", "lang", "metric", "layer", "n", "share", "share_lo", "share_hi", "alignment",
                 "controlled", "controlled_lo", "controlled_hi", "n_matched", "matched", "matched_lo",
                 "matched_hi", "uses_controlled")  # fmt: skip
CLAIM_COLUMNS = ("variant", "claim", "seed_claim", "metric", "value", "lo", "hi", "measurement", "verdict")


def collect(results: Path) -> dict[str, Any]:
    """The summary of a results directory (JSON-ready)."""
    import xarray as xr

    from polylens.analysis.token_control import THRESHOLD

    results = Path(results)
    rows, method, mexa_null = _headline(results / "alignment.nc")
    threshold = THRESHOLD
    if (results / "token_control.nc").exists():
        with xr.open_dataset(results / "token_control.nc") as tc:
            threshold = float(tc.attrs.get("token_control_threshold", THRESHOLD))
    return {
        "summary_version": SUMMARY_VERSION,
        "method": {k: (v.item() if hasattr(v, "item") else v) for k, v in method.items()},
        "mexa_null": mexa_null,
        "headline": rows,
        "token_control_threshold": threshold,
        "token_control": _records(results / "token_control.csv", TOKEN_COLUMNS),
        "seed_claims": _records(results / "seed_claims.csv", CLAIM_COLUMNS),
        "excluded": _records(results / "excluded_stimuli.csv", ("lang", "n_stimuli", "n_excluded")),
    }


def load_summary(results: Path) -> dict[str, Any]:
    """A stored summary JSON, or :func:`collect` of a results directory."""
    results = Path(results)
    if results.is_dir():
        return collect(results)
    data = json.loads(results.read_text(encoding="utf-8"))
    if data.get("summary_version") != SUMMARY_VERSION:
        raise StorageError(
            f"{results}: not a {SUMMARY_VERSION} summary (got {data.get('summary_version')!r})"
        )
    return dict(data)


def replace_block(text: str, block: str, path: Path) -> str:
    """``text`` with everything between the results markers replaced by ``block``."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ConfigError(f"--readme: {path} has no {BEGIN} ... {END} markers; add them where the block goes")
    return text[: start + len(BEGIN)] + "\n" + block + text[end:]


def run(config: ReadmeConfig) -> ReadmeResult:
    """Collect (or load) the summary, render the block, write the requested files."""
    from polylens.figures.report.claims import render_block
    from polylens.storage.integrity import atomic_file

    input_path(config, "results")
    input_path(config, "readme", kind="file")
    summary = load_summary(config.results)
    block = render_block(summary)
    outputs = [
        (config.summary_out, json.dumps(summary, indent=1, sort_keys=True, ensure_ascii=False) + "\n"),
        (config.block_out, block),
    ]
    if config.readme is not None:
        outputs.append((config.readme, replace_block(config.readme.read_text("utf-8"), block, config.readme)))
    written = []
    for path, text in outputs:
        if path is not None:
            with atomic_file(Path(path)) as tmp:
                Path(tmp).write_text(text, encoding="utf-8")
            written.append(Path(path))
    return ReadmeResult(block, tuple(written))


def summary(result: ReadmeResult) -> str:
    """The files written (or the block itself when none was asked for)."""
    if not result.written:
        return result.block
    return "wrote " + ", ".join(str(p) for p in result.written)


#: the CLI commands of this module: command path -> (config class, run, summary)
COMMANDS = {
    "readme": (ReadmeConfig, run, summary),
}
