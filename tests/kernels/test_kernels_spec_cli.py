"""The architecture spec grammar and the ``occamlab kernel`` command."""

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from occamlab import kernels as K
from occamlab.cli import app

SPEC = "conv(3,circular,w=1.41,b=0.1) relu flatten dense(w=1.41,b=0.1) erf dense"


def test_spec_builds_the_same_architecture_as_python():
    by_hand = K.serial(K.Conv(3, "circular", w_std=1.41, b_std=0.1), K.Relu(), K.Flatten(),
                       K.Dense(w_std=1.41, b_std=0.1), K.Erf(), K.Dense())
    assert repr(K.parse_spec(SPEC)) == repr(by_hand)
    x = torch.randn(4, 2, 6, dtype=torch.float64)
    # the same layers in the same order: bitwise the same computation
    assert torch.equal(K.parse_spec(SPEC).kernel(x).ntk, by_hand.kernel(x).ntk)


@pytest.mark.parametrize("spec,want", [
    ("conv(2x3,valid) gelu gap dense", "serial(Conv(filter_size=(2, 3), padding='valid', "
     "w_std=1, b_std=0), Gelu(), GlobalAvgPool(), Dense(w_std=1, b_std=0))"),
    ("dense(w_std=2) leakyrelu(0.2) dense tanh(32) dense",
     "serial(Dense(w_std=2, b_std=0), LeakyRelu(alpha=0.2), Dense(w_std=1, b_std=0), "
     "Tanh(deg=32), Dense(w_std=1, b_std=0))"),
    ("Dense ReLU  Leaky_Relu(alpha=0.1) dense", "serial(Dense(w_std=1, b_std=0), Relu(), "
     "LeakyRelu(alpha=0.1), Dense(w_std=1, b_std=0))"),
])
def test_spec_variants(spec, want):
    assert repr(K.parse_spec(spec)) == want


def test_cli_writes_the_library_kernels(tmp_path):
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((5, 2, 6)), rng.standard_normal((3, 2, 6))
    np.save(tmp_path / "x1.npy", x1)
    np.savez(tmp_path / "x2.npz", x=x2)
    out = tmp_path / "k.npz"
    res = CliRunner().invoke(app, ["kernel", SPEC, str(tmp_path / "x1.npy"), "--x2",
                                   str(tmp_path / "x2.npz"), "-o", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    want = K.parse_spec(SPEC).kernel(x1, x2)
    with np.load(out) as f:
        assert f["ntk"].shape == (5, 3)
        np.testing.assert_array_equal(f["ntk"], want.ntk.numpy())  # same code path, bitwise
        np.testing.assert_array_equal(f["nngp"], want.nngp.numpy())


def test_cli_help_shows_an_example():
    res = CliRunner().invoke(app, ["kernel", "--help"])
    assert res.exit_code == 0 and "Example" in res.output and "occamlab kernel" in res.output
    assert "Residual example" in res.output and "residual(relu" in res.output


def test_cli_residual_example_runs(tmp_path):
    # the --help example, as written there, on MNIST-1D-shaped signals
    spec = ("conv(3,w=1.41) residual(relu conv(3,w=1.41)) relu avgpool(2) conv(3) layernorm "
            "relu gap dense")
    x = np.random.default_rng(1).standard_normal((4, 1, 12))
    np.save(tmp_path / "x.npy", x)
    res = CliRunner().invoke(app, ["kernel", spec, str(tmp_path / "x.npy"), "-o",
                                   str(tmp_path / "k.npz"), "--quiet"])
    assert res.exit_code == 0, res.output
    with np.load(tmp_path / "k.npz") as f:  # same code path as the library: bitwise
        np.testing.assert_array_equal(f["ntk"], K.parse_spec(spec).kernel(x).ntk.numpy())


def test_cli_bad_spec_lists_valid_names(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((2, 3)))
    res = CliRunner().invoke(app, ["kernel", "dense swish dense", str(tmp_path / "x.npy"),
                                   "-o", str(tmp_path / "k.npz")])
    assert res.exit_code == 2
    assert "unknown layer 'swish'" in res.output and "relu" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "k.npz").exists()


def test_cli_bad_inputs(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((2, 3)))
    res = CliRunner().invoke(app, ["kernel", SPEC, str(tmp_path / "x.npy"),
                                   "-o", str(tmp_path / "k.npz")])
    assert res.exit_code == 2 and "Conv needs inputs with spatial axes" in res.output
    res = CliRunner().invoke(app, ["kernel", "dense relu dense", str(tmp_path / "nope.npy")])
    assert res.exit_code == 2 and "does not exist" in res.output
