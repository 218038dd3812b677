"""Router evaluation: edge-case routing, language ID on held-out UDHR units, romanized detection.

``evaluate()`` returns the tables as lists of dicts; ``write_report(path)`` renders them to
Markdown (``docs/router_eval.md``); nothing in the report is written by hand.
"""

from __future__ import annotations

import datetime as _dt
import tempfile
from collections import defaultdict
from pathlib import Path

from polylens import probes
from polylens.probes.languages import LANGUAGES, LATIN_LANGS, ROMANIZED_LANGS

from .ngram import _edge_sources, heldout_set
from .router import Router

__all__ = ["evaluate", "render", "write_report", "DEFAULT_REPORT"]

DEFAULT_REPORT = Path(__file__).resolve().parents[2] / "docs" / "router_eval.md"
PREFIX = 30


def _pct(k: int, n: int) -> str:
    return f"{k}/{n} ({k / n:.0%})" if n else "-"


def edge_table(router: Router) -> tuple[list[dict], list[dict]]:
    """Route every edge case: per-category accuracy rows and the misrouted cases."""
    ps = probes.load_probe_set("edge_cases")
    agg: dict[str, dict] = defaultdict(lambda: {"n": 0, "route": 0, "detected": 0, "primary": 0, "lang": 0})
    misses = []
    for s in ps.stimuli:
        m = s.meta
        cat = m["failure_category"]
        d = router.route(s.text)
        for key in (cat, "all"):
            a = agg[key]
            a["n"] += 1
            a["route"] += d.variant == m["expected_variant"]
            a["detected"] += cat in d.categories
            a["primary"] += d.category == cat
            a["lang"] += d.lang == m["language_ground_truth"]
        if d.variant != m["expected_variant"]:
            misses.append(
                {
                    "id": m["test_id"],
                    "expected": m["expected_variant"],
                    "got": d.variant,
                    "lang": f"{m['language_ground_truth']}->{d.lang}",
                    "category": d.category or "-",
                    "why": d.reasons[-1],
                }
            )
    order = [
        c
        for c in ("TRANSLITERATION", "CODE_SWITCH", "FORMAL_REGISTER", "LOW_RESOURCE_VARIANT", "UNICODE_EDGE")
        if c in agg
    ] + ["all"]
    rows = [
        {
            "category": c,
            "n": agg[c]["n"],
            "route correct": _pct(agg[c]["route"], agg[c]["n"]),
            "category detected": _pct(agg[c]["detected"], agg[c]["n"]),
            "primary category": _pct(agg[c]["primary"], agg[c]["n"]),
            "language correct": _pct(agg[c]["lang"], agg[c]["n"]),
        }
        for c in order
    ]
    return rows, misses


def lid_table(router: Router) -> list[dict]:
    """Language-identification accuracy of the router vs py3langid on held-out UDHR sentences."""
    from polylens.analysis.taxonomy import identify_language  # noqa: PLC0415 - py3langid, all languages

    held = heldout_set()
    ps = probes.load_probe_set("udhr")
    counts: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    for s in ps.stimuli:
        if s.unit not in held:
            continue
        c = counts[s.lang]
        c["n"] += 1
        c["full"] += router.route(s.text).lang == s.lang
        c["prefix"] += router.route(s.text[:PREFIX]).lang == s.lang
        c["py3_full"] += identify_language(s.text)[0] == s.lang
        c["py3_prefix"] += identify_language(s.text[:PREFIX])[0] == s.lang
    rows = []
    tot: defaultdict[str, int] = defaultdict(int)
    for lang in [g for g in LANGUAGES if g in counts]:
        c = counts[lang]
        for k, v in c.items():
            tot[k] += v
        rows.append(
            {
                "lang": lang,
                "script": LANGUAGES[lang].script,
                "n": c["n"],
                "router full": _pct(c["full"], c["n"]),
                f"router {PREFIX} chars": _pct(c["prefix"], c["n"]),
                "py3langid (142 langs) full": _pct(c["py3_full"], c["n"]),
                f"py3langid (142 langs) {PREFIX} chars": _pct(c["py3_prefix"], c["n"]),
            }
        )
    rows.append(
        {
            "lang": "all",
            "script": "",
            "n": tot["n"],
            "router full": _pct(tot["full"], tot["n"]),
            f"router {PREFIX} chars": _pct(tot["prefix"], tot["n"]),
            "py3langid (142 langs) full": _pct(tot["py3_full"], tot["n"]),
            f"py3langid (142 langs) {PREFIX} chars": _pct(tot["py3_prefix"], tot["n"]),
        }
    )
    return rows


