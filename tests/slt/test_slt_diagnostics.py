"""MCMC diagnostics against closed forms: R-hat, ESS of an AR(1) process, Geweke's z."""

import numpy as np

from occamlab.slt._diagnostics import ess, geweke_z, split_rhat


def _ar1(rho, chains, n, seed):
    rng = np.random.default_rng(seed)
    x = np.zeros((chains, n))
    x[:, 0] = rng.standard_normal(chains) / np.sqrt(1 - rho ** 2)
    for t in range(1, n):
        x[:, t] = rho * x[:, t - 1] + rng.standard_normal(chains)
    return x


def test_ess_of_ar1_matches_closed_form():
    # AR(1) with coefficient ρ: τ = (1+ρ)/(1−ρ), so ESS = n(1−ρ)/(1+ρ) = 4·5000/3 for ρ = 0.5.
    # Tolerance 10%: Geyer's truncated sum has sampling error ~ √(τ·K/n) ≈ a few percent.
    x = _ar1(0.5, 4, 5000, 0)
    assert abs(ess(x) / (4 * 5000 / 3) - 1) < 0.1


def test_ess_of_white_noise_is_n():
    x = np.random.default_rng(1).standard_normal((2, 4000))
    assert abs(ess(x) / 8000 - 1) < 0.1  # τ = 1; same 10% sampling allowance


def test_rhat_near_one_when_mixed_and_large_when_not():
    x = np.random.default_rng(2).standard_normal((4, 1000))
    assert abs(split_rhat(x) - 1) < 0.01  # iid chains: R̂ − 1 = O(1/n)
    shifted = x + np.array([[0.0], [0.0], [0.0], [3.0]])
    # one chain 3σ away: between-chain variance B/n ≈ 9·3/16 ≫ W, so R̂ ≈ √(1 + 1.7) ≈ 1.6
    assert split_rhat(shifted) > 1.5


def test_geweke_flags_a_drift():
    rng = np.random.default_rng(3)
    flat = rng.standard_normal((4, 1000))
    assert abs(geweke_z(flat)) < 3  # |z| ~ N(0,1) under stationarity: 3σ
    drift = flat + np.linspace(0, 3, 1000)
    assert abs(geweke_z(drift)) > 10  # mean difference 2.4 with SE ≈ 0.06
