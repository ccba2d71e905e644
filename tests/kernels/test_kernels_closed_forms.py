"""Infinite-width kernels against closed forms and independent computations.

Arc-cosine kernels (Cho & Saul 2009) and the layer recursion of Lee et al. 2019 (arXiv 1902.06720).
"""

import math

import numpy as np
import pytest
import torch

from occamlab import kernels as K

# Closed forms evaluated in float64 through a handful of elementary operations: agreement to
# 1e-12 leaves room for ~10^4 ulps of rounding, far below any formula error.
TIGHT = 1e-12


def unit_pairs(c: np.ndarray, d: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (x, x') with |x|² = |x'|² = d and x·x'/d = c."""
    e1, e2 = np.zeros(d), np.zeros(d)
    e1[0], e2[1] = 1.0, 1.0
    x = np.sqrt(d) * np.tile(e1, (len(c), 1))
    y = np.sqrt(d) * (c[:, None] * e1 + np.sqrt(1 - c[:, None] ** 2) * e2)
    return x, y


def relu_ntk_one_hidden(c):
    """NTK of Dense(√2)→ReLU→Dense(1) at cosine c, written out by hand (Cho & Saul 2009)."""
    th = np.arccos(c)
    nngp = (np.sqrt(1 - c * c) + (np.pi - th) * c) / np.pi
    return nngp + (np.pi - th) / (2 * np.pi) * 2 * c


def test_published_relu_ntk_values():
    arch = K.serial(K.Dense(w_std=2 ** 0.5), K.Relu(), K.Dense())
    c = np.array([-1, -0.5, 0, 0.5, 1.0])
    x, y = unit_pairs(c)
    got = torch.diagonal(arch.kernel(x, y).ntk).numpy()
    # The reference values are quoted to 6 decimals: half a unit in the last place.
    np.testing.assert_allclose(got, [0, -0.057669, 0.318310, 0.942331, 2], atol=5e-7)
    np.testing.assert_allclose(got, relu_ntk_one_hidden(c), rtol=0, atol=TIGHT)
    # the same numbers through cosine_kernel, including the endpoints c = ±1
    f = K.cosine_kernel(arch, d=5, kind="ntk")
    np.testing.assert_allclose(f(torch.tensor(c)).numpy(), relu_ntk_one_hidden(c), atol=TIGHT)
    # at c = 1 the diagonal formula applies: no √eps arccos noise, just w_std² = 2 rounded
    assert abs(f(torch.tensor(1.0)).item() - 2.0) <= 4.5e-16


def test_unit_input_reference_values():
    x = np.eye(3)  # unit-normalized: |x|²/d = 1/3, so scale to |x|² = d
    x = x * np.sqrt(3)
    relu = K.serial(K.Dense(), K.Relu(), K.Dense()).kernel(x)
    np.testing.assert_allclose(relu.nngp.diagonal(), 0.5, atol=TIGHT)
    np.testing.assert_allclose(relu.ntk.diagonal(), 1.0, atol=TIGHT)
    off = ~torch.eye(3, dtype=torch.bool)
    np.testing.assert_allclose(relu.nngp[off], 1 / (2 * math.pi), atol=TIGHT)
    np.testing.assert_allclose(relu.ntk[off], 1 / (2 * math.pi), atol=TIGHT)
    erf = K.serial(K.Dense(), K.Erf(), K.Dense()).kernel(x)
    nngp = 2 / math.pi * math.asin(2 / 3)
    np.testing.assert_allclose(erf.nngp.diagonal(), nngp, atol=TIGHT)
    np.testing.assert_allclose(erf.ntk.diagonal(), nngp + 4 / (math.pi * math.sqrt(5)),
                               atol=TIGHT)


def numpy_mlp(x1, x2, depth, w, b, act):
    """Independent NumPy recursion Σ/Θ for a deep MLP (Lee et al. 2019, arXiv 1902.06720)."""
    d = x1.shape[1]
    s, q1, q2 = x1 @ x2.T / d, (x1 * x1).sum(1) / d, (x2 * x2).sum(1) / d
    s, q1, q2 = w * w * s + b * b, w * w * q1 + b * b, w * w * q2 + b * b
    th = s.copy()
    for _ in range(depth):
        Q1, Q2 = q1[:, None], q2[None, :]
        if act == "relu":
            c = np.clip(s / np.sqrt(Q1 * Q2), -1, 1)
            t = np.arccos(c)
            T = np.sqrt(Q1 * Q2) / (2 * np.pi) * (np.sin(t) + (np.pi - t) * c)
            Td = (np.pi - t) / (2 * np.pi)
            q1, q2 = q1 / 2, q2 / 2
        else:
            T = 2 / np.pi * np.arcsin(2 * s / np.sqrt((1 + 2 * Q1) * (1 + 2 * Q2)))
            Td = 4 / np.pi / np.sqrt((1 + 2 * Q1) * (1 + 2 * Q2) - 4 * s * s)
            q1 = 2 / np.pi * np.arcsin(2 * q1 / (1 + 2 * q1))
            q2 = 2 / np.pi * np.arcsin(2 * q2 / (1 + 2 * q2))
        s = w * w * T + b * b
        th = s + w * w * Td * th
        q1, q2 = w * w * q1 + b * b, w * w * q2 + b * b
    return s, th


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_deep_mlp_matches_independent_numpy_recursion(act):
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((7, 4)), rng.standard_normal((6, 4))
    k = K.mlp(3, act, w_std=1.3, b_std=0.2).kernel(x1, x2)
    nngp, ntk = numpy_mlp(x1, x2, 3, 1.3, 0.2, act)
    # random (non-parallel) pairs: arccos is well conditioned, so plain float64 rounding
    np.testing.assert_allclose(k.nngp.numpy(), nngp, rtol=TIGHT, atol=0)
    np.testing.assert_allclose(k.ntk.numpy(), ntk, rtol=TIGHT, atol=0)


def gh_pair(fn, s, q1, q2, deg):
    """E[fn(u)fn(v)] by an independent NumPy Gauss–Hermite rule (Cholesky factor, not the
    cosine rotation used in the library)."""
    z, w = np.polynomial.hermite_e.hermegauss(deg)
    w = w / np.sqrt(2 * np.pi)
    a = np.sqrt(q1)
    b1, b2 = s / a, np.sqrt(max(q2 - (s / a) ** 2, 0.0))
    u = a * z[:, None]
    v = b1 * z[:, None] + b2 * z[None, :]
    return float((w[:, None] * w[None, :] * fn(u) * fn(v)).sum())


def test_gelu_closed_form_matches_high_order_quadrature():
    from scipy.special import erf

    gelu = lambda x: x * 0.5 * (1 + erf(x / np.sqrt(2)))
    dgelu = lambda x: 0.5 * (1 + erf(x / np.sqrt(2))) + x * np.exp(-x * x / 2) / np.sqrt(
        2 * np.pi)
    g = K.Gelu()
    for q1, q2, c in [(0.3, 2.0, 0.4), (1.0, 1.0, -0.7), (2.5, 0.8, 0.95), (1.5, 1.5, 1.0)]:
        s = c * math.sqrt(q1 * q2)
        t, td = g.pair(*(torch.tensor(v, dtype=torch.float64) for v in (s, q1, q2)), True)
        # GELU is entire with slow growth: 160-point Gauss–Hermite is exact to ~1e-14 here
        # (the 96-point rule already agrees to 1e-12, measured), so 1e-12 checks the formula.
        assert t.item() == pytest.approx(gh_pair(gelu, s, q1, q2, 160), rel=TIGHT, abs=TIGHT)
        assert td.item() == pytest.approx(gh_pair(dgelu, s, q1, q2, 160), rel=TIGHT, abs=TIGHT)
    q = torch.tensor([0.1, 1.0, 3.0], dtype=torch.float64)
    np.testing.assert_allclose(g.diag(q).numpy(), g.pair(q, q, q, False)[0].numpy(), rtol=TIGHT)


@pytest.mark.parametrize("act,a,b", [(K.LeakyRelu(0.2), 0.2, 1.0), (K.Abs(), -1.0, 1.0)])
def test_abrelu_family_by_orthant_probabilities(act, a, b):
    # E[φ'(u)φ'(v)] = a²P(−,−) + b²P(+,+) + 2ab·P(+,−) with P(+,+) = (π−θ)/(2π)
    # (Sheppard's formula): an independent route to Ṫ.
    q1, q2, c = 1.7, 0.6, -0.3
    s = c * math.sqrt(q1 * q2)
    th = math.acos(c)
    pp = (math.pi - th) / (2 * math.pi)
    pm = th / (2 * math.pi)
    want = (a * a + b * b) * pp + 2 * a * b * pm
    _, td = act.pair(*(torch.tensor(v, dtype=torch.float64) for v in (s, q1, q2)), True)
    assert td.item() == pytest.approx(want, rel=TIGHT)
    # and T: E[φ(u)φ(v)] = (a²+b²)·E[relu(u)relu(v)] + 2ab·E[relu(u)relu(−v)] with relu's
    # closed form at s and −s
    relu = K.Relu()
    f64 = lambda v: torch.tensor(v, dtype=torch.float64)
    tp = relu.pair(f64(s), f64(q1), f64(q2), False)[0].item()
    tm = relu.pair(f64(-s), f64(q1), f64(q2), False)[0].item()
    t = act.pair(f64(s), f64(q1), f64(q2), False)[0].item()
    assert t == pytest.approx((a * a + b * b) * tp - 2 * a * b * tm, rel=TIGHT)


def test_sign_kernel_is_arcsine_law():
    # E[sign(u)sign(v)] = (2/π)·arcsin(c) (Sheppard), NTK zero
    c = torch.tensor([-0.9, -0.2, 0.0, 0.5, 1.0], dtype=torch.float64)
    t, td = K.Sign().pair(c * 2.0, torch.tensor(2.0), torch.tensor(2.0), True)
    np.testing.assert_allclose(t.numpy(), 2 / np.pi * np.arcsin(c.numpy()), atol=TIGHT)
    assert torch.all(td == 0)


# Elementwise quadrature vs closed forms: the bounds are the measured errors stated in the
# Elementwise docstring (deg 64) with a factor ~3 of headroom.
QUAD = [  # activation, closed form, bound on T, bound on Ṫ (relative to the largest entry)
    (torch.erf, K.Erf(), 5e-5, 5e-4),
    (torch.relu, K.Relu(), 1.5e-2, 1.5e-1),
]


def quad_grid():
    q1 = torch.tensor([0.2, 1.0, 4.0, 2.5, 0.7], dtype=torch.float64)[None, :, None]
    q2 = torch.tensor([0.2, 3.0, 1.0, 2.5, 0.3], dtype=torch.float64)[None, None, :]
    c = torch.linspace(-0.999, 0.999, 7, dtype=torch.float64)[:, None, None]
    return c * (q1 * q2).sqrt(), q1, q2


@pytest.mark.parametrize("fn,closed,bound_t,bound_td", QUAD)
def test_elementwise_quadrature_within_stated_accuracy(fn, closed, bound_t, bound_td):
    s, q1, q2 = quad_grid()
    tr, tdr = closed.pair(s, q1, q2, True)
    errs = []
    for deg in (32, 64):
        t, td = K.Elementwise(fn, deg=deg).pair(s, q1, q2, True)
        errs.append(((t - tr).abs().max() / tr.abs().max()).item())
        errs.append(((td - tdr).abs().max() / tdr.abs().max()).item())
    assert errs[2] < bound_t and errs[3] < bound_td
    # more nodes, smaller error: the quadrature converges rather than matching by luck
    assert errs[2] < errs[0] and errs[3] < errs[1]


def test_elementwise_erf_network_kernel_matches_closed_form():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 3))
    k_closed = K.mlp(2, K.Erf(), w_std=1.2, b_std=0.1).kernel(x)
    k_quad = K.mlp(2, K.Elementwise(torch.erf), w_std=1.2, b_std=0.1).kernel(x)
    # variances here are ≲ 1.5, where the 64-point rule's error is ~1e-6 (docstring table is
    # for q up to 4); 1e-4 relative bounds it with room.
    np.testing.assert_allclose(k_quad.ntk.numpy(), k_closed.ntk.numpy(), rtol=1e-4)
    np.testing.assert_allclose(k_quad.nngp.numpy(), k_closed.nngp.numpy(), rtol=1e-4)


