"""Language router derived from the analysis (issue 9). Imports neither torch nor transformer-lens.

``Router.load(rules_path=None).route(text) -> Decision(variant, lang, confidence, category, reasons)``;
``build_rules(results_dir)`` / ``write_rules`` turn ``run_analysis`` results into a rules file;
``ngram.build_model()`` retrains the romanized-text detector; ``evaluate.write_report()`` writes
``docs/router_eval.md``.
"""

from .router import Decision, Router
from .rules import build_rules, load_rules, write_rules

__all__ = ["Decision", "Router", "build_rules", "load_rules", "write_rules"]
