"""Display choices of the alignment figures, read from stored values only (no statistics)."""

from __future__ import annotations

import numpy as np

from polylens.probes.scripts import script_name

from ..results import Results
from ..style import INDIC_SCRIPTS

__all__ = ["SEED_PANELS", "three_panel_langs", "annotated_choice", "collapse_layer"]

#: the seed study's three panels: (group label, script test, preferred languages)
SEED_PANELS = (
    ("Latin script", lambda s: s == "Latn", ("sw", "yo", "fr", "es")),
    ("Indic script", lambda s: s in INDIC_SCRIPTS, ("hi", "bn", "ta")),
    ("Ethiopic script", lambda s: s == "Ethi", ("am",)),
)


def three_panel_langs(res: Results) -> list[tuple[str, str]]:
    """[(lang, group label)]: a Latin-script, an Indic and an Ethiopic language (seed ones preferred).

    Languages come from the data's ``script`` coordinate; missing groups are filled with other
    languages.
    """
    langs = res.langs
    chosen: list[tuple[str, str]] = []
    for label, test, prefer in SEED_PANELS:
        cands = [g for g in langs if test(res.script(g) or "") and g not in [c for c, _ in chosen]]
        if cands:
            pick = next((p for p in prefer if p in cands), cands[0])
            chosen.append((pick, label))
    for g in langs:  # fill up to three panels
        if len(chosen) >= 3:
            break
        if g not in [c for c, _ in chosen]:
            s = res.script(g)
            chosen.append((g, f"{script_name(s)} script" if s else "other"))
    return chosen[:3]


def annotated_choice(res: Results) -> tuple[str, str]:
    """(variant, lang) of the annotated curve: the baseline variant and the Indic seed panel.

    The Indic panel is Hindi in the seed study; without one, the first compared language.
    """
    picks = three_panel_langs(res)
    lang = next((g for g, label in picks if label == "Indic script"), picks[0][0] if picks else res.langs[0])
    return res.baseline, lang


def collapse_layer(res: Results, variant: str, lang: str) -> float:
    """Layer where the stored curve has collapsed after its peak (a display rule, not a statistic).

    Uses a stored ``collapse_layer`` variable when the analysis provides one. Otherwise, reading
    only stored values: the first layer after ``peak_layer`` whose CI upper bound (``cos_ci`` hi)
    lies below the analysis threshold ``analysis_tau`` (alignment is no longer committed); if the
    peak itself never reaches tau, the first layer after the peak whose CI upper bound lies below
    the peak's lower CI bound (``peak_cos_ci`` lo). NaN when neither happens.
    """
    ds = res.ds
    if "collapse_layer" in ds:
        return float(ds["collapse_layer"].sel(variant=variant, lang=lang))
    peak = float(ds["peak_layer"].sel(variant=variant, lang=lang))
    if not np.isfinite(peak):
        return float("nan")
    peak_lo = float(ds["peak_cos_ci"].sel(variant=variant, lang=lang, ci="lo"))
    peak_cos = float(ds["peak_cos"].sel(variant=variant, lang=lang))
    tau = res.attrs.get("analysis_tau")
    level = float(tau) if tau is not None and peak_cos >= float(tau) else peak_lo
    hi = ds["cos_ci"].sel(variant=variant, lang=lang, ci="hi").values
    layers = np.asarray(res.layers, dtype=float)
    after = (layers > peak) & (hi < level)
    return float(layers[np.argmax(after)]) if after.any() else float("nan")
