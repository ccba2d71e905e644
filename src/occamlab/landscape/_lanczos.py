"""Extreme eigenvalues of a symmetric operator by the Lanczos method with full reorthogonalization.

From a unit vector q₁ the Lanczos recurrence (Lanczos 1950; Golub & Van Loan, Matrix Computations,
4th ed., Algorithm 10.1.1) builds an orthonormal basis Q_m = [q₁ … q_m] of the Krylov space
span{q₁, Aq₁, …, A^{m−1}q₁} with

    A Q_m = Q_m T_m + β_m q_{m+1} e_mᵀ,   T_m = tridiag(β, α, β),

one product A·q per step. The eigenpairs (θ_i, s_i) of T_m give Ritz pairs (θ_i, Q_m s_i) whose
residual is exactly ‖A Q_m s_i − θ_i Q_m s_i‖ = β_m |s_i[m]| (Golub & Van Loan eq. 10.1.9),
so the convergence test needs only the small eigenproblem of T_m, no P-sized work.
Each new q is orthogonalized against every earlier one, a second time when the first pass lost
more than 1 − 1/√2 of its norm (Daniel, Gragg, Kaufman & Stewart 1976; "twice is enough",
Parlett), so the basis stays orthogonal to rounding and no spurious copies of converged
eigenvalues appear.
When β_j vanishes the Krylov space is invariant; the iteration continues from a fresh random
vector orthogonal to it (a zero in T's off-diagonal), so low-rank operators are handled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal

from occamlab._check import check_choice, check_int, check_real
from occamlab._result import Result
from occamlab._torch import make_generator
from occamlab.landscape._operators import as_operator

__all__ = ["lanczos", "eigenvalues", "Eigen"]

WHICH = ("largest", "smallest", "magnitude")


def lanczos(matvec: Callable[[torch.Tensor], torch.Tensor], q1: torch.Tensor, steps: int, *,
            generator: torch.Generator | None = None,
            until: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], bool] | None = None,
            restart: bool = True
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run up to ``steps`` Lanczos steps from ``q1`` (P,).

    Arguments:
        matvec: v (P,) ↦ A v.
        q1: start vector (normalized here).
        until: optional ``until(alpha, beta, Q)`` checked after each step; True stops.
        restart: continue from a random orthogonal vector when the Krylov space is invariant
            (False: stop there, as stochastic Lanczos quadrature requires).

    Returns:
        ``(alpha (m,), beta (m,), Q (m, P))``: T_m has diagonal α and off-diagonal β[:m−1];
        β[m−1] = β_m is the residual coupling to the next vector. α and β are float64 on the
        CPU (T_m is small); Q has q1's dtype and device.
    """
    p = q1.numel()
    n = min(steps, p)
    basis = torch.empty(n, p, dtype=q1.dtype, device=q1.device)  # preallocated: no copies
    alpha = torch.zeros(n, dtype=torch.float64)
    beta = torch.zeros(n, dtype=torch.float64)
    basis[0] = q1 / q1.norm()
    scale, b = 0.0, 0.0
    for m in range(n):
        q, qs = basis[m], basis[:m + 1]
        z = matvec(q)  # a fresh tensor: updated in place below
        a = float(torch.dot(q, z))
        if m:  # the three-term recurrence z −= α q_m + β q_{m−1}, one pass ...
            z.addmv_(basis[m - 1:m + 1].T, z.new_tensor([-b, -a]))
        else:
            z.sub_(q, alpha=a)
        before = float(z.norm())
        c = qs @ z  # ... then full reorthogonalization: classical Gram–Schmidt, two passes
        z.addmv_(qs.T, c, alpha=-1)  # over the preallocated basis (c is rounding-sized) ...
        b = max(before ** 2 - float(c @ c), 0.0) ** 0.5  # ‖z‖ by Pythagoras
        if b < 0.7071 * before:  # ... repeated if it cancelled (DGKS test)
            z.addmv_(qs.T, qs @ z, alpha=-1)
            b = float(z.norm())
        scale = max(scale, abs(a) + (float(beta[m - 1]) if m else 0.0))
        alpha[m] = a
        if m + 1 < n and b <= 1e-10 * max(scale, 1e-300):  # invariant Krylov space
            b = 0.0
            if not restart:
                return alpha[:m + 1], beta[:m + 1], basis[:m + 1]
            z = torch.randn(p, generator=generator, dtype=q1.dtype, device="cpu").to(q1.device)
            for _ in range(2):
                z.addmv_(qs.T, qs @ z, alpha=-1)
        beta[m] = b
        if m + 1 < n:
            torch.div(z, z.norm() if b == 0.0 else b, out=basis[m + 1])
        if until is not None and until(alpha[:m + 1], beta[:m + 1], basis[:m + 1]):
            return alpha[:m + 1], beta[:m + 1], basis[:m + 1]
    return alpha, beta, basis


