"""Vectorized xarray analyses: alignment, commitment, statistics, taxonomy, diffing, quantization.

Kept import-light on purpose (the router imports ``analysis.taxonomy``): import submodules
directly. Public entry points:

- ``analysis.alignment.run_analysis(ds, out_dir, ref="en", tau=0.85, k=3, n_boot=1000, seed=0)``
  (importing ``analysis.alignment`` also registers the ``ds.alignment`` accessor)
- ``analysis.regress.regress(old_dir, new_dir, langs=None, tol=0.02)``
- ``analysis.variant_tests.variant_tests(res, baseline="base")`` (``stats.csv``)
- ``analysis.stats``: the one statistics engine (bootstrap weight matrices, percentile and
  exact proportion CIs, sign-flip tests, BH-FDR, effect sizes, correlations, linear fits)
- ``analysis.cka`` (linear / debiased CKA), ``analysis.taxonomy`` (text detectors),
  ``analysis.failures.failure_cases``, ``analysis.commitment``.
No module here imports torch.
"""
