"""The command line as a new user meets it: version, examples, quiet runs, one-line errors."""

from __future__ import annotations

import json
import math
import shlex

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import occamlab
from occamlab._io import json_safe, write_json
from occamlab._progress import track
from occamlab.cli import app

COMMANDS = ["report", "kernel", "nfa", "eigenlearn", "design", "llc", "predict", "hessian",
            "connect", "llc-trajectory"]


def _run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])  # an 80-column terminal


def test_version():
    res = _run("--version")
    assert res.exit_code == 0 and res.output.strip() == f"occamlab {occamlab.__version__}"


@pytest.mark.parametrize("command", COMMANDS)
def test_help_example_is_one_pasteable_command(command):
    out = _run(command, "--help").output.splitlines()
    start = next(i for i, ln in enumerate(out) if ln.strip() == "Example:") + 2
    lines = []
    for ln in out[start:]:
        if not ln.strip():
            break
        lines.append(ln.strip())
    # continuation lines end in a backslash; the last one does not; no line was wrapped
    assert all(ln.endswith("\\") for ln in lines[:-1]) and not lines[-1].endswith("\\")
    words = shlex.split(" ".join(ln.rstrip("\\") for ln in lines))
    assert words[:2] == ["occamlab", command]
    assert all(w.startswith("--") or w in ("-o",) or not w.startswith("-") for w in words)


@pytest.fixture
def inputs(tmp_path):
    x = np.random.default_rng(0).standard_normal((5, 3))
    np.save(tmp_path / "x.npy", x)
    return tmp_path, x


def test_kernel_out_without_suffix_writes_npz(inputs):
    tmp, x = inputs
    res = _run("kernel", "dense relu dense", tmp / "x.npy", "-o", tmp / "s11")
    assert res.exit_code == 0, res.output
    assert f"written to {tmp / 's11.npz'}" in res.output
    with np.load(tmp / "s11.npz") as f:
        np.testing.assert_array_equal(
            f["ntk"], occamlab.kernels.parse_spec("dense relu dense").kernel(x).ntk.numpy())


def test_kernel_out_with_another_suffix_refused_before_computing(inputs):
    tmp, _ = inputs
    res = _run("kernel", "dense relu dense", tmp / "x.npy", "-o", tmp / "k.csv")
    assert res.exit_code == 2
    assert "--out must be an .npz file (it holds nngp and ntk)" in res.output
    assert not (tmp / "k.csv").exists()


def test_kernel_quiet_prints_nothing(inputs):
    tmp, _ = inputs
    res = _run("kernel", "dense relu dense", tmp / "x.npy", "-o", tmp / "k.npz", "--quiet")
    assert res.exit_code == 0 and res.output == "" and (tmp / "k.npz").exists()


def test_kernel_refuses_empty_input(tmp_path):
    np.save(tmp_path / "e.npy", np.zeros((0, 3)))
    res = _run("kernel", "dense relu dense", tmp_path / "e.npy", "-o", tmp_path / "k.npz")
    assert res.exit_code == 2
    assert res.output.strip() == "error: x1 has no inputs (shape (0, 3)); give at least one"


def test_npy_where_npz_with_x_and_y_expected(model_files):
    tmp_path = model_files
    np.save(tmp_path / "d.npy", np.zeros((4, 3)))
    res = _run("llc", "--model", f"{tmp_path / 'net.py'}:make", "--data", tmp_path / "d.npy")
    assert res.exit_code == 2
    assert ("d.npy is a .npy file, which holds one array; this needs an .npz holding arrays "
            "named ['x', 'y'] (write one with np.savez(path, x=..., y=...))") in res.output


@pytest.fixture
def model_files(tmp_path):
    (tmp_path / "net.py").write_text("import torch\n\ndef make():\n"
                                     "    return torch.nn.Linear(3, 1).double()\n")
    (tmp_path / "broken.py").write_text("import torch\n\ndef make(:\n    pass\n")
    torch.save(torch.nn.Linear(3, 1), tmp_path / "whole.pt")
    (tmp_path / "damaged.pt").write_bytes(b"not a checkpoint" * 8)
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 3)), y=np.zeros((4, 1)))
    return tmp_path


def test_model_file_with_a_syntax_error_is_one_line(model_files):
    t = model_files
    res = _run("nfa", "--model", f"{t / 'broken.py'}:make", "--data", t / "d.npz", "--quiet")
    assert res.exit_code == 2
    err = [ln for ln in res.output.splitlines() if ln.startswith("error")]
    assert err == [f"error: model file {t / 'broken.py'} has a syntax error at line 3: "
                   "invalid syntax"]
    assert "Traceback" not in res.output


@pytest.mark.parametrize("file, says", [
    ("whole.pt", "it holds Python objects, not only tensors (a whole pickled model?); save the "
                 "weights with torch.save(model.state_dict(), path)"),
    ("damaged.pt", "it is damaged or not a file written by torch.save; save the weights with "
                   "torch.save(model.state_dict(), path)"),
])
def test_bad_checkpoints_say_save_the_state_dict(model_files, file, says):
    t = model_files
    res = _run("nfa", "--model", f"{t / 'net.py'}:make", "--checkpoint", t / file, "--data",
               t / "d.npz", "--quiet")
    assert res.exit_code == 2
    assert f"error: could not read checkpoint {t / file} as weights only: {says}" in res.output


def test_nfa_without_checkpoint_says_it_measures_an_untrained_model(model_files):
    t = model_files
    res = _run("nfa", "--model", f"{t / 'net.py'}:make", "--data", t / "d.npz", "--quiet")
    assert res.exit_code == 0, res.output
    assert "no --checkpoint: measuring the model as its factory builds it (untrained)" \
        in res.output


def test_design_plot_honours_pdf_and_svg_and_refuses_others(tmp_path):
    spec = "dense(w=1.41) relu dense"
    for suffix, magic in ((".pdf", b"%PDF"), (".svg", b"<?xml")):
        res = _run("design", spec, "--degree", "3", "--quiet", "-o", tmp_path / f"f{suffix}")
        assert res.exit_code == 0, res.output
        assert (tmp_path / f"f{suffix}").read_bytes().startswith(magic)
    res = _run("design", spec, "--quiet", "-o", tmp_path / "f.jpg")
    assert res.exit_code == 2
    assert "--out file" in res.output and "must end in .png, .pdf or .svg" in res.output


def test_json_writes_null_for_non_finite_numbers(tmp_path):
    obj = {"mean": math.nan, "rows": [1.0, math.inf, (-math.inf, 2)], "ok": 3}
    assert json_safe(obj) == {"mean": None, "rows": [1.0, None, [None, 2]], "ok": 3}
    write_json(tmp_path / "r.json", obj)
    text = (tmp_path / "r.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"mean": None, "rows": [1.0, None, [None, 2]], "ok": 3}


def test_progress_without_a_terminal_prints_nothing(capfd):
    # pytest's captured stderr is not a terminal, as a redirected log is not
    assert list(track(range(3), description="work")) == [0, 1, 2]
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_nfa_result_prints_its_table():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    res = occamlab.features.nfa(net, torch.randn(20, 3), powers=(0.5,), progress=False)
    lines = str(res).splitlines()
    assert lines[0].split() == ["layer", "power", "AGOP", "corr", "corr_delta", "corr_init"]
    first = lines[1].split()
    assert first[:3] == ["0", "0.5", "plain"]
    assert float(first[3]) == pytest.approx(res.correlation("0", 0.5), abs=5e-5)  # 4 decimals
