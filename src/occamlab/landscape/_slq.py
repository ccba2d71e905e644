"""The spectral density of a symmetric operator by stochastic Lanczos quadrature (SLQ).

For a unit start vector v, m Lanczos steps give T_m with eigenpairs (θₖ, uₖ); the Gauss quadrature
rule with nodes θₖ and weights τₖ = uₖ[0]² is exact for polynomials of degree ≤ 2m − 1:

    Σₖ τₖ θₖᵖ = vᵀ Aᵖ v,   p ≤ 2m − 1,   Σₖ τₖ = 1

(Golub & Meurant 2010; Lin, Saad & Yang 2016, SIAM Review 58, eq. 3.11). For a random v with
E[P·v vᵀ] = I, vᵀ f(A) v is an unbiased estimate of (1/P) tr f(A), so averaging the smoothed rules
over runs estimates the spectral density (Ghorbani, Krishnan & Xiao 2019, ICML, eq. 4):

    φ(t) ≈ (1/runs) Σ_r Σₖ τ_rk g_σ(t − θ_rk),   g_σ the normal density of width σ.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from occamlab._check import check_int, check_real
from occamlab._result import Result
from occamlab._torch import make_generator
from occamlab.landscape._hutchpp import rademacher
from occamlab.landscape._lanczos import lanczos, tridiagonal
from occamlab.landscape._operators import as_operator

__all__ = ["density", "Density"]


@dataclass(frozen=True, repr=False)
class Density(Result):
    """A spectral density from stochastic Lanczos quadrature.

    Fields:
        grid: (G,) points t.
        density: (G,) φ(t), integrating to 1 over the grid (it spans ±8σ beyond the nodes).
        nodes: (runs, steps) Ritz values θ_rk (a run stopped early by an invariant Krylov
            space is padded with its last node at weight 0).
        weights: (runs, steps) τ_rk, each row summing to 1.
        start_vectors: (runs, P) the unit start vectors.
        sigma: the Gaussian width σ.
        matvecs: operator products used (runs × steps at most).
    """

    grid: torch.Tensor
    density: torch.Tensor
    nodes: torch.Tensor
    weights: torch.Tensor
    start_vectors: torch.Tensor
    sigma: float
    matvecs: int

    def plot(self, ax=None, *, log: bool = True, **kwargs):
        """φ(t) against t (log scale by default, as eigenvalue densities are spiky)."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(5, 3.5))[1]
        y = self.density.detach().cpu().numpy()
        ax.plot(self.grid.detach().cpu().numpy(), y, **kwargs)
        if log:
            ax.set_yscale("log")
            ax.set_ylim(max(y.max() * 1e-8, 1e-300), y.max() * 3)
        ax.set_xlabel("eigenvalue")
        ax.set_ylabel("density")
        return ax


def density(operator, steps: int = 80, runs: int = 8, *, sigma: float | None = None,
            grid_points: int = 1000, seed: int | None = 0,
            generator: torch.Generator | None = None) -> Density:
    """The eigenvalue density of a symmetric operator (see the module docstring for the math).

    Arguments:
        operator: a :func:`hessian`/:func:`ggn` operator, a square tensor, or anything with
            ``@`` and ``shape``.
        steps: Lanczos steps per run (1 ≤ steps ≤ P); the rule is exact for degree 2·steps − 1.
        runs: independent Rademacher start vectors.
        sigma: Gaussian width (default 1% of the nodes' span).
        grid_points: points of the grid.
        seed, generator: the start vectors.

    Returns:
        :class:`Density` with ``grid``, ``density``, ``nodes``, ``weights``; ``.plot()``.
    """
    op = as_operator(operator)
    p = op.shape[0]
    steps = check_int(steps, "steps", ge=1, le=p)
    runs = check_int(runs, "runs", ge=1)
    grid_points = check_int(grid_points, "grid_points", ge=2)
    gen = make_generator(seed, generator)
    starts = rademacher((runs, p), gen, op.dtype, op.device) / p ** 0.5
    nodes = torch.zeros(runs, steps, dtype=torch.float64)
    weights = torch.zeros(runs, steps, dtype=torch.float64)
    matvecs = 0
    for r in range(runs):
        alpha, beta, _ = lanczos(lambda v: op @ v, starts[r], steps, restart=False)
        m = alpha.numel()
        matvecs += m
        theta, u = torch.linalg.eigh(tridiagonal(alpha, beta).cpu().double())
        nodes[r, :m], weights[r, :m] = theta, u[0] ** 2
        nodes[r, m:] = theta[-1]
    lo, hi = float(nodes.min()), float(nodes.max())
    if sigma is None:
        sigma = 0.01 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 1e-3
    sigma = check_real(sigma, "sigma", gt=0)
    grid = torch.linspace(lo - 8 * sigma, hi + 8 * sigma, grid_points, dtype=torch.float64)
    z = (grid[:, None, None] - nodes[None]) / sigma
    dens = (weights[None] * torch.exp(-0.5 * z ** 2)).sum((1, 2)) / (
        runs * sigma * (2 * torch.pi) ** 0.5)
    return Density(grid.to(op.device), dens.to(op.device), nodes.to(op.device),
                   weights.to(op.device), starts, float(sigma), matvecs)
