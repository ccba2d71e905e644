"""The `occamlab eigenlearn` command and the experiment helpers behind it."""

import csv

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from occamlab import eigenlearning as el
from occamlab import kernels, spectra
from occamlab.cli import app

SPEC = "dense(w=1.41421356237,b=0.1) relu dense(w=1.41421356237,b=0.1) relu dense"


def test_cli_sphere_prediction_matches_library(tmp_path, ink):
    out = tmp_path / "curve.csv"
    res = CliRunner().invoke(app, ["eigenlearn", SPEC, "--d", "6", "--target", "1:0.5,2:0.5",
                                   "--ns", "8,32", "--quiet", "-o", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open()))
    assert [float(r["n"]) for r in rows] == [8.0, 32.0]
    # independent path: the same kernel built in Python, predicted by the library (exact)
    arch = kernels.serial(kernels.Dense(1.41421356237, 0.1), kernels.Relu(),
                          kernels.Dense(1.41421356237, 0.1), kernels.Relu(), kernels.Dense())
    spec = spectra.sphere(arch, 6, max_degree=30)
    tp = torch.zeros(31, dtype=torch.float64)
    tp[1] = tp[2] = 0.5
    pred = el.predict(spec, [8.0, 32.0], target_power=tp)
    np.testing.assert_allclose([float(r["predicted_test_mse"]) for r in rows],
                               pred.test_mse.numpy(), rtol=1e-12)
    assert ink(tmp_path / "curve.png") > 0.03  # a curve and its points beyond empty axes


def test_cli_data_pool_with_measurement(tmp_path):
    g = np.random.default_rng(0)
    x = g.standard_normal((120, 5))
    x *= np.sqrt(5) / np.linalg.norm(x, axis=1, keepdims=True)
    y = (x[:, 0] > 0).astype(np.int64)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    out = tmp_path / "pool.csv"
    res = CliRunner().invoke(app, ["eigenlearn", SPEC, "--domain", "data", "--data",
                                   str(tmp_path / "d.npz"), "--ns", "6,12", "--measure",
                                   "--trials", "4", "--quiet", "-o", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open()))
    # the held-out prediction is the pool prediction through M·E/(M − n) (ridgeless)
    for r in rows:
        n = float(r["n"])
        assert float(r["predicted_test_mse_heldout"]) == pytest.approx(
            float(r["predicted_test_mse"]) * 120 / (120 - n), rel=1e-12)
        assert float(r["measured_test_mse"]) > 0


@pytest.mark.parametrize("args,message", [
    (["--ridge", "-1"], "ridge must be a finite number ≥ 0"),
    (["--target", "40:1"], "exceed the highest degree 30"),
    (["--target", "x"], "target must look like"),
    (["--ns", "4,a"], "ns must be comma-separated integers"),
    (["--domain", "torus"], "domain must be one of"),
    (["--domain", "data"], "--domain data needs --data"),
    (["--ns", "0,4"], "n must be > 0"),
])
def test_cli_bad_input(tmp_path, args, message):
    res = CliRunner().invoke(app, ["eigenlearn", SPEC, "-o", str(tmp_path / "c.csv"), *args])
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output
