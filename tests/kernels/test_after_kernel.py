"""K.after_kernel and K.kernel_evolution against closed forms and independent computations."""

import copy

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from occamlab import kernels as K  # noqa: E402


def _data(n=10, m=6, d=5, k=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, dtype=torch.float64, generator=g),
            torch.randn(n, k, dtype=torch.float64, generator=g),
            torch.randn(m, d, dtype=torch.float64, generator=g),
            torch.randn(m, k, dtype=torch.float64, generator=g))


def _train(net, x, y, lr, steps, every=None):
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    saved = [copy.deepcopy(net)]
    for s in range(steps):
        opt.zero_grad()
        (0.5 * ((net(x) - y) ** 2).mean()).backward()
        opt.step()
        if every and (s + 1) % every == 0:
            saved.append(copy.deepcopy(net))
    return net, saved


def test_linear_model_from_zero_is_its_kernel_regression():
    # f = Wx + b has the constant NTK x·x' + 1 per output; GD from W = b = 0 converges to the
    # minimum-norm interpolant, which is ridgeless kernel regression with that NTK (n < d + 1)
    x, y, xt, yt = _data(n=5, d=8)
    net = nn.Linear(8, 2).double()
    nn.init.zeros_(net.weight)
    nn.init.zeros_(net.bias)
    init = copy.deepcopy(net)
    lam = torch.linalg.eigvalsh(x @ x.T + 1)  # one output's NTK
    lr = 0.9 * 2 * y.numel() / float(lam[-1])  # 0.9 × the edge of stability
    steps = int(np.log(1e-13) / np.log(1 - lr * float(lam[0]) / y.numel())) + 1
    trained, _ = _train(net, x, y, lr=lr, steps=steps)  # slowest mode contracted to 1e-13
    res = K.after_kernel(init, trained, x, y, xt, yt)
    assert abs(res.kernel_distance) < 1e-14  # the kernel did not move (rounding)
    assert res.initial_kernel_mse == pytest.approx(res.final_kernel_mse, rel=1e-12)
    # converged to 1e-13 relative, so the MSEs agree to 1e-8
    assert res.network_mse == pytest.approx(res.final_kernel_mse, rel=1e-8)
    # independent: the NTK by hand, the solve by numpy
    k = (x @ x.T + 1) * 2  # traced over the two outputs
    kt = (xt @ x.T + 1) * 2
    pred = kt.numpy() @ np.linalg.solve(k.numpy(), y.numpy())
    assert res.final_kernel_mse == pytest.approx(float(((pred - yt.numpy()) ** 2).mean()),
                                                 rel=1e-10)
    assert res.network_accuracy is None  # float targets: regression


def test_mlp_after_kernel_against_a_direct_computation():
    x, y, xt, yt = _data()
    net = K.mlp(1, "relu", w_std=2**0.5).network((5,), 64, seed=0, dtype=torch.float64,
                                                  out_dim=2, parameterization="standard")
    init = copy.deepcopy(net)
    trained, _ = _train(net, x, y, lr=0.05, steps=200)
    res = K.after_kernel(init, trained, x, y, xt, yt, ridge=1e-3)
    for model, mse in ((init, res.initial_kernel_mse), (trained, res.final_kernel_mse)):
        k = K.empirical_ntk(model, x, method="jacobian").numpy()
        kt = K.empirical_ntk(model, xt, x, method="jacobian").numpy()
        pred = kt @ np.linalg.solve(k + 1e-3 * np.eye(10), y.numpy())
        assert mse == pytest.approx(float(((pred - yt.numpy()) ** 2).mean()), rel=1e-9)
    k0 = K.empirical_ntk(init, x).numpy()
    k1 = K.empirical_ntk(trained, x).numpy()
    cos = (k0 * k1).sum() / np.linalg.norm(k0) / np.linalg.norm(k1)
    assert res.kernel_distance == pytest.approx(1 - cos, rel=1e-10)
    assert res.kernel_distance > 1e-5  # it moved (rounding alone gives ~1e-15)
    from occamlab.spectra import alignment

    assert res.alignment_final == pytest.approx(float(alignment(k1, y)), rel=1e-12)
    with torch.no_grad():
        assert res.network_mse == pytest.approx(float(((trained(xt) - yt) ** 2).mean()))


def test_class_labels_give_accuracies():
    x, _, xt, _ = _data(k=3)
    labels, labels_t = torch.arange(10) % 3, torch.arange(6) % 3
    net = K.mlp(1).network((5,), 32, seed=1, dtype=torch.float64, out_dim=3)
    res = K.after_kernel(net, net, x, labels, xt, labels_t, ridge=1e-6)
    with torch.no_grad():
        acc = float((net(xt).argmax(1) == labels_t).double().mean())
    assert res.network_accuracy == acc
    assert 0 <= res.final_kernel_accuracy <= 1
    assert res.initial_kernel_accuracy == res.final_kernel_accuracy  # the same network twice
    assert set(res.to_dict()) >= {"network_mse", "kernel_distance", "alignment_final"}
    ax = res.plot()
    assert len(ax.patches) == 3
    import matplotlib.pyplot as plt

    plt.close(ax.figure)


