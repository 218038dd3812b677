"""Vectorized xarray analyses: alignment, commitment, statistics, taxonomy, diffing, quantization."""
