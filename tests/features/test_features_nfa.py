"""The neural feature ansatz on networks where its answer is known."""

import copy
import json
import math

import matplotlib
import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from occamlab.features import matrix_power, nfa, pearson

matplotlib.use("Agg")



def test_pearson_and_matrix_power_match_numpy_and_scipy():
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((6, 6)), rng.standard_normal((6, 6))
    ref = np.corrcoef(A.ravel(), B.ravel())[0, 1]
    # Same formula, different code: agreement to float64 rounding.
    assert abs(pearson(torch.tensor(A), torch.tensor(B)) - ref) < 1e-12
    S = A @ A.T
    root = matrix_power(torch.tensor(S), 0.5).numpy()
    # scipy's sqrtm uses a Schur method; both are accurate to ~1e-12 relative for cond(S) ~ 1e3.
    assert np.abs(root - scipy.linalg.sqrtm(S).real).max() < 1e-8 * np.abs(S).max()
    assert math.isnan(pearson(torch.ones(3, 3), torch.tensor(B[:3, :3])))


def _balanced_linear_net(d=8, h=4, k=5, scale=0.1, seed=0):
    g = torch.Generator().manual_seed(seed)
    Q1, _ = torch.linalg.qr(torch.randn(d, h, generator=g, dtype=torch.float64))  # (d, h)
    Q2, _ = torch.linalg.qr(torch.randn(k, h, generator=g, dtype=torch.float64))  # (k, h)
    net = nn.Sequential(nn.Linear(d, h, bias=False), nn.Linear(h, k, bias=False)).double()
    with torch.no_grad():
        # W1W1ᵀ = W2ᵀW2 = scale²·I: balanced, which gradient flow preserves.
        net[0].weight.copy_(scale * Q1.T)
        net[1].weight.copy_(scale * Q2)
    return net


def test_balanced_linear_network_follows_the_ansatz_with_power_one_half():
    d, h, k, n = 8, 4, 5, 200
    g = torch.Generator().manual_seed(1)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    A = torch.randn(k, d, generator=g, dtype=torch.float64) / math.sqrt(d)
    Y = X @ A.T
    net = _balanced_linear_net(d, h, k)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    for _ in range(1500):
        opt.zero_grad()
        ((net(X) - Y) ** 2).sum(1).mean().backward()
        opt.step()
    W1, W2 = net[0].weight.detach(), net[1].weight.detach()
    imbalance = float((W1 @ W1.T - W2.T @ W2).norm() / (W1 @ W1.T).norm())
    # Gradient descent keeps W1W1ᵀ − W2ᵀW2 constant up to O(lr²) per step; it started at zero.
    assert imbalance < 1e-2
    r = nfa(net, X, progress=False)
    # Balanced ⇒ AGOP = W1ᵀW2ᵀW2W1 = (W1ᵀW1)², so AGOP^½ = W1ᵀW1 and the correlation is 1 up to
    # the imbalance (< 1e-2): the bar is 0.99.
    assert r.correlation("0", 0.5) > 0.99
    # With power 1 the shape differs ((W1ᵀW1)² vs W1ᵀW1): an independent computation.
    G = W1.T @ W1
    assert abs(r.correlation("0", 1.0) - pearson(G, G @ G)) < 1e-2