def test_kernel_evolution_of_a_frozen_feature_map_and_of_an_mlp():
    x, y, _, _ = _data()
    # only the readout trains: the NTK is the Gram of the fixed features, it never moves
    net = K.mlp(1, "erf").network((5,), 32, seed=0, dtype=torch.float64, out_dim=2)
    net[0].requires_grad_(False)
    _, saved = _train(net, x, y, lr=0.5, steps=20, every=5)
    ev = K.kernel_evolution(saved, x, y, steps=[0, 5, 10, 15, 20])
    assert np.abs(ev.distance).max() < 1e-14 and np.abs(ev.velocity[1:]).max() < 1e-14
    # an MLP in standard parameterization: distances from Θ₀ match a direct computation,
    # velocity is the consecutive distance per step
    net = K.mlp(1, "relu", w_std=2**0.5).network((5,), 32, seed=0, dtype=torch.float64,
                                                  out_dim=2, parameterization="standard")
    _, saved = _train(net, x, y, lr=0.05, steps=40, every=10)
    ev = K.kernel_evolution(saved, x, y, steps=[0, 10, 20, 30, 40])
    ks = [K.empirical_ntk(m, x).numpy() for m in saved]

    def dist(a, b):
        return 1 - (a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b)

    np.testing.assert_allclose(ev.distance, [dist(ks[0], k) for k in ks], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(ev.velocity[1:], [dist(a, b) / 10 for a, b in zip(ks, ks[1:])],
                               rtol=1e-9)
    assert np.isnan(ev.velocity[0]) and ev.distance[-1] > 0
    ax = ev.plot()
    assert len(ax.get_lines()) == 2
    import matplotlib.pyplot as plt

    plt.close(ax.figure)


def test_bad_input():
    x, y, xt, yt = _data()
    net = K.mlp(1).network((5,), 8, seed=0, dtype=torch.float64, out_dim=2)
    with pytest.raises(ValueError, match="y_train has 9 rows but its inputs have 10"):
        K.after_kernel(net, net, x, y[:9], xt, yt)
    with pytest.raises(ValueError, match="one column per model output"):
        K.after_kernel(net, net, x, y[:, :1], xt, yt[:, :1])
    with pytest.raises(ValueError, match="class labels.*k = 2"):
        K.after_kernel(net, net, x, torch.arange(10), xt, torch.zeros(6, dtype=torch.long))
    with pytest.raises(ValueError, match="ridge must be a finite number ≥ 0"):
        K.after_kernel(net, net, x, y, xt, yt, ridge=-1.0)
    dup = x.clone()
    dup[1] = dup[0]
    with pytest.raises(ValueError, match="singular.*pass ridge > 0"):
        K.after_kernel(net, net, dup, y, xt, yt)
    with pytest.raises(ValueError, match="at least two networks"):
        K.kernel_evolution([net], x, y)
    with pytest.raises(ValueError, match="steps must be 2 finite, increasing"):
        K.kernel_evolution([net, net], x, y, steps=[3, 1])


@pytest.mark.slow
def test_after_kernel_showcase_on_mnist1d():
    # The showcase (Fort et al. 2020; Long 2021) on MNIST-1D: an MLP and a CNN in standard
    # parameterization trained by full-batch GD on the cross-entropy with a moderate rate.
    # Claims checked are the ones that held in the measured runs (report section "Dynamics"):
    # the kernel moves, its alignment with the labels rises, and the trained network fits
    # the training set better than at initialisation.
    import math

    from occamlab.tasks import mnist1d

    data = mnist1d(n_train=300, n_test=300, seed=42)
    x, labels = data.x_train, data.y_train
    w = math.sqrt(2)
    archs = {
        "MLP": (K.serial(K.Flatten(), K.mlp(2, "relu", w_std=w, b_std=0.1)), 256),
        "CNN": (K.serial(K.Conv(5, "circular", w_std=w, b_std=0.1), K.Relu(),
                         K.Conv(5, "circular", w_std=w, b_std=0.1), K.Relu(),
                         K.GlobalAvgPool(), K.Dense()), 32),
    }
    for name, (arch, width) in archs.items():
        net = arch.network((1, 40), width, seed=0, dtype=torch.float64, out_dim=10,
                           parameterization="standard")
        init = copy.deepcopy(net)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        saved = [copy.deepcopy(net)]
        for s in range(400):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), labels).backward()
            opt.step()
            if (s + 1) in (40, 400):
                saved.append(copy.deepcopy(net))
        res = K.after_kernel(init, net, x, labels, data.x_test, data.y_test, ridge=1e-6)
        ev = K.kernel_evolution(saved, x[:64], labels[:64], steps=[0, 40, 400])
        assert res.kernel_distance > 1e-3, name
        assert res.alignment_final > res.alignment_initial, name
        assert ev.distance[2] > ev.distance[1] > 0, name
        with torch.no_grad():
            acc = float((net(x).argmax(1) == labels).double().mean())
            acc0 = float((init(x).argmax(1) == labels).double().mean())
        assert acc > acc0 + 0.1, name
