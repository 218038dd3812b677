"""Figures and the HTML report, regenerated from stored results only (never a live model)."""
