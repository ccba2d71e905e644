"""`occamlab hessian`, `occamlab connect` and the report's landscape section (quick)."""

import json

import matplotlib
import numpy as np
import torch
from typer.testing import CliRunner

from occamlab.cli import app

matplotlib.use("Agg")

MODEL = '''
import torch
from torch import nn

def make():
    return nn.Sequential(nn.Linear(3, 4, dtype=torch.float64), nn.Tanh(),
                         nn.Linear(4, 2, dtype=torch.float64))

def linear():
    return nn.Linear(3, 2, bias=False, dtype=torch.float64)
'''


def _files(tmp_path):
    (tmp_path / "net.py").write_text(MODEL)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=g, dtype=torch.float64)
    np.savez(tmp_path / "d.npz", x=x.numpy(), y=torch.randint(0, 2, (40,), generator=g).numpy(),
             t=torch.randn(40, 2, generator=g, dtype=torch.float64).numpy())
    for seed in (1, 2):
        torch.manual_seed(seed)
        ns = {}
        exec(MODEL, ns)
        torch.save(ns["make"]().state_dict(), tmp_path / f"m{seed}.pt")
    return x


def test_hessian_command_matches_closed_form(tmp_path):
    x = _files(tmp_path)
    torch.save({"weight": torch.zeros(2, 3, dtype=torch.float64)}, tmp_path / "lin.pt")
    out = tmp_path / "h.json"
    res = CliRunner().invoke(app, [
        "hessian", "--model", f"{tmp_path / 'net.py'}:linear", "--checkpoint",
        str(tmp_path / "lin.pt"), "--data", str(tmp_path / "d.npz"), "--y-name", "t",
        "--loss", "mse", "--k", "2", "--probes", "6", "--steps", "6", "--json", str(out),
        "--density-png", str(tmp_path / "d.png")])
    assert res.exit_code == 0, res.output
    assert "largest eigenvalues" in res.output
    # linear model under MSE: H = (2/(N·k)) I_k ⊗ XᵀX; Lanczos to tol 1e-6 (residual) gives
    # eigenvalues to ~1e-12 relative (error ≤ residual²/gap), checked to 1e-8
    ref = torch.linalg.eigvalsh(torch.kron(torch.eye(2, dtype=torch.float64), x.T @ x)
                                * 2 / (40 * 2))
    d = json.loads(out.read_text())
    np.testing.assert_allclose(d["largest"], ref.flip(0)[:2].numpy(), rtol=1e-8)
    np.testing.assert_allclose(d["smallest"], ref[:2].numpy(), rtol=1e-8)
    assert (tmp_path / "d.png").stat().st_size > 0


def test_connect_command(tmp_path):
    _files(tmp_path)
    out = tmp_path / "c.json"
    res = CliRunner().invoke(app, [
        "connect", "--model", f"{tmp_path / 'net.py'}:make", "--checkpoint",
        str(tmp_path / "m1.pt"), "--checkpoint", str(tmp_path / "m2.pt"), "--data",
        str(tmp_path / "d.npz"), "--train-steps", "20", "--steps", "5", "--json", str(out),
        "--plot", str(tmp_path / "p.png")])
    assert res.exit_code == 0, res.output
    d = json.loads(out.read_text())
    assert set(d) == {"line", "aligned line", "bezier curve"}
    # all three paths share the end points, so their end losses agree
    ends = {k: (v["loss"][0], v["loss"][-1]) for k, v in d.items()}
    np.testing.assert_allclose(ends["line"], ends["bezier curve"], rtol=1e-12)
    np.testing.assert_allclose(ends["line"][0], ends["aligned line"][0], rtol=1e-12)


def test_cli_errors(tmp_path):
    _files(tmp_path)
    res = CliRunner().invoke(app, [
        "connect", "--model", f"{tmp_path / 'net.py'}:make", "--checkpoint",
        str(tmp_path / "m1.pt"), "--data", str(tmp_path / "d.npz")])
    assert res.exit_code == 2 and "exactly twice" in res.output
    res = CliRunner().invoke(app, [
        "hessian", "--model", f"{tmp_path / 'net.py'}:make", "--data",
        str(tmp_path / "d.npz"), "--loss", "hinge"])
    assert res.exit_code == 2 and "--loss must be one of" in res.output
    res = CliRunner().invoke(app, [
        "hessian", "--model", f"{tmp_path / 'net.py'}:make", "--data",
        str(tmp_path / "d.npz"), "--k", "30"])
    assert res.exit_code == 2 and "k must be < P = 26" in res.output
    assert "Traceback" not in res.output


def test_report_section_quick(tmp_path):
    from occamlab.report._landscape import section
    from occamlab.report._page import Section
    from occamlab.report._study import SECTIONS, Study
    from occamlab.tasks import mnist1d

    assert "landscape" in [k for k, _, _ in SECTIONS]
    sec = Section("landscape", "Landscape", tmp_path)
    section(sec, Study(data=mnist1d(n_train=500, n_test=100, seed=42), quick=True))
    html = sec.html()
    assert html.count("<table>") == 2 and "after alignment" in html
    assert (tmp_path / "landscape_landscape.png").stat().st_size > 10_000