def _relu_mlp_xx(n, steps, lr, seed=0):
    """20 → 256 → 256 → 1 ReLU MLP trained by full-batch GD on y = x₀x₁."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    X = torch.randn(n, 20, generator=g)
    y = (X[:, 0] * X[:, 1])[:, None]
    net = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                        nn.Linear(256, 1))
    net0 = copy.deepcopy(net)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((net(X) - y) ** 2).mean()
        loss.backward()
        opt.step()
    return net, net0, X, float(loss.detach())


def _check_relu_mlp(net, net0, X, loss):
    # y = x₀x₁ has variance 1; the fit must have learned it for the ansatz to be meaningful.
    assert loss < 0.05
    r = nfa(net, X, init_model=net0, progress=False)
    corr_delta = r.correlation("0", 0.5, which="corr_delta")
    base = r.correlation("0", 0.5, which="corr_init")
    # The bar from Radhakrishnan et al. 2024 (Fig. 2: NFA correlations ≈ 0.9 for MLPs).
    assert corr_delta >= 0.85
    # The baseline, computed independently: input-layer AGOP of the initial network from
    # per-sample input Jacobians (torch.func), its square root by eigh, Pearson by NumPy.
    # (Raw W₀ᵀW₀ is near-identity, like the AGOP of a random network, so it is high too: the
    # reason W − W₀ is the fair test.)
    J = torch.func.vmap(torch.func.jacrev(lambda x: net0(x[None])[0]))(X.detach())  # (n, 1, d)
    J = J.detach().reshape(J.shape[0], -1, J.shape[-1]).double()
    agop = torch.einsum("nod,noe->de", J, J) / J.shape[0]
    w, V = torch.linalg.eigh(agop)
    root = (V * w.clamp_min(0).sqrt()) @ V.T
    W0 = net0[0].weight.detach().double()
    ref = np.corrcoef((W0.T @ W0).reshape(-1).numpy(), root.reshape(-1).numpy())[0, 1]
    assert base == pytest.approx(ref, abs=1e-6)  # float32 network, float64 oracle
    return r


def test_relu_mlp_on_product_feature_fast():
    _check_relu_mlp(*_relu_mlp_xx(n=500, steps=150, lr=0.2))


@pytest.mark.slow
def test_relu_mlp_on_product_feature_full():
    r = _check_relu_mlp(*_relu_mlp_xx(n=4000, steps=2000, lr=0.1))
    assert r.correlation("0", 0.5, which="corr_delta") >= 0.85


def test_result_table_plot_and_json():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2)).double()
    net0 = copy.deepcopy(net)
    with torch.no_grad():
        net[0].weight.add_(0.3 * torch.randn(6, 4, dtype=torch.float64))
    X = torch.randn(30, 4, dtype=torch.float64)
    r = nfa(net, X, init_model=net0, powers=(0.5, 1.0, 2.0), progress=False)
    assert r.layers == ["0", "2"] and len(r.rows) == 2 * 3 * 2
    W = net[0].weight.detach()
    assert torch.allclose(r.grams["0"], W.T @ W)
    # The readout's AGOP is its own WᵀW (nothing after it): correlation 1 at power 1 (rounding).
    assert abs(r.correlation("2", 1.0) - 1.0) < 1e-12
    # Layer "2" was not changed: its update is zero, so its correlation is undefined.
    assert math.isnan(r.correlation("2", 0.5, which="corr_delta"))
    json.dumps(r.to_dict())
    axes = r.plot(None, "0", 0.5)
    shown = axes[0].images[0].get_array()
    assert np.allclose(shown, (W.T @ W).numpy())
    r.plot(layer="0", power=1.0, centered=True, delta=True)
    with pytest.raises(ValueError, match="no row for layer='9'"):
        r.correlation("9")
    with pytest.raises(ValueError, match="no layer '9'"):
        r.plot(layer="9")
    plain = nfa(net, X, progress=False)
    assert math.isnan(plain.rows[0]["corr_init"])
    with pytest.raises(ValueError, match="delta=True needs an initial model"):
        plain.plot(delta=True)


def test_conv_network_table():
    torch.manual_seed(4)
    net = nn.Sequential(nn.Conv1d(1, 4, 5, padding=2), nn.ReLU(), nn.Flatten(),
                        nn.Linear(4 * 12, 3)).double()
    X = torch.randn(9, 1, 12, dtype=torch.float64)
    r = nfa(net, X, powers=(1.0,), progress=False)
    assert r.agops["0"].shape == (5, 5) and r.grams["0"].shape == (5, 5)
    Wf = net[0].weight.detach().reshape(4, 5)
    assert torch.allclose(r.grams["0"], Wf.T @ Wf)


# -- bad input -------------------------------------------------------------------------------

def test_bad_powers_and_mismatched_init_model():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    X = torch.randn(5, 3)
    with pytest.raises(ValueError, match="powers must be a non-empty sequence of positive"):
        nfa(net, X, powers=(0.5, -1.0), progress=False)
    with pytest.raises(ValueError, match="powers must be a non-empty"):
        nfa(net, X, powers=(), progress=False)
    other = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 1))
    with pytest.raises(ValueError, match=r"init_model does not match model at layer '0'.*\(4, 3\)"):
        nfa(net, X, init_model=other, progress=False)
    with pytest.raises(ValueError, match="no layer named 'head'"):
        nfa(net, X, layers=["head"], progress=False)
    with pytest.raises(ValueError, match="expects inputs with 3 features"):
        nfa(net, torch.randn(5, 4), progress=False)


def test_nfa_with_init_model_on_an_occamlab_network():
    from occamlab import kernels as K
    from occamlab.features import agop

    arch = K.serial(K.Conv(3, "same", w_std=1.3, b_std=0.2), K.Tanh(), K.Flatten(),
                    K.Dense(w_std=1.2, b_std=0.1), K.Erf(), K.Dense(w_std=0.8))
    net0 = arch.network((2, 6), width=4, seed=0, out_dim=2, dtype=torch.float64)
    net = copy.deepcopy(net0)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():  # a stand-in for training: move every parameter
        for p in net.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    X = torch.randn(20, 2, 6, dtype=torch.float64, generator=g)
    r = nfa(net, X, init_model=net0, progress=False)
    assert r.layers == ["0", "3", "5"] and len(r.rows) == 3 * 2 * 2

    def w_eff(m):  # the matrix the NTK-parameterized layer applies: scale·W, (out, in·taps)
        return (m.scale * m.weight.detach()).reshape(m.weight.shape[0], -1)

    # WᵀW and the update's Gram use scale·W: exact up to rounding (~1e-16 relative).
    for name in r.layers:
        W, W0 = w_eff(net.get_submodule(name)), w_eff(net0.get_submodule(name))
        assert torch.allclose(r.grams[name], W.T @ W, rtol=1e-12, atol=0)
        assert torch.allclose(r.delta_grams[name], (W - W0).T @ (W - W0), rtol=1e-12, atol=0)
    # The readout is linear in its input, so its AGOP is W_effᵀW_eff: correlation 1 at power 1,
    # for the trained and the initial network (rounding only).
    assert abs(r.correlation("5", 1.0) - 1.0) < 1e-12
    assert abs(r.correlation("5", 1.0, which="corr_init") - 1.0) < 1e-12
    # Every row recomputed from its parts: same formula, so agreement to rounding.
    for row in r.rows:
        name, power, c = row["layer"], row["power"], row["centered"]
        W, W0 = w_eff(net.get_submodule(name)), w_eff(net0.get_submodule(name))
        Ap = matrix_power(agop(net, X, layer=name, centered=c), power)
        A0p = matrix_power(agop(net0, X, layer=name, centered=c), power)
        if c and name == "5":  # constant gradient: zero centered AGOP, undefined correlation
            assert math.isnan(row["corr"])
            continue
        assert abs(row["corr"] - pearson(W.T @ W, Ap)) < 1e-12
        assert abs(row["corr_delta"] - pearson((W - W0).T @ (W - W0), Ap)) < 1e-12
        assert abs(row["corr_init"] - pearson(W0.T @ W0, A0p)) < 1e-12
    other = arch.network((2, 6), width=5, seed=0, out_dim=2, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"init_model does not match model at layer '0'.*\(4, 6\)"):
        nfa(net, X, init_model=other, progress=False)
