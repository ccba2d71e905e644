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


def _saved(tmp_path, n=500):
    t = linear_teacher(n, 3, seed=0)
    (tmp_path / "net.py").write_text(MODEL)
    sol = torch.linalg.lstsq(t.x, t.y).solution
    torch.save({"weight": sol.T.contiguous()}, tmp_path / "model.pt")
    np.savez(tmp_path / "data.npz", x=t.x.numpy(), y=t.y.numpy())
    return ["--model", f"{tmp_path / 'net.py'}:make", "--checkpoint", str(tmp_path / "model.pt"),
            "--data", str(tmp_path / "data.npz")]


def test_llc_command_refuses_a_loss_that_cannot_see_the_model(tmp_path):
    # Cross-entropy over one logit is identically 0: an error, not "LLC = 0 ± 0".
    res = CliRunner().invoke(app, ["llc", *_saved(tmp_path), "--loss", "cross-entropy",
                                   "--quiet"])
    assert res.exit_code == 2, res.output
    assert "the loss is constant" in res.output and "single logit" in res.output
    assert "LLC = " not in res.output


def test_llc_command_every_chain_diverged_exits_nonzero_even_quiet(tmp_path):
    res = CliRunner().invoke(app, ["llc", *_saved(tmp_path), "--step-size", "100",
                                   "--localization", "1", "--draws", "5", "--thin", "1",
                                   "--quiet"])
    assert res.exit_code == 1, res.output
    assert "every chain diverged" in res.output  # the diagnostic reaches stderr under --quiet
    assert "warning: chain(s) [0, 1, 2, 3] diverged" in res.output


def test_llc_trajectory_command_resumes(tmp_path):
    t = linear_teacher(1000, 3, seed=0)
    (tmp_path / "net.py").write_text(MODEL)
    (tmp_path / "ckpts").mkdir()
    g = torch.Generator().manual_seed(0)
    for step in (1, 10, 100):
        w = torch.randn(1, 3, generator=g, dtype=torch.float64)
        torch.save({"weight": w}, tmp_path / "ckpts" / f"step_{step}.pt")
    np.savez(tmp_path / "data.npz", x=t.x.numpy(), y=t.y.numpy())
    out = tmp_path / "out"
    args = ["llc-trajectory", "--model", f"{tmp_path / 'net.py'}:make", "--checkpoints",
            str(tmp_path / "ckpts" / "*.pt"), "--data", str(tmp_path / "data.npz"),
            "--loss", "gaussian-nll", "--relabel", "--draws", "40", "--out", str(out),
            "--quiet"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    rows = [r.split(",") for r in (out / "trajectory.csv").read_text().splitlines()]
    assert rows[0][:3] == ["step", "file", "llc"] and [r[0] for r in rows[1:]] == ["1", "10",
                                                                                  "100"]
    for r in rows[1:]:  # relabelled regular model: λ = d/2 = 1.5; 3 SE + 2.5% as in the library
        assert abs(float(r[2]) - 1.5) < 3 * float(r[3]) + 0.025 * 1.5, r
    assert (out / "trajectory.png").exists()
    first = (out / "trajectory.csv").read_text()
    (out / "checkpoints" / "10.json").unlink()  # lose one: only it is redone, identically
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0 and "(2 kept from an earlier run)" in res.output, res.output
    assert (out / "trajectory.csv").read_text() == first  # streams keyed by the step
