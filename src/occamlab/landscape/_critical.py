"""Critical points of a loss: Newton-MR and gradient-norm minimization, index and gradient-flatness.

Both methods seek w with ∇L(w) = 0 whatever its curvature — minima and saddles alike — by
decreasing ‖g‖², g = ∇L(w), whose gradient is 2Hg (Frye, Simon, Wadia, Ligeralde, DeWeese &
Bouchard 2021, Neural Computation 33, "Critical point-finding methods reveal gradient-flat regions
of deep network losses", Sec. 2):

- Newton-MR (Roosta, Liu, Xu & Mahoney 2018, arXiv 1810.07530, Alg. 1): p = MINRES(H, −g), the
  minimum-residual solution of H p = −g in the Krylov space of (H, g), stopped at relative
  residual θ = ``minres_tol`` (minimum norm when H is singular: Choi, Paige & Saunders 2011,
  MINRES-QLP), then a backtracking line search on ‖g‖²:
  the largest α ∈ {1, ½, ¼, …} with ‖g(w + αp)‖² ≤ ‖g‖² + 2ρα⟨p, Hg⟩, ρ = 10⁻⁴; ⟨p, Hg⟩ ≤ 0 for
  MINRES iterates, so p descends on ‖g‖².
- gradient-norm minimization: steepest descent on ½‖g‖², d = −Hg, with the same backtracking
  (the step doubling after each accepted step).

MINRES here is the Lanczos form of the method (Paige & Saunders 1975, SIAM J. Numer. Anal. 12,
Sec. 6): x_k = Q_k y_k with y_k = argmin ‖β₁e₁ − T̄_k y‖, T̄_k the (k+1)×k Lanczos tridiagonal,
solved by a pseudo-inverse that drops singular values below 10⁻¹⁰·‖T̄_k‖.

At the final point the Hessian's spectrum gives the index (number of eigenvalues < −ε·‖H‖) and the
nullity (|λ| ≤ ε·‖H‖), ε = ``eig_tol``: exactly from the dense Hessian when P ≤ ``dense_max``,
otherwise estimated as P times the mass of the SLQ density below −ε‖H‖ (and within ±ε‖H‖).

Gradient-flat points (Frye et al. 2021, Sec. 3): g ≠ 0 with Hg = 0 — stationary points of ½‖g‖²
that are not critical points of L; both methods can stall there. The point is declared
``gradient_flat`` when it has not converged (‖g‖ > tol) while the relative residual
r = ‖Hg‖ / (‖H‖₂ ‖g‖) ≤ ``flat_tol`` (default 10⁻³). r ≤ 1 always; r = 0 exactly when g lies in
ker H. At a point where g has a component of relative size c along eigenvectors with |λ| ≥ μ,
r ≥ c·μ/‖H‖, so r ≤ 10⁻³ says that less than a thousandth of g (in curvature-weighted norm) is
outside the Hessian's numerically flat directions: the gradient is, to that accuracy, in ker H.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from occamlab._check import check_choice, check_int, check_real
from occamlab._result import Result
from occamlab.landscape._lanczos import lanczos, tridiagonal
from occamlab.landscape._objective import Objective, make_objective
from occamlab.landscape._operators import HessianOperator
from occamlab.landscape._slq import density

__all__ = ["critical_point", "CriticalPoint", "minres"]

METHODS = ("newton_mr", "gradient_norm")
_RHO = 1e-4
_HALVINGS = 40


def minres(matvec, b: torch.Tensor, *, max_iter: int, rtol: float = 1e-10
           ) -> tuple[torch.Tensor, int]:
    """x minimizing ‖A x − b‖ over the Krylov space of (A, b), by Lanczos (see module docstring).

    Returns ``(x, products)``; stops when the relative residual ‖Ax − b‖/‖b‖ ≤ ``rtol``, the
    Krylov space is invariant, or after ``max_iter`` products.
    """
    beta1 = b.norm()
    if float(beta1) == 0:
        return torch.zeros_like(b), 0
    state: dict = {}

    def solve(alpha: torch.Tensor, beta: torch.Tensor) -> tuple[torch.Tensor, float]:
        k = alpha.numel()
        tbar = torch.zeros(k + 1, k, dtype=torch.float64)
        tbar[:k] = tridiagonal(alpha, beta).cpu().double()
        tbar[k, k - 1] = float(beta[k - 1])
        rhs = torch.zeros(k + 1, dtype=torch.float64)
        rhs[0] = float(beta1)
        y = torch.linalg.pinv(tbar, rtol=1e-10) @ rhs
        return y, float((rhs - tbar @ y).norm() / beta1)

    def until(alpha: torch.Tensor, beta: torch.Tensor, basis: torch.Tensor) -> bool:
        y, res = solve(alpha, beta)
        state.update(y=y, k=alpha.numel())
        return res <= rtol

    alpha, beta, basis = lanczos(matvec, b, max_iter, until=until, restart=False)
    if state.get("k") != alpha.numel():
        state["y"] = solve(alpha, beta)[0]
    y = state["y"].to(device=b.device, dtype=b.dtype)
    return basis.T @ y, int(alpha.numel())


@dataclass(frozen=True, repr=False)
class CriticalPoint(Result):
    """Where a critical-point search ended, and the curvature there.

    Fields:
        params: (P,) the point (flattened trainable parameters, in the model's order).
        loss: L there.
        grad_norm: ‖∇L‖ there.
        index: number of negative eigenvalues of H (λ < −eig_tol·‖H‖).
        nullity: number of eigenvalues with |λ| ≤ eig_tol·‖H‖.
        index_method: ``"dense"`` (exact) or ``"slq"`` (estimated from the density).
        flatness: r = ‖Hg‖ / (‖H‖₂‖g‖), the relative residual of g as a null vector of H.
        gradient_flat: not converged and r ≤ flat_tol (see the module docstring).
        converged: ‖∇L‖ ≤ tol.
        iterations: outer iterations taken.
        history: per iteration, ``loss``, ``grad_norm`` and ``step`` (α) tensors.
        eigenvalues: (P,) the Hessian's eigenvalues, ascending (dense method), else None.
        method: ``"newton_mr"`` or ``"gradient_norm"``.
    """

    params: torch.Tensor
    loss: float
    grad_norm: float
    index: int
    nullity: int
    index_method: str
    flatness: float
    gradient_flat: bool
    converged: bool
    iterations: int
    history: dict
    eigenvalues: torch.Tensor | None
    method: str

    @property
    def index_fraction(self) -> float:
        """index / P, the fraction of negative-curvature directions (Frye et al.'s axis)."""
        return self.index / self.params.numel()


def _line_search(obj: Objective, w: torch.Tensor, d: torch.Tensor, gn2: float, slope: float,
                 alpha: float) -> tuple[float, torch.Tensor | None, torch.Tensor | None]:
    """Backtrack from α until ‖g(w + αd)‖² ≤ ‖g‖² + 2ρα·slope; (α, w_new, g_new) or (0, None…)."""
    for _ in range(_HALVINGS):
        w_new = w + alpha * d
        g_new = obj.grad(w_new)
        v = float(g_new.square().sum())
        if v == v and v <= gn2 + 2 * _RHO * alpha * slope:
            return alpha, w_new, g_new
        alpha *= 0.5
    return 0.0, None, None


def _spectrum(obj: Objective, w: torch.Tensor, g: torch.Tensor, eig_tol: float,
              dense_max: int) -> tuple[int, int, str, float, torch.Tensor | None]:
    op = HessianOperator(obj, point=w)
    hg = op @ g
    p = obj.n_params
    if p <= dense_max:
        d = op.dense()
        ev = torch.linalg.eigvalsh((d + d.T) / 2)
        norm = float(ev.abs().max())
        thr = eig_tol * norm
        index, nullity, how = int((ev < -thr).sum()), int((ev.abs() <= thr).sum()), "dense"
    else:
        ds = density(op, steps=min(80, p), runs=4, seed=0)
        norm = float(ds.nodes.abs().max())
        thr = eig_tol * norm
        index = round(p * float((ds.weights * (ds.nodes < -thr)).sum(1).mean()))
        nullity = round(p * float((ds.weights * (ds.nodes.abs() <= thr)).sum(1).mean()))
        ev, how = None, "slq"
    gn = float(g.norm())
    flat = float(hg.norm()) / (norm * gn) if norm > 0 and gn > 0 else 0.0
    return index, nullity, how, flat, ev


def critical_point(model: Any, loss_fn: Any = None, data: Any = None, *,
                   method: str = "newton_mr", tol: float = 1e-8, max_iter: int | None = None,
                   krylov_iter: int | None = None, minres_tol: float = 1e-2,
                   eig_tol: float = 1e-6,
                   flat_tol: float = 1e-3, dense_max: int = 2000, batch_size: int | None = None,
                   dtype: torch.dtype = torch.float64) -> CriticalPoint:
    """Search for a critical point (∇L = 0) near a model's parameters or a function's x0.

    ``critical_point(model, loss_fn, (X, y))`` starts at the model's trainable parameters;
    ``critical_point(fn, x0)`` at x0 for a scalar function of one flat tensor. The model is not
    changed. See the module docstring for the methods, the index and the gradient-flat test.

    Arguments:
        method: ``"newton_mr"`` or ``"gradient_norm"``.
        tol: converged when ‖∇L‖ ≤ tol.
        max_iter: outer iterations (default 100 for Newton-MR, 2,000 for gradient-norm).
        krylov_iter: most MINRES products per Newton step (default min(P, 200)).
        minres_tol: inexactness θ of each Newton step, ‖Hp + g‖ ≤ θ‖g‖ (Roosta et al. 2018,
            Alg. 1): early steps stay in the well-conditioned Krylov directions, and the
            superlinear phase still converges since θ applies to the shrinking ‖g‖.
        eig_tol: relative threshold ε for zero eigenvalues (index and nullity).
        flat_tol: threshold on r = ‖Hg‖/(‖H‖‖g‖) for ``gradient_flat``.
        dense_max: largest P for which the exact (dense) spectrum is computed.
        batch_size: rows per pass over the data.
        dtype: computation dtype (float64 by default: ‖g‖ ≤ 10⁻⁸ is beyond float32).

    Returns:
        :class:`CriticalPoint`.
    """
    method = check_choice(method, "method", METHODS)
    tol = check_real(tol, "tol", gt=0)
    max_iter = (100 if method == "newton_mr" else 2000) if max_iter is None else check_int(
        max_iter, "max_iter", ge=1)
    eig_tol = check_real(eig_tol, "eig_tol", gt=0, lt=1)
    flat_tol = check_real(flat_tol, "flat_tol", gt=0, lt=1)
    dense_max = check_int(dense_max, "dense_max", ge=1)
    minres_tol = check_real(minres_tol, "minres_tol", gt=0, lt=1)
    obj = make_objective(model, loss_fn, data, batch_size=batch_size, dtype=dtype)
    p = obj.n_params
    krylov_iter = min(p, 200) if krylov_iter is None else check_int(krylov_iter, "krylov_iter",
                                                                   ge=1)
    w = obj.w0.clone()
    g = obj.grad(w)
    hist: dict[str, list[float]] = {"loss": [], "grad_norm": [], "step": []}
    step = 1.0
    converged, it = False, 0
    for it in range(max_iter + 1):
        gn2 = float(g.square().sum())
        hist["loss"].append(float(obj.value(w)))
        hist["grad_norm"].append(gn2 ** 0.5)
        if gn2 ** 0.5 <= tol:
            converged = True
            break
        if it == max_iter:
            break
        h = HessianOperator(obj, point=w)  # one batch: its gradient graph serves every product
        hg = h @ g
        if method == "newton_mr":
            d, _ = minres(h.__matmul__, -g, max_iter=krylov_iter, rtol=minres_tol)
            slope, alpha0 = float(d @ hg), 1.0
        else:
            d = -hg
            slope, alpha0 = -float(hg.square().sum()), min(2 * step, 1e6)
        if not slope < 0:  # no descent direction for ‖g‖²: g is (numerically) in ker H
            hist["step"].append(0.0)
            break
        step, w_new, g_new = _line_search(obj, w, d, gn2, slope, alpha0)
        hist["step"].append(step)
        if w_new is None:
            break
        w, g = w_new, g_new
    index, nullity, how, flat, ev = _spectrum(obj, w, g, eig_tol, dense_max)
    gnorm = float(g.norm())
    history = {k: torch.tensor(v, dtype=torch.float64) for k, v in hist.items()}
    return CriticalPoint(w, hist["loss"][-1], gnorm, index, nullity, how, flat,
                         (not converged) and flat <= flat_tol, converged, it, history, ev,
                         method)
