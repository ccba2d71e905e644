"""Engineered activations meet the kernels room: analytic kernels, architectures, finite nets."""

import math

import pytest
import torch
from _design_closed_forms import deep_erf_ntk, deep_relu_ntk  # noqa: F401

from occamlab import design
from occamlab import kernels as K
from occamlab.kernels._empirical import empirical_ntk

C = torch.linspace(-1, 1, 21, dtype=torch.float64)



def _sphere(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True) * math.sqrt(d)  # |x|² = d: c = x·x'/d


# tanh is analytic, so both quadratures and the Hermite series converge geometrically, the
# slower the closer tanh(√q·z)'s poles (z = ±iπ/(2√q)) come to the real axis. Measured agreement:
# 3e-12 at q = 1 (degree 100, 128 nodes), 1.5e-10 at q = 2 (degree 150, 200 nodes).
@pytest.mark.parametrize("kind,q,degree,nodes,tol", [
    ("ntk", 1.0, 100, 128, 1e-10), ("nngp", 1.0, 100, 128, 1e-10), ("ntk", 2.0, 150, 200, 1e-9)])
def test_shallow_kernel_agrees_with_kernels_serial(kind, q, degree, nodes, tol):
    # Independent route: the kernels room's 2-D quadrature of E[φφ], E[φ'φ'] through
    # serial(Dense(w_std=√q), Elementwise(tanh), Dense), on real inputs of norm √d.
    a = design.hermite_coefficients(torch.tanh, degree, q=q)
    arch = K.serial(K.Dense(w_std=math.sqrt(q)), K.Elementwise(torch.tanh, deg=nodes),
                    K.Dense())
    x = _sphere(7, 5, seed=0)
    res = arch.kernel(x)
    ref = res.ntk if kind == "ntk" else res.nngp
    ours = design.shallow_kernel(a, kind)((x @ x.T / 5).clamp(-1, 1))
    torch.testing.assert_close(ours, ref, rtol=0, atol=tol)


def test_shallow_architecture_is_the_same_network_kernel():
    act = design.activation_for(deep_erf_ntk, degree=5, norm="max")
    arch = design.shallow_architecture(act)
    ref = K.cosine_kernel(arch, 8, "ntk")(C)
    # A degree-5 polynomial activation: the 64-node quadrature in kernels is exact.
    torch.testing.assert_close(design.shallow_kernel(act.coefficients)(C), ref,
                               rtol=0, atol=1e-11)


@pytest.mark.parametrize("act_name,closed_form", [("relu", deep_relu_ntk), ("erf", deep_erf_ntk)])
def test_architecture_target_equals_closed_form_target(act_name, closed_form):
    # A kernels architecture as the target (4 hidden layers, w_std = √2, b_std = 0.1) gives the
    # same fit as the independent arc-cosine/arcsine recursion of tests/_design_closed_forms.py.
    arch = K.mlp(4, act_name, w_std=math.sqrt(2), b_std=0.1)
    fit_arch = design.power_series(arch, 5, norm="max")
    fit_ref = design.power_series(closed_form, 5, norm="max")
    torch.testing.assert_close(fit_arch.target, fit_ref.target, rtol=1e-12, atol=1e-12)
    # The LP is re-solved on targets equal to 1e-14: same optimum up to the solver's tolerance.
    assert fit_arch.relative_error == pytest.approx(fit_ref.relative_error, abs=1e-6)
    act = design.activation_for(arch, degree=5, norm="max")
    assert act.fit.relative_error < 0.045  # the minimax optimum, 4.38% / 3.10%


