"""from_kernel (dense and iterative), alignment, and the Spectrum result."""

import math

import matplotlib
import numpy as np
import pytest
import torch

from occamlab import spectra

matplotlib.use("Agg")


def _psd(M, seed=0, decay=1.5):
    # A PSD matrix with a known power-law spectrum and random eigenvectors.
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(M, M, generator=g, dtype=torch.float64))
    w = torch.arange(1, M + 1, dtype=torch.float64) ** -decay
    return (Q * w) @ Q.T, w, Q


def test_dense_eigensystem_normalization():
    # λ = eig/M and v = Uᵀy/√M, so Σ v² = mean(y²) (Parseval on the pool) to rounding (1e-12).
    M = 200
    K, w, _ = _psd(M)
    y = torch.sin(torch.arange(M, dtype=torch.float64))
    spec = spectra.from_kernel(K, y)
    torch.testing.assert_close(spec.eigenvalues, w / M, rtol=1e-10, atol=1e-15)
    assert float(spec.target_power.sum()) == pytest.approx(float((y**2).mean()), rel=1e-12)
    assert spec.tail_trace == 0.0 and spec.n_modes == M
    # independent: numpy's eigh on the same matrix
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(K.numpy()))[::-1] / M,
                               spec.eigenvalues.numpy(), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("method", ["randomized", "lanczos"])
def test_top_k_matches_dense(method):
    # Randomized subspace iteration (q = 4, block k + p = 40) has relative eigenvalue error
    # ~ (λ_{k+p+1}/λ_i)^{2q+1} (Halko et al. 2011, §9): for a λ_i ∝ i^-1.5 spectrum that is
    # (10/41)^13.5 ≈ 5e-9 for the top 10 and (20/41)^13.5 ≈ 6e-5 for the 20th, hence the two
    # tolerances. Lanczos (ARPACK) converges to machine precision for all k.
    M, k = 400, 20
    K, w, Q = _psd(M)
    y = Q[:, 0] * 3 + Q[:, 30]
    dense = spectra.from_kernel(K, y)
    top = spectra.from_kernel(K, y, top_k=k, method=method, seed=1)
    torch.testing.assert_close(top.eigenvalues[:10], dense.eigenvalues[:10], rtol=1e-8, atol=0)
    torch.testing.assert_close(top.eigenvalues, dense.eigenvalues[:k], rtol=1e-4, atol=0)
    # the tail trace is the exact trace minus the computed top: error of the same order
    assert top.tail_trace == pytest.approx(float(w[k:].sum()) / M, rel=1e-4)
    # y = 3·u_0 + u_30 (unit eigenvectors): power 9/M in mode 0 and 1/M beyond the top 20
    assert float(top.target_power[0]) == pytest.approx(9 / M, rel=1e-8)
    assert top.tail_power == pytest.approx(1 / M, rel=1e-6)


