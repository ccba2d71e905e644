"""Dot-product kernels as power series in the cosine: the shallow network's kernel, and the
non-negative power series closest to a target kernel.

A one-hidden-layer network whose activation has normalized Hermite coefficients aₖ has, on
inputs of equal norm with cosine c, NNGP(c) = Σ aₖ²cᵏ and NTK(c) = Σ (k+1)aₖ²cᵏ (Simon, Anand &
DeWeese 2022, arXiv 2106.03186, Thm 3.1). Conversely a kernel K(c) = Σ bₖcᵏ is
realizable exactly when every bₖ ≥ 0, which is what :func:`power_series` fits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from occamlab._check import check_int
from occamlab._cosine import as_cosine_function, check_kind, evaluate_cosine
from occamlab._result import Result
from occamlab._torch import as_tensor
from occamlab.design._hermite import check_degree

__all__ = [
    "KernelSeries",
    "PowerSeriesFit",
    "UnrealizableKernelError",
    "shallow_kernel",
    "power_series",
    "as_cosine_kernel",
]

def _horner(b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    # In place and in cache-sized blocks: a whole-matrix pass per power would make a long series
    # on a large kernel matrix memory-bound (several times slower at 100 terms on 2000 × 2000).
    coefs = b.tolist()
    out = torch.full_like(c, coefs[-1]).contiguous()
    flat_c, flat_out = c.contiguous().reshape(-1), out.view(-1)
    block = 1 << 15
    for i in range(0, flat_c.numel(), block):
        ci, oi = flat_c[i:i + block], flat_out[i:i + block]
        for bk in reversed(coefs[:-1]):
            oi.mul_(ci).add_(bk)
    return out


def _cosines(c: Any) -> torch.Tensor:
    c = as_tensor(c, "c")
    if not c.is_floating_point():
        c = c.to(torch.float64)
    return c


@dataclass(frozen=True, repr=False)
class KernelSeries(Result):
    """A dot-product kernel K(c) = Σₖ bₖ cᵏ, callable on cosines.

    Attributes:
        coefficients: bₖ, float64 tensor of shape (degree + 1,).
        kind: ``"ntk"`` or ``"nngp"`` (what the coefficients describe).
    """

    coefficients: torch.Tensor
    kind: str = "ntk"

    def __call__(self, c: Any) -> torch.Tensor:
        """K at cosines ``c`` (any shape), on ``c``'s device and in its floating dtype."""
        c = _cosines(c)
        return _horner(self.coefficients.to(c.device), c)

    @property
    def degree(self) -> int:
        return int(self.coefficients.shape[0]) - 1


def shallow_kernel(coefficients: Any, kind: str = "ntk") -> KernelSeries:
    """The kernel of a one-hidden-layer network with activation φ = Σ aₖ hₖ, as a function of c.

    NNGP(c) = Σ aₖ² cᵏ and NTK(c) = Σ (k+1) aₖ² cᵏ (arXiv 2106.03186, Thm 3.1). Conventions:
    NTK parameterization, first layer w_std² = q (the variance the coefficients were taken at),
    b_std = 0, readout w_std = 1, b_std = 0, inputs of norm √d so that c = x·x'/d is the cosine —
    the same network as ``kernels.serial(Dense(w_std=√q), Elementwise(φ), Dense(w_std=1))``.

    Arguments:
        coefficients: normalized Hermite coefficients aₖ, shape (degree + 1,).
        kind: ``"ntk"`` or ``"nngp"``.

    Returns:
        A :class:`KernelSeries`, callable on cosines.
    """
    kind = check_kind(kind)
    a = as_tensor(coefficients, "coefficients", dtype=torch.float64, ndim=1)
    if a.shape[0] == 0:
        raise ValueError("coefficients must hold at least one entry (a₀)")
    k = torch.arange(a.shape[0], dtype=torch.float64, device=a.device)
    b = a**2 * (k + 1) if kind == "ntk" else a**2
    return KernelSeries(b.detach().cpu(), kind)


