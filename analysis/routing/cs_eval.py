"""Router evaluation on the code-switching set (``probes/data/codeswitch.json``, issue 18).

A language counts as *named* when it is in the decision's ``languages`` with at least
``MIN_TOKENS`` tokens (so a one-word stray label is not a claim); romanized text is its own label
(``hi-Latn``). Per language: precision = named and present / named, recall = named and present /
present, over all items (mixed and unmixed), with exact (Clopper-Pearson) 95% intervals.
Routing: mixed items must be routed as mixed (to ``policy.MIXED``), unmixed ones must not.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

from polylens.probes import codeswitch

from ..stats import proportion_ci
from .mixed import MIN_TOKENS
from .router import Router

__all__ = ["named", "evaluate_codeswitch", "precision_recall_rows", "summary_rows", "latency_row"]


def named(decision) -> set[str]:
    """Labels the decision names (``hi``, ``hi-Latn``...) with at least ``MIN_TOKENS`` tokens."""
    out = set()
    for s in decision.languages:
        if s["tokens"] >= MIN_TOKENS and s["lang"] is not None:
            out.add(s["lang"] + ("-Latn" if s["romanized"] else ""))
    return out


def _ci(k: int, n: int) -> str:
    if not n:
        return "-"
    lo, hi = proportion_ci(k, n)
    return f"{k}/{n} = {k / n:.1%} [{lo:.1%}, {hi:.1%}]"


def evaluate_codeswitch(router: Router, path=codeswitch.DEFAULT_PATH) -> dict:
    """Route every item; per-language counts, routing counts, share errors and timings."""
    items = codeswitch.load_items(path)
    tp: defaultdict[str, int] = defaultdict(int)
    fp: defaultdict[str, int] = defaultdict(int)
    fn: defaultdict[str, int] = defaultdict(int)
    rows: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    share_err: list[float] = []
    ms: list[float] = []
    confusions: defaultdict[str, int] = defaultdict(int)
    for it in items:
        t0 = time.perf_counter_ns()
        d = router.route(it["text"])
        ms.append((time.perf_counter_ns() - t0) / 1e6)
        gold = set(it["gold_shares"])
        got = named(d)
        for g in gold & got:
            tp[g] += 1
        for g in got - gold:
            fp[g] += 1
            confusions[f"{'+'.join(sorted(gold))} -> named {g}"] += 1
        for g in gold - got:
            fn[g] += 1
        r = rows[it["kind"]]
        r["n"] += 1
        r["all named"] += gold <= got
        r["exact set"] += gold == got
        r["routed as mixed"] += d.mixed
        if it["kind"] == "mixed":
            pred = {
                s["lang"] + ("-Latn" if s["romanized"] else ""): s["share"] for s in d.languages if s["lang"]
            }
            share_err += [abs(pred.get(g, 0.0) - v) for g, v in it["gold_shares"].items()]
    return {
        "tp": dict(tp),
        "fp": dict(fp),
        "fn": dict(fn),
        "kinds": {k: dict(v) for k, v in rows.items()},
        "share_mae": float(np.mean(share_err)) if share_err else float("nan"),
        "ms": ms,
        "confusions": sorted(confusions.items(), key=lambda kv: (-kv[1], kv[0]))[:12],
        "n_items": len(items),
    }


def precision_recall_rows(res: dict) -> list[dict]:
    """One row per language label: precision and recall with exact 95% intervals."""
    labels = sorted(set(res["tp"]) | set(res["fp"]) | set(res["fn"]))
    rows = []
    for g in labels:
        tp, fp, fn = res["tp"].get(g, 0), res["fp"].get(g, 0), res["fn"].get(g, 0)
        rows.append(
            {
                "lang": g,
                "present": tp + fn,
                "named": tp + fp,
                "precision": _ci(tp, tp + fp),
                "recall": _ci(tp, tp + fn),
            }
        )
    tp, fp, fn = (sum(res[k].values()) for k in ("tp", "fp", "fn"))
    rows.append(
        {
            "lang": "micro (all)",
            "present": tp + fn,
            "named": tp + fp,
            "precision": _ci(tp, tp + fp),
            "recall": _ci(tp, tp + fn),
        }
    )
    return rows


def summary_rows(res: dict) -> list[dict]:
    """Per item kind: every gold language named, exact language set, routed as mixed."""
    out = []
    for kind in ("mixed", "mono"):
        r = res["kinds"].get(kind)
        if not r:
            continue
        out.append(
            {
                "items": f"{kind} ({'two languages' if kind == 'mixed' else 'one language'})",
                "n": r["n"],
                "every gold language named": _ci(r["all named"], r["n"]),
                "named set exact": _ci(r["exact set"], r["n"]),
                "routed as mixed (want 100% / 0%)": _ci(r["routed as mixed"], r["n"]),
            }
        )
    return out


def latency_row(ms: list[float]) -> dict:
    """p50 / p99 / max wall-clock milliseconds of the routing calls made by the evaluation."""
    a = np.asarray(ms)
    p50, p99 = np.percentile(a, [50, 99])
    return {"calls": len(a), "p50 ms": f"{p50:.3f}", "p99 ms": f"{p99:.3f}", "max ms": f"{a.max():.2f}"}
