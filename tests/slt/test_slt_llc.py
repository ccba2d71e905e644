"""slt.llc against known learning coefficients (fast versions; full ones are marked slow)."""

import json
import math
import warnings

import pytest
import torch
from _slt_helpers import Crossing, crossing_expectation, fit_least_squares, train_deep_linear
from torch import nn

from occamlab import slt
from occamlab.tasks import deep_linear_teacher, linear_teacher


@pytest.fixture(scope="module")
def regular():
    """d = 10, n = 10,000 linear regression at its least-squares solution (λ = 5)."""
    t = linear_teacher(10_000, 10, noise=1.0, seed=0)
    return t, fit_least_squares(t)


def test_regular_model_fast(regular):
    # Defaults except a quarter of the draws (speed). Allowed error: 5% (the bound) —
    # the estimator's expected bias here is ≈ +1% (ε·a/4 = 1.25% from the step rule, +1% from
    # minibatch noise, −1% from γ), the rest is for its SE (≈ 3% at 50 draws), and we also check
    # that the SE it reports is that small, so the 5% is earned, not lucky.
    t, m = regular
    r = slt.llc(m, t.loss(), t.data, draws=50, progress=False)
    assert abs(r.mean - 5.0) < 0.05 * 5.0
    assert r.se < 0.04 * 5.0
    assert not r.divergent and r.rhat < 1.1


@pytest.mark.slow
def test_regular_model_defaults(regular):
    t, m = regular
    r = slt.llc(m, t.loss(), t.data, progress=False)
    assert abs(r.mean - 5.0) < 0.05 * 5.0  # the 5% with default settings


def test_regular_model_mse_loss_scale_invariance(regular):
    # MSELoss = 2σ²·NLL here (σ = 1, one output): at the minimizer λ̂ does not depend on the
    # loss scale (the module docstring's point (1)); same 5% bound, same reasoning as above.
    t, m = regular
    r = slt.llc(m, nn.MSELoss(), t.data, draws=50, progress=False)
    assert abs(r.mean - 5.0) < 0.05 * 5.0


def _dln_case(widths, rank, n, **kw):
    t = deep_linear_teacher(n, widths, rank, noise=1.0, seed=1)
    m = train_deep_linear(t, steps=kw.pop("train_steps", 3000))
    r = slt.llc(m, t.loss(), t.data, progress=False, **kw)
    return r, slt.theory.deep_linear(list(widths), rank)


def test_deep_linear_5555_rank2_fast():
    # Aoyagi's example, λ = 11; within the 15% (measured error −4%, RESULTS.md).
    r, lam = _dln_case((5, 5, 5, 5), 2, 5000, train_steps=1500, draws=100, thin=5)
    assert abs(r.mean - lam) < 0.15 * lam


def test_reduced_rank_531_fast():
    # Reduced-rank regression M=5, H=3, N=5, r=1: λ = 8 (Aoyagi & Watanabe 2005); 15% bound.
    r, lam = _dln_case((5, 3, 5), 1, 5000, train_steps=1500, draws=100, thin=5)
    assert lam == 8.0
    assert abs(r.mean - lam) < 0.15 * lam


@pytest.mark.slow
@pytest.mark.parametrize("widths, rank", [
    ((5, 5, 5, 5), 2), ((5, 3, 5), 1), ((4, 6, 3), 1), ((3, 4, 4, 3), 1), ((6, 4, 6), 2),
    ((4, 3, 3, 3, 4), 1),
])
def test_deep_linear_and_reduced_rank_defaults(widths, rank):
    r, lam = _dln_case(widths, rank, 10_000)  # the 15% with default settings
    assert abs(r.mean - lam) < 0.15 * lam, (r.mean, lam)


def test_normal_crossing_w4_fast():
    # K(w) = w⁴: λ = 1/4 (Watanabe 2009, Thm 2.4). The reference is the exact E[nβK] of the
    # same localized tempered posterior by quadrature (0.2492 at nβ = 1e4, γ = 1; → 1/4 as
    # nβ → ∞, checked below). Tolerance: 3 SE of the estimator plus ε·a/4 ≤ 1.25% bias from the
    # step rule (llc's docstring).
    x = torch.zeros(8, 1, dtype=torch.float64)
    y = torch.zeros(8, 1, dtype=torch.float64)
    r = slt.llc(Crossing((2,)), nn.MSELoss(), (x, y), nbeta=1e4, localization=1.0, draws=200,
                thin=5, chains=4, progress=False)
    ref = crossing_expectation((2,), 1e4, 1.0)
    assert abs(ref - 0.25) < 0.01 * 0.25
    assert abs(r.mean - ref) < 3 * r.se + 0.0125 * ref
    assert r.se < 0.1 * ref  # the SE is small enough for that to be a real check


