"""The `occamlab design` command."""

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from occamlab import design
from occamlab.cli import app

W = "dense(w=1.4142135623730951,b=0.1)"
DEEP = " ".join([W, "relu"] * 4 + [W])



def test_cli_prints_and_writes_the_library_coefficients(tmp_path, ink):
    png, js = tmp_path / "d.png", tmp_path / "d.json"
    res = CliRunner().invoke(app, ["design", DEEP, "--norm", "max", "-o", str(png),
                                   "--json", str(js)])
    assert res.exit_code == 0, res.output
    assert ink(png) > 0.04  # two panels of lines, beyond empty axes (0.017)
    out = json.loads(js.read_text())
    # Same numbers as the Python API on the same architecture (kernels.mlp is the spec above).
    from occamlab import kernels as K

    act = design.activation_for(K.mlp(4, "relu", w_std=math.sqrt(2), b_std=0.1), norm="max")
    torch.testing.assert_close(torch.tensor(out["hermite_coefficients"], dtype=torch.float64),
                               act.coefficients, rtol=0, atol=1e-9)  # LP solver tolerance
    # Printed table: a₀ = √b₀ with b₀ the constant term.
    assert f"{float(act.coefficients[0]):.6g}" in res.output
    assert "4.38% of max|K|" in res.output


def test_cli_unrealizable_target_fails_with_closest_fit(tmp_path):
    res = CliRunner().invoke(app, ["design", "dense sign dense", "--degree", "3",
                                   "-o", str(tmp_path / "x.png")])
    assert res.exit_code == 2
    assert "cannot realize the target NTK" in res.output and "closest fit" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("args,msg", [
    (["dense relu dense", "--degree", "-1"], "must be an integer ≥ 0, got -1"),
    (["dense relu dense", "--kind", "gp"], "kind must be 'ntk' or 'nngp'"),
    (["dense swish dense"], "swish"),
])
def test_cli_bad_input(tmp_path, args, msg):
    res = CliRunner().invoke(app, ["design", *args, "-o", str(tmp_path / "x.png")])
    assert res.exit_code == 2
    assert msg in res.output
