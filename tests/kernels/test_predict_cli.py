"""The ``occamlab predict`` command."""

import json

import numpy as np
import torch
from typer.testing import CliRunner

from occamlab import kernels as K
from occamlab.cli import app
from occamlab.kernels import predict

SPEC = "dense(w=1.41,b=0.1) relu dense"


def test_cli_prints_and_writes_the_library_prediction(tmp_path):
    rng = np.random.default_rng(0)
    x, xt = rng.standard_normal((12, 5)), rng.standard_normal((6, 5))
    y, yt = rng.integers(0, 3, 12), rng.integers(0, 3, 6)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
    out = tmp_path / "p.json"
    res = CliRunner().invoke(app, ["predict", SPEC, "--data", str(tmp_path / "d.npz"), "--t",
                                   "0,10,100,inf", "--json", str(out)])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines[0].split() == ["t", "train_mse", "test_mse"] and lines[-1].startswith("inf")
    got = json.loads(out.read_text())
    assert got["t"] == [0.0, 10.0, 100.0, "inf"]
    # independent: the library's ensemble, expected MSE = error of the mean + variance
    fn = predict.gradient_descent_mse_ensemble(K.parse_spec(SPEC), x,
                                               np.eye(3)[y])
    g = fn([0.0, 10.0, 100.0, np.inf], xt, "ntk", compute_cov=True)
    want = ((g.mean - torch.as_tensor(np.eye(3)[yt])) ** 2).mean((-2, -1)) + \
        g.covariance.diagonal(dim1=-2, dim2=-1).mean(-1)
    np.testing.assert_allclose(got["test_mse"], want.numpy(), rtol=1e-12)
    assert got["train_mse"][-1] < 1e-10  # t → ∞ interpolates the training targets


def test_cli_errors(tmp_path):
    np.savez(tmp_path / "d.npz", x_train=np.ones((3, 2)), y_train=np.ones((4, 1)))
    res = CliRunner().invoke(app, ["predict", SPEC, "--data", str(tmp_path / "d.npz")])
    assert res.exit_code == 2 and "y_train has 4 rows but x_train has 3" in res.output
    np.savez(tmp_path / "e.npz", x_train=np.ones((3, 2)), y_train=np.ones((3, 1)))
    res = CliRunner().invoke(app, ["predict", SPEC, "--data", str(tmp_path / "e.npz"), "--t",
                                   "-1"])
    assert res.exit_code == 2 and "t must hold training times ≥ 0" in res.output
