"""Measured learning curves of kernel (ridge) regression: the experiment the theory predicts."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from occamlab._check import check_int
from occamlab._cosine import is_architecture, kernel_matrix
from occamlab._linalg import check_kernel_matrix, eigh, ridge_solve
from occamlab._plot import readable_log_axes
from occamlab._progress import track
from occamlab._result import Result
from occamlab._torch import as_tensor, make_generator
from occamlab.eigenlearning._theory import _nonneg_float, reject_unexpected


@dataclass(frozen=True, repr=False)
class Measurement(Result):
    """Empirical KRR learning curve: mean and standard error over trials, per sample size.

    MSEs are against noisy labels and summed over outputs, like :class:`Prediction`.

    Fields:
        n: (B,) sample sizes.
        test_mse, test_se: (B,) test MSE (held-out pool points in pool mode) and its standard
            error (std over trials / √trials).
        train_mse, train_se: (B,) the same on the training points.
        learnabilities, learnabilities_se: (B, K) measured learnability ⟨φ, f̂⟩/⟨φ, φ⟩ of each
            of K eigenmodes when they were asked for, else None.
        trials: trials per sample size.
        pool_size: M in pool mode (for the finite-pool correction), None for fresh samples.
        ridge, noise_var: δ and the label-noise variance ε².
    """

    n: torch.Tensor
    test_mse: torch.Tensor
    test_se: torch.Tensor
    train_mse: torch.Tensor
    train_se: torch.Tensor
    learnabilities: torch.Tensor | None
    learnabilities_se: torch.Tensor | None
    trials: int
    pool_size: int | None
    ridge: float
    noise_var: float

    def plot(self, ax: Any = None, *, label: str = "measured", train: bool = False) -> Any:
        """Test MSE ± SE against n on log-log axes; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.8))
        n = self.n.cpu().numpy()
        ax.errorbar(n, self.test_mse.cpu().numpy(), yerr=self.test_se.cpu().numpy(), fmt="o",
                    ms=4, capsize=2, label=f"{label} test")
        if train:
            ax.errorbar(n, self.train_mse.cpu().numpy(), yerr=self.train_se.cpu().numpy(),
                        fmt="s", ms=3, capsize=2, label=f"{label} train")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training samples n")
        ax.set_ylabel("MSE")
        ax.legend()
        return readable_log_axes(ax)


def krr_fit(K_train: torch.Tensor, y_train: torch.Tensor, ridge: float) -> torch.Tensor:
    """Dual coefficients α = (K + δI)⁻¹ y; with δ = 0 and a singular K (repeated points) the
    minimum-norm interpolant K⁺y, which is the δ → 0 limit of ridge regression."""
    return ridge_solve(K_train, y_train, ridge)


def _check_ns(ns: Any, limit: int | None) -> torch.Tensor:
    t = as_tensor(ns, "ns", ndim=1)
    if t.is_floating_point() and bool((t != t.round()).any()):
        raise ValueError(f"ns must be integers, got {t.tolist()}")
    t = t.to(torch.int64)
    if t.numel() == 0 or bool((t <= 0).any()):
        raise ValueError(f"ns must be positive integers, got {t.tolist()}")
    if limit is not None and int(t.max()) >= limit:
        raise ValueError(f"ns must be < the pool size {limit} (held-out points are needed), "
                         f"got max {int(t.max())}")
    return t


