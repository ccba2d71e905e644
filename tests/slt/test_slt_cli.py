"""The `occamlab llc` command on a saved model."""

import json

import numpy as np
import torch
from typer.testing import CliRunner

from occamlab.cli import app
from occamlab.tasks import linear_teacher

MODEL = '''
import torch
from torch import nn

def make():
    return nn.Linear(3, 1, bias=False, dtype=torch.float64)
'''


def test_llc_command(tmp_path):
    t = linear_teacher(2000, 3, seed=0)
    (tmp_path / "net.py").write_text(MODEL)
    sol = torch.linalg.lstsq(t.x, t.y).solution
    torch.save({"weight": sol.T.contiguous()}, tmp_path / "model.pt")
    np.savez(tmp_path / "data.npz", x=t.x.numpy(), y=t.y.numpy())
    out = tmp_path / "llc.json"
    res = CliRunner().invoke(app, [
        "llc", "--model", f"{tmp_path / 'net.py'}:make", "--checkpoint",
        str(tmp_path / "model.pt"), "--data", str(tmp_path / "data.npz"), "--loss",
        "gaussian-nll", "--draws", "50", "--burnin", "25", "--quiet", "--json", str(out),
        "--plot", str(tmp_path / "trace.png")])
    assert res.exit_code == 0, res.output
    assert "LLC = " in res.output
    d = json.loads(out.read_text())
    # λ = d/2 = 1.5 at the least-squares solution; 20%: 50 draws (SE ≈ 7%) + ≈1% bias
    assert abs(d["mean"] - 1.5) < 0.2 * 1.5
    assert (tmp_path / "trace.png").stat().st_size > 0


def test_llc_command_errors(tmp_path):
    np.savez(tmp_path / "data.npz", x=np.zeros((10, 3)), y=np.zeros((10, 1)))
    (tmp_path / "net.py").write_text(MODEL)
    res = CliRunner().invoke(app, ["llc", "--model", f"{tmp_path / 'net.py'}:make", "--data",
                                   str(tmp_path / "data.npz"), "--loss", "hinge"])
    assert res.exit_code == 2 and "--loss must be one of" in res.output
    res = CliRunner().invoke(app, ["llc", "--model", f"{tmp_path / 'net.py'}:make", "--data",
                                   str(tmp_path / "data.npz"), "--x-name", "inputs"])
    assert res.exit_code == 2 and "lacks array(s) ['inputs']" in res.output
    assert "Traceback" not in res.output
