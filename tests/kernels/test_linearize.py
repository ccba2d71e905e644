"""K.linearize: the Taylor model trains as its kernel says; wide networks approach the ensemble."""

import numpy as np
import pytest
import torch

from occamlab import kernels as K
from occamlab.kernels import predict


def _data(n=8, m=3, d=4, seed=0):
    rng = np.random.default_rng(seed)
    return (torch.as_tensor(rng.standard_normal((n, d))),
            torch.as_tensor(rng.standard_normal((m, d))),
            torch.as_tensor(rng.standard_normal((n, 1))))


def _gd(net, x, y, lr, steps):
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * ((net(x) - y) ** 2).mean()).backward()
        opt.step()
    return net


def test_linearized_model_starts_at_the_network_and_keeps_its_kernel():
    x, xt, _ = _data()
    net = K.mlp(2, "erf", w_std=1.5, b_std=0.2).network((4,), 16, seed=1, dtype=torch.float64)
    lin = K.linearize(net)
    torch.testing.assert_close(lin(x), net(x), rtol=0, atol=0)
    assert [k for k, _ in lin.named_parameters()] == [f"model.{k}" for k, _ in
                                                      net.named_parameters()]
    theta = K.empirical_ntk(net, x, xt)
    with torch.no_grad():
        for p in lin.parameters():
            p.add_(0.3 * torch.randn_like(p))
    # linear in θ: its Jacobian, hence its NTK, is J(θ₀) wherever θ is (rounding only)
    torch.testing.assert_close(K.empirical_ntk(lin, x, xt), theta, rtol=1e-12, atol=1e-12)
    # and linear: f(θ₀ + 2δ) − f₀ = 2·(f(θ₀ + δ) − f₀)
    f1 = lin(xt) - net(xt)
    with torch.no_grad():
        for p, q in zip(lin.parameters(), net.parameters()):
            p.copy_(q + 2 * (p - q))
    torch.testing.assert_close(lin(xt) - net(xt), 2 * f1, rtol=1e-12, atol=1e-12)


def test_gradient_descent_on_the_linearized_model_follows_gradient_descent_mse():
    x, xt, y = _data()
    net = K.mlp(2, "relu", w_std=2**0.5, b_std=0.1).network((4,), 32, seed=0,
                                                            dtype=torch.float64)
    th, th_t = K.empirical_ntk(net, x), K.empirical_ntk(net, xt, x)
    n_y = y.numel()
    lr, steps = 0.1 * predict.max_learning_rate(th, n_y), 50
    with torch.no_grad():
        f0, ft0 = net(x), net(xt)
    lin = _gd(K.linearize(net), x, y, lr, steps)
    with torch.no_grad():
        f, ft = lin(x), lin(xt)
    # the discrete recursion r ← (I − ηΘ/N_y)·r holds exactly for a linear model (rounding)
    r = f0 - y
    for _ in range(steps):
        r = r - lr * th @ r / n_y
    torch.testing.assert_close(f - y, r, rtol=0, atol=1e-10)
    # against the continuous flow at t = η·steps: per eigendirection with a = ηλ/N_y, by the
    # mean value theorem |(1 − a)^S − e^{−aS}| ≤ S·e^{−a(S−1)}·a²/2 =: d(λ), so
    # ‖Δf_train‖ ≤ max d·‖r₀‖ and ‖Δf_test‖ ≤ ‖Θ*‖₂·max d/λ·‖r₀‖ (Θ*Θ⁻¹ brings the 1/λ)
    g, gt = predict.gradient_descent_mse(th, y)(lr * steps, f0, ft0, th_t)
    lam = torch.linalg.eigvalsh(th)
    a = lr * lam / n_y
    d = steps * torch.exp(-a * (steps - 1)) * a * a / 2
    r0 = float((f0 - y).norm())
    bound_train = float(d.max()) * r0
    bound_test = float(torch.linalg.matrix_norm(th_t, 2)) * float((d / lam).max()) * r0
    err_train, err_test = float((f - g).norm()), float((ft - gt).norm())
    assert err_train <= bound_train and err_test <= bound_test
    assert err_train > 0  # the bound is not vacuous: GD is not the flow
    assert float((ft - ft0).norm()) > 20 * bound_test  # and the outputs did move


def _antithetic(arch, x, xt, y, width, pairs, lr, steps):
    """Mean trained test outputs over pairs of networks whose readouts are negatives.

    Negating the readout flips f₀ and keeps the NTK, so each pair's linearized predictions
    average to exactly Θ̂*Θ̂⁻¹E_t·y: the initial functions cancel, and what remains is the
    finite-width error (NTK fluctuations and nonlinear dynamics, both ~1/√width).
    """
    outs = []
    for s in range(pairs):
        for sign in (1.0, -1.0):
            net = arch.network((x.shape[1],), width, seed=s, dtype=torch.float64)
            with torch.no_grad():
                net[-1].weight.mul_(sign)
            net = _gd(net, x, y, lr, steps)
            with torch.no_grad():
                outs.append(net(xt))
    return torch.stack(outs).mean(0)


def _width_study(widths, pairs):
    x, xt, y = _data(n=12, m=4, d=6)
    arch = K.mlp(2, "relu", w_std=2**0.5, b_std=0.1, readout_w_std=1.0, readout_b_std=0.0)
    lr = 0.1 * predict.max_learning_rate(arch.kernel(x).ntk, y.numel())
    steps = 100
    ens = predict.gradient_descent_mse_ensemble(arch, x, y)(lr * steps, xt, "ntk")
    errs = [float((_antithetic(arch, x, xt, y, w, pairs, lr, steps) - ens).norm() / ens.norm())
            for w in widths]
    return np.array(errs), np.polyfit(np.log(widths), np.log(errs), 1)[0]


def test_wide_networks_approach_the_ensemble_mean():
    # Expected slope −½ (1/√width). With 2 antithetic pairs the slope over widths 16–256 is
    # noisy: over six disjoint seed sets it measured −0.36 to −0.72 (mean −0.53), and the error
    # at width 256 0.07–0.15. The bounds leave that spread room, and fail for no decay.
    errs, slope = _width_study([16, 64, 256], pairs=2)
    assert slope < -0.25, (errs, slope)
    assert errs[-1] < 0.2, errs


@pytest.mark.slow
def test_wide_networks_approach_the_ensemble_mean_slow():
    # 8 pairs, widths 16–1024: the slope's seed noise shrinks by ~2; expected −½, the bias
    # (an O(1/width) term) can only steepen it.
    errs, slope = _width_study([16, 64, 256, 1024], pairs=8)
    assert -0.8 < slope < -0.3, (errs, slope)
    assert errs[-1] < 0.08, errs
