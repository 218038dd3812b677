"""All figure styling in one place: Okabe-Ito palette, variant colours/line styles, labels, saving.

Deterministic output: SVG ids use a fixed ``svg.hashsalt``, text is drawn as paths, and neither
PNG nor SVG metadata carries a date or a library version (same results -> byte-identical files).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import matplotlib

matplotlib.use("Agg")  # figures never need a display
import matplotlib.pyplot as plt  # noqa: E402

from polylens.probes.languages import TABLE  # noqa: E402
from polylens.probes.variants import VARIANT_NAMES  # noqa: E402

__all__ = [
    "OKABE_ITO",
    "VARIANT_COLORS",
    "RC",
    "style",
    "variant_style",
    "lang_name",
    "lang_label",
    "INDIC_SCRIPTS",
    "save",
    "to_png_bytes",
    "GREY",
    "NULL_COLOR",
    "CMAP",
    "RESOURCE_COLORS",
    "RESOURCE_MARKERS",
    "RESOURCE_ORDER",
    "MATRIX_STYLES",
    "DIRECTION_COLORS",
    "KIND_COLORS",
    "CONDITION_COLORS",
    "matrix_style",
]

#: Okabe & Ito (2008) colour-blind-safe palette
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
#: fixed colours for the Tiny Aya variants (probes.variants, in order); any other variant
#: (quantized, diffed...) takes the rest in order
VARIANT_COLORS = dict(
    zip(
        VARIANT_NAMES,
        [OKABE_ITO[k] for k in ("black", "blue", "vermillion", "bluish_green", "sky_blue")],
        strict=True,
    )
)
_EXTRA = [
    OKABE_ITO[k]
    for k in ("orange", "reddish_purple", "blue", "sky_blue", "bluish_green", "vermillion", "yellow")
]
_DASHES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1))]
#: resource level (probes.LANGUAGES / the ``resource`` coordinate) -> colour and marker
RESOURCE_COLORS = {"high": OKABE_ITO["blue"], "medium": OKABE_ITO["orange"], "low": OKABE_ITO["vermillion"]}
RESOURCE_MARKERS = {"high": "o", "medium": "s", "low": "D"}
RESOURCE_ORDER = ("high", "medium", "low")
#: decoder linear matrices: attention solid, MLP dashed
MATRIX_STYLES = {
    "q_proj": (OKABE_ITO["blue"], "-"),
    "k_proj": (OKABE_ITO["sky_blue"], "-"),
    "v_proj": (OKABE_ITO["bluish_green"], "-"),
    "o_proj": (OKABE_ITO["black"], "-"),
    "gate_proj": (OKABE_ITO["orange"], "--"),
    "up_proj": (OKABE_ITO["reddish_purple"], "--"),
    "down_proj": (OKABE_ITO["vermillion"], "--"),
}
#: model diffing: patching direction, CKA kind, control condition
DIRECTION_COLORS = {"a_to_b": OKABE_ITO["blue"], "b_to_a": OKABE_ITO["vermillion"]}
KIND_COLORS = {"linear": OKABE_ITO["blue"], "debiased": OKABE_ITO["orange"]}
CONDITION_COLORS = {
    "raw": OKABE_ITO["black"],
    "mapped": OKABE_ITO["blue"],
    "mismatched_layer": OKABE_ITO["orange"],
    "shuffled_pairs": OKABE_ITO["reddish_purple"],
    "ablate": "#8c8c8c",
}
GREY = "#8c8c8c"
NULL_COLOR = "#bdbdbd"
#: sequential colour map for layers (perceptually uniform, colour-blind safe)
CMAP = "cividis"

#: scripts of the Indian subcontinent (ISO 15924) for the seed study's "Indic language" panel
INDIC_SCRIPTS = ("Deva", "Beng", "Taml", "Telu", "Knda", "Mlym", "Gujr", "Guru", "Orya", "Sinh")

RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.6,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "savefig.facecolor": "white",
    "svg.hashsalt": "polylens",  # deterministic SVG ids
    "svg.fonttype": "path",  # no font dependence in viewers
    "pdf.fonttype": 42,
    "image.cmap": CMAP,
}
_PNG_META = {"Software": "polylens figures"}  # replaces "matplotlib version ..." ; PNG has no date
_SVG_META = {"Date": None, "Creator": "polylens figures"}
_PDF_META = {"CreationDate": None, "Creator": "polylens figures", "Producer": "polylens figures"}
_META = {"png": _PNG_META, "svg": _SVG_META, "pdf": _PDF_META}


@contextmanager
def style() -> Iterator[None]:
    """The one rc context every figure is drawn under."""
    with plt.rc_context(cast(Any, RC)):
        yield


def variant_style(variant: str, variants: Sequence[str]) -> dict:
    """Colour + dash for a variant: fixed for the Tiny Aya names, stable by position otherwise."""
    variants = [str(v) for v in variants]
    i = variants.index(variant) if variant in variants else 0
    others = [v for v in variants if v not in VARIANT_COLORS]
    color = VARIANT_COLORS.get(variant) or _EXTRA[others.index(variant) % len(_EXTRA)]
    return {"color": color, "linestyle": _DASHES[i % len(_DASHES)]}


def matrix_style(kind: str, kinds: Sequence[str]) -> dict:
    """Colour + dash for a weight-matrix type (known Gemma/Cohere names fixed, others by position)."""
    if kind in MATRIX_STYLES:
        c, ls = MATRIX_STYLES[kind]
        return {"color": c, "linestyle": ls}
    i = [k for k in kinds if k not in MATRIX_STYLES].index(kind) if kind in kinds else 0
    return {"color": _EXTRA[i % len(_EXTRA)], "linestyle": _DASHES[(i + 1) % len(_DASHES)]}


def lang_name(code: str) -> str:
    """English name from the language table (Latin glyphs only, so every font renders it)."""
    lang = TABLE.get(code)
    return lang.name if lang is not None else code


def lang_label(code: str) -> str:
    """``Name (code)``, or the code alone when the table does not know it."""
    name = lang_name(code)
    return name if name == code else f"{name} ({code})"


def save(fig, out_dir: str | Path, name: str, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Write ``out_dir/name.{fmt}`` deterministically and close the figure."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with style():
        for fmt in formats:
            path = out / f"{name}.{fmt}"
            meta = _META.get(fmt)
            fig.savefig(path, format=fmt, metadata=meta)
            paths.append(path)
    plt.close(fig)
    return paths


def to_png_bytes(fig, dpi: int = 110) -> bytes:
    """PNG bytes (for the report) with the same fixed metadata."""
    buf = io.BytesIO()
    with style():
        fig.savefig(buf, format="png", dpi=dpi, metadata=_PNG_META)
    return buf.getvalue()
