"""Bad input to slt.llc / slt.calibrate: each a clear error naming the problem."""

import pytest
import torch
from _slt_helpers import fit_least_squares
from torch import nn

from occamlab import slt
from occamlab.tasks import linear_teacher


@pytest.fixture(scope="module")
def setup():
    t = linear_teacher(200, 3, seed=0)
    return t, fit_least_squares(t)


def _run(model, loss, data, **kw):
    settings = dict(draws=2, thin=1, step_size=1e-4, localization=1.0, progress=False)
    return slt.llc(model, loss, data, **{**settings, **kw})


def test_no_trainable_parameters(setup):
    t, m = setup
    frozen = nn.Linear(3, 1, dtype=torch.float64).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        _run(frozen, t.loss(), t.data)


def test_data_of_wrong_shape(setup):
    t, m = setup
    with pytest.raises(ValueError, match=r"X \(200, 5\).*does not fit"):
        _run(m, t.loss(), (torch.randn(200, 5, dtype=torch.float64), t.y))
    with pytest.raises(ValueError, match="same number of rows"):
        _run(m, t.loss(), (t.x, t.y[:100]))


def test_loss_not_scalar(setup):
    t, m = setup
    with pytest.raises(ValueError, match="scalar mean loss, got \\(8, 1\\)"):
        _run(m, nn.MSELoss(reduction="none"), t.data)


def test_non_finite_loss_at_w_star(setup):
    t, _ = setup
    m = nn.Linear(3, 1, dtype=torch.float64)
    with torch.no_grad():
        m.weight.fill_(1e308)  # finite weights whose outputs overflow (Inf − Inf, NaN)
    with pytest.raises(ValueError, match=r"L_n\(w\*\) = (inf|nan) is not finite"):
        _run(m, nn.MSELoss(), t.data)


def test_non_finite_data(setup):
    t, m = setup
    x = t.x.clone()
    x[3, 1] = float("nan")
    with pytest.raises(ValueError, match="data inputs X contains non-finite"):
        _run(m, t.loss(), (x, t.y))


@pytest.mark.parametrize("kw, match", [
    ({"chains": 0}, "chains must be an integer ≥ 1, got 0"),
    ({"draws": 0}, "draws must be an integer ≥ 1, got 0"),
    ({"burnin": -1}, "burnin must be an integer ≥ 0, got -1"),
    ({"sampler": "hmc"}, "sampler must be one of 'sgld', 'sgnht', 'rmsprop_sgld', got 'hmc'"),
    ({"nbeta": -1.0}, "nbeta must be a finite number > 0, got -1.0"),
    ({"batch_size": 0}, "batch_size must be an integer ≥ 1, got 0"),
    ({"max_steps": 1}, "max_steps must be an integer ≥ 2, got 1"),
])
def test_bad_settings(setup, kw, match):
    t, m = setup
    with pytest.raises(ValueError, match=match):
        _run(m, t.loss(), t.data, **kw)


def test_step_size_per_chain_length(setup):
    t, m = setup
    with pytest.raises(ValueError, match="step_size has 3 values; give one value or one per "
                                         "chain \\(4\\)"):
        slt.llc(m, t.loss(), t.data, step_size=[1e-4] * 3, draws=2, progress=False)


def test_wrong_types(setup):
    t, m = setup
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        _run("net", t.loss(), t.data)
    with pytest.raises(TypeError, match="data must be an \\(X, y\\) pair"):
        _run(m, t.loss(), t.x)


def test_calibrate_bad_grid(setup):
    t, m = setup
    with pytest.raises(ValueError, match="step_sizes must be a finite number > 0, got -1.0"):
        slt.calibrate(m, t.loss(), t.data, step_sizes=[1e-4, -1.0], progress=False)


def test_training_mode_layers_need_eval(setup):
    t, _ = setup
    net = nn.Sequential(nn.Linear(3, 4, dtype=torch.float64), nn.Dropout(0.1),
                        nn.Linear(4, 1, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"Dropout/BatchNorm in training mode \(\['1'\]\).*"
                                         r"call model.eval\(\)"):
        _run(net, t.loss(), t.data)
    bn = nn.Sequential(nn.Linear(3, 4, dtype=torch.float64), nn.BatchNorm1d(4, dtype=torch.float64),
                       nn.Linear(4, 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="call model.eval"):
        _run(bn, t.loss(), t.data)
    r = _run(bn.eval(), t.loss(), t.data)  # in eval mode it runs
    assert r.chains == 4


def test_low_precision_model_refused(setup):
    t, _ = setup
    m = nn.Linear(3, 1).to(torch.bfloat16)
    with pytest.raises(ValueError, match=r"model parameters are torch.bfloat16.*model.float\(\)"):
        _run(m, nn.MSELoss(), t.data)


def test_loss_that_cannot_see_the_parameters(setup):
    # Cross-entropy over a single logit is identically 0 (log-softmax of one number): λ̂ would be
    # 0 with perfect diagnostics. An error instead.
    t, m = setup
    with pytest.raises(ValueError, match=r"the loss is constant \(-?0\) around w\*.*single logit"):
        _run(m, nn.CrossEntropyLoss(), t.data)
