"""Model diffing between two variants (issue 8), the pure half: CKA by layer with CIs, the
shared-vocabulary fairness filter, transport-map fitting and scoring, and the statistics and
bookkeeping of the patching runs (KL means and asymmetry, the leakage-free split, alpha*,
controls, headline summary). Numpy/xarray only: the runs themselves (pooled captures,
patching KL) are in ``hooks.diffing`` and the job in ``pipelines.diff``.

Definitions used throughout
---------------------------
- ``KL(B <- A)`` at layer l: run B, overwrite B's residual (``resid_post`` layer l, see
  ``hooks.patching``) at the patched positions with A's for the same input, and measure
  ``KL(B_patched || B)`` of the next-token distribution at the last content token (nats).
  ``a_to_b`` = A's activations into B; ``b_to_a`` the reverse.
- Mapped patch: B patched with ``map(A)`` where the map A -> B was fit on *training* prompts
  only; evaluated on validation prompts. ``reduction = 1 - mean KL_mapped / mean KL_raw``.
- Alpha sweep: the patched vector is ``alpha * x`` for x = A (raw) and x = map(A) (mapped),
  the same alpha for both; ``alpha = 0`` is zero-ablation of the site at those positions,
  the reference that tells whether a small alpha "helps" only by removing the site.
  ``alpha*`` is chosen on training prompts and reported on validation prompts.
- Controls: ``mismatched_layer`` (map fit at another layer, same site) and ``shuffled_pairs``
  (map fit on A/B rows paired across different prompts); both should reduce KL little or not
  at all if a matched map's reduction reflects real, layer-specific transport. With an
  identity-prior map (``ridge_residual``) the shuffled control collapses to ~identity, so it
  then tests "is the *learned* part of the map worth anything without correct pairs".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from jaxtyping import Float, Int, Shaped

from polylens.analysis.cka import cka_from_grams, gram_linear
from polylens.analysis.stats import bootstrap_indices, percentile_ci, resample_weights
from polylens.analysis.transport import group_split, make_map, shuffle_pairs, transport_scores
from polylens.analysis.variant_tests import change_summary
from polylens.hooks.sites import site_layers

__all__ = [
    "cka_by_layer",
    "shared_vocab_filter",
    "FairnessReport",
    "mean_ci",
    "reduction_ci",
    "fit_transport",
    "kl_stats",
    "split_rows",
    "control_stats",
    "MappedArrays",
    "summarize",
]

CONDITIONS = ("raw", "mapped", "mismatched_layer", "shuffled_pairs", "ablate")


# ---------------------------------------------------------------- statistics helpers


def mean_ci(
    values: Float[np.ndarray, "*batch prompt"], n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[Float[np.ndarray, "*batch"], Float[np.ndarray, "*batch 2"]]:
    """(mean, percentile-bootstrap CI) over the last (prompt) axis; no missing prompts."""
    values = np.asarray(values, dtype=np.float64)
    w = resample_weights(values.shape[-1], n_boot, seed)
    boot = values @ w.T / w.sum(1)
    return values.mean(-1), percentile_ci(boot, level)


def reduction_ci(
    kl_raw: Float[np.ndarray, "*batch prompt"],
    kl_other: Float[np.ndarray, "*batch prompt"],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[Float[np.ndarray, "*batch"], Float[np.ndarray, "*batch 2"]]:
    """(1 - mean(kl_other)/mean(kl_raw), CI) with prompts resampled jointly (paired)."""
    kl_raw, kl_other = np.asarray(kl_raw, float), np.asarray(kl_other, float)
    w = resample_weights(kl_raw.shape[-1], n_boot, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        point = 1 - kl_other.mean(-1) / kl_raw.mean(-1)
        boot = 1 - (kl_other @ w.T) / (kl_raw @ w.T)
    return point, percentile_ci(boot, level)


def cka_by_layer(
    xa: Float[np.ndarray, "layer n d_a"],
    xb: Float[np.ndarray, "layer n d_b"],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    chunk: int = 25,
) -> dict[str, Float[np.ndarray, "kind layer *ci"]]:
    """Linear and debiased CKA per layer (widths may differ), percentile-bootstrap CIs over stimuli.

    Returns ``{"cka": Float[kind=2, layer], "ci": Float[kind, layer, 2]}`` (kind = linear,
    debiased). Resamples reuse the Gram matrices (no d-sized copies). Caveat: a resample
    duplicates stimuli, which the debiased (U-statistic) estimator treats as distinct pairs,
    so its bootstrap distribution is shifted up slightly; the point estimate is unaffected.
    """
    ga = gram_linear(np.asarray(xa, np.float64))
    gb = gram_linear(np.asarray(xb, np.float64))
    point = np.stack([cka_from_grams(ga, gb, debiased=d) for d in (False, True)])
    idx = bootstrap_indices(ga.shape[-1], n_boot, seed)
    boot = np.empty((2, ga.shape[0], n_boot))
    for start in range(0, n_boot, chunk):
        sl = idx[start : start + chunk]
        sa = ga[:, sl[:, :, None], sl[:, None, :]]
        sb = gb[:, sl[:, :, None], sl[:, None, :]]
        for k, d in enumerate((False, True)):
            boot[k, :, start : start + len(sl)] = cka_from_grams(sa, sb, debiased=d)
    return {"cka": point, "ci": percentile_ci(boot, level)}


# ---------------------------------------------------------------- tokenizer fairness


@dataclass
class FairnessReport:
    """Shared-vocabulary filter outcome: which prompts were kept and why."""

    kept: list[int]
    ratio_a: Float[
        np.ndarray, " prompt"
    ]  # share of the prompt's A-tokens whose string is in both vocabularies
    ratio_b: Float[np.ndarray, " prompt"]
    min_shared_ratio: float
    identical_tokenizers: bool
    n_total: int = 0
    n_kept: int = 0

    def summary(self) -> str:
        """One line: the threshold and how many prompts were kept."""
        same = " (identical tokenizers)" if self.identical_tokenizers else ""
        return (
            f"shared-vocab filter >= {self.min_shared_ratio:.2f}: kept {self.n_kept}/"
            f"{self.n_total} prompts{same}"
        )


def shared_vocab_filter(
    tok_a: Any, tok_b: Any, texts: Sequence[str], min_shared_ratio: float = 1.0
) -> FairnessReport:
    """Keep prompts whose tokens (under *each* tokenizer) mostly exist in both vocabularies.

    The ratio of a prompt under tokenizer T is the fraction of its T-tokens whose token string
    is in both vocabularies (special tokens such as ``<unk>`` never count as shared); a prompt is kept when both ratios
    are ``>= min_shared_ratio``. Identical tokenizers keep every prompt (ratio 1).
    """
    va, vb = tok_a.get_vocab(), tok_b.get_vocab()
    specials = set(getattr(tok_a, "all_special_tokens", [])) | set(getattr(tok_b, "all_special_tokens", []))
    shared = (va.keys() & vb.keys()) - specials  # <unk> and friends never count as shared
    identical = va == vb

    def ratios(tok: Any) -> Float[np.ndarray, " prompt"]:
        """Per prompt: the fraction of ``tok``'s pieces that are in the shared vocabulary."""
        out = []
        for text in texts:
            pieces = tok.convert_ids_to_tokens(tok(text, add_special_tokens=False).input_ids)
            out.append(np.mean([p in shared for p in pieces]) if pieces else 0.0)
        return np.asarray(out, dtype=np.float64)

    ra, rb = ratios(tok_a), ratios(tok_b)
    kept = np.flatnonzero((ra >= min_shared_ratio) & (rb >= min_shared_ratio)).tolist()
    return FairnessReport(kept, ra, rb, min_shared_ratio, identical, len(texts), len(kept))