class UnrealizableKernelError(ValueError):
    """No non-negative power series of the requested degree matches the target.

    ``.fit`` holds the closest realizable fit (a :class:`PowerSeriesFit`).
    """

    def __init__(self, message: str, fit: PowerSeriesFit):
        super().__init__(message)
        self.fit = fit


@dataclass(frozen=True, repr=False)
class PowerSeriesFit(Result):
    """The non-negative power series closest (least squares on a grid of [−1, 1]) to a target.

    Attributes:
        coefficients: bₖ ≥ 0, float64 tensor of shape (degree + 1,).
        kind: what the target kernel is (``"ntk"``/``"nngp"``), used by ``activation_for``.
        max_error: max |fit − target| over the grid.
        rms_error: root-mean-square of fit − target over the grid.
        relative_error: max_error / max |target| (for a valid kernel max |K| = K(1)).
        scale: max |target| over the grid.
        unconstrained: the ordinary least-squares coefficients of the same degree (signs free).
        unconstrained_error: their max error over the grid.
        c: the grid, shape (n_points,); target, fitted: values there.
    """

    coefficients: torch.Tensor
    kind: str
    max_error: float
    rms_error: float
    relative_error: float
    scale: float
    unconstrained: torch.Tensor
    unconstrained_error: float
    c: torch.Tensor
    target: torch.Tensor
    fitted: torch.Tensor

    def __call__(self, c: Any) -> torch.Tensor:
        """The fitted series at cosines ``c``."""
        return KernelSeries(self.coefficients, self.kind)(c)

    @property
    def degree(self) -> int:
        return int(self.coefficients.shape[0]) - 1

    @property
    def negative_terms(self) -> dict[int, float]:
        """Powers whose unconstrained coefficient is clearly negative (beyond 1e-3·scale)."""
        u = self.unconstrained
        return {k: float(u[k]) for k in range(u.shape[0]) if u[k] < -1e-3 * self.scale}

    def diagnosis(self) -> str:
        """Why the fit misses the target: negative coefficients or too low a degree."""
        neg = self.negative_terms
        # Negativity is the cause when letting signs free fits clearly better than the NNLS fit.
        if neg and self.unconstrained_error < 0.5 * self.max_error:
            terms = ", ".join(f"c^{k}: {v:.3g}" for k, v in list(neg.items())[:4])
            return (
                f"the target's power series has negative coefficients ({terms}), which no "
                "shallow network can realize (every coefficient is a squared Hermite "
                f"coefficient); the closest realizable series {self._series()} misses it by "
                f"{self.max_error:.3g} ({100 * self.relative_error:.3g}% of max|K|)"
            )
        return (
            f"a non-negative series of degree {self.degree} fits the target only to "
            f"{self.max_error:.3g} ({100 * self.relative_error:.3g}% of max|K|); raise degree "
            f"(closest fit: {self._series()})"
        )

    def _series(self) -> str:
        terms = [f"{float(b):.4g}·c^{k}" for k, b in enumerate(self.coefficients) if b > 0]
        return " + ".join(terms) if terms else "0"

    def plot(self, ax: Any = None) -> Any:
        """Target and fitted kernel against the cosine."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        c = self.c.numpy()
        ax.plot(c, self.target.numpy(), "k--", lw=2, label="target")
        ax.plot(c, self.fitted.numpy(), "C3", label=f"degree-{self.degree} fit")
        ax.set_xlabel("cosine c")
        ax.set_ylabel(f"{self.kind.upper()}(c)")
        ax.set_title(f"max error {100 * self.relative_error:.2g}% of max|K|")
        ax.legend()
        return ax


def as_cosine_kernel(target: Any, kind: str = "ntk", d: int = 16
                     ) -> Callable[[torch.Tensor], torch.Tensor]:
    """A target kernel as a callable of the cosine: a callable of c, or an ``occamlab.kernels``
    architecture whose ``kind`` kernel is taken on inputs of norm √d (dense networks do not
    depend on d)."""
    return as_cosine_function(target, d, kind, name="target")


def _minimax_nonnegative(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    # min t subject to |A·b − y| ≤ t, b ≥ 0: a linear program (HiGHS), variables (b, t).
    from scipy.optimize import linprog

    n, m = A.shape
    ones = np.ones((n, 1))
    res = linprog(np.r_[np.zeros(m), 1.0],
                  A_ub=np.block([[A, -ones], [-A, -ones]]), b_ub=np.r_[y, -y],
                  bounds=[(0, None)] * (m + 1), method="highs")
    if res.status != 0:
        raise ValueError(f"the minimax fit failed: {res.message}")
    return np.maximum(res.x[:m], 0.0)


def power_series(target: Any, degree: int, *, kind: str = "ntk", norm: str = "l2",
                 n_points: int = 801, d: int = 16) -> PowerSeriesFit:
    """Fit K(c) ≈ Σₖ bₖcᵏ with every bₖ ≥ 0 on [−1, 1] (non-negative least squares by default).

    A non-negative series is exactly what a shallow network can realize (arXiv 2106.03186,
    §3–4, where deep ReLU/erf NTKs are fitted at degree 5). The fit error is reported; nothing is
    raised when it is large (see :func:`activation_for`, which does).

    Arguments:
        target: a callable of the cosine (float64 tensor (n,) → (n,)) or an ``occamlab.kernels``
            architecture.
        degree: highest power (≥ 0).
        kind: the architecture's kernel to fit (``"ntk"``/``"nngp"``); recorded for callables.
        norm: ``"l2"``: non-negative least squares (scipy ``nnls``), as in the paper;
            ``"max"``: the non-negative series with the smallest maximum error on the grid (a
            linear program), the best possible for an "everywhere within x%" requirement.
        n_points: grid points, evenly spaced on [−1, 1] including both ends.
        d: input dimension for an architecture target.

    Returns:
        A :class:`PowerSeriesFit`.
    """
    from scipy.optimize import nnls

    degree = check_degree(degree)
    if norm not in ("l2", "max"):
        raise ValueError(f"norm must be 'l2' (non-negative least squares) or 'max' (minimax), "
                         f"got {norm!r}")
    n_points = check_int(n_points, "n_points", ge=degree + 2)
    fn = as_cosine_kernel(target, kind, d)
    c = torch.linspace(-1.0, 1.0, n_points, dtype=torch.float64)
    y = evaluate_cosine(fn, c, "target kernel")
    A = c[:, None] ** torch.arange(degree + 1, dtype=torch.float64)
    if norm == "l2":
        b, _ = nnls(A.numpy(), y.numpy(), maxiter=50 * (degree + 1))
    else:
        b = _minimax_nonnegative(A.numpy(), y.numpy())
    b = torch.from_numpy(b)
    # Rounding leaves ~1e-16 crumbs on powers the target lacks; they would become spurious
    # ~1e-8 Hermite coefficients (square roots), so they are cleared.
    b = torch.where(b > 1e-13 * float(y.abs().max()), b, torch.zeros_like(b))
    fitted = A @ b
    u = torch.linalg.lstsq(A, y[:, None]).solution[:, 0]
    max_err = float((fitted - y).abs().max())
    scale = float(y.abs().max())
    return PowerSeriesFit(
        coefficients=b,
        kind=kind,
        max_error=max_err,
        rms_error=float((fitted - y).pow(2).mean().sqrt()),
        relative_error=max_err / scale if scale > 0 else (0.0 if max_err == 0 else math.inf),
        scale=scale,
        unconstrained=u,
        unconstrained_error=float((A @ u - y).abs().max()),
        c=c,
        target=y,
        fitted=fitted,
    )
