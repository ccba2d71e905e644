"""The `occamlab nfa` command and the report's features section."""

import json
import re

import matplotlib
import numpy as np
import torch
from torch import nn
from typer.testing import CliRunner

from occamlab.cli import app
from occamlab.features import nfa

matplotlib.use("Agg")

MODEL_PY = """
import torch
from torch import nn

def make():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2)).double()
"""



def _setup(tmp_path):
    (tmp_path / "net.py").write_text(MODEL_PY)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2)).double()
    init = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        net[0].weight.add_(0.5 * torch.randn(6, 4, dtype=torch.float64))
    torch.save(net.state_dict(), tmp_path / "trained.pt")
    torch.save(init, tmp_path / "init.pt")
    x = np.random.default_rng(0).standard_normal((40, 4))
    np.savez(tmp_path / "data.npz", x=x)
    return net, x


def test_nfa_command_prints_the_library_table(tmp_path):
    net, x = _setup(tmp_path)
    res = CliRunner().invoke(app, [
        "nfa", "--model", f"{tmp_path / 'net.py'}:make", "--checkpoint",
        str(tmp_path / "trained.pt"), "--init-checkpoint", str(tmp_path / "init.pt"),
        "--data", str(tmp_path / "data.npz"), "--power", "0.5", "--power", "1", "--quiet",
        "-o", str(tmp_path / "t.json")])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.output.splitlines() if re.match(r"^[02] ", ln)]
    assert len(lines) == 2 * 2 * 2  # layers × powers × (plain, centered)
    ref = nfa(net, torch.tensor(x), powers=(0.5, 1.0), progress=False)
    # Printed with 4 decimals: agreement to 5e-5 with a direct library call.
    first = lines[0].split()
    assert first[:3] == ["0", "0.5", "plain"]
    assert abs(float(first[3]) - ref.correlation("0", 0.5)) <= 5e-5
    # Readout: AGOP = WᵀW exactly (closed form), so the power-1 correlation prints as 1.0000.
    readout = [ln.split() for ln in lines if ln.startswith("2 ") and " 1 " in ln
               and "plain" in ln][0]
    assert readout[3] == "1.0000"
    saved = json.loads((tmp_path / "t.json").read_text())
    assert abs(saved["rows"][0]["corr"] - ref.correlation("0", 0.5)) < 1e-12
    # The readout layer did not move: its update correlation is undefined (NaN), null in JSON.
    assert saved["rows"][-4]["corr_delta"] is None


def test_nfa_command_bad_input_fails_cleanly(tmp_path):
    _setup(tmp_path)
    base = ["nfa", "--model", f"{tmp_path / 'net.py'}:make", "--data",
            str(tmp_path / "data.npz"), "--quiet"]
    res = CliRunner().invoke(app, [*base, "--layer", "head"])
    assert res.exit_code == 2
    assert "no layer named 'head'" in res.output and "Traceback" not in res.output
    np.savez(tmp_path / "bad.npz", x=np.zeros((5, 7)))
    res = CliRunner().invoke(app, [*base[:3], "--data", str(tmp_path / "bad.npz"), "--quiet"])
    assert res.exit_code == 2 and "expects inputs with 4 features" in res.output


def test_report_section_trains_models_and_tables_the_ansatz(tmp_path, report_section):
    from occamlab.report import _features as section_mod

    sec, study = report_section(section_mod, "features", "Features", tmp_path, n_train=1000,
                                n_test=600)
    html = sec.html()
    assert (tmp_path / "features_nfa.png").exists() and (tmp_path / "features_rfm_M.png").exists()
    mlp, cnn = study.cache["trained_mlp"], study.cache["trained_cnn"]
    x_test, y_test = study.data.x_test.float(), study.data.y_test
    with torch.no_grad():
        accs = [float((m(x_test).argmax(1) == y_test).float().mean()) for m in (mlp, cnn)]
    # Ten balanced classes: chance is 0.1; even the quick training must beat it clearly.
    assert min(accs) > 0.2
    # The table's first row (MLP, first layer, uncentered) equals a direct library call, to the
    # 3 significant digits the page prints.
    ref = nfa(mlp, study.data.x_train[:500].float(), init_model=study.cache["init_mlp"],
              powers=(0.5,), progress=False)
    cells = re.findall(r"<td>([^<]*)</td>", html)
    assert cells[:4] == ["MLP", f"{accs[0]:.3g}", "1", "uncentered"]
    assert abs(float(cells[4]) - ref.correlation("1", 0.5)) <= 5e-3
