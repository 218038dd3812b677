"""``route``: recommend a Tiny Aya variant for a text (no model is loaded); ``route build|eval``.

``route TEXT`` / ``route -`` (stdin) / ``route --file F`` route inputs; ``route build --results
DIR`` writes rules from analysis results; ``route eval`` writes the router's evaluation report.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from polylens.errors import RouterInputError
from polylens.pipelines.config import opt, positive


@dataclass(frozen=True, kw_only=True)
class RouteConfig:
    """Recommend a Tiny Aya variant for a text (no model is loaded)."""

    command: ClassVar[str] = "route"
    text: str | None = opt(None, "text to route, '-' to read stdin, or 'build' / 'eval'", positional=True)
    file: Path | None = opt(None, "batch: one input per line")
    json: bool = opt(False, "one JSON object per decision")
    rules: Path | None = opt(None, "rules file from `route build` (default: target variant per language)")
    results: Path | None = opt(None, "build: analysis results directory (stats.csv, alignment.nc)")
    out: Path | None = opt(
        None,
        "build: rules path (default RESULTS/router_rules.json); eval: report path (default docs/router_eval.md)",
    )
    metric: Literal["margin_auc", "cos_auc", "peak_cos", "commit"] = opt(
        "margin_auc", "build: ranking metric"
    )
    alpha: float = opt(0.05, "build: BH-adjusted p threshold")
    min_diff: float = opt(0.0, "build: smallest effect that counts")

    def __post_init__(self) -> None:
        """Check ranges."""
        positive(self, "alpha")
        positive(self, "min_diff", allow_zero=True)


@dataclass
class RouteResult:
    """Output lines, and the error to report after them (unusable batch lines)."""

    lines: list[str] = field(default_factory=list)
    error: RouterInputError | None = None


def _decision_lines(d: Any, as_json: bool, prefix: str = "") -> list[str]:
    """A router decision as text (with reasons) or one JSON line."""
    if as_json:
        return [json.dumps({**({"line": int(prefix)} if prefix else {}), **d.to_dict()}, ensure_ascii=False)]
    head = f"{prefix}: " if prefix else ""
    langs = ", ".join(
        f"{s['lang'] or '?'}{'-Latn' if s['romanized'] else ''} {s['share']:.0%}" for s in d.languages
    )
    mixed = "MIXED " if d.mixed else ""
    lines = [
        f"{head}{d.variant}  (lang {d.lang or '?'}, confidence {d.confidence:.2f}, category {d.category or '-'}; "
        f"{mixed}languages {langs or '-'})"
    ]
    return lines + ([f"  - {reason}" for reason in d.reasons] if not prefix else [])


def build(config: RouteConfig) -> RouteResult:
    """``route build``: routing rules from an analysis results directory."""
    from polylens.analysis.routing import build_rules, write_rules

    if not config.results:
        raise RouterInputError("route build needs --results DIR (an analysis results directory)")
    rules = build_rules(config.results, metric=config.metric, alpha=config.alpha, min_diff=config.min_diff)
    path = write_rules(rules, config.out or Path(config.results) / "router_rules.json")
    routed = {g: e["variant"] for g, e in rules["languages"].items()}
    head = f"wrote {path}: {len(routed)} languages, " + ", ".join(f"{g}->{v}" for g, v in routed.items())
    return RouteResult([head, *(f"note: {note}" for note in rules["notes"])])


def evaluate(config: RouteConfig) -> RouteResult:
    """``route eval``: the router's evaluation report."""
    from polylens.analysis.routing.evaluate import DEFAULT_REPORT, render, write_report

    path, res = write_report(config.out or DEFAULT_REPORT, rules_path=config.rules)
    return RouteResult([render(res), f"wrote {path}"])


def route_file(router: Any, config: RouteConfig) -> RouteResult:
    """Route each line of ``config.file``; unusable lines are reported and make the result an error."""
    from polylens.analysis.routing.router import read_lines

    result, bad, total = RouteResult(), 0, 0
    for lineno, item in read_lines(config.file):
        total += 1
        if isinstance(item, RouterInputError):
            bad += 1
            result.lines.append(f"{lineno}: error: {item}")
        else:
            result.lines += _decision_lines(router.route(item), config.json, prefix=str(lineno))
    if bad:
        result.error = RouterInputError(f"{bad} of {total} lines in {config.file} were unusable")
    return result


def run(config: RouteConfig) -> RouteResult:
    """Dispatch on the positional: build, eval, a batch file, stdin, or one text."""
    from polylens.analysis.routing import Router

    if config.text == "build":
        return build(config)
    if config.text == "eval":
        return evaluate(config)
    router = Router.load(config.rules)
    if config.file:
        return route_file(router, config)
    if config.text is None:
        raise RouterInputError("give a text to route, '-' for stdin, --file FILE, or build/eval")
    text = config.text
    if text == "-":
        from polylens.analysis.routing.text import read_stream

        text = read_stream(sys.stdin.buffer)
    return RouteResult(_decision_lines(router.route(text), config.json))


def summary(result: RouteResult) -> str:
    """The lines."""
    return "\n".join(result.lines)


#: the CLI commands of this module: command path -> (config class, run, summary)
COMMANDS = {
    "route": (RouteConfig, run, summary),
}