def test_normal_crossing_quadrature_tends_to_theory():
    # The finite-nβ reference values approach Watanabe's λ = 1/4 (power-law corrections).
    assert abs(crossing_expectation((2,), 1e6, 1.0) - slt.theory.normal_crossing([2])) < 1e-3
    assert abs(crossing_expectation((1, 2), 1e8, 1.0)
               - slt.theory.normal_crossing([1, 2])) < 0.01 * 0.25


@pytest.mark.slow
def test_normal_crossing_w1sq_w2pow4():
    # K = w1² w2⁴, λ = 1/4. Mixing along the crossing axes is slow, so the SE is large; the
    # tolerance is the estimator's own 3 SE around the quadrature value of the same posterior.
    x = torch.zeros(8, 1, dtype=torch.float64)
    y = torch.zeros(8, 1, dtype=torch.float64)
    r = slt.llc(Crossing((1, 2)), nn.MSELoss(), (x, y), nbeta=1e4, localization=1.0,
                draws=1000, chains=8, progress=False)
    ref = crossing_expectation((1, 2), 1e4, 1.0)
    assert abs(r.mean - ref) < 3 * r.se + 0.0125 * ref


def test_same_seed_same_result_and_seed_matters():
    t = linear_teacher(500, 3, seed=2)
    m = fit_least_squares(t)
    kw = dict(draws=20, thin=2, progress=False, step_size=1e-3, localization=1.0)
    a = slt.llc(m, t.loss(), t.data, seed=7, **kw)
    b = slt.llc(m, t.loss(), t.data, seed=7, **kw)
    c = slt.llc(m, t.loss(), t.data, seed=8, **kw)
    assert torch.equal(a.traces, b.traces) and a.mean == b.mean  # bit-identical
    assert a.mean != c.mean


def test_divergent_chain_reported_and_excluded():
    t = linear_teacher(2000, 4, seed=3)
    m = fit_least_squares(t)
    with pytest.warns(slt.LLCWarning, match=r"chain\(s\) \[2\] diverged"):
        r = slt.llc(m, t.loss(), t.data, step_size=[1e-4, 1e-4, 10.0, 1e-4], localization=1.0,
                    draws=100, thin=5, progress=False)
    assert r.divergent == (2,)
    assert math.isnan(float(r.chain_estimates[2]))
    kept = r.chain_estimates[[0, 1, 3]]
    assert r.mean == pytest.approx(float(kept.mean()), rel=1e-12)  # average of the kept three
    assert abs(r.mean - 2.0) < 0.2 * 2.0  # λ = d/2 = 2; 20%: 100 draws of 3 chains (SE ≈ 6%)


def test_samplers_estimate_regular_model():
    # All three samplers on λ = 2 (d = 4). SGLD: 10%; SGNHT and pSGLD: 20% — pSGLD drops the Γ
    # correction term and SGNHT mixes momentum slowly, both measured at ≤ 10% off in our runs.
    t = linear_teacher(2000, 4, seed=0)
    m = fit_least_squares(t)
    for sampler, tol in [("sgld", 0.1), ("sgnht", 0.2), ("rmsprop_sgld", 0.2)]:
        r = slt.llc(m, t.loss(), t.data, sampler=sampler, draws=60, progress=False)
        assert abs(r.mean - 2.0) < tol * 2.0, (sampler, r.mean)


def test_data_forms_agree_and_result_serializes():
    t = linear_teacher(300, 3, seed=4)
    m = fit_least_squares(t)
    kw = dict(draws=10, thin=1, step_size=1e-3, localization=1.0, batch_size=300,
              progress=False)
    a = slt.llc(m, t.loss(), t.data, **kw)
    ds = torch.utils.data.TensorDataset(t.x, t.y)
    b = slt.llc(m, t.loss(), ds, **kw)
    c = slt.llc(m, t.loss(), torch.utils.data.DataLoader(ds, batch_size=100), **kw)
    d = slt.llc(m, t.loss(), (t.x.numpy(), t.y.numpy()), **kw)
    assert a.mean == b.mean == c.mean == d.mean  # same rows, same seed: identical
    assert a.loss_star == pytest.approx(float(t.loss()(m(t.x), t.y)), rel=1e-12)
    json.dumps(a.to_dict())
    import matplotlib

    matplotlib.use("Agg")
    ax = a.plot()
    assert len(ax.lines) == 4 + 1  # four chains and the λ̂ line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "LLCResult(" in repr(a)
