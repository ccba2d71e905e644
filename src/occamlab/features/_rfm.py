"""Recursive feature machines: kernel ridge regression that learns its metric from its own AGOP.

Radhakrishnan, Beaglehole, Pandit, Belkin, Science 2024 (arXiv 2212.13881), Algorithm 1: with the
Mahalanobis kernel ``K_M(x, z) = exp(−‖x − z‖_M / L)``, ``‖v‖_M = √(vᵀMv)``, alternate
(1) kernel ridge regression ``α = (K_M + λI)⁻¹Y`` and (2) ``M ← (1/n) Σ_p Σ_c ∇f_c(x_p)∇f_c(x_p)ᵀ``,
the AGOP of the fitted predictor ``f(x) = Σ_i α_i K_M(x, x_i)`` over the training points.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from occamlab._check import check_int
from occamlab._linalg import ridge_solve
from occamlab._progress import track
from occamlab._torch import as_tensor

__all__ = ["RFM"]

_KERNELS = ("laplace", "gaussian")
# Pairs of points closer than this (relative squared distance) are the same point: the Laplace
# kernel's gradient has a cusp there, which the reference implementation sets to zero.
_SAME_POINT = 1e-10
# Entries of one block of the AGOP, batch × (2n + classes·d): bounds its memory to ~160 MB.
_BLOCK = 20_000_000


def _sq_norms(XM: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    return (XM * X).sum(1)


class RFM(BaseEstimator):
    """Recursive feature machine (Radhakrishnan et al. 2024, Algorithm 1), a scikit-learn estimator.

    Arguments:
        kernel: ``"laplace"``, ``K = exp(−‖x − z‖_M / L)``, or ``"gaussian"``,
            ``K = exp(−‖x − z‖²_M / (2L²))``.
        bandwidth: L, in the units of ``‖·‖_M``.
        ridge: λ ≥ 0 added to the kernel matrix's diagonal.
        iters: number of updates of M; ``iters + 1`` kernel ridge fits, the first with ``M = I``
            (plain kernel regression).
        diagonal: learn only the diagonal of M (the AGOP's diagonal), for many features.
        normalize: divide each new M by its largest entry, so the bandwidth keeps its meaning
            across iterations (as the xRFM package does); the paper's Algorithm 1 does not.
        dtype: floating dtype of the computation.
        progress: show a progress bar over iterations.

    Memory and time: the n × n kernel matrix (a few copies) and an O(n³) Cholesky solve per
    iteration; the AGOP is accumulated in blocks of training points.

    Learned attributes:
        M_: (d, d) metric of the selected iteration (diagonal matrix when ``diagonal``).
        M_last_: (d, d) metric of the last iteration (``M_`` when that one is selected).
        alpha_: (n, k) dual coefficients; ``X_fit_``: (n, d) the training inputs.
        history_: one dict per iteration: ``iter``, ``train_mse``, and with validation data
            ``val_mse`` (and ``val_accuracy`` for classification).
        best_iter_: the iteration kept: best on validation (accuracy for classification, MSE for
            regression), or the last without validation data.
        classes_: class labels for classification (integer ``y``), else ``None``.
        n_features_in_: d.
    """

    def __init__(self, kernel: str = "laplace", bandwidth: float = 10.0, ridge: float = 1e-3,
                 iters: int = 5, diagonal: bool = False, normalize: bool = False,
                 dtype: torch.dtype = torch.float64, progress: bool = True):
        self.kernel = kernel
        self.bandwidth = bandwidth
        self.ridge = ridge
        self.iters = iters
        self.diagonal = diagonal
        self.normalize = normalize
        self.dtype = dtype
        self.progress = progress

    # -- validation ---------------------------------------------------------------------------

    def _check_params(self) -> None:
        if self.kernel not in _KERNELS:
            raise ValueError(f"kernel must be one of {_KERNELS}, got {self.kernel!r}")
        for name in ("bandwidth", "ridge"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v!r}")
        if self.bandwidth <= 0:
            raise ValueError(f"bandwidth must be > 0, got {self.bandwidth}")
        if self.ridge < 0:
            raise ValueError(f"ridge must be ≥ 0, got {self.ridge}")
        check_int(self.iters, "iters", ge=0)
        if not isinstance(self.dtype, torch.dtype) or not self.dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch.dtype, got {self.dtype!r}")

    def _check_X(self, X: Any, name: str, d: int | None = None) -> torch.Tensor:
        X = as_tensor(X, name, ndim=2)
        if d is not None and X.shape[1] != d:
            raise ValueError(f"{name} has {X.shape[1]} features, but the RFM was fitted on {d} "
                             f"features; {name} must have shape (n, {d})")
        return X.to(self.dtype)

    def _targets(self, y: Any, name: str, n: int, name_X: str) -> torch.Tensor:
        y = as_tensor(y, name, ndim=(1, 2))
        if y.shape[0] != n:
            raise ValueError(f"{name} has {y.shape[0]} rows but {name_X} has {n}; they must match")
        return y

    # -- kernel -------------------------------------------------------------------------------

    def _metric_apply(self, X: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
        return X * M if M.ndim == 1 else X @ M

    def _dist2(self, A: torch.Tensor, AM: torch.Tensor, B: torch.Tensor,
               BM: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Squared Mahalanobis distances (a, b) and a mask of pairs that are the same point."""
        sa, sb = _sq_norms(AM, A), _sq_norms(BM, B)
        d2 = (sa[:, None] + sb[None, :] - 2 * AM @ B.T).clamp_min(0.0)
        same = d2 <= _SAME_POINT * (sa[:, None] + sb[None, :])
        return d2.masked_fill(same, 0.0), same

    def _kernel_from_d2(self, d2: torch.Tensor) -> torch.Tensor:
        L = float(self.bandwidth)
        if self.kernel == "laplace":
            return torch.exp(-d2.sqrt() / L)
        return torch.exp(-d2 / (2 * L * L))

    def _kernel(self, A: torch.Tensor, B: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
        d2, _ = self._dist2(A, self._metric_apply(A, M), B, self._metric_apply(B, M))
        return self._kernel_from_d2(d2)

    def _solve(self, K: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        """``(K + λI)⁻¹Y`` by Cholesky; a clear error when ``K + λI`` is not positive definite."""
        return ridge_solve(K, Y, float(self.ridge), singular="raise")

    def _agop(self, X: torch.Tensor, alpha: torch.Tensor, M: torch.Tensor,
              d2: torch.Tensor, same: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
        """AGOP of ``f(x) = Σ_i α_i K_M(x, x_i)`` over the training points (full or diagonal).

        ``∇_x K_M(x, z) = −w(x, z)·M(x − z)`` with ``w = K/(L‖x − z‖_M)`` (Laplace) or
        ``w = K/L²`` (Gaussian), so ``∇f_c(x) = −Σ_i α_ic w(x, x_i)(Mx − Mx_i)``. ``d2``,
        ``same`` and ``K`` are the training points' squared distances, same-point mask and kernel
        matrix under this M, reused from the solve.
        """
        n, d = X.shape
        k = alpha.shape[1]
        L = float(self.bandwidth)
        XM = self._metric_apply(X, M)
        out = torch.zeros((d,) if self.diagonal else (d, d), dtype=X.dtype, device=X.device)
        # α_ic·Mx_i as one (n, k·d) matrix, so the sum over i is a single matrix product.
        AX = (alpha[:, :, None] * XM[:, None, :]).reshape(n, k * d)
        step = max(1, _BLOCK // max(1, 2 * n + k * d))
        for start in range(0, n, step):
            sl = slice(start, min(start + step, n))
            if self.kernel == "laplace":
                w = (K[sl] / (L * d2[sl].sqrt())).masked_fill(same[sl], 0.0)
            else:
                w = K[sl] / (L * L)
            wa = w @ alpha  # (B, k)
            # (B, k, d): −(Σ_i w α_ic) Mx_b + Σ_i w α_ic Mx_i
            G = (w @ AX).reshape(-1, k, d) - wa[:, :, None] * XM[sl][:, None, :]
            G = G.reshape(-1, d)
            out += (G * G).sum(0) if self.diagonal else G.T @ G
        return out / n

    # -- scikit-learn API ---------------------------------------------------------------------

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None) -> RFM:
        """Fit by alternating kernel ridge regression and M ← AGOP (Algorithm 1).

        Arguments:
            X: (n, d) training inputs, n ≥ 2.
            y: (n,) or (n, k) real targets (regression), or (n,) integer labels (classification:
                fitted as one-hot regression, predicted by argmax).
            X_val, y_val: optional validation data; the iteration with the best validation score
                is kept.

        Returns:
            ``self``.
        """
        self._check_params()
        X = self._check_X(X, "X")
        n, d = X.shape
        if n < 2:
            raise ValueError(f"RFM needs at least 2 training samples, got {n}")
        y = self._targets(y, "y", n, "X")
        if (X_val is None) != (y_val is None):
            raise ValueError("give both X_val and y_val, or neither")
        if not y.is_floating_point() and y.ndim == 1:
            self.classes_, codes = torch.unique(y, return_inverse=True)
            Y = torch.nn.functional.one_hot(codes, len(self.classes_)).to(self.dtype)
        elif not y.is_floating_point():
            raise ValueError(f"integer y must be 1-D class labels, got shape {tuple(y.shape)}")
        else:
            self.classes_ = None
            Y = y.to(self.dtype)
        self._y_ndim = y.ndim
        Y = Y.reshape(n, -1).to(X.device)
        if X_val is not None:
            Xv = self._check_X(X_val, "X_val", d).to(X.device)
            yv = self._targets(y_val, "y_val", Xv.shape[0], "X_val").to(X.device)
            if self.classes_ is not None:
                if yv.is_floating_point() or yv.ndim != 1:
                    raise ValueError("y_val must hold 1-D integer class labels, like y")
                known = torch.isin(yv, self.classes_.to(yv.device))
                if not bool(known.all()):
                    raise ValueError(f"y_val has labels not seen in y: "
                                     f"{torch.unique(yv[~known]).tolist()}")
                Yv = (yv[:, None] == self.classes_.to(yv.device)[None]).to(self.dtype)
            else:
                Yv = yv.to(self.dtype).reshape(Xv.shape[0], -1)
                if Yv.shape[1] != Y.shape[1]:
                    raise ValueError(f"y_val has {Yv.shape[1]} outputs per row, y has "
                                     f"{Y.shape[1]}")
        M = torch.ones(d, dtype=self.dtype, device=X.device)
        if not self.diagonal:
            M = torch.diag(M)
        self.history_: list[dict[str, float]] = []
        best = None
        for t in track(range(self.iters + 1), description="RFM", enabled=self.progress):
            XM = self._metric_apply(X, M)
            d2, same = self._dist2(X, XM, X, XM)
            K = self._kernel_from_d2(d2)
            alpha = self._solve(K, Y)
            rec = {"iter": t, "train_mse": float(((K @ alpha - Y) ** 2).mean())}
            key = None
            if X_val is not None:
                P = self._kernel(Xv, X, M) @ alpha
                rec["val_mse"] = float(((P - Yv) ** 2).mean())
                if self.classes_ is not None:
                    rec["val_accuracy"] = float((P.argmax(1) == Yv.argmax(1)).double().mean())
                    key = (-rec["val_accuracy"], rec["val_mse"])
                else:
                    key = (rec["val_mse"],)
            self.history_.append(rec)
            if best is None or key is None or key < best[0]:
                best = (key, t, M, alpha)
            if t < self.iters:
                M = self._agop(X, alpha, M, d2, same, K)
                if self.normalize:
                    top = float(M.max())
                    if top <= 0:
                        raise ValueError(
                            "the AGOP of the fitted predictor is zero (constant predictor?); "
                            "cannot normalize M; check y or lower ridge"
                        )
                    M = M / top
        self.M_last_ = torch.diag(M) if self.diagonal else M
        _, self.best_iter_, M, self.alpha_ = best
        self.M_ = torch.diag(M) if self.diagonal else M
        self.X_fit_ = X
        self.n_features_in_ = d
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "M_"):
            raise NotFittedError("this RFM is not fitted yet; call fit(X, y) first")

    def decision_function(self, X: Any) -> torch.Tensor:
        """The kernel predictor ``K_M(X, X_fit) α``, shape (m, k) (class scores if classifying)."""
        self._check_fitted()
        X = self._check_X(X, "X", self.n_features_in_).to(self.X_fit_.device)
        M = torch.diagonal(self.M_) if self.diagonal else self.M_
        step = max(1, _BLOCK // max(1, self.X_fit_.shape[0]))
        return torch.cat([self._kernel(X[s:s + step], self.X_fit_, M) @ self.alpha_
                          for s in range(0, X.shape[0], step)]) if X.shape[0] else \
            X.new_zeros(0, self.alpha_.shape[1])

    def predict(self, X: Any) -> torch.Tensor:
        """Predictions for X (m, d): class labels (m,) for classification, else targets shaped
        like the training ``y`` ((m,) or (m, k))."""
        P = self.decision_function(X)
        if self.classes_ is not None:
            return self.classes_.to(P.device)[P.argmax(1)]
        return P[:, 0] if self._y_ndim == 1 else P

    def score(self, X: Any, y: Any) -> float:
        """Accuracy (classification) or the coefficient of determination R² (regression)."""
        P = self.predict(X)
        y = self._targets(y, "y", P.shape[0], "X").to(P.device)
        if self.classes_ is not None:
            return float((P == y).double().mean())
        y = y.to(P.dtype).reshape(P.shape)
        ss_res = ((y - P) ** 2).sum()
        ss_tot = ((y - y.mean(0)) ** 2).sum()
        return float(1 - ss_res / ss_tot)
