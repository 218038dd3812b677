"""Labelled xarray activation datasets <-> netCDF: streaming append, resume, shards, metadata."""
