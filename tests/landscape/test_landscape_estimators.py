"""Lanczos, Hutchinson, Hutch++ and SLQ against exact spectra, closed forms and exact moments."""

import math

import pytest
import torch
from _landscape_helpers import dense_hessian, mlp, regression
from torch import nn

from occamlab import landscape as LS


def _sym(p: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(p, p, generator=g, dtype=torch.float64)
    return (a + a.T) / 2


@pytest.fixture(scope="module")
def mlp_hessian():
    # A tanh MLP at its random initialization with random targets: an indefinite Hessian.
    x, y = regression(40, 4, 2, seed=3)
    model = mlp([4, 8, 2], seed=3)
    h = LS.hessian(model, nn.MSELoss(), (x, y))
    return h, torch.linalg.eigvalsh(dense_hessian(model, nn.MSELoss(), x, y))


@pytest.mark.parametrize("which", ["largest", "smallest", "magnitude"])
def test_lanczos_matches_eigvalsh_on_indefinite_mlp_hessian(mlp_hessian, which):
    h, exact = mlp_hessian
    assert exact[0] < -1e-3  # negative curvature is present
    ev = LS.eigenvalues(h, k=3, which=which, tol=1e-10, seed=1)
    ref = {"largest": exact.flip(0)[:3], "smallest": exact[:3],
           "magnitude": exact[exact.abs().argsort(descending=True)][:3]}[which]
    # the stopping rule bounds |λ − θ| by tol·‖H‖ = 1e-10·‖H‖ (min(r, r²/gap)); 10× margin for
    # the gap being estimated from the Ritz values
    scale = float(exact.abs().max())
    torch.testing.assert_close(ev.values, ref, rtol=0, atol=1e-9 * scale)
    assert ev.converged and ev.matvecs <= h.shape[0]
    # the vectors are eigenvectors: ‖H v − λ v‖ is the reported residual
    r = (h @ ev.vectors - ev.vectors * ev.values).norm(dim=0)
    torch.testing.assert_close(r, ev.residuals, rtol=0, atol=1e-8 * scale)


@pytest.mark.parametrize("tol", [1e-3, 1e-6])
def test_lanczos_tol_bounds_eigenvalue_error_on_clustered_spectrum(tol):
    # the hard case of a Hessian's top: 5 eigenvalues within 3% of each other (and a 6th just
    # below) over a bulk; the promise is |θ_i − λ_i| ≤ tol·‖A‖ for each of the k wanted
    g = torch.Generator().manual_seed(4)
    lam = torch.cat([torch.tensor([1.0, 0.992, 0.986, 0.978, 0.971, 0.965], dtype=torch.float64),
                     torch.rand(594, generator=g, dtype=torch.float64) * 1.8 - 0.9])
    q = torch.linalg.qr(torch.randn(600, 600, generator=g, dtype=torch.float64))[0]
    a = q @ torch.diag(lam) @ q.T
    for seed in range(4):
        ev = LS.eigenvalues(a, k=5, which="largest", tol=tol, seed=seed)
        assert ev.converged
        assert float((ev.values - lam[:5]).abs().max()) <= tol * 1.0
        # the residuals may exceed tol·‖A‖ (the bound is r²/gap), but not its square root
        assert float(ev.residuals.max()) <= (tol * 1.0) ** 0.5


def test_lanczos_low_rank_restarts_past_invariant_subspace():
    # rank 2: the Krylov space from one vector is invariant after 3 steps; the 3rd largest is 0
    u = torch.linalg.qr(torch.randn(30, 2, dtype=torch.float64,
                                    generator=torch.Generator().manual_seed(0)))[0]
    a = u @ torch.diag(torch.tensor([5.0, -2.0], dtype=torch.float64)) @ u.T
    ev = LS.eigenvalues(a, k=3, which="largest", tol=1e-10)
    torch.testing.assert_close(ev.values, torch.tensor([5.0, 0.0, 0.0], dtype=torch.float64),
                               rtol=0, atol=1e-9)


def test_hutchpp_exact_on_low_rank():
    # rank 5 ≤ ⌊15/3⌋ sketch columns: Q spans range(A), the remainder is 0, tr exact to rounding
    g = torch.Generator().manual_seed(2)
    u = torch.linalg.qr(torch.randn(200, 5, dtype=torch.float64, generator=g))[0]
    a = u @ torch.diag(torch.tensor([9.0, 4.0, 1.0, 0.5, -3.0], dtype=torch.float64)) @ u.T
    tr = LS.trace(a, probes=15, method="hutch++", seed=0)
    assert tr.matvecs == 15
    assert abs(tr.mean - 11.5) < 1e-10 and tr.se < 1e-10


def test_hutchinson_variance_matches_formula():
    a = _sym(20, seed=4)
    m = 20_000
    tr = LS.trace(a, probes=m, method="hutchinson", seed=5)
    var_formula = 2 * (float((a ** 2).sum()) - float((a.diag() ** 2).sum()))
    var = float(tr.samples.var())
    # the sample variance has relative SE √((κ − 1)/m), κ the samples' kurtosis; allow 5 SE
    c = tr.samples - tr.samples.mean()
    kurt = float((c ** 4).mean() / (c ** 2).mean() ** 2)
    assert abs(var / var_formula - 1) < 5 * math.sqrt((kurt - 1) / m)
    # and the mean is unbiased within 5 standard errors of the formula's
    assert abs(tr.mean - float(a.trace())) < 5 * math.sqrt(var_formula / m)
    assert tr.se == pytest.approx(math.sqrt(var / m), rel=1e-9)


def test_hutchpp_beats_hutchinson_on_decaying_spectrum():
    # Meyer et al. 2021: error O(1/m) vs O(1/√m) on PSD matrices with decaying spectra
    g = torch.Generator().manual_seed(6)
    q = torch.linalg.qr(torch.randn(300, 300, dtype=torch.float64, generator=g))[0]
    a = q @ torch.diag(torch.arange(1, 301, dtype=torch.float64) ** -2.0) @ q.T
    errs = {meth: sum(abs(LS.trace(a, probes=30, method=meth, seed=s).mean - float(a.trace()))
                      for s in range(10)) for meth in ("hutch++", "hutchinson")}
    assert errs["hutch++"] < errs["hutchinson"] / 3


def test_slq_reproduces_moments_and_integrates_to_one():
    a = _sym(60, seed=7) / 4.0
    steps = 8
    ds = LS.density(a, steps=steps, runs=3, seed=1)
    assert ds.nodes.shape == (3, steps)
    torch.testing.assert_close(ds.weights.sum(1), torch.ones(3, dtype=torch.float64),
                               rtol=0, atol=1e-12)
    for r in range(3):
        v = ds.start_vectors[r]
        for p in range(2 * steps):  # Gauss quadrature is exact up to degree 2·steps − 1
            exact = float(v @ torch.linalg.matrix_power(a, p) @ v)
            quad = float((ds.weights[r] * ds.nodes[r] ** p).sum())
            assert abs(quad - exact) <= 1e-10 * max(1.0, abs(exact)), (r, p)
    # the grid extends 8σ beyond the nodes (tail mass 1e-15) and its spacing is ~σ/9, so the
    # trapezoid rule of a sum of Gaussians is accurate far beyond 1e-8
    assert abs(float(torch.trapezoid(ds.density, ds.grid)) - 1) < 1e-8


def test_slq_density_mean_is_trace_over_p(mlp_hessian):
    h, exact = mlp_hessian
    ds = LS.density(h, steps=20, runs=30, seed=2)
    mean = float((ds.weights * ds.nodes).sum(1).mean())  # each run: vᵀHv, unbiased for tr/P
    per_run = (ds.weights * ds.nodes).sum(1)
    se = float(per_run.std() / math.sqrt(per_run.numel()))
    assert abs(mean - float(exact.mean())) < 5 * se


def test_hutchpp_is_unbiased_on_an_indefinite_matrix():
    # E[tr(QᵀAQ) + Hutchinson on (I−QQᵀ)A(I−QQᵀ)] = tr A for any Q; over 300 seeds the mean is
    # within 5 standard errors of the exact trace
    a = _sym(40, seed=9)
    est = torch.tensor([LS.trace(a, probes=9, seed=s).mean for s in range(300)])
    se = float(est.std() / math.sqrt(est.numel()))
    assert abs(float(est.mean()) - float(a.trace())) < 5 * se
