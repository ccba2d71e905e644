"""Critical points: the deep linear autoencoder (Baldi & Hornik 1989) and a gradient-flat function.

Index formula. Let Σ = diag(λ₁ > … > λ_n > 0) (the data's second moment in its eigenbasis) and
L(A, B) = E‖x − BAx‖² with A (p×n), B (n×p). A critical point that projects onto the eigenvectors
in I (|I| = r ≤ p) is, up to the symmetry (A, B) → (CA, BC⁻¹) — a linear change of coordinates,
so by Sylvester's law of inertia it keeps the index — A = [U_Iᵀ; 0], B = [U_I, 0]. Expanding
L to second order in (a, b) = (δA, δB), with P = U_I U_Iᵀ and D = U_I a_used + b_used U_Iᵀ:

    Q = tr(D Σ Dᵀ) − 2 tr(b a Σ (I − P)),

which splits into independent blocks:
- used unit k (eigenvector i_k ∈ I) and j ∈ I: λ_j (a_kj + b_jk)²: one positive, one zero
  eigenvalue each (the r² directions of the GL(r) symmetry);
- used unit k and j ∉ I: [[λ_j, −λ_j], [−λ_j, λ_{i_k}]] on (a_kj, b_jk), determinant
  λ_j (λ_{i_k} − λ_j): one negative eigenvalue iff λ_j > λ_{i_k}, else two positive;
- unused unit k (r < p) and j ∉ I: −2λ_j a_kj b_jk: one negative and one positive; j ∈ I: two
  zeros.
So index = #{(i, j): i ∈ I, j ∉ I, λ_j > λ_i} + (p − r)(n − r) and nullity = r² + 2r(p − r);
the loss is tr Σ − Σ_{i∈I} λ_i, and only I = the top p eigenvectors has index 0.
"""

import itertools

import pytest
import torch
from torch import nn

from occamlab import landscape as LS

N_IN, P_HID = 4, 2
LAM = torch.tensor([8.0, 4.0, 2.0, 1.0], dtype=torch.float64)  # all subset sums distinct
X = torch.diag((N_IN * LAM).sqrt())  # N = 4 rows with (1/N) XᵀX = diag(λ) exactly


def _loss(out, y):
    return ((out - y) ** 2).sum(1).mean()  # E‖x − BAx‖² over the rows


def _formula(subset):
    r = len(subset)
    rest = [j for j in range(N_IN) if j not in subset]
    index = sum(1 for i in subset for j in rest if LAM[j] > LAM[i]) + (P_HID - r) * (N_IN - r)
    return index, r * r + 2 * r * (P_HID - r)


def _autoencoder(a: torch.Tensor, b: torch.Tensor) -> nn.Sequential:
    m = nn.Sequential(nn.Linear(N_IN, P_HID, bias=False), nn.Linear(P_HID, N_IN, bias=False))
    m = m.double()
    with torch.no_grad():
        m[0].weight.copy_(a)
        m[1].weight.copy_(b)
    return m


def _exact_point(subset):
    u = torch.eye(N_IN, dtype=torch.float64)[:, list(subset)]
    a = torch.zeros(P_HID, N_IN, dtype=torch.float64)
    b = torch.zeros(N_IN, P_HID, dtype=torch.float64)
    a[:len(subset)] = u.T
    b[:, :len(subset)] = u
    return a, b


def _inertia(model, eps=1e-8):
    ev = torch.linalg.eigvalsh(LS.hessian(model, _loss, (X, X)).dense())
    thr = eps * float(ev.abs().max())
    return int((ev < -thr).sum()), int((ev.abs() <= thr).sum())


SUBSETS = [s for r in range(P_HID + 1) for s in itertools.combinations(range(N_IN), r)]


@pytest.mark.parametrize("subset", SUBSETS)
def test_index_formula_against_exact_hessian(subset):
    model = _autoencoder(*_exact_point(subset))
    assert float(LS.hessian(model, _loss, (X, X)).objective.grad(
        LS.hessian(model, _loss, (X, X)).point).norm()) < 1e-12  # it is a critical point
    assert _inertia(model) == _formula(subset)


@pytest.mark.parametrize("subset", list(itertools.combinations(range(N_IN), P_HID)))
def test_newton_mr_finds_each_autoencoder_critical_point(subset):
    g = torch.Generator().manual_seed(sum(subset))
    a, b = _exact_point(subset)
    c = torch.eye(P_HID, dtype=torch.float64) + 0.3 * torch.randn(P_HID, P_HID, generator=g,
                                                                  dtype=torch.float64)
    noise = 0.05  # start near the orbit point (C U_Iᵀ, U_I C⁻¹)
    model = _autoencoder(c @ a + noise * torch.randn(a.shape, generator=g, dtype=torch.float64),
                         b @ torch.linalg.inv(c)
                         + noise * torch.randn(b.shape, generator=g, dtype=torch.float64))
    cp = LS.critical_point(model, _loss, (X, X), method="newton_mr", tol=1e-10)
    assert cp.converged and cp.grad_norm <= 1e-10 and not cp.gradient_flat
    # ‖g‖ ≤ 1e-10 moves the loss by O(‖g‖²/λ_min⁺) ≪ 1e-9
    assert abs(cp.loss - float(LAM.sum() - LAM[list(subset)].sum())) < 1e-9
    assert (cp.index, cp.nullity) == _formula(subset)
    final = _autoencoder(cp.params[:8].reshape(P_HID, N_IN), cp.params[8:].reshape(N_IN, P_HID))
    assert (cp.index, cp.nullity) == _inertia(final, eps=1e-6)


def test_gradient_flat_function_has_no_critical_point():
    # f(x, y) = x + (y² − 1)²: ∂f/∂x = 1, so no critical point; on y ∈ {0, ±1} the gradient
    # (1, 0) lies in ker H = span{(1, 0)} — the gradient-flat set. Newton-MR (min-norm MINRES)
    # solves the y-part exactly and stalls there.
    def f(w):
        return w[0] + (w[1] ** 2 - 1) ** 2

    cp = LS.critical_point(f, torch.tensor([0.3, 0.7], dtype=torch.float64), method="newton_mr")
    assert not cp.converged and cp.gradient_flat
    assert cp.grad_norm == pytest.approx(1.0, abs=1e-10)
    y = float(cp.params[1])
    assert min(abs(y), abs(abs(y) - 1)) < 1e-8  # on the gradient-flat set
    assert cp.flatness < 1e-8


def test_gradient_norm_minimization_on_quadratic_and_gradient_flat_function():
    # f = ½ wᵀAw + bᵀw: ‖g‖² = ‖Aw + b‖² is a convex quadratic, minimized at w = −A⁻¹b
    a = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    b = torch.tensor([1.0, -1.0], dtype=torch.float64)
    cp = LS.critical_point(lambda w: 0.5 * w @ a @ w + b @ w,
                           torch.zeros(2, dtype=torch.float64), method="gradient_norm",
                           tol=1e-10)
    assert cp.converged and cp.index == 0
    # ‖w − w*‖ ≤ ‖g‖/λ_min(A) ≤ 1e-10/0.79
    torch.testing.assert_close(cp.params, -torch.linalg.solve(a, b), rtol=0, atol=2e-10)
    flat = LS.critical_point(lambda w: w[0] + (w[1] ** 2 - 1) ** 2,
                             torch.tensor([0.3, 0.7], dtype=torch.float64),
                             method="gradient_norm", max_iter=300)
    assert not flat.converged and flat.gradient_flat and flat.grad_norm > 0.99