def tridiagonal(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """T_m (m, m) from α (m,) and the off-diagonal β[:m−1]."""
    off = beta[:alpha.numel() - 1]
    return torch.diag(alpha) + torch.diag(off, 1) + torch.diag(off, -1)


def _pick(theta: torch.Tensor, k: int, which: str) -> torch.Tensor:
    if which == "largest":
        return torch.argsort(theta, descending=True)[:k]
    if which == "smallest":
        return torch.argsort(theta)[:k]
    return torch.argsort(theta.abs(), descending=True)[:k]


@dataclass(frozen=True, repr=False)
class Eigen(Result):
    """Eigenvalues of a symmetric operator from Lanczos.

    Fields:
        values: (k,) — ``largest``: descending; ``smallest``: ascending; ``magnitude``:
            descending |λ|.
        vectors: (P, k) unit eigenvectors (columns), in the same order.
        residuals: (k,) ‖A v − λ v‖ of each pair.
        matvecs: operator products used (one per Lanczos step).
        which: the part of the spectrum asked for.
        converged: every value's error bound ≤ tol · max|θ| (see :func:`eigenvalues`).
    """

    values: torch.Tensor
    vectors: torch.Tensor
    residuals: torch.Tensor
    matvecs: int
    which: str
    converged: bool


def eigenvalues(operator, k: int = 5, which: str = "largest", *, tol: float = 1e-6,
                max_iter: int | None = None, seed: int | None = 0,
                generator: torch.Generator | None = None) -> Eigen:
    """The k extreme eigenvalues of a symmetric operator (Lanczos, full reorthogonalization).

    ``which="largest"`` and ``"smallest"`` are algebraic (the most positive and the most negative
    curvature); ``"magnitude"`` is largest |λ|, what PyHessian's ``eigenvalues`` returns.

    Arguments:
        operator: a :func:`hessian`/:func:`ggn` operator, a square symmetric tensor, or anything
            with ``@`` and ``shape`` (P, P).
        k: how many, 1 ≤ k < P.
        which: ``"largest"``, ``"smallest"`` or ``"magnitude"``.
        tol: the accuracy of the eigenvalues relative to ‖A‖: the iteration stops, checked after
            every product, when each wanted Ritz value θ_i has an error bound
            e_i ≤ tol · max|θ| (the spectral-norm estimate). With the residual
            r_i = ‖Av_i − θ_i v_i‖ = β_m|s_i[m]| and δ_i the distance from θ_i to the nearest
            other Ritz value, e_i = r_i²/δ_i when δ_i > r_i and r_i otherwise: an eigenvalue
            lies within r_i of θ_i, and within r_i²/gap when the gap to the rest of the spectrum
            exceeds r_i (Bai, Demmel, Dongarra, Ruhe & van der Vorst 2000, Templates for the
            Solution of Algebraic Eigenvalue Problems, §4.8, eqs. 4.54–4.55; δ_i estimates the
            gap). The vectors are then accurate to an angle of about r_i/δ_i: their residuals
            can exceed tol·‖A‖ (they are returned). As in any Krylov method, an eigenvalue
            whose eigenvector is nearly orthogonal to the start vector can be found late; in a
            tight cluster a Ritz value may then stand in for a neighbour within the cluster.
            PyHessian's ``tol`` is instead the relative change of the Rayleigh quotient between
            two power iterations, and SciPy's ``eigsh`` (ARPACK) stops at r_i ≤ tol·|θ_i|.
        max_iter: most Lanczos steps (products); default min(P, max(20k, 200)).
        seed, generator: the random start vector (explicit; no global randomness).

    Returns:
        :class:`Eigen` with ``values``, ``vectors``, ``residuals``, ``matvecs``, ``converged``.
    """
    op = as_operator(operator)
    p = op.shape[0]
    k = check_int(k, "k", ge=1)
    if k >= p:
        raise ValueError(f"k must be < P = {p} (the operator's size), got {k}; for all "
                         f"eigenvalues use torch.linalg.eigvalsh(operator.dense())")
    which = check_choice(which, "which", WHICH)
    tol = check_real(tol, "tol", gt=0)
    max_iter = min(p, max(20 * k, 200)) if max_iter is None else check_int(
        max_iter, "max_iter", ge=k + 1)
    gen = make_generator(seed, generator)
    q1 = torch.randn(p, generator=gen, dtype=op.dtype).to(op.device)
    state: dict = {}

    def ritz(alpha: torch.Tensor, beta: torch.Tensor) -> bool:
        """The wanted Ritz pairs of T_m, their residuals, and whether every bound ≤ tol.

        (NumPy/LAPACK on the small tridiagonal: a few microseconds per operation.)
        """
        theta, s = eigh_tridiagonal(alpha.numpy(), beta.numpy()[:-1])  # θ ascending
        idx = _pick(torch.from_numpy(theta), k, which).numpy()
        res = float(beta[-1]) * np.abs(s[-1, idx])
        dist = np.abs(theta[idx, None] - theta[None, :])
        dist[np.arange(idx.size), idx] = np.inf  # δ_i: the nearest *other* Ritz value
        gap = dist.min(1)
        bound = np.where(gap > res, res ** 2 / gap, res)
        worst = float((bound / (tol * max(-theta[0], theta[-1], 1e-300))).max())
        state.update(m=alpha.numel(), theta=theta, s=s, idx=idx, res=res, done=worst <= 1)
        # Far from tol the next check can wait (every 4th step while the worst bound is 30×
        # above tol, every 2nd while 5× above): the bounds fall geometrically, here by well
        # under 2× a step, so this rarely costs a product and skips most small eigenproblems.
        state["next"] = alpha.numel() + (4 if worst > 30 else 2 if worst > 5 else 1)
        return worst <= 1

    def until(alpha: torch.Tensor, beta: torch.Tensor, basis: torch.Tensor) -> bool:
        # Ritz values are trusted once the Krylov block since the last restart (a zero β) has
        # more than k vectors and is not invariant: an invariant block leaves the rest of the
        # space unexplored (its Ritz pairs are exact, their residuals zero).
        if alpha.numel() < state.get("next", k + 1):
            return False
        restarts = (beta == 0).nonzero()
        if restarts.numel() and alpha.numel() - int(restarts[-1]) - 1 <= k:
            return False
        return ritz(alpha, beta)

    alpha, beta, basis = lanczos(lambda v: op @ v, q1, max_iter, generator=gen, until=until)
    if state.get("m") != alpha.numel():
        ritz(alpha, beta)
    theta, s, idx, res = state["theta"], state["s"], state["idx"], state["res"]
    vals = torch.from_numpy(theta[idx]).to(device=op.device, dtype=op.dtype)
    vecs = basis.T @ torch.from_numpy(s[:, idx]).to(device=op.device, dtype=op.dtype)
    return Eigen(vals, vecs, torch.from_numpy(res).to(op.device, op.dtype), int(alpha.numel()),
                 which, state["done"])
