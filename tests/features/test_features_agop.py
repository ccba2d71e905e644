"""AGOP against closed forms, finite differences and an explicit unfold computation."""

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.autograd.functional import jacobian

from occamlab.features import agop, agops, supported_layers

# float64 throughout: the AGOPs below agree with their references to rounding, ~1e-15 relative;
# 1e-10 leaves room for summation order over a few hundred terms.
TIGHT = 1e-10



def _rel(a, b):
    return float((a - b).detach().norm() / b.detach().norm())


def test_linear_model_agop_is_WtW_closed_form():
    # f(x) = W x + b has Jacobian W at every x, so AGOP = Σ_j w_jw_jᵀ = WᵀW (multi-output sum).
    torch.manual_seed(0)
    m = nn.Linear(6, 4).double()
    X = torch.randn(37, 6, dtype=torch.float64)
    W = m.weight.detach()
    assert _rel(agop(m, X), W.T @ W) < TIGHT
    # The gradient is constant, so its covariance (centered AGOP) is exactly zero.
    assert float(agop(m, X, centered=True).abs().max()) == 0.0


def test_two_layer_linear_agop_per_layer_closed_forms():
    # f = W2 W1 x: w.r.t. the input AGOP = W1ᵀW2ᵀW2W1; w.r.t. the hidden input AGOP = W2ᵀW2.
    torch.manual_seed(1)
    m = nn.Sequential(nn.Linear(5, 7), nn.Linear(7, 3)).double()
    X = np.random.default_rng(0).standard_normal((20, 5))  # NumPy input is accepted
    W1, W2 = m[0].weight.detach(), m[1].weight.detach()
    assert _rel(agop(m, X), W1.T @ W2.T @ W2 @ W1) < TIGHT
    assert _rel(agop(m, X, layer="1"), W2.T @ W2) < TIGHT
    assert _rel(agop(m, X, layer=m[1]), W2.T @ W2) < TIGHT
    both = agops(m, X)
    assert list(both) == ["0", "1"]
    assert _rel(both["1"][0], W2.T @ W2) < TIGHT


def _tanh_net():
    torch.manual_seed(2)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 6), nn.Tanh(),
                         nn.Linear(6, 2)).double()


def _fd_agop(f, H, eps=1e-5):
    """AGOP of f (R^d → R^k) over the rows of H by central differences."""
    n, d = H.shape
    total = torch.zeros(d, d, dtype=torch.float64)
    for h in H:
        J = torch.stack([(f(h + eps * e) - f(h - eps * e)) / (2 * eps)
                         for e in torch.eye(d, dtype=torch.float64)], dim=1)  # (k, d)
        total += J.T @ J
    return total / n