def _unit_term_std(act, c):
    """Exact std of one hidden unit's NTK term tⱼ = φ(u)φ(w) + vⱼ²·c·φ'(u)φ'(w).

    (u, w) standard Gaussian with correlation c, vⱼ ~ N(0, 1) the readout weight (E v² = 1,
    E v⁴ = 3). φ is a degree-5 polynomial, so a 30×30 Gauss–Hermite rule is exact.
    """
    z, w = design.gauss_hermite(30)
    z1, z2 = z[:, None], z[None, :]
    ww = w[:, None] * w[None, :]
    s = math.sqrt(max(0.0, 1 - c * c))
    out = []
    for pt in (z1.expand(30, 30), c * z1 + s * z2):
        pt = pt.clone().requires_grad_()
        with torch.enable_grad():
            f = act(pt)
            (df,) = torch.autograd.grad(f.sum(), pt)
        out.append((f.detach(), df))
    (fu, du), (fw, dw) = out
    mean = (ww * (fu * fw + c * du * dw)).sum()
    second = (ww * ((fu * fw) ** 2 + 2 * c * fu * fw * du * dw + 3 * c * c * (du * dw) ** 2)).sum()
    return float((second - mean**2).sqrt())


def test_empirical_ntk_of_wide_shallow_net_approaches_target():
    act = design.activation_for(deep_erf_ntk, degree=5, norm="max")
    d, width = 6, 2**16
    x = _sphere(4, d, seed=3)
    c = (x @ x.T / d).clamp(-1, 1)
    net = design.shallow_network(act, d, width, seed=1, dtype=torch.float64)
    theta = empirical_ntk(net, x)
    target = design.shallow_kernel(act.coefficients)(c)
    # Tolerance from the width: Θ̂ is a mean over `width` i.i.d. hidden-unit terms, so its
    # standard error is std(tⱼ)/√width with std(tⱼ) computed exactly (a degree-5 polynomial φ
    # has heavy tails: the sample std underestimates it ~10×). 5 standard errors.
    se = torch.tensor([[_unit_term_std(act, float(cij)) for cij in row] for row in c],
                      dtype=torch.float64) / math.sqrt(width)
    assert bool(((theta - target).abs() <= 5 * se).all())
    # The check has teeth where the kernel varies: off the diagonal the standard errors are under
    # a tenth of the largest |Θ| (on the diagonal the heavy tails leave ~11% of K(1)).
    off = ~torch.eye(4, dtype=torch.bool)
    assert float(se[off].max()) < 0.1 * float(target[off].abs().max())


def test_hermite_activation_follows_dtype_and_device():
    act = design.HermiteActivation([0.5, 1.0, 0.25], q=2.0)
    z = torch.tensor([0.3, -1.2], dtype=torch.float32)
    out = act(z)
    assert out.dtype == torch.float32 and out.device == z.device
    u = z.double() / math.sqrt(2)
    ref = 0.5 + u + 0.25 * (u**2 - 1) / math.sqrt(2)
    torch.testing.assert_close(out.double(), ref, rtol=0, atol=1e-6)  # float32 rounding
    assert "coefficients" in dict(act.named_buffers())


def test_shallow_network_shapes_and_errors():
    act = design.HermiteActivation([0.0, 1.0])
    net = design.shallow_network(act, 6, 32, seed=0, out_features=3)
    assert net(torch.randn(4, 6)).shape == (4, 3)
    assert net(torch.randn(4, 2, 3)).shape == (4, 3)  # trailing dims flatten to 6
    # Same seed, same network.
    again = design.shallow_network(act, 6, 32, seed=0, out_features=3)
    assert torch.equal(net.hidden.weight, again.hidden.weight)
    with pytest.raises(ValueError, match="x must have 6 features"):
        net(torch.randn(4, 5))
    with pytest.raises(ValueError, match="width must be an integer ≥ 1, got"):
        design.shallow_network(act, 6, 0)
    with pytest.raises(TypeError, match="activation must be a callable"):
        design.shallow_network("relu", 6, 8)
    with pytest.raises(ValueError, match="coefficients must have 1 dimensions"):
        design.HermiteActivation([[1.0]])
    with pytest.raises(ValueError, match="q .*must be a finite number > 0"):
        design.HermiteActivation([1.0], q=-1)
