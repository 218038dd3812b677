"""One self-contained HTML report from a results directory (no server, no network, no CDN).

``build_report(results_dir, out_html)`` embeds: methods and metadata (from the netCDF attrs),
headline tables with CIs (``commitment_matrix.csv``), variant tests (``stats.csv``), failure
cases (``failure_cases.csv``), every available figure as a base64 PNG, and an interactive layer
explorer (plain JS over inline JSON copied from ``alignment.nc``: per-language alignment with CI
and the null band at the layer chosen with a slider). Same results -> byte-identical HTML.

Sections live beside this module: :mod:`.alignment`, :mod:`.quant`, :mod:`.diff`; the HTML
building blocks in :mod:`.html`, the stylesheet and script in :mod:`.assets`.
"""

from __future__ import annotations

from pathlib import Path

from polylens.errors import StorageError

from ..common import dataset_attrs
from ..results import Results
from .alignment import alignment_sections
from .assets import CSS, JS
from .claims import claims_section
from .diff import diff_section
from .html import esc, figures_html
from .quant import QUANT_FILES, quant_section

__all__ = ["build_report"]


def _model_name(value: object) -> str:
    """A model id for display: a per-variant mapping (or its repr / JSON) becomes ``a, b``."""
    if isinstance(value, str) and value.startswith("{"):
        import ast

        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return str(value)
    if isinstance(value, dict):
        return ", ".join(dict.fromkeys(str(v) for v in value.values()))
    return str(value)


def _default_title(res: Results, has_align: bool, has_quant: bool) -> str:
    """What the report is about: the model, or the two models compared."""
    if has_align:
        return f"cross-lingual alignment of {_model_name(res.attrs.get('model_id', 'results'))}"
    if has_quant:
        return str(
            dataset_attrs(res, next(f for f in QUANT_FILES if res.has(f))).get("model_id", "quantization")
        )
    d = dataset_attrs(res, "diff.nc")
    return f"{d.get('a_name', 'A')} vs {d.get('b_name', 'B')}"


def _sections(res: Results, has_align: bool, has_quant: bool, has_diff: bool) -> list[tuple[str, str, str]]:
    """(id, heading, html) of every section the directory's files allow, in page order."""
    sections = alignment_sections(res) if has_align else []
    claims = claims_section(res) if has_align else ""
    if claims:
        sections.append(("claims", "Seed claims and token-count control", claims))
    if has_quant:
        sections.append(("quantization", "Quantization", quant_section(res)))
    if has_diff:
        sections.append(("diffing", "Model diffing", diff_section(res)))
    other = figures_html(res, "figures") if not has_align else ""
    if other:
        sections.append(("figures", "Figures", other))
    return sections


def build_report(results_dir: str | Path, out_html: str | Path, title: str | None = None) -> Path:
    """Write one self-contained HTML report for a results directory; returns its path."""
    res = Results(results_dir)
    has_align, has_diff = res.has("alignment.nc"), res.has("diff.nc")
    has_quant = any(res.has(f) for f in QUANT_FILES)
    if not (has_align or has_quant or has_diff):
        raise StorageError(
            f"{res.path} has no alignment.nc, quantization results ({', '.join(QUANT_FILES)}) or "
            "diff.nc; the report needs analysis results"
        )
    title = title or f"polylens report: {_default_title(res, has_align, has_quant)}"
    sections = _sections(res, has_align, has_quant, has_diff)
    nav = "".join(f'<a href="#{sid}">{esc(name)}</a>' for sid, name, _ in sections)
    body = "".join(
        f'<section id="{sid}"><h2>{esc(name)}</h2>{content}</section>' for sid, name, content in sections
    )
    script = f"<script>{JS}</script>" if has_align else ""
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{esc(title)}</h1><nav>{nav}</nav>{body}{script}</body></html>\n"
    )
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
