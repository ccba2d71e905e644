"""Spectra on the sphere, the cube and the circle against closed forms and full kernel matrices."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.special import roots_gegenbauer, spherical_in

from occamlab import kernels, spectra
from occamlab.tasks import (
    cube_points,
    gegenbauer,
    harmonic_multiplicity,
    parity,
    sphere_harmonic,
    sphere_points,
)

# The ReLU NTK of the validation: 4 hidden layers, w_std = √2, b_std = 0.1.
ARCH = kernels.mlp(4, "relu", w_std=2**0.5, b_std=0.1)


def test_multiplicities_closed_form():
    # N(3, k) = 2k+1 (ordinary spherical harmonics); N(d, 1) = d; N(8, 2) = 35 = binom(9,2) − 1.
    assert [harmonic_multiplicity(3, k) for k in range(5)] == [1, 3, 5, 7, 9]
    assert harmonic_multiplicity(8, 1) == 8 and harmonic_multiplicity(8, 2) == 35
    # dim of degree-k harmonic polynomials = binom(k+d-1, d-1) − binom(k+d-3, d-1).
    for k in range(2, 9):
        assert harmonic_multiplicity(8, k) == math.comb(k + 7, 7) - math.comb(k + 5, 7)


def test_sphere_exp_kernel_matches_modified_spherical_bessel():
    # On S² (d = 3) Funk–Hecke gives λ_k = ½∫ e^t P_k(t) dt = i_k(1), the modified spherical
    # Bessel function. The quadrature converges exponentially here; what remains is an absolute
    # floor from scipy's Gauss weights at 1000 nodes, measured at ~3e-13 (≈ 1e-13·K(1)), so
    # atol = 1e-12 and, for the large low-degree levels, rtol = 1e-12.
    spec = spectra.sphere(lambda c: torch.exp(c), 3, max_degree=12)
    expected = torch.tensor([spherical_in(k, 1.0) for k in range(13)], dtype=torch.float64)
    torch.testing.assert_close(spec.eigenvalues, expected, rtol=1e-12, atol=1e-12)
    # K(1) = e = Σ N λ + tail, and the tail is the (tiny) rest of the series.
    assert spec.trace == pytest.approx(math.e, rel=1e-13)


def test_sphere_funk_hecke_single_degree():
    # K = P_3 (normalized Gegenbauer) has exactly one level: λ_3 = 1/N(d,3), others 0 (the
    # addition theorem); the quadrature is exact for polynomials, so to rounding (1e-12).
    d = 8
    spec = spectra.sphere(lambda c: gegenbauer(c, d, 3)[3], d, max_degree=6)
    expected = torch.zeros(7, dtype=torch.float64)
    expected[3] = 1 / harmonic_multiplicity(d, 3)
    torch.testing.assert_close(spec.eigenvalues, expected, rtol=0, atol=1e-12)
    assert spec.tail_trace == pytest.approx(0.0, abs=1e-12)


def test_sphere_polynomial_kernel_trace_is_complete():
    # A degree-5 polynomial kernel has no eigenvalue beyond degree 5: Σ N(d,k) λ_k = K(1)
    # exactly (quadrature exact for polynomials; tolerance = rounding).
    coef = [0.3, 1.0, 0.5, 0.25, 0.1, 0.05]
    spec = spectra.sphere(lambda c: sum(a * c**j for j, a in enumerate(coef)), 6,
                          max_degree=9)
    assert float((spec.eigenvalues * spec.multiplicities).sum()) == pytest.approx(sum(coef),
                                                                                  rel=1e-12)
    assert torch.all(spec.eigenvalues[6:] < 1e-14)


def test_sphere_relu_ntk_against_independent_quadrature():
    # The library's levels vs. a separate Gauss–Jacobi rule with twice the nodes and scipy's
    # own Gegenbauer polynomials: agreement to 1e-9 relative for the degrees that matter (the
    # NTK's √(1−t) cusp makes the rules converge algebraically, ~n⁻⁶ here).
    d = 8
    spec = spectra.sphere(ARCH, d, max_degree=6)
    fn = kernels.cosine_kernel(ARCH, d)
    from scipy.special import eval_gegenbauer

    t, w = roots_gegenbauer(4000, d / 2 - 1)
    Kt = fn(torch.from_numpy(t)).numpy()
    norm = math.gamma(d / 2) / (math.sqrt(math.pi) * math.gamma((d - 1) / 2))
    ref = [norm * np.sum(w * Kt * eval_gegenbauer(k, d / 2 - 1, t)
                         / eval_gegenbauer(k, d / 2 - 1, 1.0)) for k in range(7)]
    np.testing.assert_allclose(spec.eigenvalues.numpy(), ref, rtol=1e-9)


def test_sphere_pool_eigenvalues_approach_the_exact_ones():
    # Independent check through data: the eigenvalues of K/M on M random sphere points estimate
    # the levels with Monte-Carlo error and an upward bias ~ 1/√M; at M = 500 we measured +0.5%
    # (λ_0) and +3.8% (degree 1) over three seeds, so 10% is a safe bound that a wrong
    # normalization (factor ≥ 2) or a wrong level order would still fail.
    d = 8
    x = sphere_points(500, d, seed=0)
    pool = spectra.from_kernel(ARCH.kernel(x, x).ntk)
    exact = spectra.sphere(ARCH, d, max_degree=3)
    assert float(pool.eigenvalues[0]) == pytest.approx(float(exact.eigenvalues[0]), rel=0.1)
    # the next 8 pool eigenvalues form the degree-1 level
    assert float(pool.eigenvalues[1:9].mean()) == pytest.approx(float(exact.eigenvalues[1]),
                                                                rel=0.1)


def test_hypercube_equals_full_kernel_matrix():
    # All 2^8 vertices: the eigenvalues of K/256 are the d+1 levels with multiplicity
    # binom(d, k), exactly (rounding of eigh on a 256×256 matrix: 1e-10 relative to λ_max).
    d = 8
    X = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=d)), dtype=torch.float64)
    K = ARCH.kernel(X, X).ntk
    full = torch.linalg.eigvalsh(K).flip(0) / 2**d
    spec = spectra.hypercube(ARCH, d)
    levels = torch.repeat_interleave(spec.eigenvalues, spec.multiplicities)
    torch.testing.assert_close(torch.sort(levels, descending=True).values, full, rtol=0,
                               atol=1e-10 * float(full[0]))
    assert spec.n_modes == 2**d and spec.trace == pytest.approx(float(K[0, 0]), rel=1e-12)


def test_hypercube_parity_is_an_eigenfunction():
    # K·χ_S = 2^d λ_{|S|} χ_S on the full cube: the parity target lives in one level (1e-10).
    d = 6
    X = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=d)), dtype=torch.float64)
    fn = kernels.cosine_kernel(ARCH, d)
    K = fn((X @ X.T / d).clamp(-1, 1))
    spec = spectra.hypercube(fn, d)
    chi = parity(X, 3)
    torch.testing.assert_close(K @ chi / 2**d, spec.eigenvalues[3] * chi, rtol=0, atol=1e-10)


def test_circle_equals_full_kernel_matrix():
    # M equally spaced points: circulant matrix, eigenvalues = DFT of a row (1e-12 rounding).
    M = 50
    th = 2 * math.pi * torch.arange(M, dtype=torch.float64) / M
    c = torch.cos(th[:, None] - th[None, :])
    fn = lambda c: torch.exp(2 * c)
    full = torch.linalg.eigvalsh(fn(c)).flip(0) / M
    spec = spectra.circle(fn, M)
    levels = torch.repeat_interleave(spec.eigenvalues, spec.multiplicities)
    torch.testing.assert_close(torch.sort(levels, descending=True).values, full, rtol=0,
                               atol=1e-12)
    assert spec.n_modes == M


def test_sphere_harmonic_is_unit_norm_and_in_its_level():
    # E[P_k(t)²]·N(d,k) = 1 under the sphere's marginal of t (exact Gauss–Gegenbauer).
    d = 8
    t, w = roots_gegenbauer(50, d / 2 - 1)
    tt = torch.from_numpy(t)
    x = torch.zeros(50, d, dtype=torch.float64)
    x[:, 0] = tt * math.sqrt(d)
    x[:, 1] = torch.sqrt(1 - tt**2) * math.sqrt(d)
    for k in range(5):
        f = sphere_harmonic(x, k).numpy()
        assert np.sum(w * f * f) / np.sum(w) == pytest.approx(1.0, rel=1e-12)
    # points have norm √d
    p = sphere_points(10, d, seed=1)
    torch.testing.assert_close(p.norm(dim=1), torch.full((10,), math.sqrt(d),
                                                         dtype=torch.float64))
    assert set(cube_points(20, d, seed=0).unique().tolist()) == {-1.0, 1.0}


def test_non_psd_kernel_names_most_negative_eigenvalue():
    # K(c) = −c has λ_1 = −1/d on the sphere, and −1 on the cube's degree-1 level... /d too.
    with pytest.raises(ValueError, match=r"not positive semi-definite.*-0\.125"):
        spectra.sphere(lambda c: -c, 8, max_degree=4)
    with pytest.raises(ValueError, match=r"not positive semi-definite.*-0\.125"):
        spectra.hypercube(lambda c: -c, 8)


def test_bad_kernel_argument():
    with pytest.raises(TypeError, match="kernel must be a callable"):
        spectra.sphere(3.0, 8)
    with pytest.raises(ValueError, match="d must be"):
        spectra.sphere(lambda c: c, 1)
    with pytest.raises(ValueError, match=r"kernel is not finite at c = -1 \(\d+ NaN and \d+ Inf "
                                         r"values on the grid of cosines\); it must be finite"):
        spectra.sphere(lambda c: torch.log(c), 8)


def test_target_power_length_checked():
    with pytest.raises(ValueError, match="one entry per level"):
        spectra.hypercube(lambda c: torch.exp(c), 4, target_power=[1.0, 0.0])
