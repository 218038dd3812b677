"""Linear transport maps between two variants' activations (numpy / scipy only, no torch).

Estimators follow the scikit-learn shape: parameters in ``__init__``, ``fit(X, Y, groups)``,
``transform(X)``, ``score(X, Y)`` (variance-weighted R^2), learned state with trailing
underscores. ``X: Float[n, d_a]`` (variant A), ``Y: Float[n, d_b]`` (variant B); widths may
differ. ``groups: Int[n]`` names the prompt each row came from: every split here keeps all
rows of one group on one side (no prompt ever leaks between train and validation).

- :class:`RidgeMap`: ridge regression, lambda chosen by grouped k-fold CV on the training
  rows only (one SVD per fold evaluates the whole grid); optional PCA rank on the input.
- :class:`ProcrustesMap`: scaled orthogonal Procrustes, optionally between shrinkage-whitened
  spaces (whiten -> rotate -> re-colour, the "whitened scaled Procrustes" of the seed study);
  optional PCA rank on both sides; semi-orthogonal when widths differ.
- :class:`IdentityMap`: ``Y_hat = X`` (same width): the *raw* patch as a map, the baseline any
  learned map has to beat.

Metrics on held-out rows: :func:`r2_score`, :func:`mean_cosine` (vectors centred on B's
training mean, so a shared constant offset cannot inflate it), CKA(mapped, B) via
:mod:`analysis.cka`.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float, Int, Shaped

from polylens.analysis.cka import linear_cka

__all__ = [
    "RidgeMap",
    "ProcrustesMap",
    "IdentityMap",
    "group_split",
    "group_kfold",
    "r2_score",
    "mean_cosine",
    "transport_scores",
    "shuffle_pairs",
    "make_map",
]

DEFAULT_ALPHAS = np.logspace(-4, 4, 17)

#: the prompt each row came from (any label dtype)
Groups = Shaped[np.ndarray, " n"]
#: row indices into the ``n`` rows
Rows = Int[np.ndarray, " rows"]


# ---------------------------------------------------------------- splits (leakage-free)


def group_split(groups: Groups, val_frac: float = 0.25, seed: int = 0) -> tuple[Rows, Rows]:
    """(train Int[n_tr], val Int[n_va]) row indices; each group lies entirely on one side."""
    groups = np.asarray(groups)
    uniq = np.unique(groups)
    if len(uniq) < 2:
        raise ValueError("need at least two groups (prompts) to split")
    rng = np.random.default_rng(seed)
    n_val = min(max(1, int(round(val_frac * len(uniq)))), len(uniq) - 1)
    val_groups = rng.permutation(uniq)[:n_val]
    is_val = np.isin(groups, val_groups)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def group_kfold(groups: Groups, n_folds: int = 5, seed: int = 0) -> list[tuple[Rows, Rows]]:
    """Grouped k-fold: list of (train, val) row indices; groups never straddle a fold."""
    groups = np.asarray(groups)
    uniq = np.random.default_rng(seed).permutation(np.unique(groups))
    n_folds = min(n_folds, len(uniq))
    if n_folds < 2:
        raise ValueError("need at least two groups for cross-validation")
    fold_of = {g: i % n_folds for i, g in enumerate(uniq)}
    fold = np.array([fold_of[g] for g in groups])
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(n_folds)]


def shuffle_pairs(groups: Groups, seed: int = 0) -> Int[np.ndarray, " n"]:
    """Row permutation that pairs each A row with a B row of a *different* group (control).

    Returns ``perm`` so that ``Y[perm]`` is the shuffled target: rows are permuted at random
    and any row left inside its own group is swapped with one outside it.
    """
    groups = np.asarray(groups)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(groups))
    for _ in range(10):
        same = np.flatnonzero(groups[perm] == groups)
        if len(same) == 0:
            break
        for i in same:
            others = np.flatnonzero(groups[perm] != groups[i])
            j = rng.choice(others)
            if groups[perm[i]] != groups[j]:
                perm[i], perm[j] = perm[j], perm[i]
    return perm


# ---------------------------------------------------------------- metrics


def r2_score(y: Float[np.ndarray, "n d"], y_hat: Float[np.ndarray, "n d"]) -> float:
    """Variance-weighted R^2 = 1 - SS_res / SS_tot (SS_tot about ``y``'s own mean). Can be < 0."""
    y = np.asarray(y, dtype=np.float64)
    ss_res = ((y - y_hat) ** 2).sum()
    ss_tot = ((y - y.mean(0)) ** 2).sum()
    return float(1.0 - ss_res / ss_tot) if ss_tot > 0 else float("nan")


def mean_cosine(
    y: Float[np.ndarray, "n d"],
    y_hat: Float[np.ndarray, "n d"],
    center: Float[np.ndarray, " d"] | None = None,
) -> float:
    """Mean row cosine between ``y_hat`` and ``y`` after subtracting ``center`` (B's train mean)."""
    y = np.asarray(y, dtype=np.float64)
    y_hat = np.asarray(y_hat, dtype=np.float64)
    if center is not None:
        y, y_hat = y - center, y_hat - center
    num = (y * y_hat).sum(1)
    den = np.linalg.norm(y, axis=1) * np.linalg.norm(y_hat, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.nanmean(np.where(den > 0, num / den, np.nan)))


def transport_scores(
    y: Float[np.ndarray, "n d"],
    y_hat: Float[np.ndarray, "n d"],
    center: Float[np.ndarray, " d"] | None = None,
) -> dict[str, float]:
    """``r2``, ``cka`` (linear, mapped vs B), ``cka_debiased`` and ``cosine`` on held-out rows."""
    return {
        "r2": r2_score(y, y_hat),
        "cka": float(linear_cka(y_hat, y)),
        "cka_debiased": float(linear_cka(y_hat, y, debiased=True)),
        "cosine": mean_cosine(y, y_hat, center),
    }


# ---------------------------------------------------------------- estimators


def _as2d(x: Float[np.ndarray, "n d"]) -> Float[np.ndarray, "n d"]:
    """``x`` as a float64 (rows, features) array; ValueError for any other rank."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array (rows, features), got shape {x.shape}")
    return x


def _pca(xc: Float[np.ndarray, "n d"], rank: int | None) -> Float[np.ndarray, "d r"] | None:
    """Float[d, r] top-``rank`` principal directions of centred ``xc`` (None = keep all)."""
    if rank is None or rank >= min(xc.shape):
        return None
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    return vt[:rank].T


class _LinearMap:
    """Shared state: ``Y_hat = (X - mean_x_) @ coef_ + intercept_``."""

    mean_x_: Float[np.ndarray, " d_a"]
    coef_: Float[np.ndarray, "d_a d_b"]
    intercept_: Float[np.ndarray, " d_b"]

    def transform(self, X: Float[np.ndarray, "n d_a"]) -> Float[np.ndarray, "n d_b"]:
        """Map rows of variant A into variant B's space."""
        X = _as2d(X)
        if X.shape[1] != self.coef_.shape[0]:
            raise ValueError(f"X has {X.shape[1]} features, the map was fit on {self.coef_.shape[0]}")
        return (X - self.mean_x_) @ self.coef_ + self.intercept_

    def score(self, X: Float[np.ndarray, "n d_a"], Y: Float[np.ndarray, "n d_b"]) -> float:
        """Variance-weighted R^2 of ``transform(X)`` against ``Y``."""
        return r2_score(_as2d(Y), self.transform(X))

    def get_params(self) -> dict:
        """The constructor parameters (attributes without a trailing underscore)."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if not isinstance(v, np.ndarray))
        return f"{type(self).__name__}({args})"


class IdentityMap(_LinearMap):
    """``Y_hat = X``: the raw cross-model patch expressed as a map (requires equal widths)."""

    def fit(
        self, X: Float[np.ndarray, "n d"], Y: Float[np.ndarray, "n d"], groups: Groups | None = None
    ) -> IdentityMap:
        """Check the widths match and set the identity coefficients (``groups`` unused)."""
        X, Y = _as2d(X), _as2d(Y)
        if X.shape[1] != Y.shape[1]:
            raise ValueError("the identity map needs equal widths")
        self.mean_x_ = np.zeros(X.shape[1])
        self.coef_ = np.eye(X.shape[1])
        self.intercept_ = np.zeros(X.shape[1])
        return self


class RidgeMap(_LinearMap):
    """Ridge regression A -> B with lambda chosen by grouped k-fold CV on the training rows.

    ``alphas`` are *relative*: the penalty is ``alpha * mean eigenvalue of X^T X``, so one grid
    fits residual streams of any scale. ``rank`` projects X onto its top principal components
    first. ``residual=True`` (equal widths) regresses ``Y - X`` instead of ``Y``, i.e. shrinks
    toward the identity map rather than toward B's mean: the right prior for variants of one
    base model (fine-tunes, quantizations) when rows are scarce (n < d). Learned: ``alpha_``, ``cv_mse_`` (per alpha), ``coef_``, ``intercept_``, ``mean_x_``,
    ``components_`` (or None).
    """

    def __init__(
        self,
        alphas: Float[np.ndarray, " alpha"] | list[float] = DEFAULT_ALPHAS,
        n_folds: int = 5,
        rank: int | None = None,
        residual: bool = False,
        random_state: int = 0,
    ):
        self.alphas = np.asarray(alphas, dtype=np.float64)
        self.n_folds = n_folds
        self.rank = rank
        self.residual = residual
        self.random_state = random_state

    @staticmethod
    def _svd(
        xc: Float[np.ndarray, "n d_in"], yc: Float[np.ndarray, "n d_out"]
    ) -> tuple[Float[np.ndarray, "k d_in"], Float[np.ndarray, " k"], Float[np.ndarray, "k d_out"]]:
        """Thin SVD of ``xc`` as (vt, s, u^T yc), all the ridge path needs."""
        u, s, vt = np.linalg.svd(xc, full_matrices=False)
        return vt, s, u.T @ yc

    @staticmethod
    def _coef(
        vt: Float[np.ndarray, "k d_in"],
        s: Float[np.ndarray, " k"],
        uty: Float[np.ndarray, "k d_out"],
        penalty: float,
    ) -> Float[np.ndarray, "d_in d_out"]:
        """Float[d_in, d_out] ridge coefficients for one absolute penalty (BLAS matmuls only)."""
        return (vt.T * (s / (s**2 + penalty))) @ uty

    @staticmethod
    def _penalties(
        xc: Float[np.ndarray, "n d"], alphas: Float[np.ndarray, " alpha"] | list[float]
    ) -> Float[np.ndarray, " alpha"]:
        """Absolute penalties: relative ``alphas`` x the mean eigenvalue of ``xc^T xc``."""
        return np.asarray(alphas) * max((xc**2).sum() / xc.shape[1], 1e-12)

    def fit(
        self, X: Float[np.ndarray, "n d_a"], Y: Float[np.ndarray, "n d_b"], groups: Groups | None = None
    ) -> RidgeMap:
        """Choose ``alpha_`` by grouped CV on these rows, then fit the coefficients on all of them."""
        X, Y = _as2d(X), _as2d(Y)
        if self.residual:
            if X.shape[1] != Y.shape[1]:
                raise ValueError("residual=True needs equal widths")
            Y = Y - X
        groups = np.arange(len(X)) if groups is None else np.asarray(groups)
        self.mean_x_ = X.mean(0)
        self.intercept_ = Y.mean(0)
        xc, yc = X - self.mean_x_, Y - self.intercept_
        self.components_ = _pca(xc, self.rank)
        z = xc if self.components_ is None else xc @ self.components_
        mse = np.zeros(len(self.alphas))
        for tr, va in group_kfold(groups, self.n_folds, self.random_state):
            ztr_mean, ytr_mean = z[tr].mean(0), Y[tr].mean(0)
            ztr = z[tr] - ztr_mean
            vt, s, uty = self._svd(ztr, Y[tr] - ytr_mean)
            proj = (z[va] - ztr_mean) @ vt.T  # validation rows in the training singular basis
            resid0 = Y[va] - ytr_mean
            for a, pen in enumerate(self._penalties(ztr, self.alphas)):
                pred = (proj * (s / (s**2 + pen))) @ uty
                mse[a] += ((pred - resid0) ** 2).mean() * len(va)
        self.cv_mse_ = mse / len(X)
        self.alpha_ = float(self.alphas[int(np.argmin(self.cv_mse_))])
        coef = self._coef(*self._svd(z, yc), self._penalties(z, [self.alpha_])[0])
        self.coef_ = coef if self.components_ is None else self.components_ @ coef
        if self.residual:  # Y_hat = X + (X - mu) W + b  ==  (X - mu)(I + W) + (b + mu)
            self.coef_ = self.coef_ + np.eye(X.shape[1])
            self.intercept_ = self.intercept_ + self.mean_x_
        return self


def _shrunk_cov(xc: Float[np.ndarray, "n d"], shrinkage: float) -> Float[np.ndarray, "d d"]:
    """Sample covariance shrunk toward a scaled identity by ``shrinkage``."""
    cov = xc.T @ xc / max(len(xc) - 1, 1)
    target = np.trace(cov) / cov.shape[0]
    return (1 - shrinkage) * cov + shrinkage * target * np.eye(cov.shape[0])


def _sym_power(cov: Float[np.ndarray, "d d"], power: float, floor: float) -> Float[np.ndarray, "d d"]:
    """``cov ** power`` of a symmetric matrix, eigenvalues floored at ``floor`` x the largest."""
    w, v = np.linalg.eigh(cov)
    w = np.maximum(w, floor * w.max())
    return (v * w**power) @ v.T


class ProcrustesMap(_LinearMap):
    """Scaled orthogonal Procrustes A -> B, optionally in shrinkage-whitened coordinates.

    Without whitening: ``Y_hat = scale_ * (X - mu_A) @ rotation_ + mu_B`` with ``rotation_``
    (semi-)orthogonal. With ``whiten=True``: ZCA-whiten both sides with covariances shrunk by
    ``shrinkage`` toward a scaled identity (eigenvalues floored at ``eig_floor`` x max),
    rotate+scale, then re-colour with B's covariance. ``rank`` keeps the top principal
    components on both sides. All statistics come from the training rows only.
    """

    def __init__(
        self,
        scale: bool = True,
        whiten: bool = False,
        shrinkage: float = 0.1,
        rank: int | None = None,
        eig_floor: float = 1e-6,
    ):
        self.scale = scale
        self.whiten = whiten
        self.shrinkage = shrinkage
        self.rank = rank
        self.eig_floor = eig_floor

    def fit(
        self, X: Float[np.ndarray, "n d_a"], Y: Float[np.ndarray, "n d_b"], groups: Groups | None = None
    ) -> ProcrustesMap:
        """Fit the (whitened) scaled rotation from these rows (``groups`` unused)."""
        X, Y = _as2d(X), _as2d(Y)
        self.mean_x_, self.intercept_ = X.mean(0), Y.mean(0)
        xc, yc = X - self.mean_x_, Y - self.intercept_
        px, py = _pca(xc, self.rank), _pca(yc, self.rank)
        a = xc if px is None else xc @ px
        b = yc if py is None else yc @ py
        pre_x = np.eye(a.shape[1])
        post_y = np.eye(b.shape[1])
        if self.whiten:
            cx, cy = _shrunk_cov(a, self.shrinkage), _shrunk_cov(b, self.shrinkage)
            pre_x = _sym_power(cx, -0.5, self.eig_floor)
            post_y = _sym_power(cy, 0.5, self.eig_floor)
            b = b @ _sym_power(cy, -0.5, self.eig_floor)
        a = a @ pre_x
        u, s, vt = np.linalg.svd(a.T @ b, full_matrices=False)
        self.rotation_ = u @ vt
        self.scale_ = float(s.sum() / max((a**2).sum(), 1e-300)) if self.scale else 1.0
        core = pre_x @ (self.scale_ * self.rotation_) @ post_y
        if px is not None:
            core = px @ core
        if py is not None:
            core = core @ py.T
        self.coef_ = core
        return self


def make_map(method: str, **params) -> _LinearMap:
    """``identity`` | ``ridge`` | ``ridge_residual`` | ``procrustes`` | ``procrustes_whitened`` -> an unfitted estimator."""
    if method == "identity":
        return IdentityMap()
    if method == "ridge":
        return RidgeMap(**params)
    if method == "ridge_residual":
        return RidgeMap(residual=True, **params)
    if method == "procrustes":
        return ProcrustesMap(**params)
    if method == "procrustes_whitened":
        return ProcrustesMap(whiten=True, **params)
    raise ValueError(f"unknown map method {method!r}")
