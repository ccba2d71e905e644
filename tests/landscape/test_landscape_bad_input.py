"""Bad input gets a clear error naming what was wrong and what would be valid."""

import pytest
import torch
from _landscape_helpers import mlp, regression
from torch import nn

from occamlab import landscape as LS

X, Y = regression(10, 3, 2)


def test_operator_not_square():
    with pytest.raises(ValueError, match=r"square \(P, P\), got shape \(3, 4\)"):
        LS.eigenvalues(torch.zeros(3, 4), k=1)
    with pytest.raises(ValueError, match="square"):
        LS.trace(torch.zeros(5), probes=3)
    with pytest.raises(TypeError, match="LinearOperator"):
        LS.density("matrix")


def test_k_at_least_p_and_probes_below_one():
    a = torch.eye(4, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"k must be < P = 4.*eigvalsh"):
        LS.eigenvalues(a, k=4)
    with pytest.raises(ValueError, match="probes must be an integer ≥ 1, got 0"):
        LS.trace(a, probes=0, method="hutchinson")
    with pytest.raises(ValueError, match="probes must be an integer ≥ 3"):
        LS.trace(a, probes=2)
    with pytest.raises(ValueError, match="which must be one of"):
        LS.eigenvalues(a, k=1, which="top")
    with pytest.raises(ValueError, match="steps must be an integer ≥ 1 and ≤ 4"):
        LS.density(a, steps=5)


def test_matmul_shape_mismatch():
    h = LS.hessian(mlp([3, 4, 2]), nn.MSELoss(), (X, Y))
    with pytest.raises(ValueError, match=r"multiplies a vector \(P,\).*P = 26, got shape \(5,\)"):
        h @ torch.zeros(5)


def test_different_architectures():
    a, b = mlp([3, 4, 2]), mlp([3, 5, 2])
    with pytest.raises(ValueError, match="same architecture"):
        LS.interpolate(a, b, nn.MSELoss(), (X, Y))
    with pytest.raises(ValueError, match="same architecture"):
        LS.align(a, b)
    with pytest.raises(ValueError, match="same architecture"):
        LS.connect(a, b, nn.MSELoss(), (X, Y))


def test_unsupported_layer_in_align_is_named():
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    with pytest.raises(ValueError, match=r"model_a\[1\] \(BatchNorm1d\) is not supported"):
        LS.align(m, m)

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.f = nn.Linear(3, 3)

        def forward(self, x):
            return x + self.f(x)

    with pytest.raises(ValueError, match="Residual.*residual adds"):
        LS.align(Residual(), Residual())


def test_loss_not_scalar():
    with pytest.raises(ValueError, match=r"loss_fn must return a scalar.*got \(10, 2\)"):
        LS.hessian(mlp([3, 4, 2]), nn.MSELoss(reduction="none"), (X, Y))
    with pytest.raises(ValueError, match=r"fn must return a scalar.*got \(2,\)"):
        LS.hessian(lambda w: w ** 2, torch.ones(2))


def test_nan_in_parameters_or_data():
    m = mlp([3, 4, 2])
    with torch.no_grad():
        m[0].weight[1, 2] = float("nan")
    with pytest.raises(ValueError, match="model parameters contains non-finite values"):
        LS.hessian(m, nn.MSELoss(), (X, Y))
    bad = X.clone()
    bad[3, 0] = float("inf")
    with pytest.raises(ValueError, match=r"data inputs X contains non-finite.*\(3, 0\)"):
        LS.hessian(mlp([3, 4, 2]), nn.MSELoss(), (bad, Y))
    with pytest.raises(ValueError, match="same, non-zero number of rows"):
        LS.hessian(mlp([3, 4, 2]), nn.MSELoss(), (X, Y[:5]))


def test_data_that_does_not_fit_and_wrong_kinds():
    with pytest.raises(ValueError, match="does not fit the model and loss"):
        LS.hessian(mlp([5, 4, 2]), nn.MSELoss(), (X, Y))
    with pytest.raises(TypeError, match=r"data must be an \(X, y\) pair"):
        LS.hessian(mlp([3, 4, 2]), nn.MSELoss(), X)
    with pytest.raises(ValueError, match="params names"):
        LS.hessian(mlp([3, 4, 2]), nn.MSELoss(), (X, Y), params={"nope": torch.zeros(1)})
    with pytest.raises(ValueError, match="method must be one of"):
        LS.critical_point(lambda w: (w ** 2).sum(), torch.ones(2), method="newton")
    with pytest.raises(ValueError, match="kind must be one of"):
        LS.connect(mlp([3, 4, 2]), mlp([3, 4, 2]), nn.MSELoss(), (X, Y), kind="spline")
