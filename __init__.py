"""polylens: multilingual mechanistic interpretability on TransformerLens (one import name for the whole checkout)."""

__version__ = "0.2.0"