# ---------------------------------------------------------------- transport maps


def fit_transport(
    xa: Float[np.ndarray, "rows d_a"],
    xb: Float[np.ndarray, "rows d_b"],
    groups: Int[np.ndarray, " rows"],
    train: Int[np.ndarray, " n_train"],
    val: Int[np.ndarray, " n_val"],
    methods: Sequence[str],
    seed: int = 0,
    shuffle_method: str | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, Any], Any]:
    """Fit every method A -> B on ``train`` rows, score on ``val`` rows.

    Returns (scores ``{method: {metric: float}}`` incl. ``train_r2``, fitted ``{method: map}``,
    shuffled-pairs map fitted with ``shuffle_method`` (or None)).
    """
    center = xb[train].mean(0)
    scores: dict[str, dict[str, float]] = {}
    maps: dict[str, Any] = {}
    for m in methods:
        if m == "identity" and xa.shape[1] != xb.shape[1]:
            continue
        est = make_map(m).fit(xa[train], xb[train], groups[train])
        scores[m] = {
            **transport_scores(xb[val], est.transform(xa[val]), center),
            "train_r2": est.score(xa[train], xb[train]),
        }
        maps[m] = est
    shuffled = None
    if shuffle_method:
        perm = shuffle_pairs(groups[train], seed)
        shuffled = make_map(shuffle_method).fit(xa[train], xb[train][perm], groups[train])
        scores["shuffled_pairs"] = {
            **transport_scores(xb[val], shuffled.transform(xa[val]), center),
            "train_r2": shuffled.score(xa[train], xb[train][perm]),
        }
    return scores, maps, shuffled


