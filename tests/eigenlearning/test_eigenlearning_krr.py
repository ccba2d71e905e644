"""Predicted against measured KRR learning curves: sphere, hypercube, digits."""

import functools
import itertools
import math
import warnings

import matplotlib
import pytest
import torch
from sklearn.kernel_ridge import KernelRidge

from occamlab import eigenlearning as el
from occamlab import kernels, spectra
from occamlab.tasks import digits, parity, sphere_harmonic, sphere_points

matplotlib.use("Agg")

# 4 hidden ReLU layers, w_std = √2, b_std = 0.1: the kernel of the validation.
ARCH = kernels.mlp(4, "relu", w_std=2**0.5, b_std=0.1)
D = 8
MAXDEG = 30


def _sphere_case(degrees_power, noise, ns, trials, n_test, seed):
    spec = spectra.sphere(ARCH, D, max_degree=MAXDEG)
    tp = torch.zeros(MAXDEG + 1, dtype=torch.float64)
    for k, p in degrees_power.items():
        tp[k] = p
    target = lambda x: sum(math.sqrt(p) * sphere_harmonic(x, k)
                           for k, p in degrees_power.items())
    m = el.measure(kernels.cosine_kernel(ARCH, D), lambda n, g: sphere_points(n, D, generator=g),
                   target, ns, trials=trials, noise_var=noise, n_test=n_test, seed=seed,
                   progress=False)
    return el.compare(spec, m, target_power=tp)


# The agreement criterion (the accuracy Simon et al. 2023 report on the 7-sphere):
# |E_theory − E_measured| ≤ 3·SE + r·E_measured, r = 0.06 for E ≥ 0.05, else 0.12.
SPHERE_FAST = [({1: 1.0}, 0.0), ({3: 1.0}, 0.0), ({1: 0.5, 2: 0.3, 3: 0.2}, 0.1)]


@functools.lru_cache(maxsize=1)
def _sphere_pool():
    x = sphere_points(1400, D, seed=5)
    return x, kernels.cosine_kernel(ARCH, D)((x @ x.T / D).clamp(-1, 1))


@pytest.mark.parametrize("target,noise", SPHERE_FAST)
def test_sphere_fast(target, noise):
    # Fast version: training sets drawn without replacement from one pool of 1400 i.i.d.
    # sphere points and tested on the other points, which are i.i.d. test points too; so the
    # i.i.d. theory applies without a pool correction (the pool is not the distribution here).
    x, K = _sphere_pool()
    tp = torch.zeros(MAXDEG + 1, dtype=torch.float64)
    for k, p in target.items():
        tp[k] = p
    y = sum(math.sqrt(p) * sphere_harmonic(x, k) for k, p in target.items())
    m = el.measure(K, None, y, [16, 64, 256], trials=8, noise_var=noise, seed=1, progress=False)
    c = el.compare(spectra.sphere(ARCH, D, max_degree=MAXDEG), m, target_power=tp,
                   pool_correction=False)
    assert not c.pool_corrected
    assert bool(c.within(0.06, 0.12).all()), c.table()


@pytest.mark.slow
@pytest.mark.parametrize("target,noise", [({k: 1.0}, 0.0) for k in range(5)]
                         + [({1: 0.5, 2: 0.3, 3: 0.2}, 0.1)])
def test_sphere_full(target, noise):
    c = _sphere_case(target, noise, [16, 32, 64, 128, 256, 512, 1024], trials=10, n_test=1000,
                     seed=2)
    assert bool(c.within(0.06, 0.12).all()), c.table()


def _cube_case(k, ns, trials):
    # Training sets drawn without replacement from all 256 vertices (as in Simon et al.): the
    # held-out error then relates to the whole-cube error by the pool identity, exactly.
    X = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=D)), dtype=torch.float64)
    K = ARCH.kernel(X, X).ntk
    tp = torch.zeros(D + 1, dtype=torch.float64)
    tp[k] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n > 0.2·M: fine here, the pool is the whole domain
        m = el.measure(K, None, parity(X, k), ns, trials=trials, seed=k, progress=False)
    return el.compare(spectra.hypercube(ARCH, D), m, target_power=tp)


@pytest.mark.parametrize("k", [2, 3])
def test_hypercube_parity_fast(k):
    # "within 4% for n ≥ 16" (Simon et al. 2023 on the 8-cube), plus 3·SE for trial noise.
    c = _cube_case(k, [16, 64], trials=8)
    assert bool(c.within(0.04, 0.04).all()), c.table()


@pytest.mark.slow
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_hypercube_parity_full(k):
    c = _cube_case(k, [16, 32, 64, 128], trials=20)
    assert bool(c.within(0.04, 0.04).all()), c.table()


@functools.lru_cache(maxsize=2)
def _digits_pool(M=900):
    # the first M of the 1797 shuffled digits (M = 900 keeps n/M ≤ 0.07 in the fast tests)
    ds = digits(0.5, seed=0)
    x = torch.cat([ds.x_train, ds.x_test]).flatten(1)[:M]
    y = torch.cat([ds.y_train, ds.y_test])[:M]
    # centre, then put every image on the sphere of radius √d so c = x·x'/d is a cosine
    x = x - x.mean(0)
    x = x * math.sqrt(x.shape[1]) / x.norm(dim=1, keepdim=True)
    return ARCH.kernel(x, x).ntk, torch.where(y <= 4, 1.0, -1.0).double()


def _digits_case(ns, trials, M):
    K, y = _digits_pool(M)
    m = el.measure(K, None, y, ns, trials=trials, seed=0, progress=False)
    return el.compare(spectra.from_kernel(K, y), m)


