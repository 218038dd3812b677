"""``quickstart``: boot a model, print its next-token guesses in three languages and residual norms."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

from polylens.pipelines.capture import ModelOptions

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class QuickstartConfig(ModelOptions):
    """Boot a model and print a short capture summary."""

    command: ClassVar[str] = "quickstart"


def run(config: QuickstartConfig) -> list[str]:
    """Boot the model and return the summary lines (top next tokens, residual norm by layer)."""
    from polylens.hooks.models import load_model
    from polylens.hooks.registry import resolve
    from polylens.hooks.smoke import SMOKE_PROMPTS, resid_norms, top_next_tokens

    resolve(config.model)  # fail fast on a bad name
    logger.info(f"booting {config.model} (first run dequantizes and caches the weights)...")
    model = load_model(config.model, device=config.device, dtype=config.dtype, processing=config.processing)
    prov = model.provenance()
    lines = [
        f"{model.spec.name}: {model.n_layers} blocks, d_model {model.d_model}, "
        f"device {model.device}, {model.processing_mode} weights, "
        f"sha256 {model.weights_sha256[:16]}..."
    ]
    for lang, prompt in SMOKE_PROMPTS.items():
        tops = ", ".join(f"{tok!r} {p:.2f}" for tok, p in top_next_tokens(model, prompt))
        lines.append(f"  [{lang}] {prompt!r} -> {tops}")
    norms = resid_norms(model, SMOKE_PROMPTS["en"])
    lines.append("  residual norm by layer (0 = embedding): " + " ".join(f"{v:.0f}" for v in norms.tolist()))
    lines.append(
        f"  TransformerLens {prov['transformer_lens_version']}, "
        f"transformers {prov['transformers_version']}, torch {prov['torch_version']}"
    )
    return lines


def summary(result: list[str]) -> str:
    """The lines."""
    return "\n".join(result)


#: the CLI commands of this module: command path -> (config class, run, summary)
COMMANDS = {
    "quickstart": (QuickstartConfig, run, summary),
}