def test_not_psd_names_most_negative_eigenvalue():
    K = torch.diag(torch.tensor([2.0, 1.0, -0.5], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"not positive semi-definite.*-0\.5"):
        spectra.from_kernel(K)


def test_bad_pool_inputs():
    K, _, _ = _psd(10)
    with pytest.raises(ValueError, match="square"):
        spectra.from_kernel(K[:, :5])
    with pytest.raises(ValueError, match="symmetric"):
        spectra.from_kernel(K + torch.triu(torch.ones(10, 10, dtype=torch.float64), 1))
    bad = K.clone()
    bad[2, 3] = bad[3, 2] = math.nan
    with pytest.raises(ValueError, match="K_pool contains non-finite"):
        spectra.from_kernel(bad)
    with pytest.raises(ValueError, match="y_pool must have one row per pool point"):
        spectra.from_kernel(K, torch.ones(9))
    with pytest.raises(ValueError, match="method must be"):
        spectra.from_kernel(K, top_k=3, method="power")


def test_alignment_closed_forms():
    g = torch.Generator().manual_seed(0)
    y = torch.randn(30, generator=g, dtype=torch.float64)
    # K = yyᵀ aligns perfectly (uncentered: A = 1 exactly; centered: HyyᵀH vs Hy also 1).
    assert float(spectra.alignment(torch.outer(y, y), y, centered=False)) == pytest.approx(1.0)
    assert float(spectra.alignment(torch.outer(y, y), y)) == pytest.approx(1.0)
    # identity kernel: uncentered A = ‖y‖²/(√M·‖y‖²) = 1/√M
    assert float(spectra.alignment(torch.eye(30, dtype=torch.float64), y, centered=False)) == \
        pytest.approx(1 / math.sqrt(30), rel=1e-12)
    # a constant kernel carries no centered alignment-relevant signal: A = 0
    K = torch.ones(30, 30, dtype=torch.float64) + 1e-3 * torch.eye(30, dtype=torch.float64)
    yc = y - y.mean()
    a = float(spectra.alignment(K, y))
    # HKH = 1e-3·H, so A = 1e-3‖Hy‖²/(1e-3·√(M−1)·‖Hy‖²) = 1/√(M−1)
    assert a == pytest.approx(1 / math.sqrt(29), rel=1e-10)
    assert float(yc.sum()) == pytest.approx(0.0, abs=1e-12)


def test_alignment_against_numpy_formula():
    # independent computation with the (M, M) target matrix formed explicitly
    K, _, _ = _psd(40, seed=3, decay=1.0)
    Y = np.eye(4)[np.arange(40) % 4]
    H = np.eye(40) - 1 / 40
    Kc, Yc = H @ K.numpy() @ H, H @ Y
    T = Yc @ Yc.T
    ref = np.sum(Kc * T) / (np.linalg.norm(Kc) * np.linalg.norm(T))
    assert float(spectra.alignment(K, torch.from_numpy(Y))) == pytest.approx(ref, rel=1e-12)


def test_alignment_bad_input():
    with pytest.raises(ValueError, match="y must have one row per row of K"):
        spectra.alignment(torch.eye(3, dtype=torch.float64), torch.ones(4))
    with pytest.raises(ValueError, match="target is zero"):
        spectra.alignment(torch.eye(3, dtype=torch.float64), torch.ones(3))


def test_spectrum_plot_and_cumulative_power():
    spec = spectra.sphere(lambda c: torch.exp(c), 5, max_degree=4,
                          target_power=[0.0, 0.5, 0.0, 0.25, 0.25])
    modes, frac = spec.cumulative_power()
    # levels by decreasing λ are degrees 0..4 with N(5,k) = 1, 5, 14, 30, 55
    assert modes.tolist() == [1, 6, 20, 50, 105]
    torch.testing.assert_close(frac, torch.tensor([0.0, 0.5, 0.5, 0.75, 1.0],
                                                  dtype=torch.float64))
    ax0, ax1 = spec.plot()
    assert ax0.figure is ax1.figure
    ys = ax0.lines[0].get_ydata()
    # each level is drawn as a step at its eigenvalue
    np.testing.assert_allclose(ys[::2], spec.eigenvalues.numpy())
    np.testing.assert_allclose(ax1.lines[0].get_ydata(), frac.numpy())
    with pytest.raises(ValueError, match="no target"):
        spectra.sphere(lambda c: torch.exp(c), 5, max_degree=2).cumulative_power()


def test_top_k_float32_pool():
    # a float32 pool stays float32 in the block products: the top eigenvalues then agree with
    # the float64 dense ones to float32 accuracy (eps·cond of the block ≈ 1e-5 here)
    K, w, _ = _psd(300)
    top = spectra.from_kernel(K.float(), top_k=10, seed=0)
    assert top.eigenvalues.dtype == torch.float64
    torch.testing.assert_close(top.eigenvalues, w[:10] / 300, rtol=1e-5, atol=0)