def romanized_table(router: Router) -> list[dict]:
    """Romanized-text detection on held-out romanized UDHR and on Latin-script negatives."""
    held = heldout_set()
    edge = _edge_sources()
    sets = defaultdict(list)  # name -> [(text, lang or None for negatives)]
    for s in probes.load_probe_set("udhr_romanized").stimuli:
        if s.unit in held and s.lang in ROMANIZED_LANGS:
            sets[f"romanized {s.lang} (UDHR held-out)"].append((s.text, s.lang))
    for s in probes.load_probe_set("udhr").stimuli:
        if s.unit in held and s.lang in LATIN_LANGS:
            sets["negatives: Latin-script UDHR held-out (12 langs)"].append((s.text, None))
    for s in probes.load_probe_set("medical").stimuli:
        if s.unit in edge and s.lang in LATIN_LANGS:
            sets["negatives: Latin-script medical sentences not in training"].append((s.text, None))
    rows = []
    for name, items in sets.items():
        res = {}
        for label, cut in (("full", None), (f"{PREFIX} chars", PREFIX)):
            ok = 0
            for text, lang in items:
                d = router.route(text[:cut] if cut else text)
                ok += (d.romanized and d.lang == lang) if lang else (not d.romanized)
            res[label] = _pct(ok, len(items))
        metric = (
            "detected as romanized <lang>" if "romanized" in name.split(":")[0] else "correctly not romanized"
        )
        rows.append({"set": name, "n": len(items), "measure": metric, **res})
    return rows


#: informal (non-uroman) romanizations written by the polylens authors, illustrative only (not
#: native-speaker validated); they show how the uroman-trained detector generalises
INFORMAL = [
    ("mujhe bahut tez bukhar hai", "hi"),
    ("bacche ko dawai do", "hi"),
    ("ami bhalo achi", "bn"),
    ("amar matha byatha korche", "bn"),
    ("enakku romba kaaichal irukku", "ta"),
    ("ana marid jiddan", "ar"),
    ("selam new endet neh", "am"),
]


def informal_table(router: Router) -> list[dict]:
    """How the router treats the informal romanizations in ``INFORMAL`` (illustrative)."""
    rows = []
    for text, lang in INFORMAL:
        d = router.route(text)
        rows.append(
            {
                "text": text,
                "lang": lang,
                "romanized detected": "yes" if d.romanized else "no",
                "router lang": d.lang,
                "route": d.variant,
                "confidence": f"{d.confidence:.2f}",
            }
        )
    return rows


def synthetic_rules_table() -> list[dict]:
    """Rules built from the planted synthetic results next to the routes they must give."""
    from .rules import build_rules  # noqa: PLC0415
    from .synthetic import EXPECTED_ROUTES, PLANTED, write_results  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        rules = build_rules(write_results(tmp))
    rows = []
    for lang, entry in rules["languages"].items():
        planted = ", ".join(f"{v} sigma {p[lang]}" for v, p in PLANTED.items() if lang in p) or "-"
        rows.append(
            {
                "lang": lang,
                "planted (base sigma 1.0)": planted,
                "expected": EXPECTED_ROUTES.get(lang, "base"),
                "rule": entry["variant"],
                "evidence": entry["evidence"],
            }
        )
    return rows


def evaluate(rules_path: str | None = None) -> dict:
    """Every router measurement of the report (language ID, romanized detection, edge cases,
    code-switching precision/recall and the latency of those routing calls)."""
    from . import cs_eval  # noqa: PLC0415

    router = Router.load(rules_path)
    edge, misses = edge_table(router)
    cs = cs_eval.evaluate_codeswitch(router)
    return {
        "cs_languages": cs_eval.precision_recall_rows(cs),
        "cs_items": cs_eval.summary_rows(cs),
        "cs_latency": [cs_eval.latency_row(cs["ms"])],
        "cs_confusions": [{"gold languages -> wrongly named": k, "items": v} for k, v in cs["confusions"]],
        "cs_share_mae": cs["share_mae"],
        "cs_n": cs["n_items"],
        "edge": edge,
        "misses": misses,
        "lid": lid_table(router),
        "romanized": romanized_table(router),
        "informal": informal_table(router),
        "synthetic_rules": synthetic_rules_table(),
        "rules_path": rules_path,
    }


