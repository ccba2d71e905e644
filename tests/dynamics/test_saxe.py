"""dynamics.saxe against independent integrations of the mode ODE and against gradient descent."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from occamlab import dynamics

RTOL = 1e-11  # solve_ivp's relative tolerance in the reference integrations below


def _ode(s, u0, times, depth, tau=1.0):
    """(T, m) reference: τ·du/dt = L·u^{2−2/L}(s − u) integrated by DOP853, one mode at a time."""
    out = np.empty((len(times), len(s)))
    for i, (si, ui) in enumerate(zip(s, u0, strict=True)):
        sol = solve_ivp(lambda _, u, si=si: depth * np.abs(u) ** (2 - 2 / depth) * (si - u) / tau,
                        (0.0, float(times[-1])), [ui], method="DOP853", t_eval=times,
                        rtol=RTOL, atol=1e-14)
        out[:, i] = sol.y[0]
    return out


# The global error of an integration at relative tolerance rtol over a transition of a few
# hundred steps grows to ~1e2–1e3·rtol; 1e-8 leaves that headroom and is still far below any
# modelling error (a wrong factor in the exponent moves u by O(1) on the transition).
ODE_RTOL = 1e-8


@pytest.mark.parametrize("depth", [1, 2])
def test_closed_form_matches_ode(depth):
    s = np.array([3.0, 1.5, 0.4, 0.0, 2.0])
    u0 = np.array([1e-4, 1e-3, 0.01, 0.3, 5.0])  # the last starts above its target
    times = np.linspace(0, 30, 301)
    got = dynamics.saxe(s, u0, times, depth=depth).strengths.numpy()
    np.testing.assert_allclose(got, _ode(s, u0, times, depth), rtol=ODE_RTOL, atol=1e-13)


@pytest.mark.parametrize("depth", [3, 4, 6])
def test_deep_solution_matches_ode(depth):
    s = np.array([3.0, 1.5, 0.4, 0.0, 2.0])
    u0 = np.array([1e-4, 1e-3, 0.01, 0.3, 5.0])
    times = np.linspace(0, 60, 241)
    tau = 2.5
    got = dynamics.saxe(s, u0, times, depth=depth, tau=tau).strengths.numpy()
    np.testing.assert_allclose(got, _ode(s, u0, times, depth, tau), rtol=ODE_RTOL, atol=1e-13)


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_half_times_are_where_the_ode_crosses_half(depth):
    s, u0 = np.array([2.0, 1.0, 0.5]), np.array([1e-3, 1e-3, 1e-3])
    res = dynamics.saxe(s, u0, [0.0], depth=depth)
    for i in range(3):
        half = lambda _, u, si=s[i]: u[0] - si / 2  # noqa: E731
        half.terminal = True
        sol = solve_ivp(lambda _, u, si=s[i]: depth * u ** (2 - 2 / depth) * (si - u),
                        (0, 1e4), [u0[i]], method="DOP853", events=half, rtol=RTOL, atol=1e-14)
        assert float(res.half_times[i]) == pytest.approx(sol.t_events[0][0], rel=ODE_RTOL)
    if depth == 2:  # Saxe's t_half = τ/(2s)·log(s/u₀ − 1)
        np.testing.assert_allclose(res.half_times.numpy(), np.log(s / u0 - 1) / (2 * s),
                                   rtol=1e-14)
    # larger modes first: the staircase order
    assert bool((res.half_times[:-1] < res.half_times[1:]).all())
    # a mode that starts above half its target is half learned at t = 0
    assert float(dynamics.saxe([1.0], 0.7, [0.0], depth=depth).half_times[0]) == 0.0


def test_plateau_losses_and_loss():
    res = dynamics.saxe([1.0, 3.0, 2.0], 1e-6, np.linspace(0, 40, 401))
    # ½·Σ_{i>k} s_i² over descending (3, 2, 1): 7, 2.5, 0.5, 0
    np.testing.assert_allclose(res.plateau_losses.numpy(), [7.0, 2.5, 0.5, 0.0], rtol=1e-15)
    u, s = res.strengths.numpy(), np.array([1.0, 3.0, 2.0])
    np.testing.assert_allclose(res.loss.numpy(), 0.5 * ((s - u) ** 2).sum(1), rtol=1e-14)
    # Depth 3 from u₀ = 1e-6: each transition takes a fraction ~x₀ = (u₀/s)^{1/3} ≈ 1% of its
    # time, so between the s = 3 and s = 2 transitions the loss rests on ½·(2² + 1²) = 2.5 to 1e-3
    deep = dynamics.saxe([1.0, 3.0, 2.0], 1e-6, [0.0], depth=3)
    t_mid = math.sqrt(float(deep.half_times[1] * deep.half_times[2]))
    mid = dynamics.saxe([1.0, 3.0, 2.0], 1e-6, t_mid, depth=3)
    assert float(mid.loss[0]) == pytest.approx(2.5, rel=1e-3)


def _train_balanced(s, w0, depth, lr, steps, seed=0):
    """Plain gradient descent on ℒ = 1/(2n)·Σ‖W_L⋯W_1 x − y‖² from a balanced, aligned init.

    Returns the (steps+1, m) end-to-end mode strengths Uᵀ(W_L⋯W_1)V along training, the losses
    and the irreducible loss.
    """
    g = torch.Generator().manual_seed(seed)
    m, d_in, d_out, hidden, n = len(s), 4, 3, 5, 64
    x = torch.randn(n, d_in, generator=g, dtype=torch.float64)
    x = x @ torch.linalg.inv(torch.linalg.cholesky(x.T @ x / n)).T  # whitened: xᵀx/n = I
    u_, _ = torch.linalg.qr(torch.randn(d_out, m, generator=g, dtype=torch.float64))
    v_, _ = torch.linalg.qr(torch.randn(d_in, m, generator=g, dtype=torch.float64))
    a = u_ @ torch.diag(torch.tensor(s, dtype=torch.float64)) @ v_.T
    noise = torch.randn(n, d_out, generator=g, dtype=torch.float64)
    noise = noise - x @ torch.linalg.solve(x.T @ x, x.T @ noise)  # no linear part: Σ_yx = A
    y = x @ a.T + noise
    rs = [torch.linalg.qr(torch.randn(hidden, m, generator=g, dtype=torch.float64))[0]
          for _ in range(depth - 1)]
    left, right = [u_, *reversed(rs)], [*reversed(rs), v_]  # W_l = left·diag(w0)·rightᵀ
    ws = [(lf * w0) @ rt.T for lf, rt in zip(left, right, strict=True)][::-1]
    ws = [w.clone().requires_grad_(True) for w in ws]
    strengths, losses = [], []
    for k in range(steps + 1):
        prod = ws[0]
        for w in ws[1:]:
            prod = w @ prod
        loss = 0.5 * ((x @ prod.T - y) ** 2).sum(1).mean()
        strengths.append(torch.diagonal(u_.T @ prod.detach() @ v_))
        losses.append(float(loss.detach()))
        if k == steps:
            break
        grads = torch.autograd.grad(loss, ws)
        with torch.no_grad():
            for w, gr in zip(ws, grads, strict=True):
                w -= lr * gr
    irreducible = 0.5 * float((noise ** 2).sum(1).mean())
    return torch.stack(strengths).numpy(), np.array(losses), irreducible


def _euler_first_order(res, lr):
    """The O(lr) gap between gradient descent and gradient flow, from the modified equation.

    Per layer, τ·dw/dt = g(w) = w^{L−1}(s − w^L); gradient descent with step lr follows
    dw/dt = g − (lr/2)·g'g + O(lr²) (backward error analysis), whose first-order deviation from the
    flow solves δ' = g'(w(t))δ − (lr/2)·g'g, δ(0) = 0: δ(t) = −(lr/2)·g(w(t))·log(g(w(t))/g(w₀))
    (a time lag). On u = w^L this is L·w^{L−1}·δ. Returns (T, m).
    """
    depth, s = res.depth, res.singular_values.numpy()
    w = res.strengths.numpy() ** (1 / depth)
    w0 = res.init_scale.numpy() ** (1 / depth)
    g = w ** (depth - 1) * (s - w ** depth)
    g0 = w0 ** (depth - 1) * (s - w0 ** depth)
    # g per unit of flow time lr·step, as δ; g·log g → 0 where a mode has converged (g = 0)
    delta = -(lr / 2) * g * np.log(np.where(g > 0, g, 1.0) / g0) * (g > 0)
    return depth * w ** (depth - 1) * delta


@pytest.mark.parametrize(("depth", "w0", "lr", "steps"), [(2, 0.03, 0.01, 700),
                                                          (3, 0.15, 0.005, 2400)])
def test_gradient_descent_follows_prediction(depth, w0, lr, steps):
    s = [2.0, 1.2, 0.6]
    got, losses, irreducible = _train_balanced(s, w0, depth, lr, steps)
    got_half, _, _ = _train_balanced(s, w0, depth, lr / 2, 2 * steps)
    res = dynamics.saxe(s, w0 ** depth, np.arange(steps + 1), depth=depth, tau=1 / lr)
    pred = res.strengths.numpy()
    assert float(res.half_times[-1]) < 0.8 * steps  # every mode learned within the run
    err, err_half = np.abs(got - pred).max(), np.abs(got_half[::2] - pred).max()
    # Gradient descent is gradient flow's Euler discretization, so the gap is first order in lr:
    # halving lr halves it (measured 2.001; the O(lr²) remainder allows 1.8–2.2), and it is the
    # first-order term of backward error analysis (_euler_first_order): what remains after
    # subtracting that term is O(lr²), measured 1.5% of the gap at these rates (5% allowed).
    assert 1.8 < err / err_half < 2.2
    first = _euler_first_order(res, lr)
    assert np.abs(got - pred - first).max() <= 0.05 * np.abs(first).max()
    # the loss is ½·Σ(s − u)² on the modes plus the part no linear map explains (rounding only)
    np.testing.assert_allclose(losses, 0.5 * ((np.array(s) - got) ** 2).sum(1) + irreducible,
                               rtol=1e-10)


def test_bad_input():
    with pytest.raises(ValueError, match="singular_values must be ≥ 0"):
        dynamics.saxe([1.0, -1.0], 1e-3, [0.0, 1.0])
    with pytest.raises(ValueError, match="init_scale must be > 0"):
        dynamics.saxe([1.0], 0.0, [0.0, 1.0])
    with pytest.raises(ValueError, match="one entry per singular value"):
        dynamics.saxe([1.0, 2.0, 3.0], [1e-3, 1e-3], [0.0])
    with pytest.raises(ValueError, match="t must be ≥ 0"):
        dynamics.saxe([1.0], 1e-3, [-1.0, 0.0])
    with pytest.raises(ValueError, match="non-finite"):
        dynamics.saxe([1.0, float("nan")], 1e-3, [0.0])
    with pytest.raises(ValueError, match="depth"):
        dynamics.saxe([1.0], 1e-3, [0.0], depth=0)
    with pytest.raises(TypeError, match="depth"):
        dynamics.saxe([1.0], 1e-3, [0.0], depth=2.5)
    with pytest.raises(ValueError, match="tau"):
        dynamics.saxe([1.0], 1e-3, [0.0], tau=0.0)
    with pytest.raises(ValueError, match="dimensions"):
        dynamics.saxe(np.ones((2, 2)), 1e-3, [0.0])


def test_result_record_and_plot():
    import matplotlib
    import matplotlib.pyplot

    matplotlib.use("Agg")
    res = dynamics.saxe(torch.tensor([2.0, 1.0]), 1e-3, np.linspace(0, 10, 11), depth=3)
    assert res.strengths.shape == (11, 2) and res.strengths.dtype == torch.float64
    d = res.to_dict()
    assert d["depth"] == 3 and len(d["half_times"]) == 2
    ax = res.plot()
    assert len(ax.lines) >= 2
    matplotlib.pyplot.close(ax.figure)


@pytest.mark.gpu
def test_on_cuda_matches_cpu():
    s = torch.tensor([2.0, 1.0, 0.5])
    cpu = dynamics.saxe(s, 1e-3, np.linspace(0, 40, 50), depth=4)
    gpu = dynamics.saxe(s.cuda(), 1e-3, np.linspace(0, 40, 50), depth=4)
    assert gpu.strengths.device.type == "cuda"
    torch.testing.assert_close(gpu.strengths.cpu(), cpu.strengths, rtol=1e-12, atol=1e-14)


def test_plateau_rank_names_the_plateau_a_loss_sits_on():
    s = (8.0, 3.0, 1.2, 0.0, 0.0)
    # plateaus ½·Σ_{i>k} sᵢ²: 37.22, 5.22, 0.72, then 0 once the three nonzero modes are learned
    levels = dynamics.saxe(s, 1e-3, [0.0]).plateau_losses.tolist()
    assert levels[:4] == pytest.approx([37.22, 5.22, 0.72, 0.0])
    assert [dynamics.plateau_rank(v, s) for v in (37.9, 5.42, 0.7131, 8e-12)] == [0, 1, 2, 3]
    # within 5% of a level, or below 1e-3 for the last; anything between is on no plateau
    assert dynamics.plateau_rank(5.22 * 1.049, s) == 1
    assert dynamics.plateau_rank(5.22 * 1.051, s) is None
    assert dynamics.plateau_rank(20.0, s) is None
    assert dynamics.plateau_rank(2e-3, s) is None
    with pytest.raises(ValueError, match="loss must be a finite number ≥ 0"):
        dynamics.plateau_rank(-1.0, s)
