"""Empirical NTK/NNGP: bad input gives a ValueError/TypeError that names the problem."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from occamlab.kernels import empirical_nngp, empirical_ntk


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2)).double()


X = torch.randn(4, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
@pytest.mark.parametrize("which", ["x1", "x2"])
def test_non_finite_inputs(bad, which):
    y = X.clone()
    y[1, 2] = bad
    args = (y, X) if which == "x1" else (X, y)
    with pytest.raises(ValueError, match=rf"{which} contains non-finite"):
        empirical_ntk(_mlp(), *args)
    with pytest.raises(ValueError, match=rf"{which} contains non-finite"):
        empirical_nngp(_mlp(), *args)


def test_feature_shape_mismatch():
    with pytest.raises(ValueError, match=r"same feature shape.*\(4, 3\).*\(2, 4\)"):
        empirical_ntk(_mlp(), X, torch.zeros(2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="same feature shape"):
        empirical_nngp(_mlp(), X, torch.zeros(2, 4, dtype=torch.float64))


def test_inputs_without_sample_axis_or_samples():
    with pytest.raises(ValueError, match=r"x1 must have shape \(n, \.\.\.\)"):
        empirical_ntk(_mlp(), torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="x2 has no samples"):
        empirical_ntk(_mlp(), X, torch.zeros(0, 3, dtype=torch.float64))


def test_model_without_trainable_parameters():
    frozen = _mlp().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        empirical_ntk(frozen, X)
    with pytest.raises(ValueError, match="no trainable parameters"):
        empirical_ntk(nn.ReLU(), X)


def test_not_a_module():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got function"):
        empirical_ntk(lambda x: x, X)


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"method must be one of 'auto', 'jacobian', 'jvp', "
                                         r"'layerwise', got 'exact'"):
        empirical_ntk(_mlp(), X, method="exact")


def test_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size must be an integer ≥ 1, got 0"):
        empirical_ntk(_mlp(), X, batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        empirical_nngp(_mlp(), X, batch_size=2.5)


class _Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 2)

    def forward(self, x):
        return self.a(x) * 2


def test_layerwise_names_the_module_it_cannot_handle():
    bn = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.Linear(5, 2)).double().eval()
    with pytest.raises(ValueError, match=r"layerwise.*BatchNorm1d has trainable parameters"):
        empirical_ntk(bn, X, method="layerwise")
    with pytest.raises(ValueError, match=r"layerwise.*_Custom .*custom forward.*'jacobian'"):
        empirical_ntk(_Custom().double(), X, method="layerwise")
    grouped = nn.Sequential(nn.Conv1d(2, 2, 3, groups=2), nn.Flatten(), nn.LazyLinear(1))
    grouped(torch.zeros(1, 2, 6))
    with pytest.raises(ValueError, match=r"Conv1d with groups=2"):
        empirical_ntk(grouped, torch.zeros(2, 2, 6), method="layerwise")


def test_nngp_layer_errors():
    with pytest.raises(ValueError, match=r"model has no layer named 'nope'; valid layers: \['0'"):
        empirical_nngp(_mlp(), X, layer="nope")
    with pytest.raises(ValueError, match="Linear is not a submodule"):
        empirical_nngp(_mlp(), X, layer=nn.Linear(5, 2))
    with pytest.raises(TypeError,
                       match=r"layer must be an nn.Module, a layer name \(str\) or None, got int"):
        empirical_nngp(_mlp(), X, layer=3)
    no_linear = nn.Sequential(nn.Conv1d(1, 2, 3), nn.Flatten()).double()
    with pytest.raises(ValueError, match=r"no nn.Linear \(or occamlab Dense\) readout; pass "):
        empirical_nngp(no_linear, torch.zeros(2, 1, 5, dtype=torch.float64))


@pytest.mark.parametrize("module, says", [
    (nn.Dropout(0.5), r"'1' \(Dropout\) is in training mode and drops units at random; call "
                      r"model.eval\(\) first"),
    (nn.BatchNorm1d(5), r"'1' \(BatchNorm1d\) is in training mode and normalizes by the "
                        r"statistics of the batch; call model.eval\(\) first"),
])
def test_training_mode_modules_refused_with_the_fix(module, says):
    net = nn.Sequential(nn.Linear(3, 5), module, nn.Linear(5, 2)).double()
    for fn in (empirical_ntk, empirical_nngp):
        with pytest.raises(ValueError, match=says):
            fn(net, X)
    if isinstance(module, nn.Dropout):
        # in eval mode Dropout is the identity: the same kernel as the network without it
        # (equal to rounding: the same operations in the same order)
        without = nn.Sequential(net[0], net[2])
        torch.testing.assert_close(empirical_ntk(net.eval(), X), empirical_ntk(without, X),
                                   rtol=0, atol=0)


def test_feature_dimension_mismatch_named():
    with pytest.raises(ValueError, match=r"model could not be evaluated on x1 of shape \(4, 7\) "
                                         r"\(check its feature dimension"):
        empirical_ntk(_mlp(), torch.zeros(4, 7, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"model could not be evaluated on x1 of shape \(4, 7\)"):
        empirical_nngp(_mlp(), torch.zeros(4, 7, dtype=torch.float64))


def test_forward_mode_goes_through_the_one_jvp_that_hides_torchs_jit_notice(monkeypatch):
    # torch warns once per process, on its first forward-mode pass, that torch.jit.script (which
    # torch itself calls there) is deprecated. Every forward-mode path of the library goes
    # through occamlab._torch.jvp, which drops exactly that notice and nothing else.
    import pathlib
    import warnings

    import torch.func

    import occamlab
    from occamlab import _torch

    real = torch.func.jvp

    def noisy(*args, **kwargs):
        warnings.warn("`torch.jit.script` is deprecated. Please switch to `torch.compile`",
                      DeprecationWarning, stacklevel=2)
        warnings.warn("another deprecation", DeprecationWarning, stacklevel=2)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.func, "jvp", noisy)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        theta = empirical_ntk(net, X, method="jvp")
    assert [str(w.message) for w in caught] == ["another deprecation"] * len(caught) != []
    torch.testing.assert_close(theta, empirical_ntk(net, X, method="jacobian"), rtol=1e-12,
                               atol=1e-12)  # the same kernel by reverse mode
    # and no module calls torch.func.jvp directly
    src = pathlib.Path(occamlab.__file__).parent
    direct = [str(p.relative_to(src)) for p in src.rglob("*.py") if p.name != "_torch.py"
              for ln in p.read_text().splitlines()
              if ln.strip().startswith("from torch.func import") and "jvp" in ln]
    assert direct == [], direct
    assert _torch.jvp.__module__ == "occamlab._torch"
