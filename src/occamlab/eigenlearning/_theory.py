"""Eigenlearning: the predicted test and train error of kernel ridge regression from a spectrum.

Simon, Dickens, Karkada, DeWeese, "The Eigenlearning Framework" (arXiv 2110.03922, TMLR 2023),
eqs. (3)–(7); equivalently Bordelon, Canatar, Pehlevan 2020
(arXiv 2002.02561) and Jacot et al. 2020 (arXiv 2006.05797).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from occamlab._check import check_real
from occamlab._linalg import check_psd
from occamlab._plot import readable_log_axes
from occamlab._result import Result
from occamlab._torch import as_tensor
from occamlab.eigenlearning._sums import SpectrumSums
from occamlab.spectra import Spectrum


@dataclass(frozen=True, repr=False)
class Prediction(Result):
    """Predicted generalization of kernel (ridge) regression at one or many sample sizes n.

    Shapes: ``()`` for a single n, ``(B,)`` for B values of n. MSEs are mean squared errors
    against noisy labels, summed over outputs for multi-output targets.

    Fields:
        n: sample sizes.
        kappa: the effective regularization κ solving ``Σᵢ mᵢλᵢ/(λᵢ+κ) + δ/κ = n``.
        overfitting_coefficient: E₀ = n / (n − Σᵢ mᵢLᵢ²).
        test_mse: E = E₀·(Σᵢ (1−Lᵢ)² pᵢ + tail power + ε²).
        train_mse: (δ/(nκ))²·E with δ the explicit ridge (0 for ridgeless regression, which
            interpolates).
        bias: squared bias Σᵢ (1−Lᵢ)² pᵢ + tail power (the error of the mean predictor).
        variance: (E₀ − 1)·(bias + ε²); ``test_mse = bias + variance + noise_var``.
        ridge: the explicit ridge δ; effective_ridge adds the tail trace when it is used.
        noise_var: label-noise variance ε².
        eigenvalues, multiplicities: the spectrum's levels (L,), for :attr:`learnabilities`.
    """

    n: torch.Tensor
    kappa: torch.Tensor
    overfitting_coefficient: torch.Tensor
    test_mse: torch.Tensor
    train_mse: torch.Tensor
    bias: torch.Tensor
    variance: torch.Tensor
    ridge: float
    effective_ridge: float
    noise_var: float
    eigenvalues: torch.Tensor
    multiplicities: torch.Tensor

    @property
    def learnabilities(self) -> torch.Tensor:
        """Lᵢ = λᵢ/(λᵢ+κ) per level: shape (L,) for one n, (B, L) for B values of n."""
        return self.eigenvalues / (self.eigenvalues + self.kappa.unsqueeze(-1))

    def plot(self, ax: Any = None, *, label: str = "predicted", train: bool = False) -> Any:
        """Test MSE (and optionally train MSE) against n on log-log axes; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.8))
        n = self.n.reshape(-1).cpu().numpy()
        ax.loglog(n, self.test_mse.reshape(-1).cpu().numpy(), "-", label=f"{label} test")
        if train:
            ax.loglog(n, self.train_mse.reshape(-1).cpu().numpy(), "--",
                      label=f"{label} train")
        ax.set_xlabel("training samples n")
        ax.set_ylabel("MSE")
        ax.legend()
        return readable_log_axes(ax)


def _nonneg_float(x: Any, name: str) -> float:
    if isinstance(x, torch.Tensor) and x.numel() == 1:
        x = x.reshape(())
    return check_real(x, name, ge=0)


def reject_unexpected(unexpected: dict[str, Any], fn: str) -> None:
    """A ``TypeError`` for keyword arguments ``fn`` does not take; ``noise`` names ``noise_var``."""
    if "noise" in unexpected:
        raise TypeError(f"{fn}() takes noise_var, the label-noise variance ε², not noise; for "
                        f"noise of standard deviation σ pass noise_var=σ**2")
    if unexpected:
        raise TypeError(f"{fn}() got an unexpected keyword argument {next(iter(unexpected))!r}")


