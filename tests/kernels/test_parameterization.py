"""Parameterizations of arch.network (NTK, standard, μP), μP's SGD groups, the coordinate check."""

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from occamlab import kernels as K  # noqa: E402

ARCH = K.serial(K.Conv(3, w_std=1.4, b_std=0.1), K.Relu(), K.Flatten(), K.Dense(1.4, 0.1),
                K.Relu(), K.Dense(1.0, 0.2))


def test_same_draws_rescaled():
    x = torch.randn(5, 2, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    nets = {p: ARCH.network((2, 8), 16, seed=3, dtype=torch.float64, parameterization=p)
            for p in ("ntk", "standard", "mup")}
    # standard is NTK with the scale moved into the weights: the same function at init
    torch.testing.assert_close(nets["standard"](x), nets["ntk"](x), rtol=1e-12, atol=1e-14)
    ntk, sp, mup = (list(nets[p].children()) for p in ("ntk", "standard", "mup"))
    fan_in = (2 * 3, 16 * 8, 16)
    for i, f in zip((0, 3, 5), fan_in):
        torch.testing.assert_close(sp[i].weight, ntk[i].weight * ntk[i].scale, rtol=1e-15,
                                   atol=0)
        assert ntk[i].scale == pytest.approx((1.4 if i < 5 else 1.0) / math.sqrt(f))
    # μP: hidden weights as in standard, the readout's variance w²/fan_in² (1/√fan_in smaller)
    torch.testing.assert_close(mup[3].weight, sp[3].weight, rtol=0, atol=0)
    torch.testing.assert_close(mup[5].weight, sp[5].weight / math.sqrt(16), rtol=1e-15, atol=0)
    torch.testing.assert_close(mup[5].bias, sp[5].bias, rtol=0, atol=0)
    assert [m.role for m in mup if hasattr(m, "role")] == ["input", "hidden", "readout"]


def test_layerwise_empirical_ntk_sees_each_parameterization():
    # the layerwise path reads the modules' multipliers; the jacobian path is independent
    x = torch.randn(4, 2, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for p in ("standard", "mup"):
        net = ARCH.network((2, 8), 8, seed=0, dtype=torch.float64, parameterization=p)
        torch.testing.assert_close(K.empirical_ntk(net, x, method="layerwise"),
                                   K.empirical_ntk(net, x, method="jacobian"), rtol=1e-12,
                                   atol=1e-12)


def test_mup_param_groups_follow_the_table():
    net = ARCH.network((2, 8), 16, seed=0, parameterization="mup")
    groups = K.mup_param_groups(net, 0.1)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    assert len(lr_of) == sum(1 for _ in net.parameters())  # every parameter exactly once
    conv, dense, readout = net[0], net[3], net[5]
    assert lr_of[id(conv.weight)] == pytest.approx(0.1 * 16)  # input: ×fan_out
    assert lr_of[id(dense.weight)] == pytest.approx(0.1)  # hidden: ×1
    assert lr_of[id(readout.weight)] == pytest.approx(0.1 / 16)  # readout: ×1/fan_in
    for m, fan_out in ((conv, 16), (dense, 16), (readout, 1)):  # biases: ×fan_out
        assert lr_of[id(m.bias)] == pytest.approx(0.1 * fan_out)
    ntk = ARCH.network((2, 8), 16, seed=0)
    assert [g["lr"] for g in K.mup_param_groups(ntk, 0.1)] == [0.1]
    # one SGD step with the groups is the step of the multipliers written out by hand
    x = torch.randn(3, 2, 8)
    opt = torch.optim.SGD(groups)
    before = readout.weight.detach().clone()
    net(x).pow(2).mean().backward()
    g = readout.weight.grad.clone()
    opt.step()
    torch.testing.assert_close(readout.weight.detach(), before - 0.1 / 16 * g)


def test_unsupported_layer_and_bad_parameterization():
    class Custom(K.Dense):
        def supports(self, parameterization):
            return parameterization == "ntk"

    with pytest.raises(ValueError, match=r"layer 2 \(Dense.*cannot be built in "
                                         r"parameterization='mup'"):
        K.serial(K.Dense(), K.Relu(), Custom()).network((3,), 4, parameterization="mup")
    with pytest.raises(ValueError, match="parameterization must be one of 'ntk', 'standard'"):
        K.mlp(1).network((3,), 4, parameterization="mean-field")
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        K.mup_param_groups(K.mlp(1).network((3,), 4), 0.0)


@pytest.fixture(scope="module")
def checks():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 8)), rng.standard_normal((16, 1))
    arch = K.mlp(2, "relu", w_std=2**0.5, readout_w_std=1.0)
    widths = [64, 256, 1024]
    out = {}
    for p, lr in (("mup", 0.05), ("standard", 0.05), ("ntk", 1.0)):
        out[p] = K.coordinate_check(
            lambda w, p=p: arch.network((8,), w, seed=0, dtype=torch.float64,
                                        parameterization=p), widths, (x, y), steps=3, lr=lr)
    return out


# Layers of K.mlp(2)'s network: 0 Dense, 1 ReLU, 2 Dense, 3 ReLU, 4 readout Dense.
# Slope tolerances: the theory's exponents (μP 0, NTK hidden −½, standard ≥ +½) are width → ∞
# limits; at widths 64–1024 after 3 steps the finite-width corrections measured ≤ 0.14 (μP) and
# ≤ 0.06 (NTK hidden), so ±0.25 leaves room without admitting the neighbouring regime.


def test_mup_updates_do_not_scale_with_width(checks):
    cc = checks["mup"]
    assert cc.layers == ["0", "1", "2", "3", "4"]
    for j in range(5):
        assert abs(cc.slope(j)) < 0.25, (j, cc.slope(j))  # every layer's change is Θ(1)
        assert abs(cc.slope(j, step=0, what="activation")) < 0.25  # and its size


def test_standard_parameterization_blows_up_at_a_fixed_rate(checks):
    cc = checks["standard"]
    assert cc.slope(4) > 0.3  # the readout's update grows with width
    assert min(cc.slope(j) for j in range(4)) > 0.5  # and the hidden features' faster


def test_ntk_hidden_features_freeze_as_width_grows(checks):
    cc = checks["ntk"]
    for j in range(4):
        assert -0.75 < cc.slope(j) < -0.25, (j, cc.slope(j))  # ~ 1/√width


def test_coordinate_check_result_and_errors(checks):
    import matplotlib.pyplot as plt

    cc = checks["mup"]
    assert cc.activation.shape == (3, 4, 5) and cc.loss.shape == (3, 4)
    np.testing.assert_array_equal(cc.change[:, 0], 0.0)  # step 0 is the initialisation
    ax = cc.plot()
    assert len(ax.lines) == 5
    np.testing.assert_allclose(ax.lines[4].get_ydata(), cc.change[:, -1, 4])
    plt.close(ax.figure)
    assert set(cc.to_dict()) == {"widths", "layers", "activation", "change", "loss"}
    with pytest.raises(ValueError, match="at least two widths"):
        K.coordinate_check(lambda w: K.mlp(1).network((2,), w), [4], (np.ones((2, 2)),
                                                                      np.ones((2, 1))))
    with pytest.raises(ValueError, match="is 0 at some width"):
        cc.slope(0, step=0)
