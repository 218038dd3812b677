"""The one statistics engine: resampling, intervals, tests, FDR, effect sizes, associations.

Every analysis module draws its bootstrap / permutation resamples, CIs, p-values and BH
q-values from here. ``scipy.stats`` does what it already does well (``binomtest`` proportion
intervals, ``false_discovery_control``, ``pearsonr`` / ``spearmanr``); hand-written is only what
scipy lacks or does far slower on our shapes (bootstrap as one weight-matrix matmul over units,
vectorized sign-flip tests and quantiles over thousands of resamples at once).

- :mod:`.resample`: seeded bootstrap index / weight matrices, permutations, weighted means.
- :mod:`.intervals`: percentile CIs, exact (Clopper-Pearson) / Wilson proportion CIs.
- :mod:`.peaks`: selection-aware peak CI + peak-layer distribution, max-over-layers null.
- :mod:`.nulls`: per-layer null band (mean, SD, quantile of draws) and effect size (difference, z).
- :mod:`.inference`: paired sign-flip permutation test, Benjamini-Hochberg, Cohen's dz.
- :mod:`.association`: Pearson / Spearman with bootstrap CI and permutation p, linear fit band.
"""

from .association import correlate, linear_fit, pearson_rows
from .inference import bh_adjust, cohens_dz, signflip_test
from .intervals import nanquantile_sorted, percentile_ci, proportion_ci
from .nulls import effect_over_null, null_summary
from .peaks import first_run_above, max_run_threshold, peak_summary, run_min
from .resample import (
    boot_means,
    bootstrap_counts,
    bootstrap_indices,
    bootstrap_mean,
    bootstrap_weights,
    nanmean_weighted,
    permutation_indices,
    resample_weights,
)

__all__ = [
    "bh_adjust",
    "first_run_above",
    "max_run_threshold",
    "peak_summary",
    "run_min",
    "boot_means",
    "bootstrap_counts",
    "bootstrap_indices",
    "bootstrap_mean",
    "bootstrap_weights",
    "cohens_dz",
    "effect_over_null",
    "null_summary",
    "correlate",
    "linear_fit",
    "nanmean_weighted",
    "nanquantile_sorted",
    "pearson_rows",
    "percentile_ci",
    "permutation_indices",
    "proportion_ci",
    "resample_weights",
    "signflip_test",
]
