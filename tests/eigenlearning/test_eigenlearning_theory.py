"""Eigenlearning theory: exact identities, an independent root finder, and bad input."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import brentq

from occamlab import eigenlearning as el
from occamlab import spectra
from occamlab.eigenlearning._sums import SpectrumSums


def test_flat_spectrum_closed_form():
    # M equal eigenvalues: L = n/M and E = 1 − n/M exactly (Simon et al. 2023,
    # arXiv 2110.03922), to rounding.
    M = 500
    lam = torch.full((M,), 1.0 / M, dtype=torch.float64)
    power = torch.full((M,), 1.0 / M, dtype=torch.float64)
    ns = torch.tensor([1.0, 10.0, 100.0, 250.0, 499.0], dtype=torch.float64)
    p = el.predict(lam, ns, target_power=power)
    torch.testing.assert_close(p.test_mse, 1 - ns / M, rtol=0, atol=1e-10)
    torch.testing.assert_close(p.learnabilities, (ns / M)[:, None].expand(5, M), rtol=0,
                               atol=1e-10)
    # the same spectrum as one level of multiplicity M
    q = el.predict([1.0 / M], ns, target_power=[1.0], multiplicities=[M])
    torch.testing.assert_close(q.test_mse, 1 - ns / M, rtol=0, atol=1e-10)


def test_learnabilities_sum_to_n_minus_ridge_over_kappa():
    # Σ mᵢLᵢ = n − δ/κ is the defining equation; 1e-10 relative is the solver's tolerance.
    lam = torch.arange(1, 301, dtype=torch.float64) ** -2.0
    mult = torch.arange(1, 301) % 3 + 1
    ns = torch.tensor([3.0, 30.0, 300.0, 3000.0], dtype=torch.float64)
    for ridge in (0.0, 1e-3, 1.0):
        p = el.predict(lam, ns[:3] if ridge == 0 else ns, target_power=lam, multiplicities=mult,
                       ridge=ridge)
        total = (p.learnabilities * mult).sum(-1) + ridge / p.kappa
        torch.testing.assert_close(total, p.n, rtol=1e-10, atol=0)


def test_kappa_against_brentq():
    # independent root finder (scipy brentq on the same equation, xtol 1e-15): 1e-10 relative
    g = np.random.default_rng(0)
    lam = g.random(50) ** 4
    mult = g.integers(1, 5, 50)
    for n, ridge in [(5, 0.0), (40, 0.0), (120, 0.3), (1000, 0.01)]:
        f = lambda k, n=n, ridge=ridge: np.sum(mult * lam / (lam + k)) + ridge / k - n
        ref = brentq(f, 1e-14, 1e6, xtol=1e-300, rtol=1e-15)
        kap = el.solve_kappa(lam, n, multiplicities=mult, ridge=ridge)
        assert float(kap) == pytest.approx(ref, rel=1e-10)


def test_binned_sums_agree_with_direct():
    # The moment expansion is exact to ~(√1.1 − 1)^14 ≈ 1e-18 per term; rounding dominates, so
    # 1e-12 relative (measured 7e-16).
    g = torch.Generator().manual_seed(0)
    lam = torch.rand(20000, generator=g, dtype=torch.float64) ** 8
    lam[:5] = 0.0
    m = torch.randint(1, 5, (20000,), generator=g).double()
    pw = torch.rand(20000, generator=g, dtype=torch.float64)
    kap = torch.logspace(-12, 2, 40, dtype=torch.float64)
    a = SpectrumSums(lam, m, pw, direct=True)
    b = SpectrumSums(lam, m, pw, direct=False)
    for x, y in zip(a.s1_s2(kap), b.s1_s2(kap)):
        torch.testing.assert_close(y, x, rtol=1e-12, atol=0)
    torch.testing.assert_close(b.sq(kap), a.sq(kap), rtol=1e-12, atol=0)
    torch.testing.assert_close(b.miss(kap), a.miss(kap), rtol=1e-12, atol=0)


def test_million_modes_kappa_residual():
    # 10⁶ modes (the binned path) × 8 values of n: the equation holds to 1e-12 relative,
    # checked by direct summation.
    lam = torch.arange(1, 1_000_001, dtype=torch.float64) ** -1.5
    ns = torch.logspace(0, 5, 8, dtype=torch.float64)
    kap = el.solve_kappa(lam, ns)
    N = torch.stack([(lam / (lam + k)).sum() for k in kap])
    torch.testing.assert_close(N, ns, rtol=1e-12, atol=0)


def test_decomposition_and_train_error():
    # test = bias + variance + noise; train = (δ/(nκ))²·test (Simon et al. 2023), exact algebra.
    lam = torch.arange(1, 101, dtype=torch.float64) ** -1.0
    p = el.predict(lam, [10, 50], target_power=lam / lam.sum(), ridge=0.1, noise_var=0.2)
    torch.testing.assert_close(p.bias + p.variance + 0.2, p.test_mse, rtol=1e-12, atol=0)
    torch.testing.assert_close(p.train_mse, (0.1 / (p.n * p.kappa)) ** 2 * p.test_mse,
                               rtol=1e-12, atol=0)
    # E₀ = n/(n − Σ L²)
    e0 = p.n / (p.n - (p.learnabilities**2).sum(-1))
    torch.testing.assert_close(p.overfitting_coefficient, e0, rtol=1e-12, atol=0)


def test_learnability_of_a_target():
    lam = torch.tensor([1.0, 0.1, 0.01], dtype=torch.float64)
    power = torch.tensor([1.0, 2.0, 0.0], dtype=torch.float64)
    got = el.learnability(lam, 2.0, power, multiplicities=[1, 2, 4])
    kap = el.solve_kappa(lam, 2.0, multiplicities=[1, 2, 4])
    L = lam / (lam + kap)
    assert float(got) == pytest.approx(float((L * power).sum() / 3.0), rel=1e-14)


def test_tail_trace_as_ridge_fixes_truncation():
    # Simon et al. 2023: truncating a sphere spectrum without adding the missing trace to the ridge
    # shifts predictions by 10–20%. Reference: the same kernel to degree 40 (tail < 1e-12).
    # Cut at degree 5 (378 modes), n = 100: with the tail as ridge we measured +0.01%, without
    # it −12%; tolerances 1% and > 5% separate the two cleanly.
    f = lambda c: torch.exp(3 * c)
    ref = spectra.sphere(f, 6, max_degree=40)
    cut = spectra.sphere(f, 6, max_degree=5)
    tp = torch.zeros(41, dtype=torch.float64)
    tp[2] = 1.0
    e_ref = el.predict(ref, 100, target_power=tp).test_mse
    e_tail = el.predict(cut, 100, target_power=tp[:6]).test_mse
    e_none = el.predict(cut, 100, target_power=tp[:6], tail_as_ridge=False).test_mse
    assert float(e_tail) == pytest.approx(float(e_ref), rel=0.01)
    assert abs(float(e_none / e_ref) - 1) > 0.05


def test_conservation_law_random_bases():
    # Simon et al. Thm. 1: exact for any data set and orthonormal basis; rounding 1e-10.
    g = torch.Generator().manual_seed(1)
    A = torch.randn(80, 40, generator=g, dtype=torch.float64)
    K = A @ A.T / 40 + 0.01 * torch.eye(80, dtype=torch.float64)
    train = torch.randperm(80, generator=g)[:25]
    for seed in (0, 1):
        c = el.conservation(K, train, seed=seed)
        assert c.expected == 25.0 and c.error < 1e-10
    c = el.conservation(K, train, ridge=0.5, seed=2)
    mu = torch.linalg.eigvalsh(K[train][:, train])
    assert c.expected == pytest.approx(float((mu / (mu + 0.5)).sum()), rel=1e-12)
    assert c.error < 1e-10
    # the eigenbasis of K too
    B = torch.linalg.eigh(K)[1]
    assert el.conservation(K, train, basis=B).error < 1e-10
    with pytest.raises(ValueError, match="orthonormal"):
        el.conservation(K, train, basis=2 * B)
    with pytest.raises(ValueError, match="distinct indices"):
        el.conservation(K, [1, 1, 2])


def test_bad_input_errors():
    lam = torch.tensor([1.0, 0.5, 0.1], dtype=torch.float64)
    tp = torch.ones(3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"the kernel of these eigenvalues is not positive "
                                         r"semi-definite: its most negative eigenvalue is -0\.2"):
        el.predict([1.0, -0.2, -0.1], 2, target_power=tp)
    with pytest.raises(ValueError, match=r"multiplicities must have one entry per eigenvalue"):
        el.predict(lam, 2, target_power=tp, multiplicities=[1, 2])
    with pytest.raises(ValueError, match=r"target_power must have one entry per eigenvalue"):
        el.predict(lam, 2, target_power=[1.0, 1.0])
    with pytest.raises(ValueError, match=r"n must be > 0"):
        el.predict(lam, [2, 0], target_power=tp)
    with pytest.raises(ValueError, match=r"n must be > 0"):
        el.learning_curve(lam, [-1.0], target_power=tp, ridge=1.0)
    with pytest.raises(ValueError, match=r"ridge must be a finite number ≥ 0"):
        el.predict(lam, 2, target_power=tp, ridge=-1e-3)
    with pytest.raises(ValueError, match=r"noise_var must be a finite number ≥ 0"):
        el.predict(lam, 2, target_power=tp, noise_var=-1.0)
    with pytest.raises(ValueError, match=r"eigenvalues contains non-finite values \(1 NaN"):
        el.predict([1.0, math.nan, 0.1], 2, target_power=tp)
    with pytest.raises(ValueError, match=r"target_power contains non-finite"):
        el.predict(lam, 2, target_power=[1.0, math.inf, 0.0])
    with pytest.raises(ValueError, match=r"ridge must be a finite number"):
        el.predict(lam, 2, target_power=tp, ridge=math.nan)
    with pytest.raises(ValueError, match=r"n contains non-finite"):
        el.predict(lam, [math.nan], target_power=tp)
    with pytest.raises(ValueError, match=r"ridgeless.*number of modes \(3"):
        el.predict(lam, 3, target_power=tp)
    # with ridge any n works
    assert float(el.predict(lam, 3, target_power=tp, ridge=1e-3).test_mse) > 0
    with pytest.raises(ValueError, match=r"target_power is required"):
        el.predict(lam, 2)
    with pytest.raises(ValueError, match=r"multiplicities must be positive integers"):
        el.predict(lam, 2, target_power=tp, multiplicities=[1, 0, 2])


def test_noise_is_named_noise_var_and_the_old_name_says_so():
    lam = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    tp = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    # with no ridge and one pure level the noise enters as E₀·ε²: E = E₀·((1−L₀)² + ε²)
    p = el.predict(lam, 2, target_power=tp, noise_var=0.25)
    e0 = float(p.overfitting_coefficient)
    L0 = float(p.learnabilities[0])
    assert float(p.test_mse) == pytest.approx(e0 * ((1 - L0) ** 2 + 0.25), rel=1e-12)
    assert p.noise_var == 0.25
    with pytest.raises(TypeError, match=r"predict\(\) takes noise_var, the label-noise variance "
                                        r"ε², not noise; .*noise_var=σ\*\*2"):
        el.predict(lam, 2, target_power=tp, noise=0.25)
    with pytest.raises(TypeError, match=r"measure\(\) takes noise_var"):
        el.measure(torch.eye(4, dtype=torch.float64), None, torch.ones(4), [2], noise=0.1)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'nosie_var'"):
        el.predict(lam, 2, target_power=tp, nosie_var=0.25)