def test_agop_matches_finite_differences_at_input_and_hidden_layer():
    m = _tanh_net()
    X = torch.randn(15, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        fd_in = _fd_agop(lambda h: m(h[None])[0], X)
        H = m[:2](X)  # input of layer "2"
        fd_hidden = _fd_agop(lambda h: m[2:](h[None])[0], H)
    # Central differences with eps = 1e-5 err by O(eps²·f''') ≈ 1e-10 plus rounding
    # O(1e-16/eps) ≈ 1e-11, relative to O(1) entries: 1e-8 is a safe bound.
    assert _rel(agop(m, X), fd_in) < 1e-8
    assert _rel(agop(m, X, layer="2"), fd_hidden) < 1e-8


def test_centered_agop_is_gradient_covariance_from_per_sample_jacobians():
    m = _tanh_net()
    X = torch.randn(25, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    # Per-sample Jacobians (n, k, d) by plain autograd, independent of the hooks.
    J = torch.stack([jacobian(lambda x: m(x[None])[0], x) for x in X])
    mean = J.mean(0)
    ref_u = torch.einsum("nki,nkj->ij", J, J) / len(X)
    ref_c = torch.einsum("nki,nkj->ij", J - mean, J - mean) / len(X)
    assert _rel(agop(m, X), ref_u) < TIGHT
    assert _rel(agop(m, X, centered=True), ref_c) < TIGHT


def test_batching_does_not_change_the_agop():
    m = _tanh_net()
    X = torch.randn(23, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    # Same sums in a different grouping: equal to rounding.
    assert _rel(agop(m, X, batch_size=5), agop(m, X)) < TIGHT
    assert _rel(agop(m, X, batch_size=5, centered=True), agop(m, X, centered=True)) < TIGHT


def _unfold_agop(conv, rest, X, spatial):
    """Patch AGOP computed explicitly: unfold X, make the patches the variables, run the conv as
    a matrix product on them, differentiate the rest of the network, average over positions."""
    k = conv.kernel_size if spatial == 2 else (1, conv.kernel_size[0])
    pad = conv.padding if spatial == 2 else (0, conv.padding[0])
    stride = conv.stride if spatial == 2 else (1, conv.stride[0])
    dil = conv.dilation if spatial == 2 else (1, conv.dilation[0])
    X4 = X if spatial == 2 else X[:, :, None, :]
    patches = nn.functional.unfold(X4, k, dilation=dil, padding=pad, stride=stride)  # (N, D, P)
    Wf = conv.weight.detach().reshape(conv.out_channels, -1)
    out_hw = conv(X).shape[2:]

    def f(p):  # p: (D, P) patches of one sample → outputs (k,)
        z = Wf @ p + conv.bias.detach()[:, None]
        return rest(z.reshape(1, conv.out_channels, *out_hw))[0]

    J = torch.stack([jacobian(f, p) for p in patches])  # (N, k, D, P)
    J = J.permute(0, 1, 3, 2).reshape(-1, J.shape[2])  # rows: (sample, output, position)
    return J.T @ J / (X.shape[0] * patches.shape[2])


@pytest.mark.parametrize("spatial", [1, 2])
def test_conv_patch_agop_matches_explicit_unfold(spatial):
    torch.manual_seed(6)
    if spatial == 1:
        conv = nn.Conv1d(2, 3, kernel_size=5, padding=2, stride=2, dilation=1)
        X = torch.randn(6, 2, 17)
        n_out = 3 * 9
    else:
        conv = nn.Conv2d(2, 3, kernel_size=3, padding=1, stride=2)
        X = torch.randn(5, 2, 7, 6)
        n_out = 3 * 4 * 3
    rest = nn.Sequential(nn.Tanh(), nn.Flatten(), nn.Linear(n_out, 4))
    model = nn.Sequential(conv, rest).double()
    X = X.double()
    A = agop(model, X)
    ref = _unfold_agop(conv, rest, X, spatial)
    assert A.shape == (conv.weight[0].numel(),) * 2
    assert _rel(A, ref) < TIGHT


def test_agop_follows_model_dtype_and_returns_float64():
    torch.manual_seed(7)
    m = nn.Linear(3, 2)  # float32 model, float64 input
    X = torch.randn(10, 3, dtype=torch.float64)
    A = agop(m, X)
    W = m.weight.detach().double()
    assert A.dtype == torch.float64
    # Gradients are computed in float32 (the model's dtype): relative error ~1e-7.
    assert _rel(A, W.T @ W) < 1e-6


def test_default_layer_is_first_supported_and_grouped_conv_is_skipped():
    m = nn.Sequential(nn.Conv1d(2, 2, 3, groups=2), nn.Conv1d(2, 4, 3), nn.Flatten(),
                      nn.Linear(4 * 6, 1))
    assert list(supported_layers(m)) == ["1", "3"]
    with pytest.raises(TypeError, match="grouped convolution"):
        agop(m, torch.randn(3, 2, 10), layer="0")


# -- bad input -------------------------------------------------------------------------------

def _mlp():
    torch.manual_seed(8)
    return nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 1))


def test_unknown_layer_name_lists_valid_layers():
    with pytest.raises(ValueError, match=r"no layer named 'fc9'.*valid layers: \['0', '2'\]"):
        agop(_mlp(), torch.randn(4, 3), layer="fc9")


def test_foreign_module_is_rejected():
    with pytest.raises(ValueError, match=r"not a submodule.*valid layers"):
        agop(_mlp(), torch.randn(4, 3), layer=nn.Linear(3, 5))


def test_unsupported_layer_type_is_named():
    with pytest.raises(TypeError, match=r"layer '1' is a ReLU; AGOP supports nn.Linear"):
        agop(_mlp(), torch.randn(4, 3), layer="1")
    with pytest.raises(TypeError, match="layer must be an nn.Module, a layer name"):
        agop(_mlp(), torch.randn(4, 3), layer=3)


def test_wrong_feature_dimension_names_layer_and_expected_size():
    with pytest.raises(ValueError, match=r"layer '0' \(Linear\) expects inputs with 3 features"):
        agop(_mlp(), torch.randn(4, 7))
    conv = nn.Sequential(nn.Conv1d(2, 3, 3), nn.Flatten(), nn.Linear(3 * 8, 1))
    with pytest.raises(ValueError, match=r"layer '0' \(Conv1d\) expects inputs of shape \(N, 2"):
        agop(conv, torch.randn(4, 5, 10))


def test_nan_in_X_is_rejected():
    X = torch.randn(4, 3)
    X[2, 1] = float("nan")
    with pytest.raises(ValueError, match=r"X contains non-finite values \(1 NaN"):
        agop(_mlp(), X)


def test_model_without_supported_layer_and_non_module():
    with pytest.raises(ValueError, match="has no nn.Linear, nn.Conv1d or nn.Conv2d layer"):
        agop(nn.Sequential(nn.Tanh()), torch.randn(4, 3))
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        agop(lambda x: x, torch.randn(4, 3))


def test_layer_used_twice_is_rejected():
    lin = nn.Linear(3, 3)
    m = nn.Sequential(lin, nn.Tanh(), lin)
    with pytest.raises(ValueError, match="ran 2 times in one forward pass"):
        agop(m, torch.randn(4, 3))


# -- occamlab's own NTK-parameterized networks (arch.network) ---------------------------------

def _plain_twin(net):
    """The same function as an occamlab network, from plain torch layers with weight = scale·W
    and bias = b_std·b; paddings mapped to torch's own ('same' zeros, circular, valid)."""
    from occamlab.kernels._layers import _ConvModule, _DenseModule

    mods = []
    for m in net:
        if isinstance(m, _DenseModule | _ConvModule):
            W = m.weight.detach()
            if isinstance(m, _DenseModule):
                p = nn.Linear(W.shape[1], W.shape[0], dtype=W.dtype)
            else:
                cls = nn.Conv1d if len(m.taps) == 1 else nn.Conv2d
                p = cls(W.shape[1], W.shape[0], tuple(m.taps),
                        padding="valid" if m.padding == "valid" else "same",
                        padding_mode="circular" if m.padding == "circular" else "zeros",
                        dtype=W.dtype)
            with torch.no_grad():
                p.weight.copy_(m.scale * W)
                p.bias.copy_(0.0 if m.bias is None else m.b_std * m.bias)
            mods.append(p)
        else:
            mods.append(copy.deepcopy(m))
    return nn.Sequential(*mods)


def _dense_arch_net():
    from occamlab import kernels as K

    arch = K.serial(K.Dense(w_std=1.5, b_std=0.3), K.Tanh(), K.Dense(w_std=1.2, b_std=0.2),
                    K.Erf(), K.Dense(w_std=0.9))
    return arch.network((5,), width=7, seed=0, out_dim=3, dtype=torch.float64)


def test_occamlab_dense_network_agop_equals_plain_linear_twin():
    net = _dense_arch_net()
    twin = _plain_twin(net)
    X = torch.randn(21, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    # The twin is the same function: outputs agree to float64 rounding.
    assert _rel(twin(X), net(X)) < 1e-13
    assert list(supported_layers(net)) == ["0", "2", "4"]
    ours, plain = agops(net, X), agops(twin, X)
    for name in ("0", "2", "4"):
        for a, b in zip(ours[name], plain[name]):
            if float(b.norm()) == 0.0:  # the readout's centered AGOP: constant gradient
                assert float(a.abs().max()) == 0.0
            else:
                assert _rel(a, b) < TIGHT
    # The readout is linear in its input: AGOP = W_effᵀW_eff with W_eff = scale·W exactly
    # (the raw weight would be off by scale² = 0.9²/7).
    W = net[4].scale * net[4].weight.detach()
    assert _rel(agop(net, X, layer="4"), W.T @ W) < TIGHT
    assert _rel(agop(net, X), ours["0"][0]) < TIGHT  # default layer: the first Dense


def test_occamlab_dense_network_agop_matches_jacrev_of_the_model():
    from torch.func import jacrev, vmap

    net = _dense_arch_net()
    X = torch.randn(17, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(10))
    with torch.no_grad():
        H = net[:2](X)  # the input of Dense layer "2"
    # Per-sample Jacobians of the rest of the network w.r.t. the layer input, by torch.func:
    # no hooks and no use of the layer's weight.
    J = vmap(jacrev(lambda h: net[2:](h[None])[0]))(H)  # (n, k, d)
    ref = torch.einsum("nki,nkj->ij", J, J) / len(X)
    mean = J.mean(0)
    ref_c = torch.einsum("nki,nkj->ij", J - mean, J - mean) / len(X)
    # Both exact in float64; they differ only in summation order: ~1e-15 relative.
    assert _rel(agop(net, X, layer="2"), ref) < TIGHT
    assert _rel(agop(net, X, layer=net[2], centered=True), ref_c) < TIGHT
    J0 = vmap(jacrev(lambda x: net(x[None])[0]))(X)  # w.r.t. the network input (layer "0")
    assert _rel(agop(net, X, layer="0"), torch.einsum("nki,nkj->ij", J0, J0) / len(X)) < TIGHT


# torch warns that 'same' with an even filter pads a copy of the input: expected, not a problem.
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("padding,taps,in_shape", [
    ("same", 3, (2, 9)), ("same", 5, (2, 9)), ("same", 4, (2, 9)),
    ("circular", 3, (2, 9)), ("valid", 3, (2, 9)), ("same", (3, 3), (2, 5, 4)),
    ("circular", (3, 1), (2, 5, 4)),
])
def test_occamlab_conv_network_agop_equals_plain_conv_twin(padding, taps, in_shape):
    from occamlab import kernels as K

    arch = K.serial(K.Conv(taps, padding, w_std=1.3, b_std=0.2), K.Tanh(),
                    K.Conv(taps, padding, w_std=1.1, b_std=0.1), K.Erf(), K.Flatten(),
                    K.Dense(w_std=1.0))
    net = arch.network(in_shape, width=3, seed=1, out_dim=2, dtype=torch.float64)
    twin = _plain_twin(net)
    X = torch.randn(6, *in_shape, dtype=torch.float64, generator=torch.Generator().manual_seed(11))
    # Same function (so torch's 'same'/'circular' split of the taps matches the module's):
    # outputs agree to float64 rounding.
    assert _rel(twin(X), net(X)) < 1e-13
    ours, plain = agops(net, X, ["0", "2"]), agops(twin, X, ["0", "2"])
    d = 3 * math.prod((taps,) if isinstance(taps, int) else taps)
    assert ours["2"][0].shape == (d, d)
    for name in ("0", "2"):
        for a, b in zip(ours[name], plain[name]):
            assert _rel(a, b) < TIGHT


def test_protocol_errors_name_the_layer_and_what_is_supported():
    class Bad(nn.Module):
        affine_kind = "conv3d"
        weight = None

        def forward(self, x):
            return x

    with pytest.raises(TypeError, match=r"layer '0' \(Bad\) declares affine_kind='conv3d'"):
        agop(nn.Sequential(Bad(), nn.Linear(3, 1)), torch.randn(4, 3), layer="0")
    with pytest.raises(ValueError, match="nor a module declaring affine_kind and effective_weight"):
        agop(nn.Sequential(Bad()), torch.randn(4, 3))
    net = _dense_arch_net()
    with pytest.raises(ValueError, match=r"layer '0' \(_DenseModule\) expects inputs with 5 "):
        agop(net, torch.randn(4, 6, dtype=torch.float64))
