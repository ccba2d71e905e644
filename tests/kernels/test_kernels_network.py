"""The finite network of an architecture: NTK parameterization, and its empirical NTK at
initialisation converging to the analytic kernel as width grows (Jacot et al. 2018, Thm. 1)."""

import math

import numpy as np
import pytest
import torch

from occamlab import kernels as K


def slope(widths, errs):
    return np.polyfit(np.log(widths), np.log(errs), 1)[0]


def test_mlp_empirical_ntk_converges_like_inverse_sqrt_width():
    torch.manual_seed(0)
    x = torch.randn(6, 5, dtype=torch.float64)
    arch = K.mlp(2, "relu", w_std=2 ** 0.5, b_std=0.1)
    widths = np.array([32, 128, 512, 2048])
    errs = K.finite_width_error(arch, x, widths, seeds=3).numpy()
    # Fluctuations of a sum of `width` independent terms: slope −1/2. With 3 seeds per width
    # the mean error has ~±30% scatter, i.e. ±0.15 on a slope fitted over a 64× width range.
    assert -0.68 < slope(widths, errs) < -0.32
    assert errs[-1] < 0.1  # measured 0.066 (3 seeds) and 0.059 (8 seeds) at width 2048


def test_cnn_with_pooling_empirical_ntk_converges():
    torch.manual_seed(1)
    x = torch.randn(4, 2, 8, dtype=torch.float64)
    arch = K.serial(K.Conv(3, "circular", 2 ** 0.5, 0.1), K.Relu(), K.Conv(3, "same", 2 ** 0.5),
                    K.Erf(), K.GlobalAvgPool(), K.Dense(1.0, 0.1))
    widths = np.array([16, 64, 256, 1024])
    errs = K.finite_width_error(arch, x, widths, seeds=3).numpy()
    assert -0.68 < slope(widths, errs) < -0.32  # as above
    assert errs[-1] < 0.1  # measured 0.043 at width 1024


def test_network_shapes_parameterization_and_seed():
    arch = K.serial(K.Conv((2, 3), "valid", 1.5, 0.2), K.Relu(), K.Flatten(), K.Dense(1.2, 0.1),
                    K.Tanh(), K.Dense())
    net = arch.network((3, 5, 6), width=7, seed=4, out_dim=2)
    x = torch.randn(10, 3, 5, 6)
    assert net(x).shape == (10, 2)
    conv = net[0]
    assert conv.weight.shape == (7, 3, 2, 3)
    # NTK parameterization: standard normal weights, scale w_std/√(C·taps)
    assert conv.scale == pytest.approx(1.5 / math.sqrt(3 * 6), rel=1e-15)
    assert net[3].weight.shape == (7, 7 * 4 * 4)
    same = arch.network((3, 5, 6), width=7, seed=4, out_dim=2)
    other = arch.network((3, 5, 6), width=7, seed=5, out_dim=2)
    assert torch.equal(net(x), same(x)) and not torch.equal(net(x), other(x))


def test_network_conv_matches_kernel_padding_convention():
    # One circular/same conv layer of width 1 with the identity filter position: compare the
    # finite module with an explicit loop over taps (independent of F.conv1d padding rules).
    torch.manual_seed(3)
    for padding in ("same", "circular"):
        net = K.Conv(4, padding).network((1, 6), width=1, seed=0, dtype=torch.float64)
        x = torch.randn(2, 1, 6, dtype=torch.float64)
        w = net[0].weight[0, 0] * net[0].scale
        lo = (4 - 1) // 2  # extra tap after the centre, as XLA/neural-tangents 'SAME'
        want = torch.zeros(2, 6, dtype=torch.float64)
        for p in range(6):
            for t in range(4):
                j = p - lo + t
                if padding == "circular":
                    want[:, p] += w[t] * x[:, 0, j % 6]
                elif 0 <= j < 6:
                    want[:, p] += w[t] * x[:, 0, j]
        got = net(x)[:, 0]
        torch.testing.assert_close(got, want, rtol=1e-14, atol=1e-14)  # float64 rounding


def test_wide_network_features_give_the_nngp():
    # NNGP of the readout = w²·E[φ(h)φ(h')] + b²; one wide network's feature Gram estimates
    # the expectation with relative fluctuations ~ 1/√width (Lee et al. 2018, Eq. 4).
    torch.manual_seed(4)
    x = torch.randn(5, 2, 6, dtype=torch.float64)
    arch = K.serial(K.Conv(3, "same", 1.3, 0.2), K.Gelu(), K.Flatten(), K.Dense(1.5, 0.3),
                    K.Erf(), K.Dense(0.9, 0.4))
    want = arch.kernel(x).nngp
    errs = []
    for width in (64, 2048):
        net = arch.network(x.shape[1:], width=width, seed=0, dtype=torch.float64)
        with torch.no_grad():
            h = net[:-1](x)
        got = 0.9 ** 2 * (h @ h.T) / width + 0.4 ** 2
        errs.append((torch.linalg.norm(got - want) / torch.linalg.norm(want)).item())
    # measured at width 2048 over seeds 0-2: 0.020-0.025 (1/√2048 ≈ 0.022), so 0.06 leaves
    # ~3× room; 32× the width must cut the error by well over 2× (expected √32 ≈ 5.7×)
    assert errs[1] < 0.06 and errs[1] < errs[0] / 2