def _levels(eigenvalues: Any, multiplicities: Any, target_power: Any
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    lam = as_tensor(eigenvalues, "eigenvalues", dtype=torch.float64, ndim=1)
    if lam.shape[0] == 0:
        raise ValueError("eigenvalues is empty; give at least one level")
    lam_max = float(lam.max())
    # L eigenvalues of a kernel, as from an L × L eigensolver: negative only by rounding
    lam = check_psd(lam, "the kernel of these eigenvalues", lam_max, lam.shape[0])
    if lam_max <= 0:
        raise ValueError("eigenvalues are all zero; the kernel learns nothing")
    if multiplicities is None:
        mult = torch.ones_like(lam)
    else:
        mult = as_tensor(multiplicities, "multiplicities", ndim=1, device=lam.device)
        if mult.shape != lam.shape:
            raise ValueError(f"multiplicities must have one entry per eigenvalue "
                             f"({lam.shape[0]}), got shape {tuple(mult.shape)}")
        mult = mult.to(torch.float64)
        if bool((mult <= 0).any()) or bool((mult != mult.round()).any()):
            raise ValueError("multiplicities must be positive integers, got "
                             f"{mult[(mult <= 0) | (mult != mult.round())][:3].tolist()}")
    power = None
    if target_power is not None:
        power = as_tensor(target_power, "target_power", dtype=torch.float64, ndim=1,
                          device=lam.device)
        if power.shape != lam.shape:
            raise ValueError(f"target_power must have one entry per eigenvalue "
                             f"({lam.shape[0]}), got shape {tuple(power.shape)}")
        if bool((power < 0).any()):
            raise ValueError(f"target_power must be ≥ 0 (sums of squares), got minimum "
                             f"{float(power.min()):.6g}")
    return lam, mult, power


def _sample_sizes(n: Any, device: torch.device) -> torch.Tensor:
    t = as_tensor(n, "n", dtype=torch.float64, ndim=(0, 1), device=device)
    if t.numel() == 0:
        raise ValueError("n is empty; give at least one sample size")
    if bool((t <= 0).any()):
        raise ValueError(f"n must be > 0, got {float(t.min()):g}")
    return t


def solve_kappa(eigenvalues: Any, n: Any, *, multiplicities: Any = None,
                ridge: float = 0.0, tol: float = 1e-13, max_iter: int = 200) -> torch.Tensor:
    """κ > 0 solving ``Σᵢ mᵢλᵢ/(λᵢ+κ) + δ/κ = n`` for every n at once (Simon et al. 2023,
    arXiv 2110.03922, eq. 3).

    Safeguarded Newton in u = log κ on ``log N(e^u) = log n``: the left side decreases
    monotonically in u, so a bracket [lo, hi] with N(lo) ≥ n ≥ N(hi) is kept and a Newton step
    that leaves it is replaced by bisection. The bracket starts at hi = (Σmλ + δ)/n (there
    N ≤ n because λ/(λ+κ) ≤ λ/κ) and lo found by stepping down by 1e4.

    Arguments:
        eigenvalues: (L,) λ ≥ 0; multiplicities: (L,) positive integers (default 1).
        n: a sample size or a (B,) array of them, > 0.
        ridge: δ ≥ 0.
        tol: stop when every Newton step changes log κ by less than this.

    Returns:
        κ, float64, shaped like n.

    Raises:
        ValueError: δ = 0 and n ≥ the number of modes with λ > 0 (no κ > 0 exists: ridgeless
        regression then interpolates every mode).
    """
    lam, mult, _ = _levels(eigenvalues, multiplicities, None)
    ridge = _nonneg_float(ridge, "ridge")
    n_t = _sample_sizes(n, lam.device)
    return _solve(SpectrumSums(lam, mult), n_t, ridge, tol, max_iter)


def _solve(sums: SpectrumSums, n_t: torch.Tensor, ridge: float, tol: float = 1e-13,
           max_iter: int = 200) -> torch.Tensor:
    nv = n_t.reshape(-1)
    n_modes = float(sums.mult.sum())
    if ridge == 0.0 and float(nv.max()) >= n_modes:
        raise ValueError(
            f"ridgeless regression (ridge=0) has no κ > 0 when n ≥ the number of modes "
            f"({n_modes:g} with λ > 0); got n = {float(nv.max()):g}. Use ridge > 0, more modes "
            "(a larger max_degree or top_k), or n < the number of modes")
    trace = float((sums.lam * sums.mult).sum())
    log_n = nv.log()

    def residual(u: torch.Tensor, log_n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kap = u.exp()
        s1, s2 = sums.s1_s2(kap)
        N = s1 + ridge / kap
        return N.log() - log_n, -(s2 + ridge / kap) / N

    hi = torch.log((trace + ridge) / nv)
    lo = hi - math.log(1e4)
    for _ in range(max_iter):
        h, _ = residual(lo, log_n)
        low = h < 0
        if not bool(low.any()):
            break
        lo = torch.where(low, lo - math.log(1e4), lo)
    else:
        raise ValueError("could not bracket κ: the spectrum spans more than "
                         f"{4 * max_iter} decades")
    u = hi.clone()
    active = torch.ones_like(u, dtype=torch.bool)
    for _ in range(max_iter):
        idx = active.nonzero().squeeze(1)
        ua = u[idx]
        h, dh = residual(ua, log_n[idx])
        # N(e^u) > n means κ is still too small: the root lies above u.
        lo[idx] = torch.where(h > 0, ua, lo[idx])
        hi[idx] = torch.where(h <= 0, ua, hi[idx])
        new = ua - h / dh
        outside = ~((new >= lo[idx]) & (new <= hi[idx])) | ~torch.isfinite(new)
        new = torch.where(outside, (lo[idx] + hi[idx]) / 2, new)
        new = torch.where(h == 0, ua, new)
        u[idx] = new
        done = ((new - ua).abs() < tol) | (h == 0) | ((hi[idx] - lo[idx]) < tol)
        active[idx[done]] = False
        if not bool(active.any()):
            break
    return u.exp().reshape(n_t.shape)


def _resolve(eigenvalues: Any, target_power: Any, multiplicities: Any, tail_trace: Any,
             tail_power: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float, float]:
    if isinstance(eigenvalues, Spectrum):
        spec = eigenvalues
        if multiplicities is not None:
            raise ValueError("multiplicities come from the Spectrum; do not pass them too")
        lam_in, multiplicities = spec.eigenvalues, spec.multiplicities
        if target_power is None:
            if spec.target_power is None:
                raise ValueError("target_power is required: the Spectrum has no target; pass "
                                 "target_power=(power per level) or use spectrum.with_target")
            target_power = spec.target_power
            tail_power = spec.tail_power if tail_power is None else tail_power
        tail_trace = spec.tail_trace if tail_trace is None else tail_trace
    else:
        lam_in = eigenvalues
        if target_power is None:
            raise ValueError("target_power is required: the power of the target per level")
    lam, mult, power = _levels(lam_in, multiplicities, target_power)
    return (lam, mult, power, _nonneg_float(tail_trace or 0.0, "tail_trace"),
            _nonneg_float(tail_power or 0.0, "tail_power"))


def predict(eigenvalues: Any, n: Any, *, target_power: Any = None, multiplicities: Any = None,
            ridge: float = 0.0, noise_var: float = 0.0, tail_trace: float | None = None,
            tail_power: float | None = None, tail_as_ridge: bool = True,
            **unexpected: Any) -> Prediction:
    """Predicted test and train MSE of kernel ridge regression with n samples (Simon et al. 2023).

    With eigenvalues λᵢ (multiplicity mᵢ), target power pᵢ per level and label noise ε²:
    κ solves ``Σ mᵢλᵢ/(λᵢ+κ) + δ/κ = n``; ``Lᵢ = λᵢ/(λᵢ+κ)``; ``E₀ = n/(n − Σ mᵢLᵢ²)``;
    ``E = E₀·(Σ (1−Lᵢ)² pᵢ + ε²)``; train MSE ``(δ/(nκ))²·E`` (Simon et al. 2023, arXiv
    2110.03922, eqs. 3–7).

    Arguments:
        eigenvalues: (L,) eigenvalues per level (≥ 0), or a :class:`Spectrum` (its
            multiplicities, target power and tails are used unless given here).
        n: a sample size or a (B,) array of sample sizes (> 0); results are vectorized.
        target_power: (L,) sum of squared target coefficients in each level.
        multiplicities: (L,) modes per level (default 1).
        ridge: explicit ridge δ ≥ 0: kernel regression solves
            (K + δ·I)α = y with K the n×n kernel matrix (as in :func:`measure`).
        noise_var: label-noise variance ε² ≥ 0 (a variance: noise of standard deviation σ
            is ``noise_var=σ**2``).
        tail_trace: kernel trace beyond the levels; with ``tail_as_ridge`` it is added to the
            ridge, because modes with λ ≪ κ act exactly like ridge (omitting it shifts
            predictions by 10–20% at n ~ 10³).
        tail_power: target power beyond the levels (learnability ≈ 0 there).
        tail_as_ridge: add ``tail_trace`` to the ridge.

    Returns:
        :class:`Prediction`; shapes follow n.

    Raises:
        ValueError: negative eigenvalues beyond rounding (naming the most negative), mismatched
        lengths, n ≤ 0, ridge < 0, noise_var < 0, NaN or Inf anywhere, or ridgeless with n ≥ the
        number of modes.
    """
    lam, mult, power, tail_trace, tail_power = _resolve(eigenvalues, target_power,
                                                        multiplicities, tail_trace, tail_power)
    ridge = _nonneg_float(ridge, "ridge")
    reject_unexpected(unexpected, "predict")
    noise_var = _nonneg_float(noise_var, "noise_var")
    delta = ridge + (tail_trace if tail_as_ridge else 0.0)
    n_t = _sample_sizes(n, lam.device)
    sums = SpectrumSums(lam, mult, power)
    kappa = _solve(sums, n_t, delta)
    nv, kv = n_t.reshape(-1), kappa.reshape(-1)
    sq, miss = sums.sq(kv), sums.miss(kv)
    e0 = nv / (nv - sq)
    bias = miss + tail_power
    test = e0 * (bias + noise_var)
    train = (ridge / (nv * kv)) ** 2 * test
    shape = n_t.shape
    return Prediction(
        n=n_t, kappa=kappa, overfitting_coefficient=e0.reshape(shape),
        test_mse=test.reshape(shape), train_mse=train.reshape(shape), bias=bias.reshape(shape),
        variance=((e0 - 1) * (bias + noise_var)).reshape(shape), ridge=ridge,
        effective_ridge=delta, noise_var=noise_var, eigenvalues=lam, multiplicities=mult)


def learning_curve(spectrum: Any, ns: Any, **kwargs: Any) -> Prediction:
    """:func:`predict` at the sample sizes ``ns`` (a 1-D sequence): a whole learning curve.

    Arguments:
        spectrum: a :class:`Spectrum` or (L,) eigenvalues (then pass ``target_power=``).
        ns: (B,) sample sizes.
        **kwargs: as for :func:`predict`.
    """
    ns_t = as_tensor(ns, "ns", dtype=torch.float64, ndim=1)
    return predict(spectrum, ns_t, **kwargs)


def learnability(spectrum: Any, n: Any, target_power: Any = None, *,
                 multiplicities: Any = None, ridge: float = 0.0,
                 tail_as_ridge: bool = True) -> torch.Tensor:
    """Predicted learnability of a target: ``L(f) = Σ Lᵢ pᵢ / Σ pᵢ`` (Simon et al. 2023,
    arXiv 2110.03922).

    It is the fraction of the target's power the learned function recovers on average
    (1 = learned, 0 = not at all); noise does not enter.

    Arguments:
        spectrum: a :class:`Spectrum` or (L,) eigenvalues.
        n: sample size(s), > 0.
        target_power: (L,) target power per level (default the Spectrum's target).
        multiplicities, ridge, tail_as_ridge: as for :func:`predict`.

    Returns:
        float64 tensor shaped like n.
    """
    lam, mult, power, tail_trace, tail_power = _resolve(spectrum, target_power,
                                                        multiplicities, None, None)
    total = float(power.sum()) + tail_power
    if total <= 0:
        raise ValueError("target_power is all zero: the learnability of the zero function is "
                         "undefined")
    delta = _nonneg_float(ridge, "ridge") + (tail_trace if tail_as_ridge else 0.0)
    kappa = solve_kappa(lam, n, multiplicities=mult, ridge=delta)
    L = lam / (lam + kappa.unsqueeze(-1))
    return (L * power).sum(-1) / total
