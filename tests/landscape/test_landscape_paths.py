"""Filter normalization, surfaces, interpolation, alignment and curves."""

import copy

import pytest
import torch
from _landscape_helpers import classification, mlp, regression
from torch import nn

from occamlab import landscape as LS


def _cnn(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv1d(2, 5, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2),
                         nn.Conv1d(5, 4, 3, padding=1), nn.Tanh(), nn.Flatten(),
                         nn.Linear(4 * 4, 6), nn.GELU(), nn.Linear(6, 3)).double()


def _permute_hidden(model: nn.Sequential, seed: int) -> tuple[nn.Sequential, list[torch.Tensor]]:
    """A copy with randomly permuted hidden units: W_ℓ[σ_ℓ] and W_{ℓ+1}[:, σ_ℓ] (blocks after
    Flatten), the same function by construction."""
    g = torch.Generator().manual_seed(seed)
    out = copy.deepcopy(model)
    layers = [m for m in out if isinstance(m, nn.Linear | nn.Conv1d)]
    sigmas = []
    with torch.no_grad():
        for ell in range(len(layers) - 1):
            cur, nxt = layers[ell], layers[ell + 1]
            s = torch.randperm(cur.weight.shape[0], generator=g)
            sigmas.append(s)
            cur.weight.copy_(cur.weight[s])
            cur.bias.copy_(cur.bias[s])
            w = nxt.weight.reshape(nxt.weight.shape[0], len(s), -1)
            nxt.weight.copy_(w[:, s].reshape(nxt.weight.shape))
    return out, sigmas


def test_filter_normalize_filter_norms_and_zero_biases():
    model = _cnn(0)
    d = LS.filter_normalize(model, seed=1)
    for name, p in model.named_parameters():
        if p.ndim == 1:
            assert torch.all(d[name] == 0), name
        else:
            dn = d[name].reshape(p.shape[0], -1).norm(dim=1)
            pn = p.detach().reshape(p.shape[0], -1).norm(dim=1)
            torch.testing.assert_close(dn, pn, rtol=1e-12, atol=0)  # float64 rounding
    d2 = LS.filter_normalize(model, seed=1, ignore="none")
    bias_norm = float(model[0].bias.detach().norm())
    assert float(d2["0.bias"].norm()) == pytest.approx(bias_norm, rel=1e-12)
    assert all(torch.equal(d[k], LS.filter_normalize(model, seed=1)[k]) for k in d)  # seeded


def test_surface_values_are_losses_at_grid_points():
    x, y = classification(30, 4, 3)
    model = mlp([4, 5, 3])
    loss_fn = nn.CrossEntropyLoss()
    sf = LS.surface(model, loss_fn, (x, y), dims=2, steps=5, span=0.5, seed=2)
    assert sf.loss.shape == (5, 5)
    with torch.no_grad():
        center = float(loss_fn(model(x), y))
    assert sf.loss[2, 2] == pytest.approx(center, rel=1e-12)
    # the corner (α, β) = (−0.5, 0.5), evaluated independently
    d = sf.directions
    w = torch.cat([p.detach().reshape(-1) for p in model.parameters()]) - 0.5 * d[0] + 0.5 * d[1]
    probe = copy.deepcopy(model)
    torch.nn.utils.vector_to_parameters(w, probe.parameters())
    with torch.no_grad():
        corner = float(loss_fn(probe(x), y))
    assert float(sf.loss[0, 4]) == pytest.approx(corner, rel=1e-12)
    line = LS.surface(model, loss_fn, (x, y), dims=1, steps=3, seed=2)
    assert line.loss.shape == (3,)


def test_interpolation_barriers_on_a_known_path():
    # model linear in its parameters, L(w) quadratic along the segment: L(t) is a parabola
    x, y = regression(20, 3, 1)
    a = nn.Linear(3, 1, dtype=torch.float64)
    b = copy.deepcopy(a)
    with torch.no_grad():
        b.weight.add_(1.0)
    path = LS.interpolate(a, b, nn.MSELoss(), (x, y), steps=11)
    la, lb = float(path.loss[0]), float(path.loss[-1])
    with torch.no_grad():
        assert la == pytest.approx(float(nn.MSELoss()(a(x), y)), rel=1e-12)
        assert lb == pytest.approx(float(nn.MSELoss()(b(x), y)), rel=1e-12)
    assert path.barrier == pytest.approx(float(path.loss.max()) - (la + lb) / 2, rel=1e-12)
    chord = (1 - path.t) * la + path.t * lb
    assert path.barrier_linear == pytest.approx(float((path.loss - chord).max()), rel=1e-12)
    # L(t) is convex in t here (quadratic in w), so it lies below its chord
    assert path.barrier_linear <= 1e-12


@pytest.mark.parametrize("make", [lambda s: mlp([5, 7, 6, 3], seed=s, act=nn.ReLU), _cnn])
def test_align_recovers_a_random_permutation_exactly(make):
    model = make(3)
    permuted, sigmas = _permute_hidden(model, seed=4)
    x = torch.randn(16, *((5,) if isinstance(model[0], nn.Linear) else (2, 8)),
                    dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(permuted(x), model(x), rtol=0, atol=1e-12)  # same function
    aligned, perm = LS.align(model, permuted, seed=0)
    for s, p in zip(sigmas, perm):
        assert torch.equal(p, torch.argsort(s))  # undoes σ exactly: W_B[π] = W_A
    torch.testing.assert_close(aligned(x), permuted(x), rtol=0, atol=1e-12)
    for pa, pb in zip(model.parameters(), aligned.parameters()):
        assert torch.equal(pa, pb)
    y = torch.randint(0, 3, (16,), generator=torch.Generator().manual_seed(1))
    path = LS.interpolate(model, aligned, nn.CrossEntropyLoss(), (x, y), steps=5)
    assert abs(path.barrier) < 1e-12 and abs(path.barrier_linear) < 1e-12
    before = LS.interpolate(model, permuted, nn.CrossEntropyLoss(), (x, y), steps=5)
    assert before.barrier > 1e-3  # permuted copies are not linearly connected


@pytest.mark.parametrize("kind", ["bezier", "polychain"])
def test_connect_curve_endpoints_and_training_lowers_the_path(kind):
    x, y = classification(64, 4, 2, seed=1)
    a, b = mlp([4, 8, 2], seed=1), mlp([4, 8, 2], seed=2)
    for m in (a, b):  # two solutions from different seeds
        opt = torch.optim.Adam(m.parameters(), lr=0.05)
        for _ in range(150):
            opt.zero_grad()
            nn.CrossEntropyLoss()(m(x), y).backward()
            opt.step()
    ce = nn.CrossEntropyLoss()
    line = LS.interpolate(a, b, ce, (x, y), steps=11)
    curve = LS.connect(a, b, ce, (x, y), kind=kind, bends=1, train_steps=150, batch_size=64,
                       steps=11, seed=0)
    torch.testing.assert_close(curve.loss[[0, -1]], line.loss[[0, -1]], rtol=1e-12, atol=0)
    assert curve.control_points.shape == (3, line_size(a))
    assert curve.barrier < line.barrier  # the trained bend bypasses the linear barrier
    mid = curve.point(0.5)
    assert set(mid) == {k for k, _ in a.named_parameters()}


def line_size(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