# ---------------------------------------------------------------- statistics of the runs


def kl_stats(kl: Float[np.ndarray, "direction layer prompt"], n_boot: int, seed: int) -> xr.Dataset:
    """Mean patching KL per direction and layer, and the paired a_to_b - b_to_a asymmetry, with CIs."""
    mean, ci = mean_ci(kl, n_boot, seed)
    amean, aci = mean_ci(kl[0] - kl[1], n_boot, seed)
    return xr.Dataset(
        {
            "kl_prompt": (("direction", "layer", "prompt"), kl),
            "kl": (("direction", "layer"), mean),
            "kl_ci": (("direction", "layer", "ci"), ci),
            "kl_asymmetry": (("layer",), amean),
            "kl_asymmetry_ci": (("layer", "ci"), aci),
        },
        coords={"direction": ["a_to_b", "b_to_a"]},
    )


def peak_layer(kl: xr.Dataset) -> int:
    """The layer (>= 1) of largest mean a_to_b KL."""
    return int(np.nanargmax(kl["kl"].values[0][1:]) + 1)


@dataclass
class Split:
    """Leakage-free train/validation split of prompts (by group) and of map-training rows."""

    train_prompts: Int[np.ndarray, " n_train"]
    val_prompts: Int[np.ndarray, " n_val"]
    train_rows: Int[np.ndarray, " rows_train"]
    val_rows: Int[np.ndarray, " rows_val"]
    row_groups: Int[np.ndarray, " rows"]


def split_rows(
    groups_of_prompt: Shaped[np.ndarray, " prompt"],
    rows: Int[np.ndarray, " rows"],
    val_frac: float,
    seed: int,
) -> Split:
    """Split prompts by group (e.g. unit) and assign each map-training row its prompt's side."""
    _, gcode = np.unique(groups_of_prompt, return_inverse=True)
    tr_p, va_p = group_split(gcode, val_frac, seed)  # prompt indices
    assert not set(groups_of_prompt[tr_p]) & set(groups_of_prompt[va_p])
    return Split(
        tr_p,
        va_p,
        np.flatnonzero(np.isin(rows, tr_p)),
        np.flatnonzero(np.isin(rows, va_p)),
        gcode[rows],
    )


def best_alpha(
    alphas: Float[np.ndarray, " alpha"], kl: Float[np.ndarray, " alpha"], rtol: float = 1e-6
) -> float:
    """The alpha of least KL; ties (e.g. behind a scale-invariant norm) go to the alpha nearest 1."""
    tied = np.flatnonzero(kl <= np.nanmin(kl) * (1 + rtol) + 1e-12)
    return float(alphas[tied[np.argmin(np.abs(alphas[tied] - 1.0))]])