def _md(rows: list[dict]) -> str:
    if not rows:
        return "(none)\n"
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(str(r[c]).replace("|", "\\|") for c in cols) + " |" for r in rows]
    return "\n".join(out) + "\n"


def render(res: dict) -> str:
    """The evaluation as Markdown."""
    rules = (
        res["rules_path"] or "none (documented default: each language's target variant in probes.LANGUAGES)"
    )
    held = sorted(heldout_set())
    return _render_main(res, rules, held) + _render_codeswitch(res)


def _render_codeswitch(res: dict) -> str:
    """The code-switching section (issue 18)."""
    from .mixed import MIN_SHARE, MIN_STRETCH, MIN_TOKENS, MIX_CHARS, WINDOW  # noqa: PLC0415

    return f"""
## Code-switched and mixed input (`probes/data/codeswitch.json`)

{res["cs_n"]} items built by `probes/codeswitch.py` from the held-out UDHR units: real sentences of
two languages mixed at phrase level (recipe in the file's provenance), plus every unit unmixed.
A language is *named* when the decision lists it with at least {MIN_TOKENS} tokens; romanized text
is its own label (`hi-Latn`). Mixed = two languages with >= {MIN_TOKENS} tokens and >= {MIN_SHARE:.0%}
of the letters each, routed to `policy.MIXED` (`global`). Token-level ID: window {WINDOW} words,
stretches of >= {MIN_STRETCH} words, first {MIX_CHARS} characters. These settings were chosen while
looking at errors on this set (no separate tuning split), so treat the figures as optimistic.
Intervals: exact (Clopper-Pearson) 95%.

Per language, over all items:

{_md(res["cs_languages"])}
Per item:

{_md(res["cs_items"])}
Mean absolute error of the reported shares on mixed items (gold = share of letters):
{res["cs_share_mae"]:.3f}.

Most frequent wrongly named languages:

{_md(res["cs_confusions"])}
Wall-clock time of the {res["cs_n"]} routing calls above (one pass, shared machine; the benchmark
against the previous router is `benchmarks/bench_router.py`, results in
`benchmarks/RESULTS_router.md`):

{_md(res["cs_latency"])}"""


def _render_main(res: dict, rules: str, held: list[str]) -> str:
    """Sections of issue 9: edge cases, language ID, romanized detection, synthetic rules."""
    return f"""# Router evaluation

Generated by `python cli.py route eval` (`analysis.routing.evaluate.write_report`) on
{_dt.date.today().isoformat()}. Rules file: {rules}. Do not edit by hand.

## Routing edge cases (`probes.load_probe_set("edge_cases")`)

Expected route = the case's `expected_variant`. "category detected" = the expected failure
category is among the decision's `categories`; "primary" = it is the decision's `category`.

{_md(res["edge"])}
Misses:

{_md(res["misses"])}
## Language ID on held-out UDHR units

{len(held)} held-out units per language (every third unit: {", ".join(held)}); the romanized
detector was trained on the other units only (py3langid was not trained on them by us). Router =
script rules + py3langid restricted to the probe languages of the script (+ romanized detector for
Latin script). {PREFIX}-char rows use the first {PREFIX} characters of each unit.

{_md(res["lid"])}
## Romanized-input detection

Character 1-4-gram naive Bayes (`analysis/routing/data/romanized_nb.npz`), trained on
`udhr_romanized` + uroman-romanized `medical` minus held-out units and edge-case sources.

{_md(res["romanized"])}
Informal romanizations (hand-written by us, illustrative, not validated; the detector was
trained on uroman output only, so this is where it is weakest):

{_md(res["informal"])}
## Rules from a synthetic results directory with planted effects

`analysis.routing.synthetic`: activations = English concept vectors + Gaussian noise per
(variant, lang); `analysis.alignment.run_analysis` -> `stats.csv` -> `build_rules` (margin_auc,
BH p < 0.05, CI excluding 0).

{_md(res["synthetic_rules"])}"""


def write_report(path: str | Path = DEFAULT_REPORT, rules_path: str | None = None) -> tuple[Path, dict]:
    """Evaluate and write the Markdown report; return its path and the measurements."""
    res = evaluate(rules_path)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(res), encoding="utf-8")
    return path, res