def test_tanh_matches_one_dimensional_quadrature_on_the_diagonal():
    # On the diagonal E[tanh(u)²] is a 1-D integral: check with scipy's adaptive quad.
    from scipy.integrate import quad

    t = K.Tanh()
    for q in (0.3, 1.0):
        want = quad(lambda z, q=q: np.tanh(np.sqrt(q) * z) ** 2 * np.exp(-z * z / 2)
                    / np.sqrt(2 * np.pi), -12, 12, epsabs=1e-14)[0]
        got = t.pair(torch.tensor(q, dtype=torch.float64), torch.tensor(q, dtype=torch.float64),
                     torch.tensor(q, dtype=torch.float64), False)[0].item()
        # tanh has poles at ±iπ/2: at q ≤ 1 the 64-point rule is accurate to ~1e-7 (measured
        # 4e-9 at q = 1)
        assert got == pytest.approx(want, rel=1e-6)


def test_float32_keeps_the_diagonal_stable():
    torch.manual_seed(0)
    x = torch.randn(40, 20)
    arch = K.mlp(3, "relu", 2 ** 0.5, 0.1)
    k64, k32 = arch.kernel(x), arch.kernel(x, dtype=torch.float32)
    assert k32.ntk.dtype == torch.float32
    rel = ((k32.ntk.double() - k64.ntk).diagonal().abs() / k64.ntk.diagonal()).max().item()
    # float32 eps is 1.2e-7; a handful of layers of rounding stays below 1e-6, whereas an
    # arccos of a rounded cosine near 1 would give errors of √eps ≈ 3e-4.
    assert rel < 1e-6