def mismatched_layer(l: int, site: str, L: int) -> int:
    """A distant layer of the same site: half the depth away (wrapping), never ``l`` itself."""
    lo = site_layers(site, L)[0]
    span = L + 1 - lo
    return lo + (l - lo + span // 2) % span


def control_stats(
    cond: dict[str, Float[np.ndarray, " prompt"]], n_boot: int, seed: int
) -> tuple[
    Float[np.ndarray, " condition"],
    Float[np.ndarray, "condition 2"],
    Float[np.ndarray, " condition"],
    Float[np.ndarray, "condition 2"],
]:
    """Per condition: mean KL ``(condition,)`` with CI ``(condition, 2)``, and its reduction vs raw."""
    ctrl, red = np.full(len(CONDITIONS), np.nan), np.full(len(CONDITIONS), np.nan)
    ctrl_ci, red_ci = np.full((len(CONDITIONS), 2), np.nan), np.full((len(CONDITIONS), 2), np.nan)
    for i, c in enumerate(CONDITIONS):
        ctrl[i], ctrl_ci[i] = mean_ci(cond[c], n_boot, seed)
        red[i], red_ci[i] = reduction_ci(cond["raw"], cond[c], n_boot, seed)
    return ctrl, ctrl_ci, red, red_ci


class MappedArrays:
    """The arrays of the mapped-patching step, NaN where a (site, layer) was not run."""

    def __init__(self, n_sites: int, n_layers: int, n_alphas: int):
        self.sweep = np.full((2, n_sites, n_layers, 2, n_alphas), np.nan)
        self.sweep_ci = np.full(self.sweep.shape + (2,), np.nan)
        self.ctrl = np.full((n_sites, n_layers, len(CONDITIONS)), np.nan)
        self.ctrl_ci = np.full(self.ctrl.shape + (2,), np.nan)
        self.red = np.full_like(self.ctrl, np.nan)
        self.red_ci = np.full_like(self.ctrl_ci, np.nan)
        self.best_alpha = np.full((n_sites, n_layers), np.nan)

    def add_to(self, ds: xr.Dataset, layers: list[int], alphas: Float[np.ndarray, " alpha"]) -> xr.Dataset:
        """``ds`` with the sweep, alpha* and control variables and their coordinates."""
        ds = ds.assign_coords(
            patch_layer=layers,
            alpha=alphas,
            condition=list(CONDITIONS),
            patch=["raw", "mapped"],
            sweep_split=["train", "val"],
        )
        sweep_dims = ("sweep_split", "site", "patch_layer", "patch", "alpha")
        ctrl_dims = ("site", "patch_layer", "condition")
        ds["sweep_kl"] = (sweep_dims, self.sweep)
        ds["sweep_kl_ci"] = ((*sweep_dims, "ci"), self.sweep_ci)
        ds["best_alpha_train"] = (("site", "patch_layer"), self.best_alpha)
        ds["control_kl"] = (ctrl_dims, self.ctrl)
        ds["control_kl_ci"] = ((*ctrl_dims, "ci"), self.ctrl_ci)
        ds["kl_reduction"] = (ctrl_dims, self.red)
        ds["kl_reduction_ci"] = ((*ctrl_dims, "ci"), self.red_ci)
        return ds


def describe(ds: xr.Dataset) -> None:
    """Attach ``long_name`` attributes to the headline variables (in place)."""
    ds["cka"].attrs["long_name"] = "CKA(A, B) on pooled resid_post activations"
    if "kl" in ds:
        ds["kl"].attrs["long_name"] = "mean KL(B_patched || B) (a_to_b) / KL(A_patched || A) (b_to_a)"
        ds["kl_asymmetry"].attrs["long_name"] = "mean of KL a_to_b minus KL b_to_a, paired by prompt"
    if "kl_reduction" in ds:
        ds["kl_reduction"].attrs["long_name"] = "1 - mean KL(condition) / mean KL(raw), val prompts"


def summarize(ds: xr.Dataset) -> dict[str, Any]:
    """Headline numbers as plain JSON (also what the CLI prints)."""
    s: dict[str, Any] = {
        "a": ds.attrs.get("a_name"),
        "b": ds.attrs.get("b_name"),
        "prompts": int(ds.sizes["prompt"]),
        "fairness": f"{ds.attrs['fairness_n_kept']}/{ds.attrs['fairness_n_total']} kept",
        "cka_linear": _fmt_series(ds["cka"].sel(kind="linear"), ds["cka_ci"].sel(kind="linear")),
    }
    if "kl" in ds:
        s["kl_a_to_b"] = _fmt_series(ds["kl"].sel(direction="a_to_b"), ds["kl_ci"].sel(direction="a_to_b"))
        s["kl_b_to_a"] = _fmt_series(ds["kl"].sel(direction="b_to_a"), ds["kl_ci"].sel(direction="b_to_a"))
        s["peak_kl_layer"], s["control_layer"] = ds.attrs["peak_kl_layer"], ds.attrs["control_layer"]
        s["kl_reduction"] = (
            {}
            if "kl_reduction" not in ds
            else {
                f"{site}@{l}": {
                    c: [round(float(ds["kl_reduction"].sel(site=site, patch_layer=l, condition=c)), 4)]
                    + [
                        round(float(v), 4)
                        for v in ds["kl_reduction_ci"].sel(site=site, patch_layer=l, condition=c)
                    ]
                    for c in ds.condition.values
                }
                for site in ds.site.values
                for l in ds.patch_layer.values
            }
        )
    else:
        s["patching_skipped"] = ds.attrs.get("patching_skipped")
    s["change_tests"] = change_summary(ds)
    return s


def _fmt_series(mean: xr.DataArray, ci: xr.DataArray) -> list[list[float]]:
    return [
        [int(l), round(float(m), 5), round(float(lo), 5), round(float(hi), 5)]
        for l, m, (lo, hi) in zip(mean.layer.values, mean.values, ci.values)
    ]
