"""Seed claims and token-count control: the report section and the README results block.

``claims_section(res)`` renders ``seed_claims.csv`` and ``token_control.csv`` of a results
directory as HTML; ``render_block(summary)`` renders the summary JSON of ``pipelines.readme``
as the Markdown of the README's results block (deterministic: same summary, same text).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ..results import Results
from .html import ci_cell, esc, layer, table

__all__ = ["claims_section", "render_block", "CLAIMS_FILES"]

CLAIMS_FILES = ("seed_claims.csv", "token_control.csv")


def _claims_html(df: pd.DataFrame) -> str:
    """Seed-claims table: claim, our measurement with CI, verdict."""
    rows = pd.DataFrame(
        {
            "variant": [esc(str(v)) for v in df["variant"]],
            "seed claim": [esc(str(v)) for v in df["seed_claim"]],
            "measurement": [esc(str(v)) for v in df["measurement"]],
            "value [95% CI]": [ci_cell(v, lo, hi, 2) for v, lo, hi in zip(df["value"], df["lo"], df["hi"])],
            "verdict": [f"<b>{esc(str(v))}</b>" for v in df["verdict"]],
            "rule": [esc(str(v)) for v in df["why"]],
        }
    )
    return table(rows, "claims")


def _token_html(df: pd.DataFrame) -> str:
    """Token-control table: share explained, raw vs controlled vs length-matched alignment."""
    rows = pd.DataFrame(
        {
            "variant": [esc(str(v)) for v in df["variant"]],
            "lang": [esc(str(v)) for v in df["lang"]],
            "metric": [esc(str(v)) for v in df["metric"]],
            "layer": [layer(v) for v in df["layer"]],
            "share explained [CI]": [
                ci_cell(v, lo, hi, 2) for v, lo, hi in zip(df["share"], df["share_lo"], df["share_hi"])
            ],
            "alignment [CI]": [
                ci_cell(v, lo, hi)
                for v, lo, hi in zip(df["alignment"], df["alignment_lo"], df["alignment_hi"])
            ],
            "controlled [CI]": [
                ci_cell(v, lo, hi)
                for v, lo, hi in zip(df["controlled"], df["controlled_lo"], df["controlled_hi"])
            ],
            "length-matched [CI] (n)": [
                ci_cell(v, lo, hi) + f" ({int(n)})"
                for v, lo, hi, n in zip(df["matched"], df["matched_lo"], df["matched_hi"], df["n_matched"])
            ],
            "headline uses": ["controlled" if bool(u) else "raw" for u in df["uses_controlled"]],
        }
    )
    return table(rows, "tokens")


def claims_section(res: Results) -> str:
    """HTML of the seed-claims and token-control tables (empty when neither file exists)."""
    parts = []
    if res.has("seed_claims.csv"):
        parts.append("<h3>Seed claims, one by one</h3>" + _claims_html(res.table("seed_claims.csv")))
    if res.has("token_control.csv"):
        from polylens.analysis.token_control import THRESHOLD

        parts.append(
            "<h3>Token-count control</h3><p>Share of per-concept alignment variance explained by the "
            f"content-token count at the metric's peak layer; the headline uses the controlled value "
            f"where the share is at least {THRESHOLD:.2f}.</p>" + _token_html(res.table("token_control.csv"))
        )
    return "".join(parts)


# ---------------------------------------------------------------------------- README block


def _n(x: Any, nd: int = 2) -> str:
    """A number for Markdown ("–" for missing, "never" for a missing layer is the caller's)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{float(x):.{nd}f}"


def _ci(x: Any, lo: Any, hi: Any, nd: int = 2) -> str:
    """``x [lo, hi]``, with up to two more decimals when rounding would make the interval look [x, x]."""
    while nd < 4 and lo != hi and _n(lo, nd) == _n(hi, nd):
        nd += 1
    return f"{_n(x, nd)} [{_n(lo, nd)}, {_n(hi, nd)}]"


def _lay(x: Any) -> str:
    """A layer number or ``never``."""
    return "never" if x is None else f"{float(x):.0f}"


def _controlled(summary: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Token-control rows by (variant, lang, metric)."""
    return {(r["variant"], r["lang"], r["metric"]): r for r in summary.get("token_control", [])}


def _headline_md(summary: dict[str, Any]) -> list[str]:
    """The headline table: centred cosine and MEXA with CI and null, raw cosine for comparability."""
    tc = _controlled(summary)
    out = [
        "| variant | lang | tier | centred cos [95% CI] @L (share) | null q95 | MEXA [95% CI] @L | "
        f"MEXA null ({summary.get('mexa_null', '')}) | raw cos peak | commitment (FWER 5%) [CI] |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary["headline"]:
        c, m = (
            tc.get((r["variant"], r["lang"], "cos_centred")),
            tc.get((r["variant"], r["lang"], "retrieval_mexa")),
        )
        cen = _ci(r["centred"], r["centred_lo"], r["centred_hi"])
        if c and c["uses_controlled"]:
            cen = _ci(c["controlled"], c["controlled_lo"], c["controlled_hi"]) + " †"
        mexa = _ci(r["mexa"], r["mexa_lo"], r["mexa_hi"])
        if m and m["uses_controlled"]:
            mexa = _ci(m["controlled"], m["controlled_lo"], m["controlled_hi"]) + " †"
        share = _n(r["centred_modal_share"])
        out.append(
            f"| {r['variant']} | {r['lang']} | {r['resource']} | {cen} @{_lay(r['centred_layer'])} ({share}) | "
            f"{_n(r['centred_null_q95'])} | {mexa} @{_lay(r['mexa_layer'])} | {_n(r['mexa_null'], 3)} | "
            f"{_n(r['raw_cos_peak'])} | {_lay(r['commit_free'])} [{_lay(r['commit_free_lo'])}, "
            f"{_lay(r['commit_free_hi'])}] |"
        )
    return out


def _token_md(summary: dict[str, Any]) -> list[str]:
    """Token-count control: share of variance explained per language and metric."""
    rows = summary.get("token_control", [])
    if not rows:
        return ["No token counts in this store: token-count control not run."]
    thr = float(summary["token_control_threshold"])
    out = [
        f"Share of per-concept alignment variance explained by content-token count (R², bootstrap CI); "
        f"where it is at least {thr:.2f} the headline shows the token-controlled value (†).",
        "",
        "| variant | lang | metric | share [95% CI] | raw | controlled [95% CI] | length-matched (n) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['variant']} | {r['lang']} | {r['metric']} | {_ci(r['share'], r['share_lo'], r['share_hi'])} | "
            f"{_n(r['alignment'])} | {_ci(r['controlled'], r['controlled_lo'], r['controlled_hi'])}"
            f"{' †' if r['uses_controlled'] else ''} | {_n(r['matched'])} ({r['n_matched']}) |"
        )
    return out


def _claims_md(summary: dict[str, Any]) -> list[str]:
    """Seed claims: claim, measurement, verdict."""
    rows = summary.get("seed_claims", [])
    if not rows:
        return ["No seed-claims table in these results."]
    out = ["| variant | seed claim | our measurement | value [95% CI] | verdict |", "|---|---|---|---|---|"]
    for r in rows:
        out.append(
            f"| {r['variant']} | {r['seed_claim']} | {r['measurement']} | {_ci(r['value'], r['lo'], r['hi'])} | "
            f"**{r['verdict']}** |"
        )
    return out


def _method_md(summary: dict[str, Any]) -> str:
    """One method line: model, weights hash, pooling, hook site, versions, resampling."""
    m = summary["method"]

    def short(key: str) -> str:
        """A per-variant JSON attribute's values (hashes cut to 12 characters)."""
        import json

        raw = str(m.get(key, "?"))
        try:
            val = json.loads(raw)
        except ValueError:
            val = raw
        vals = val.values() if isinstance(val, dict) else [val]
        return ", ".join(str(v)[:12] if len(str(v)) == 64 else str(v) for v in vals)

    excluded = sum(int(r["n_excluded"]) for r in summary.get("excluded", []))
    total = sum(int(r["n_stimuli"]) for r in summary.get("excluded", []))
    return (
        f"Method: model {short('model_id')}, weights sha256 {short('weights_sha256')}, pooling "
        f"{m.get('pooling', '?')}, hook site {m.get('sites', '?')}, probe set {m.get('probe_set', '?')} "
        f"({short('probe_set_sha256')}), reference {m.get('analysis_ref', '?')}, {m.get('analysis_n_boot', '?')} "
        f"bootstrap resamples over concepts, {m.get('toolkit_version', '?')}, TransformerLens "
        f"{m.get('transformer_lens_version', '?')}, transformers {m.get('transformers_version', '?')}, "
        f"torch {m.get('torch_version', '?')}; flagged stimuli excluded: {excluded} of {total}."
    )


def render_block(summary: dict[str, Any]) -> str:
    """The Markdown of the README results block (without the markers)."""
    lines = [
        "<!-- generated by `python cli.py readme`; do not edit by hand -->",
        "",
        "**Headline** (peak over layers with a selection-aware 95% CI; share = fraction of resamples "
        "choosing the modal peak layer; nulls: mismatched-concept q95 at the peak layer):",
        "",
        *_headline_md(summary),
        "",
        "**Token-count control**",
        "",
        *_token_md(summary),
        "",
        "**Seed claims, one by one**",
        "",
        *_claims_md(summary),
        "",
        _method_md(summary),
        "",
    ]
    return "\n".join(lines)