@pytest.mark.parametrize("spatial", [(), (1, 12)])
def test_float32_duplicates_across_x1_and_x2_are_stable(spatial):
    torch.manual_seed(2)
    if spatial:
        arch = K.serial(K.Conv(3, "same", 1.4, 0.1), K.Relu(), K.GlobalAvgPool(), K.Dense())
    else:
        arch = K.mlp(3, "relu", 2 ** 0.5, 0.1)
    x = torch.randn(12, *(spatial or (20,)))
    x2 = torch.cat([x[3:7], torch.randn(3, *x.shape[1:]), x[:1]])  # 5 duplicates of x's rows
    k64 = arch.kernel(x, x2).ntk
    k32 = arch.kernel(x, x2, dtype=torch.float32).ntk.double()
    # same bound and reason as the self-kernel diagonal above (√eps ≈ 3e-4 without the care)
    assert ((k32 - k64).abs() / k64.abs().max()).max().item() < 1e-6


@pytest.mark.parametrize("spatial", [(), (3, 8)])
def test_blocking_gives_the_same_kernel(spatial):
    torch.manual_seed(1)
    if spatial:
        arch = K.serial(K.Conv(3, "same", 1.4, 0.1), K.Relu(), K.Conv(3, "circular"), K.Erf(),
                        K.GlobalAvgPool(), K.Dense())
    else:
        arch = K.mlp(2, "gelu", 1.2, 0.3)
    x1 = torch.randn(11, *(spatial or (5,)), dtype=torch.float64)
    x2 = torch.randn(7, *(spatial or (5,)), dtype=torch.float64)
    for a, b in [(x1, None), (x1, x2)]:
        whole = arch.kernel(a, b, batch_size=100)
        blocked = arch.kernel(a, b, batch_size=3)
        # the same operations on the same numbers per entry: equal up to summation order
        np.testing.assert_allclose(blocked.ntk.numpy(), whole.ntk.numpy(), rtol=1e-13)
        np.testing.assert_allclose(blocked.nngp.numpy(), whole.nngp.numpy(), rtol=1e-13)


def test_flatten_dense_equals_mlp_on_flattened_inputs():
    # Flatten → Dense averages channels × positions, i.e. x·x'/d on the flattened signal
    torch.manual_seed(2)
    x = torch.randn(6, 2, 5, dtype=torch.float64)
    a = K.serial(K.Flatten(), K.mlp(2, "relu", 1.5, 0.2)).kernel(x)
    b = K.mlp(2, "relu", 1.5, 0.2).kernel(x.reshape(6, -1))
    np.testing.assert_allclose(a.ntk.numpy(), b.ntk.numpy(), rtol=1e-14)


def test_kernel_follows_input_device_and_is_symmetric():
    x = torch.randn(5, 4)
    k = K.mlp(1).kernel(x)
    assert k.ntk.device == x.device and k.ntk.dtype == torch.float64
    assert torch.equal(k.ntk, k.ntk.T)
