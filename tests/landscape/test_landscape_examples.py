"""Fast versions of examples/mode_connectivity.py and examples/critical_points.py."""

import importlib.util
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call, jacrev

_EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example(name: str):
    spec = importlib.util.spec_from_file_location(f"occamlab_example_{name}",
                                                  _EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_mode_connectivity_small():
    r = _example("mode_connectivity").run(hidden=16, n_train=500, n_test=200, steps=200,
                                          curve_steps=150, points=7)
    assert r["same_function"] < 1e-5  # alignment permutes units: float32 rounding only
    # the measured ordering of the example, at small scale: alignment and the trained curve
    # both lower the straight line's barrier, and the curve's test error stays lower
    assert r["aligned"].barrier < r["line"].barrier
    assert r["curve"].barrier < r["line"].barrier
    assert max(r["test_error"]["curve"]) < max(r["test_error"]["line"])


def test_critical_points_small():
    ex = _example("critical_points")
    rows = ex.run(starts=2, newton_iter=4, gradient_iter=20)
    assert len(rows) == 4
    x, y = ex.task()
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    names = [k for k, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    sizes = [p.numel() for p in model.parameters()]

    def loss(w):
        parts = {n: t.reshape(s) for n, t, s in zip(names, torch.split(w, sizes), shapes)}
        return nn.functional.mse_loss(functional_call(model, parts, (x,)), y)

    for row in rows:
        # the index, from an independent dense Hessian (torch.func.jacrev twice) at the end point
        ev = torch.linalg.eigvalsh(jacrev(jacrev(loss))(row["params"]))
        thr = 1e-6 * float(ev.abs().max())
        assert row["index"] == int((ev < -thr).sum())
        assert row["nullity"] == int((ev.abs() <= thr).sum())
        assert (row["outcome"] == "critical") == (row["grad_norm"] <= 1e-8)
        if row["outcome"] == "gradient-flat":
            assert row["flatness"] <= 1e-3
    assert "| newton_mr |" in ex.summary(rows)