def test_digits_pool_fast():
    # digits 0–4 vs 5–9 with the finite-pool correction: within 5% plus 3·SE.
    c = _digits_case([16, 64], trials=10, M=900)
    assert c.pool_corrected
    assert bool(c.within(0.05, 0.05).all()), c.table()


@pytest.mark.slow
def test_digits_pool_full():
    c = _digits_case([16, 32, 64, 128], trials=30, M=1797)
    assert bool(c.within(0.05, 0.05).all()), c.table()


def test_krr_fit_matches_sklearn():
    # independent implementation: sklearn's KernelRidge with a precomputed kernel solves the
    # same (K + δI)α = y (Cholesky vs. its own solver: agreement to 1e-9 relative).
    x = sphere_points(40, D, seed=3)
    K = ARCH.kernel(x, x).ntk
    y = torch.sin(x[:, 0])
    ref = KernelRidge(alpha=0.3, kernel="precomputed").fit(K.numpy(), y.numpy()).dual_coef_
    alpha = el.krr_fit(K, y[:, None], 0.3)[:, 0]
    torch.testing.assert_close(alpha, torch.from_numpy(ref), rtol=1e-9, atol=1e-12)
    # ridgeless with a repeated point: the minimum-norm interpolant still fits y exactly
    xr = torch.cat([x, x[:1]])
    Kr = ARCH.kernel(xr, xr).ntk
    yr = torch.cat([y, y[:1]])[:, None]
    torch.testing.assert_close(Kr @ el.krr_fit(Kr, yr, 0.0), yr, rtol=0, atol=1e-8)


def test_pool_learnabilities_match_conservation_and_theory_order():
    # measured learnabilities of pool eigenmodes decrease with the eigenvalue; ridgeless on a
    # pool they sum over all M modes to n exactly — here over the top 20 they must be ≤ n.
    K, y = _digits_pool()
    K, y = K[:300][:, :300], y[:300]
    m = el.measure(K, None, y, [30], trials=3, n_modes=20, seed=0, progress=False)
    L = m.learnabilities[0]
    assert L.shape == (20,) and float(L.sum()) <= 30 + 1e-9
    assert float(L[0]) > 0.9 and float(L[:5].mean()) > float(L[15:].mean())
    # theory from the same pool: the top mode is learned almost fully (prediction within 0.05,
    # which is ~10 standard errors of a 3-trial mean of a learnability near 1)
    pred = el.predict(spectra.from_kernel(K, y), 30.0)
    assert pred.kappa.shape == ()
    assert float(pred.learnabilities[0]) == pytest.approx(float(L[0]), abs=0.05)


def test_measure_bad_input():
    K = torch.eye(5, dtype=torch.float64)
    y = torch.ones(5, dtype=torch.float64)
    with pytest.raises(ValueError, match="ns must be < the pool size 5"):
        el.measure(K, None, y, [5], progress=False)
    with pytest.raises(ValueError, match="ns must be positive"):
        el.measure(K, None, y, [0, 2], progress=False)
    with pytest.raises(ValueError, match="y must have one row per pool point"):
        el.measure(K, None, torch.ones(4), [2], progress=False)
    with pytest.raises(ValueError, match="ridge must be a finite number ≥ 0"):
        el.measure(K, None, y, [2], ridge=-1.0, progress=False)
    with pytest.raises(ValueError, match="kernel contains non-finite"):
        el.measure(K * math.nan, None, y, [2], progress=False)
    with pytest.raises(TypeError, match="y must be a target function"):
        el.measure(lambda c: c, lambda n, g: sphere_points(n, 3, generator=g), y, [2],
                   progress=False)


def test_compare_table_and_plot():
    K, y = _digits_pool()
    K, y = K[:200][:, :200], y[:200]
    m = el.measure(K, None, y, [8, 16], trials=3, seed=0, progress=False)
    spec = spectra.from_kernel(K, y)
    c = el.compare(spec, m)
    rows = c.table()
    pred = el.predict(spec, [8.0, 16.0])
    # the pool correction for ridgeless KRR: held-out = M·E/(M − n)
    assert rows[1]["predicted test MSE"] == pytest.approx(
        float(pred.test_mse[1]) * 200 / (200 - 16), rel=1e-12)
    assert rows[0]["measured test MSE"] == pytest.approx(float(m.test_mse[0]), rel=1e-15)
    ax = c.plot()
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="differs from the measurement"):
        el.compare(el.predict(spec, [9.0, 16.0]), m)


def test_fresh_samples_and_mode_learnabilities():
    # Fresh i.i.d. samples on the 7-sphere with the validation kernel: test MSE within the
    # agreement criterion, and the measured learnability of the degree-1 and degree-2 harmonics
    # within 3·SE + 0.06 of the predicted λ/(λ+κ) (the same 6% agreement, applied to L ≤ 1).
    fn = kernels.cosine_kernel(ARCH, D)
    spec = spectra.sphere(ARCH, D, max_degree=MAXDEG)
    tp = torch.zeros(MAXDEG + 1, dtype=torch.float64)
    tp[2] = 1.0
    modes = lambda x: torch.stack([sphere_harmonic(x, 1), sphere_harmonic(x, 2)], 1)
    m = el.measure(fn, lambda n, g: sphere_points(n, D, generator=g),
                   lambda x: sphere_harmonic(x, 2), [16, 64], trials=8, n_test=400,
                   modes=modes, seed=0, progress=False)
    c = el.compare(spec, m, target_power=tp)
    assert m.pool_size is None and not c.pool_corrected
    assert bool(c.within(0.06, 0.12).all()), c.table()
    L = el.predict(spec, m.n.double(), target_power=tp).learnabilities[:, 1:3]
    assert bool(((m.learnabilities - L).abs() <= 3 * m.learnabilities_se + 0.06).all()), (
        m.learnabilities, L)
