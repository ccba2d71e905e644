"""The default settings' rules (slt._estimate's module docstring) against closed forms."""

import math

import pytest
import torch
from torch import nn

from occamlab import slt
from occamlab.slt._setup import gradient_noise
from occamlab.tasks import deep_linear_network, gaussian_nll


def _anisotropic(n=4000, d=8, seed=0):
    # Linear regression with input scales 1…8: Hessian of the NLL ≈ diag(s²) (σ = 1), a
    # spectrum spread 64-fold, so a step set by the stiffest direction would bias the rest far
    # below the rule's budget.
    g = torch.Generator().manual_seed(seed)
    s = torch.linspace(1.0, 8.0, d, dtype=torch.float64)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) * s
    y = x @ torch.ones(d, 1, dtype=torch.float64) + torch.randn(n, 1, generator=g,
                                                                 dtype=torch.float64)
    m = nn.Linear(d, 1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        m.weight.copy_(torch.linalg.lstsq(x, y).solution.T)
    return m, x, y


@pytest.mark.filterwarnings("ignore::occamlab.slt.LLCWarning")  # 2 draws: no diagnostics
@pytest.mark.parametrize("precondition", [False, None])
def test_default_step_holds_the_regular_part_bias_at_its_budget(precondition):
    # SGLD's stationary variance in a direction of curvature a is 1/(a(1 − εa/4)) (exact for a
    # Gaussian), and B-row minibatches add the factor 1 + ρ·nβ/B to εa/4 (ρ = 1 here: Fisher =
    # Hessian for a well-specified Gaussian model). The exact relative bias of λ̂ = d/2 from the
    # chosen ε, over the exact spectrum of nβ·H + γ, must stay within the rule's 2.5% (25% over
    # it for the estimation error of a_w = tr(H²)/tr(H) from 8 Hutchinson probes and of ρ from
    # 8 row groups). a_w = tr/d_eff with d_eff = tr²/tr(H²) ≤ d counts the directions, so the
    # bound is tight to d_eff/d: the bias must also exceed half of 2.5%·d_eff/d. Preconditioned
    # (the default for P ≤ 2048), the chains run in z with w − w* = S·z, S = (nβH + γ)^(−1/2)
    # from the (here constant) Hessian H = XᵀX/n: the spectrum is that of S(nβH + γ)S.
    m, x, y = _anisotropic()
    r = slt.llc(m, gaussian_nll(1.0), (x, y), draws=2, burnin=0, thin=1, progress=False,
                precondition=precondition)
    n = x.shape[0]
    a = r.nbeta * torch.linalg.eigvalsh(x.T @ x / n) + r.localization
    if precondition is None:
        assert "preconditioned SGLD" in r.calibration
        lam, q = torch.linalg.eigh(r.nbeta * x.T @ x / n)
        s = q @ torch.diag((lam + r.localization).rsqrt()) @ q.T
        a = torch.linalg.eigvalsh(s @ (r.nbeta * x.T @ x / n + r.localization
                                       * torch.eye(len(a), dtype=a.dtype)) @ s)
    infl = r.step_size * a / 4 * (1 + r.nbeta / r.batch_size)
    bias = float((0.5 * (1 / (1 - infl) - 1)).sum() / (0.5 * len(a)))
    d_eff = float(a.sum() ** 2 / (a ** 2).sum())
    assert 0.5 * 0.025 * d_eff / len(a) < bias < 1.25 * 0.025, (bias, d_eff)
    assert r.batch_size == math.ceil(r.nbeta)  # B = ⌈nβ⌉ rows
    # γ = P/R², R = 3 plain; 3 per coordinate preconditioned
    assert r.localization == pytest.approx(8 / 9 if precondition is False else 3.0)


def test_gradient_noise_is_the_hessian_for_a_well_specified_model_and_zero_without_noise():
    # tr(Σ_g) of one row's gradient of ½(xᵀw − y)² at the least-squares w: E[r²‖x‖²] = σ²·tr(H)
    # with σ = 1 (residuals independent of x); 8 groups give ≈ 7·P degrees of freedom, so a
    # relative SD ≈ √(2/56) = 19%: tolerance 3 SD. With y = f(x; w) exactly it is 0.
    m, x, y = _anisotropic()
    w = m.weight.detach().reshape(1, -1)

    def loss(v, xb, yb):
        return 0.5 * ((xb @ v - yb[:, 0]) ** 2).mean()

    h = float((x[:1024] ** 2).mean(dim=0).mean())  # tr(H)/P on the same rows
    rho = float(gradient_noise(loss, w, x, y)[0]) / h
    assert abs(rho - 1) < 3 * math.sqrt(2 / 56), rho
    exact = (x @ w.T).detach()
    assert float(gradient_noise(loss, w, x, exact)[0]) == pytest.approx(0, abs=1e-20)


def test_gradient_noise_of_a_loss_that_ignores_the_rows_is_zero():
    # Every row gives the same gradient when the output does not depend on the inputs (the
    # normal-crossing "models" of test_slt_llc): Σ_g = 0 exactly.
    from _slt_helpers import Crossing

    from occamlab._torch import trainable_params
    from occamlab.slt._samplers import make_loss

    model = Crossing((1, 2))
    loss = make_loss(model, nn.MSELoss(), trainable_params(model))
    x = torch.zeros(8, 1, dtype=torch.float64)
    w = torch.tensor([[0.3, -0.2], [1.0, 0.5]], dtype=torch.float64)
    assert torch.equal(gradient_noise(loss, w, x, torch.zeros_like(x)), torch.zeros(2,
                                                                                   dtype=w.dtype))


def test_step_follows_the_curvature_where_the_chains_go():
    # A wide 4→8→8→4 deep linear network (every hidden width ≥ input + output) trained on
    # diag(6, 2, 0, 0) and relabelled: Aoyagi's λ = MN/2 = 8 (slt.theory.deep_linear). The
    # chains drift along the 96 directions that keep the function and reach regions several
    # times stiffer than the pilots saw (a_w 2–5× by the end of the first length): with the
    # pilots' step alone λ̂ read 11.4 and 10.9 (seeds 0, 1). A Metropolis-corrected HMC on the
    # same localized posterior (nβ = n/log n, γ = 3; 128 chains × 1000 draws) gives
    # 7.90 ± 0.02, 1.3% below 8; λ̂'s own SE is ≈ 0.15 (2%). Tolerance 10%, the bound the
    # deep linear accuracy tests use.
    n = 4000
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g, dtype=torch.float64)
    y = x * torch.tensor([6.0, 2.0, 0.0, 0.0], dtype=torch.float64)
    model = deep_linear_network([4, 8, 8, 4], seed=0, init_scale=0.05)
    loss = gaussian_nll(1.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.02)
    for _ in range(600):
        opt.zero_grad()
        loss(model(x), y).backward()
        opt.step()
    with torch.no_grad():
        own = model(x)
    assert float(loss(own, y)) < 1e-4  # both modes learned
    r = slt.llc(model, loss, (x, own), progress=False)
    assert r.mean == pytest.approx(slt.theory.deep_linear([4, 8, 8, 4], 2), rel=0.10)
    assert "started again" in r.calibration
