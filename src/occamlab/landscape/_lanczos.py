"""Extreme eigenvalues of a symmetric operator by the Lanczos method with full reorthogonalization.

From a unit vector q₁ the Lanczos recurrence (Lanczos 1950; Golub & Van Loan, Matrix Computations,
4th ed., Algorithm 10.1.1) builds an orthonormal basis Q_m = [q₁ … q_m] of the Krylov space
span{q₁, Aq₁, …, A^{m−1}q₁} with

    A Q_m = Q_m T_m + β_m q_{m+1} e_mᵀ,   T_m = tridiag(β, α, β),

one product A·q per step. The eigenpairs (θ_i, s_i) of T_m give Ritz pairs (θ_i, Q_m s_i) whose
residual is exactly ‖A Q_m s_i − θ_i Q_m s_i‖ = β_m |s_i[m]| (Golub & Van Loan eq. 10.1.9).
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

import torch

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
        β[m−1] = β_m is the residual coupling to the next vector.
    """
    p = q1.numel()
    q = q1 / q1.norm()
    basis = torch.empty(min(steps, p), p, dtype=q1.dtype, device=q1.device)
    alpha, beta = [], []
    m, scale = 0, 0.0
    while m < min(steps, p):
        basis[m] = q
        z = matvec(q)
        a = torch.dot(q, z)
        alpha.append(a)
        qs = basis[:m + 1]
        z = z - a * q - (beta[-1] * basis[m - 1] if m else 0.0)  # the three-term recurrence
        before = z.norm()
        z = z - qs.T @ (qs @ z)  # full reorthogonalization (classical Gram–Schmidt) ...
        b = z.norm()
        if float(b) < 0.7071 * float(before):  # ... repeated if it cancelled (DGKS test)
            z = z - qs.T @ (qs @ z)
            b = z.norm()
        scale = max(scale, abs(float(a)) + (float(beta[-1]) if beta else 0.0))
        m += 1
        if m < min(steps, p) and float(b) <= 1e-10 * max(scale, 1e-300):
            if not restart:
                beta.append(torch.zeros((), dtype=q1.dtype, device=q1.device))
                break
            z = torch.randn(p, generator=generator, dtype=q1.dtype, device="cpu").to(q1.device)
            for _ in range(2):
                z = z - qs.T @ (qs @ z)
            beta.append(torch.zeros((), dtype=q1.dtype, device=q1.device))
            q = z / z.norm()
        else:
            beta.append(b)
            q = z / b.clamp_min(1e-300)
        if until is not None and until(torch.stack(alpha), torch.stack(beta), basis[:m]):
            break
    return torch.stack(alpha), torch.stack(beta), basis[:m]


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
        converged: every residual ≤ tol · max|θ| (the spectral-norm estimate).
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
        tol: stop when every wanted Ritz pair has residual ‖Av − θv‖ ≤ tol · max|θ|; the
            eigenvalue error is then at most that residual (Bauer–Fike for symmetric A) and
            usually its square over the gap.
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

    def until(alpha: torch.Tensor, beta: torch.Tensor, basis: torch.Tensor) -> bool:
        m = alpha.numel()
        if m < k or (m % 5 and m < max_iter and m < p):
            return False
        theta, s = torch.linalg.eigh(tridiagonal(alpha, beta).cpu().double())
        idx = _pick(theta, k, which)
        res = float(beta[-1]) * s[-1, idx].abs()
        state.update(theta=theta, s=s, idx=idx, res=res)
        return bool((res <= tol * theta.abs().max().clamp_min(1e-300)).all())

    alpha, beta, basis = lanczos(lambda v: op @ v, q1, max_iter, generator=gen, until=until)
    if state.get("theta") is None or state["theta"].numel() != alpha.numel():
        until(alpha, beta, basis)
    theta, s, idx, res = state["theta"], state["s"], state["idx"], state["res"]
    vals = theta[idx].to(device=op.device, dtype=op.dtype)
    vecs = basis.T @ s[:, idx].to(device=op.device, dtype=op.dtype)
    converged = bool((res <= tol * theta.abs().max().clamp_min(1e-300)).all())
    return Eigen(vals, vecs, res.to(op.device, op.dtype), int(alpha.numel()), which, converged)
