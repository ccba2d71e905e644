"""`occamlab sweep` and `occamlab kernel --store`: the command line over runs."""

import tomllib

import numpy as np
import pytest
import torch
import zarr
from typer.testing import CliRunner

from occamlab import kernels as K
from occamlab import runs
from occamlab.cli import app

CELLS = __file__.replace("test_runs_cli.py", "_cells.py")


def test_sweep_help_shows_a_complete_study_file():
    out = CliRunner().invoke(app, ["sweep", "--help"], terminal_width=100).output
    example = out.split("Example study file")[1].split("╭")[0].splitlines()[1:]
    study = tomllib.loads("\n".join(line.strip() for line in example))
    assert study["function"] == "mystudy.py:train" and study["seeds"] == 3
    assert study["grid"] == {"width": [64, 256, 1024], "lr": [0.1, 0.01]}
    assert set(study["slurm"]) == {"cores", "memory", "walltime", "jobs"}


def test_sweep_command_through_a_scheduler(client, tmp_path):
    study = tmp_path / "study.toml"
    study.write_text(f'function = "{CELLS}:quadratic"\nstore = "{tmp_path / "s.zarr"}"\n'
                     'seeds = [1, 2]\n[grid]\na = [1, 2]\nb = [3.0]\n')
    r = CliRunner().invoke(app, ["sweep", str(study), "--scheduler", client.scheduler.address,
                                 "--quiet"])
    assert r.exit_code == 0, r.output
    assert "Dimensions:" in r.output
    y = zarr.open_group(tmp_path / "s.zarr", mode="r")["values"]["y"][...]
    # y = a·b + seed (the closed form of the cell function), dims (a, b, seed)
    np.testing.assert_array_equal(y, [[[4.0, 5.0]], [[7.0, 8.0]]])


def test_sweep_command_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('function = "nowhere.py:f"\n[grid]\na = [1]\n')
    r = CliRunner().invoke(app, ["sweep", str(bad)])
    assert r.exit_code == 2 and "function file nowhere.py does not exist" in r.output
    bad.write_text('fn = "x:y"\n')
    r = CliRunner().invoke(app, ["sweep", str(bad)])
    assert r.exit_code == 2 and "needs 'function' and a [grid] table" in r.output


def test_kernel_command_with_store(client, tmp_path):
    x = torch.randn(40, 1, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    np.save(tmp_path / "x.npy", x.numpy())
    spec = "conv(3,circular,w=1.41,b=0.1) relu gap dense"
    args = ["kernel", spec, str(tmp_path / "x.npy"), "--store", str(tmp_path / "k.zarr"),
            "--tile", "16", "--scheduler", client.scheduler.address]  # --quiet prints nothing
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "kernels of shape (40, 40)" in r.output and "6 of 6 tiles computed" in r.output
    g = zarr.open_group(tmp_path / "k.zarr", mode="r")
    ref = K.parse_spec(spec).kernel(x)
    np.testing.assert_allclose(g["ntk"][...], ref.ntk.numpy(), rtol=0, atol=1e-12)
    r = CliRunner().invoke(app, args)
    assert "0 of 6 tiles computed" in r.output


def test_no_client_starts_a_local_cluster_sized_to_the_machine_and_closes_it(monkeypatch,
                                                                            tmp_path, capsys):
    import distributed
    from dask.system import CPU_COUNT

    made = []

    class Recorded(distributed.LocalCluster):
        def __init__(self, **kw):
            made.append((kw, self))
            # threads instead of processes keep the test cheap; the arguments are checked
            super().__init__(**{**kw, "processes": False, "dashboard_address": ":0"})

    monkeypatch.setattr(distributed, "LocalCluster", Recorded)
    import _cells

    ds = runs.sweep(_cells.quadratic, {"a": [2], "b": [5]}, store=tmp_path / "n.zarr")
    assert ds.y.values.ravel().tolist() == [10.0]
    (kw, cluster), = made
    assert kw["n_workers"] == CPU_COUNT and kw["threads_per_worker"] == 1 and kw["processes"]
    assert cluster.status.name == "closed"
    err = capsys.readouterr().err
    assert f"started a local Dask cluster: {CPU_COUNT} worker processes" in err
    assert "dashboard http://" in err


def test_slurm_cluster_arguments_validated():
    with pytest.raises(ValueError, match="jobs must be an integer ≥ 0"):
        runs.slurm_cluster(cores=1, memory="1GB", jobs=-1)
    with pytest.raises(ValueError, match="cores must be an integer ≥ 1"):
        runs.slurm_cluster(cores=0, memory="1GB", jobs=0)
