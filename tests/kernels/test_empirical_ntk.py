"""Empirical NTK: closed forms, a hand-derived one-hidden-layer formula, the infinite-width
arc-cosine reference values (Cho & Saul 2009), and agreement between the three methods."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from occamlab import kernels as K
from occamlab.kernels import _empirical as emp
from occamlab.kernels import _empirical_layerwise as lw
from occamlab.kernels._empirical import empirical_nngp, empirical_ntk

METHODS = ("jacobian", "jvp", "layerwise")
# Cross-method tolerance: every method sums the same products ∂f/∂θ·∂f/∂θ' in float64, only in a
# different order; rounding is ~1e-16 × (number of terms ~1e3) × magnitude, so 1e-10 relative
# leaves six orders of margin and still catches any missing or doubled term.
AGREE = 1e-10


def _seeded(model: nn.Module, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    for m in model.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return model.double()


def _x(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


class Scale(nn.Module):
    """A parameter-free rescaling, to build NTK-parameterized networks from nn.Linear."""

    def __init__(self, c: float):
        super().__init__()
        self.c = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.c


# ---------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("method", METHODS)
def test_linear_model_is_dot_product_plus_one_times_identity(method):
    # f(x) = Wx + b: ∂f_o/∂W_ij = δ_oi x_j, ∂f_o/∂b_i = δ_oi, so Θ_oo' = (x·x' + 1) δ_oo'.
    model = _seeded(nn.Linear(6, 3), 0)
    x1, x2 = _x(5, 6, seed=1), _x(4, 6, seed=2)
    dots = x1 @ x2.T + 1
    full = empirical_ntk(model, x1, x2, method=method, trace=False)
    want = dots[:, :, None, None] * torch.eye(3, dtype=torch.float64)
    assert full.shape == (5, 4, 3, 3)
    # 1e-12: a single dot product of 6 float64 terms, rounding ~1e-15.
    assert _rel(full, want) < 1e-12
    assert _rel(empirical_ntk(model, x1, x2, method=method), 3 * dots) < 1e-12


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("trace", [True, False])
def test_one_hidden_layer_matches_hand_derived_formula(method, trace):
    # f(x) = V·tanh(Wx + b) + c. With z = Wx + b, h = tanh z, h' = 1 − h²:
    #   ∂/∂V, ∂/∂c:  δ_oo' (h·h' + 1)
    #   ∂/∂W, ∂/∂b:  Σ_i V_oi V_o'i h'_i(x) h'_i(x') (x·x' + 1)
    model = _seeded(nn.Sequential(nn.Linear(4, 7), nn.Tanh(), nn.Linear(7, 2)), 3)
    x1, x2 = _x(6, 4, seed=4), _x(5, 4, seed=5)
    W, b = model[0].weight.detach().numpy(), model[0].bias.detach().numpy()
    V = model[2].weight.detach().numpy()
    a1, a2 = x1.numpy(), x2.numpy()
    h1, h2 = np.tanh(a1 @ W.T + b), np.tanh(a2 @ W.T + b)
    d1, d2 = 1 - h1**2, 1 - h2**2
    want = np.zeros((6, 5, 2, 2))
    for i in range(6):
        for j in range(5):
            readout = (h1[i] @ h2[j] + 1) * np.eye(2)
            hidden = (V * d1[i]) @ (V * d2[j]).T * (a1[i] @ a2[j] + 1)
            want[i, j] = readout + hidden
    if trace:
        want = np.trace(want, axis1=2, axis2=3)
    got = empirical_ntk(model, x1, x2, method=method, trace=trace).numpy()
    # 1e-12 relative: sums of at most a few dozen float64 products on both sides.
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def _ntk_relu_net(width: int, seed: int, d: int = 2) -> nn.Module:
    """Dense(w_std=√2) → ReLU → Dense(w_std=1), no biases, NTK parameterization."""
    g = torch.Generator().manual_seed(seed)
    l1 = nn.Linear(d, width, bias=False).double()
    l2 = nn.Linear(width, 1, bias=False).double()
    with torch.no_grad():
        l1.weight.normal_(generator=g)
        l2.weight.normal_(generator=g)
    return nn.Sequential(Scale(math.sqrt(2 / d)), l1, nn.ReLU(), Scale(1 / math.sqrt(width)), l2)


def test_wide_network_reaches_the_published_infinite_width_ntk():
    # Cho & Saul 2009: one hidden ReLU layer, w_std = √2, b_std = 0, readout w_std = 1, |x|² = d:
    # NTK at cosines −1, −0.5, 0, 0.5, 1 is 0, −0.057669, 0.318310, 0.942331, 2.
    c = torch.tensor([-1, -0.5, 0, 0.5, 1], dtype=torch.float64)
    x = math.sqrt(2) * torch.stack([torch.cos(torch.arccos(c)), torch.sin(torch.arccos(c))], 1)
    ref = torch.tensor([0, -0.057669, 0.318310, 0.942331, 2], dtype=torch.float64)
    got = empirical_ntk(_ntk_relu_net(2**15, seed=0), x[-1:], x)[0]
    # Width 2^15: the finite-width error has std ≤ 0.026 (measured over 20 seeds, largest at
    # c = 1); 0.13 is 5σ, while a wrong factor in any term moves a value by ≥ 0.3.
    assert (got - ref).abs().max() < 0.13
    # At c = −1 the two inputs never activate the same unit: exactly 0.
    assert got[0] == 0


def test_wide_network_nngp_reaches_the_arccos_kernel():
    # Cho & Saul 2009: Dense → ReLU on unit-variance preactivations gives
    # T = (sin θ + (π−θ)cos θ)/(2π):
    # 0.5 for identical inputs, 1/(2π) for orthogonal ones. Features are relu(Wx/√d), W ~ N(0, 1).
    width, d = 2**16, 3
    net = _ntk_relu_net(width, seed=1, d=d)
    net[0].c = math.sqrt(1 / d)  # w_std = 1
    x = math.sqrt(d) * torch.eye(d, dtype=torch.float64)
    # The readout's own input is rescaled by 1/√width; the features are the ReLU outputs.
    k = empirical_nngp(net, x, layer=net[3])
    want = torch.full((d, d), 1 / (2 * math.pi), dtype=torch.float64).fill_diagonal_(0.5)
    # Mean of width i.i.d. terms: relu(u)² has variance 3/2 − 1/4 = 1.25, relu(u)relu(v) ≤ that,
    # so σ ≤ √1.25/√width = 0.0044; 0.025 is > 5σ.
    assert (k - want).abs().max() < 0.025


def test_nngp_of_a_wide_occamlab_network_reaches_its_analytic_nngp():
    # arch.network's readout is occamlab's own Dense module, found by default; with readout
    # w_std = 1, b_std = 0 the features' Gram φ·φ'/d tends to arch.kernel's NNGP.
    arch = K.serial(K.Dense(w_std=1.5, b_std=0.2), K.Relu(), K.Dense())
    x = _x(4, 3, seed=40)
    x = x / x.norm(dim=1, keepdim=True) * math.sqrt(3)  # |x|² = d: preactivation variance 2.29
    net = arch.network(in_shape=(3,), width=2**14, seed=0, dtype=torch.float64)
    got = empirical_nngp(net, x)
    want = arch.kernel(x).nngp
    # relu(u)relu(v) has variance ≤ 1.25·q² (q = 2.29), so the mean of 2^14 units has
    # σ ≤ 0.02; 0.1 is 5σ.
    assert (got - want).abs().max() < 0.1


def test_nngp_is_normalized_gram_of_readout_inputs():
    model = _seeded(nn.Sequential(nn.Linear(4, 9), nn.GELU(), nn.Linear(9, 9), nn.Tanh(),
                                  nn.Linear(9, 2)), 6)
    x1, x2 = _x(5, 4, seed=7), _x(3, 4, seed=8)
    with torch.no_grad():
        f1, f2 = model[:4](x1), model[:4](x2)
    # Independent computation: the same features by slicing the Sequential. 1e-14: one dot of 9.
    assert _rel(empirical_nngp(model, x1, x2), f1 @ f2.T / 9) < 1e-14
    with torch.no_grad():
        g1 = model[:2](x1)
    by_name = empirical_nngp(model, x1, layer="2", batch_size=2)
    assert _rel(by_name, g1 @ g1.T / 9) < 1e-14
    assert _rel(empirical_nngp(model, x1, layer=model[2]), g1 @ g1.T / 9) < 1e-14


# ---------------------------------------------------------------------------- cross-method


def _mlp() -> nn.Module:
    return _seeded(nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 16), nn.GELU(),
                                 nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3)), 10)


def _cnn1d(padding, mode: str) -> nn.Module:
    net = nn.Sequential(nn.Conv1d(2, 4, 3, padding=padding, padding_mode=mode), nn.ReLU(),
                        nn.Conv1d(4, 5, 4, padding=padding, dilation=2, padding_mode=mode),
                        nn.SiLU(), nn.Flatten(), nn.LazyLinear(3))
    net(torch.zeros(1, 2, 12))
    return _seeded(net, 11)


def _cnn2d() -> nn.Module:
    return _seeded(nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, stride=2), nn.ReLU(),
                                 nn.Conv2d(4, 5, 3, dilation=2, padding="same",
                                           padding_mode="reflect"), nn.Sigmoid(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 3)), 12)


CASES = {
    "mlp": (_mlp, (5,)),
    "cnn1d-zeros": (lambda: _cnn1d(3, "zeros"), (2, 12)),
    "cnn1d-circular-same": (lambda: _cnn1d("same", "circular"), (2, 12)),
    "cnn2d": (_cnn2d, (2, 8, 8)),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("trace", [True, False])
def test_methods_agree(case, trace):
    make, shape = CASES[case]
    model = make()
    x1, x2 = _x(6, *shape, seed=20), _x(5, *shape, seed=21)
    ref = empirical_ntk(model, x1, x2, method="jacobian", trace=trace)
    for method in ("jvp", "layerwise"):
        assert _rel(empirical_ntk(model, x1, x2, method=method, trace=trace), ref) < AGREE, method


@pytest.mark.parametrize("padding", ["same", "circular", "valid"])
def test_methods_agree_on_occamlab_networks(padding):
    # arch.network builds NTK-parameterized Dense/Conv modules (scaled weights, b_std·b): the
    # layerwise path must carry their scales; the generic paths see them only through autograd.
    arch = K.serial(K.Conv(filter_size=3, padding=padding, w_std=2**.5, b_std=.1), K.Relu(),
                    K.Conv(filter_size=4, padding=padding, w_std=1.3, b_std=.2), K.Erf(),
                    K.GlobalAvgPool() if padding == "same" else K.Flatten(),
                    K.Dense(w_std=2**.5, b_std=.1), K.Tanh(), K.Dense())
    net = arch.network(in_shape=(2, 12), width=8, seed=0, dtype=torch.float64, out_dim=3)
    x1, x2 = _x(5, 2, 12, seed=32), _x(4, 2, 12, seed=33)
    for trace in (True, False):
        ref = empirical_ntk(net, x1, x2, method="jacobian", trace=trace)
        for method in ("jvp", "layerwise"):
            got = empirical_ntk(net, x1, x2, method=method, trace=trace)
            assert _rel(got, ref) < AGREE, (method, trace)


@pytest.mark.parametrize("gradients", [True, False])
@pytest.mark.parametrize("trace", [True, False])
def test_both_conv_contraction_orders_agree(monkeypatch, gradients, trace):
    # The layerwise path sums over positions either as per-sample weight gradients or as Grams of
    # position pairs (chosen by cost); force each and compare with the Jacobian contraction.
    monkeypatch.setattr(lw, "use_gradients", lambda *a: gradients)
    model = _cnn1d("same", "circular")
    x1, x2 = _x(4, 2, 12, seed=22), _x(3, 2, 12, seed=23)
    ref = empirical_ntk(model, x1, x2, method="jacobian", trace=trace)
    assert _rel(empirical_ntk(model, x1, x2, method="layerwise", trace=trace), ref) < AGREE


@pytest.mark.parametrize("method", METHODS)
def test_blocked_and_symmetric_equal_one_block(method):
    model = _cnn1d(3, "zeros")
    x = _x(7, 2, 12, seed=24)
    one = empirical_ntk(model, x, x, method=method, trace=False)
    sym = empirical_ntk(model, x, method=method, batch_size=3, trace=False,
                        progress=method == "layerwise")
    assert _rel(sym, one) < AGREE
    # Θ(x, x')_{oo'} = Θ(x', x)_{o'o}: the mirrored blocks must be transposed on both axes.
    assert _rel(sym, sym.permute(1, 0, 3, 2)) < AGREE
    traced = empirical_ntk(model, x, method=method, batch_size=3)
    assert _rel(traced, torch.diagonal(one, dim1=2, dim2=3).sum(-1)) < AGREE
    assert _rel(traced, traced.T) < AGREE
    x2 = _x(5, 2, 12, seed=25)
    assert _rel(empirical_ntk(model, x, x2, method=method, batch_size=2),
                empirical_ntk(model, x, x2, method=method)) < AGREE


@pytest.mark.parametrize("method", METHODS)
def test_automatic_blocks_under_a_small_memory_budget(monkeypatch, method):
    # batch_size=None sizes blocks from the budget; a tiny budget forces many blocks and
    # recomputed (not cached) factors: the kernel must not change.
    model = _cnn1d(3, "zeros")
    x = _x(5, 2, 12, seed=34)
    one = empirical_ntk(model, x, x, method=method, trace=False)
    blocks = []
    real = emp._blocked
    monkeypatch.setattr(emp, "_blocked", lambda *a, **k: blocks.append(a[2]) or real(*a, **k))
    monkeypatch.setattr(emp, "_BUDGET", 4000)
    assert _rel(empirical_ntk(model, x, method=method, trace=False), one) < AGREE
    assert 1 <= blocks[-1] < 5  # really blocked


def test_layerwise_never_forms_a_jacobian(monkeypatch):
    # Width 4096: the Jacobian of all 16.8M parameters for 16 inputs would take 2.1 GB in float64;
    # the layerwise path only keeps Grams and (16, width) signals. The Jacobian and NTK-vector
    # paths are disabled to prove it, and the kernel is checked against the analytic NTK.
    def forbidden(*args, **kwargs):
        raise AssertionError("the layerwise path used a Jacobian")

    monkeypatch.setattr(emp, "_jacobian_factor", forbidden)
    monkeypatch.setattr(emp, "_jvp_ntk", forbidden)
    arch = K.mlp(2, "relu", w_std=2**0.5, b_std=0.1)
    x = _x(16, 10, seed=41)
    net = arch.network(in_shape=(10,), width=4096, seed=0, dtype=torch.float64)
    got = empirical_ntk(net, x)
    want = arch.kernel(x).ntk
    # Finite-width fluctuations ~ 1/√width: relative error 0.038, 0.031, 0.052, 0.042 for seeds
    # 0–3 at this width; 0.15 is ~3× the largest.
    assert float(torch.linalg.norm(got - want) / torch.linalg.norm(want)) < 0.15


def test_sequence_linear_and_odd_output_shapes():
    # nn.Linear on (n, positions, d) shares its weights over positions; outputs (n, 2, 3) count
    # as 6 outputs; a scalar output (n,) as one.
    seq = _seeded(nn.Sequential(nn.Linear(3, 8), nn.ELU(), nn.Linear(8, 3)), 13)
    x = _x(4, 2, 3, seed=26)
    ref = empirical_ntk(seq, x, method="jacobian", trace=False)
    assert ref.shape == (4, 4, 6, 6)
    assert _rel(empirical_ntk(seq, x, method="layerwise", trace=False), ref) < AGREE
    scalar = _seeded(nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1), nn.Flatten(0)),
                     14)
    x = _x(5, 3, seed=27)
    ref = empirical_ntk(scalar, x, method="jacobian")
    assert ref.shape == (5, 5)
    assert _rel(empirical_ntk(scalar, x, method="layerwise"), ref) < AGREE


def test_frozen_parameters_are_left_out():
    model = _mlp()
    model[2].weight.requires_grad_(False)
    model[4].requires_grad_(False)
    x = _x(5, 5, seed=28)
    ref = empirical_ntk(model, x, method="jacobian")
    assert _rel(empirical_ntk(model, x, method="layerwise"), ref) < AGREE
    # Independent check: the frozen layers' share is what the full NTK has in addition.
    model.requires_grad_(True)
    assert float((empirical_ntk(model, x) - ref).min()) > -1e-12
    assert float(torch.diagonal(empirical_ntk(model, x) - ref).min()) > 1e-3


def test_auto_chooses_layerwise_when_it_applies(monkeypatch):
    calls = []
    real = emp._layerwise_ntk
    monkeypatch.setattr(emp, "_layerwise_ntk", lambda *a, **k: calls.append(1) or real(*a, **k))
    x = _x(4, 5, seed=29)
    empirical_ntk(_mlp(), x)
    assert calls == [1]
    # A BatchNorm is not handled layer by layer: auto falls back to the Jacobian contraction.
    bn = _seeded(nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.Linear(6, 2)), 15).eval()
    got = empirical_ntk(bn, x)
    assert calls == [1]
    assert _rel(got, empirical_ntk(bn, x, method="jvp")) < AGREE


def test_shared_layer_falls_back_and_matches_jvp():
    lin = nn.Linear(4, 4)
    tied = _seeded(nn.Sequential(lin, nn.Tanh(), lin, nn.Tanh(), nn.Linear(4, 2)), 16)
    x = _x(3, 4, seed=30)
    # Shared weights: Θ has cross terms between the two uses, which layer-by-layer sums miss.
    with pytest.raises(ValueError, match="Linear shares parameters"):
        empirical_ntk(tied, x, method="layerwise")
    assert _rel(empirical_ntk(tied, x), empirical_ntk(tied, x, method="jvp")) < AGREE


def test_dtype_device_and_numpy_inputs():
    model = _mlp()
    x = _x(4, 5, seed=31)
    ref = empirical_ntk(model, x)
    f32 = empirical_ntk(model.float(), x.numpy())
    assert f32.dtype == torch.float32 and f32.device == x.device
    # float32 rounding (~6e-8) accumulated over three layers of width 16: 1e-5 relative.
    assert _rel(f32.double(), ref) < 1e-5
    # Inputs are cast to the model's dtype: float64 inputs on a float32 model give float32.
    assert empirical_ntk(model, x, method="jvp").dtype == torch.float32
    assert empirical_nngp(model, x).dtype == torch.float32


# ---------------------------------------------------------------------------- neural-tangents

NT_REF = Path(__file__).parent / "data" / "nt_empirical_reference.npz"


class Erf(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.erf(x)


class GlobalAvg(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(-1)


def _nt_layer(ref, name: str, padding: str = "same") -> nn.Module:
    """A layer of the fixture as occamlab's own NTK-parameterized module, loaded with its weights.

    (Plain nn.Linear/Conv1d cannot stand in: the NTK is not invariant under reparameterization,
    ∂/∂W of s·W·x is s·x where that of W'·x with W' = s·W is x.)
    """
    w, b = torch.from_numpy(ref[f"{name}_W"]), torch.from_numpy(ref[f"{name}_b"])
    w_std, b_std = (float(v) for v in ref[f"{name}_std"])
    out, n_in = w.shape[:2]
    if w.ndim == 2:
        arch, shape = K.serial(K.Dense(w_std=w_std, b_std=b_std)), (n_in,)
    else:
        arch = K.serial(K.Conv(filter_size=w.shape[2], padding=padding, w_std=w_std,
                               b_std=b_std))
        shape = (n_in, 9)
    mod = arch.network(in_shape=shape, width=out, out_dim=out, dtype=torch.float64)[0]
    with torch.no_grad():
        mod.weight.copy_(w)
        mod.bias.copy_(b)
    return mod


def _nt_network(ref, case: str) -> nn.Module:
    # Erf and the average pool are plain modules here, to go through the generic pullback.
    if case == "mlp":
        return nn.Sequential(_nt_layer(ref, "mlp0"), Erf(), _nt_layer(ref, "mlp1"), nn.ReLU(),
                             _nt_layer(ref, "mlp2"))
    return nn.Sequential(_nt_layer(ref, "cnn0", "circular"), nn.ReLU(),
                         _nt_layer(ref, "cnn1", "same"), Erf(), GlobalAvg(),
                         _nt_layer(ref, "cnn2"))


@pytest.mark.parametrize("case", ["mlp", "cnn"])
def test_matches_neural_tangents(case):
    # Reference: neural-tangents 0.6.5's empirical NTK (Jacobian contraction, float64) of the
    # same weights, made by benchmarks/peers/nt_empirical_fixtures.py.
    ref = np.load(NT_REF)
    net = _nt_network(ref, case)
    x1, x2 = torch.from_numpy(ref[f"{case}_x1"]), torch.from_numpy(ref[f"{case}_x2"])
    want = torch.from_numpy(ref[f"{case}_ntk"])
    for method in METHODS:
        got = empirical_ntk(net, x1, x2, method=method, trace=False)
        # Two libraries, the same float64 sums in different orders (XLA vs ATen kernels):
        # rounding ~1e-15 relative; 1e-10 as for the cross-method agreement.
        assert _rel(got, want) < AGREE, method