def _mean_se(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # x: (trials, ...) → mean and standard error of the mean over trials.
    t = x.shape[0]
    se = x.std(0, unbiased=True) / math.sqrt(t) if t > 1 else torch.full_like(x[0], math.nan)
    return x.mean(0), se


def measure(kernel: Any, X: Any = None, y: Any = None, ns: Any = (16, 64, 256), *,
            trials: int = 10, ridge: float = 0.0, noise_var: float = 0.0, seed: int = 0,
            n_test: int = 2000, kind: str = "ntk", modes: Any = None, n_modes: int = 0,
            progress: bool = True, **unexpected: Any) -> Measurement:
    """Empirical learning curve of kernel ridge regression, f̂ = K(·, X)(K_XX + δI)⁻¹ y.

    Two modes:

    - **pool**: ``kernel`` is an (M, M) kernel matrix (or a kernel plus pool inputs ``X``) and
      ``y`` the (M,) or (M, C) pool targets. Each trial draws n pool points without
      replacement, fits, and measures the MSE on the other M − n points. Compare with a
      prediction from :func:`occamlab.spectra.from_kernel` through the finite-pool correction
      ``E_heldout = (M·E − n·E_train)/(M − n)`` (Simon et al. 2023, arXiv 2110.03922), done
      by :func:`compare`.
    - **fresh samples**: ``X`` is a sampler ``X(n, generator) → (n, d)`` and ``y`` a target
      function ``y(X) → (n,)`` or (n, C); training and ``n_test`` test points are drawn anew
      in every trial, i.i.d. from the sampler's distribution.

    Arguments:
        kernel: (M, M) kernel matrix, a callable of the cosine c = x·x'/d (inputs of norm √d),
            or an architecture of ``occamlab.kernels``.
        X: pool inputs (M, ...), a sampler, or None with a kernel matrix.
        y: pool targets or a target function.
        ns: (B,) sample sizes.
        trials: repetitions per sample size (≥ 2 for a standard error).
        ridge: δ ≥ 0.
        noise_var: label-noise variance ε² ≥ 0, added to training and test labels.
        seed: seed of all sampling.
        n_test: test points per trial (fresh mode).
        kind: ``"ntk"`` or ``"nngp"`` for an architecture.
        modes: fresh mode: a function X → (n, K) of orthonormal eigenfunctions whose measured
            learnabilities to report (each is fitted as a noise-free target).
        n_modes: pool mode: report learnabilities of the top ``n_modes`` pool eigenmodes.
        progress: show a progress bar.

    Returns:
        :class:`Measurement`.
    """
    trials = check_int(trials, "trials", ge=1)
    ridge = _nonneg_float(ridge, "ridge")
    reject_unexpected(unexpected, "measure")
    noise_var = _nonneg_float(noise_var, "noise_var")
    n_modes = check_int(n_modes, "n_modes", ge=0)
    g = make_generator(seed)
    sd = math.sqrt(noise_var)
    if callable(X) and not isinstance(X, torch.Tensor):
        return _measure_fresh(kernel, X, y, ns, trials, ridge, sd, g, n_test, kind, modes,
                              progress)
    if isinstance(kernel, torch.Tensor | np.ndarray):
        if X is not None:
            raise ValueError("pass either a kernel matrix (X=None) or a kernel and pool inputs "
                             "X, not both")
        K = check_kernel_matrix(kernel, "kernel")
    elif is_architecture(kernel) or callable(kernel):
        if X is None:
            raise ValueError("X (pool inputs or a sampler) is required with a kernel function")
        K = check_kernel_matrix(kernel_matrix(kernel, X, kind=kind), "kernel(X, X)")
    else:
        raise TypeError("kernel must be a kernel matrix, a callable of the cosine or an "
                        f"architecture of occamlab.kernels, got {type(kernel).__name__}")
    M = K.shape[0]
    if y is None:
        raise ValueError("y (pool targets) is required")
    Y = as_tensor(y, "y", dtype=torch.float64, ndim=(1, 2), device=K.device)
    if Y.shape[0] != M:
        raise ValueError(f"y must have one row per pool point ({M}), got shape "
                         f"{tuple(Y.shape)}")
    Y = Y.reshape(M, -1)
    n_t = _check_ns(ns, M)
    if float(n_t.max()) > 0.2 * M:
        warnings.warn(f"n up to {int(n_t.max())} exceeds 0.2·M = {0.2 * M:g}: the finite-pool "
                      "correction is less accurate there", stacklevel=2)
    U = None
    if n_modes:
        U = eigh(K)[1].flip(1)[:, :n_modes]
    test = torch.zeros(trials, len(n_t), dtype=torch.float64)
    train = torch.zeros_like(test)
    learn = torch.zeros(trials, len(n_t), n_modes, dtype=torch.float64)
    jobs = [(i, int(n)) for i, n in enumerate(n_t)]
    for i, n in track(jobs, description="KRR on the pool", enabled=progress):
        for t in range(trials):
            perm = torch.randperm(M, generator=g).to(K.device)
            tr, te = perm[:n], perm[n:]
            y_tr = Y[tr] + sd * _noise(Y[tr].shape, g, K)
            y_te = Y[te] + sd * _noise(Y[te].shape, g, K)
            alpha = krr_fit(K[tr][:, tr], y_tr, ridge)
            train[t, i] = ((K[tr][:, tr] @ alpha - y_tr) ** 2).sum(1).mean()
            test[t, i] = ((K[te][:, tr] @ alpha - y_te) ** 2).sum(1).mean()
            if U is not None:
                fit = K[:, tr] @ krr_fit(K[tr][:, tr], U[tr], ridge)
                learn[t, i] = (U * fit).sum(0)
    return _result(n_t, test, train, learn if U is not None else None, trials, M, ridge, noise_var)


def _noise(shape: tuple[int, ...], g: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.randn(shape, generator=g, dtype=torch.float64).to(like.device)


def _result(n_t, test, train, learn, trials, M, ridge, noise_var) -> Measurement:
    te, te_se = _mean_se(test)
    tr, tr_se = _mean_se(train)
    le, le_se = _mean_se(learn) if learn is not None else (None, None)
    return Measurement(n=n_t, test_mse=te, test_se=te_se, train_mse=tr, train_se=tr_se,
                       learnabilities=le, learnabilities_se=le_se, trials=trials, pool_size=M,
                       ridge=ridge, noise_var=noise_var * 1.0)


def _measure_fresh(kernel: Any, sampler: Callable, target: Any, ns: Any, trials: int,
                   ridge: float, sd: float, g: torch.Generator, n_test: int, kind: str,
                   modes: Any, progress: bool) -> Measurement:
    if isinstance(kernel, torch.Tensor) or not (callable(kernel) or is_architecture(kernel)):
        raise TypeError("with a sampler X, kernel must be a callable of the cosine or an "
                        "architecture (a fixed kernel matrix cannot be evaluated on new points)")
    if not callable(target):
        raise TypeError("with a sampler X, y must be a target function X → values, got "
                        f"{type(target).__name__}")
    n_test = check_int(n_test, "n_test", ge=1)
    n_t = _check_ns(ns, None)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = as_tensor(sampler(n, g), "X(n, generator)", dtype=torch.float64)
        if x.shape[0] != n:
            raise ValueError(f"the sampler X returned {x.shape[0]} points, {n} were asked for")
        f = as_tensor(target(x), "y(X)", dtype=torch.float64, device=x.device)
        return x, f.reshape(n, -1)

    test = torch.zeros(trials, len(n_t), dtype=torch.float64)
    train = torch.zeros_like(test)
    learn = None
    jobs = [(i, int(n)) for i, n in enumerate(n_t)]
    for i, n in track(jobs, description="KRR on fresh samples", enabled=progress):
        for t in range(trials):
            x_tr, f_tr = draw(n)
            x_te, f_te = draw(n_test)
            y_tr = f_tr + sd * _noise(f_tr.shape, g, f_tr)
            y_te = f_te + sd * _noise(f_te.shape, g, f_te)
            K_tr = kernel_matrix(kernel, x_tr, kind=kind)
            K_te = kernel_matrix(kernel, x_te, x_tr, kind=kind)
            alpha = krr_fit(K_tr, y_tr, ridge)
            train[t, i] = ((K_tr @ alpha - y_tr) ** 2).sum(1).mean()
            test[t, i] = ((K_te @ alpha - y_te) ** 2).sum(1).mean()
            if modes is not None:
                phi_tr = as_tensor(modes(x_tr), "modes(X)", dtype=torch.float64, ndim=2)
                phi_te = as_tensor(modes(x_te), "modes(X)", dtype=torch.float64, ndim=2)
                fit = K_te @ krr_fit(K_tr, phi_tr, ridge)
                val = (phi_te * fit).mean(0) / (phi_te**2).mean(0)
                if learn is None:
                    learn = torch.zeros(trials, len(n_t), val.shape[0], dtype=torch.float64)
                learn[t, i] = val
    return _result(n_t, test, train, learn, trials, None, ridge, sd**2)
