"""runs.slurm_cluster renders its job script without SLURM; runs.llc_trajectory per checkpoint."""

import numpy as np
import pytest
import torch
from torch import nn

from occamlab import runs, slt


def test_slurm_job_script_has_cores_memory_walltime():
    cluster = runs.slurm_cluster(cores=4, memory="16GB", jobs=0, walltime="02:30:00",
                                 queue="gpu", job_extra_directives=["--gres=gpu:1"],
                                 scheduler_options={"host": "127.0.0.1",
                                                    "dashboard_address": ":0"})
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    lines = script.splitlines()
    assert "#SBATCH --cpus-per-task=4" in lines
    # dask-jobqueue writes memory in GiB, rounded: 16 GB = 16e9 bytes = 14.9 GiB → 15G
    assert f"#SBATCH --mem={round(16e9 / 2**30)}G" in lines
    assert "#SBATCH -t 02:30:00" in lines and "#SBATCH -p gpu" in lines
    assert "#SBATCH --gres=gpu:1" in lines
    # one single-threaded worker process per core, as the local cluster
    assert "--nworkers 4" in script and "--nthreads 1" in script


# short chains on purpose (the test checks bookkeeping, not the estimate): silence diagnostics
@pytest.mark.filterwarnings("ignore::occamlab.slt.LLCWarning")
def test_llc_trajectory_equals_llc_per_checkpoint_with_derived_seeds(client, tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    models = {}
    for step in (0, 10, 20):
        m = nn.Linear(3, 1)
        with torch.no_grad():
            m.weight.copy_(torch.tensor([[1.0, -2.0, 0.5]]) * step / 20)
            m.bias.zero_()
        models[step] = m
    options = dict(nbeta=10.0, step_size=1e-3, localization=10.0, chains=2, draws=10, thin=2)
    store = tmp_path / "llc.zarr"
    ds = runs.llc_trajectory(models, nn.MSELoss(), (x, y), store=store, client=client,
                             progress=False, **options)
    assert list(ds.checkpoint.values) == [0, 10, 20] and ds.attrs["computed"] == 3
    seeds = [runs.checkpoint_seed(0, i) for i in range(3)]
    assert len(set(seeds)) == 3
    for i, step in enumerate((0, 10, 20)):
        ref = slt.llc(models[step], nn.MSELoss(), (x, y), seed=seeds[i], progress=False,
                      **options)
        # the same computation with the same seed on a worker: identical numbers
        got = [ds[k].values[i] for k in ("mean", "se", "rhat", "loss_star")]
        np.testing.assert_array_equal(got, [ref.mean, ref.se, ref.rhat, ref.loss_star])
        np.testing.assert_array_equal(ds.chain_estimates.values[i], ref.chain_estimates)
    again = runs.llc_trajectory(models, nn.MSELoss(), (x, y), store=store, client="sync",
                                progress=False, **options)
    assert again.attrs["computed"] == 0
    with pytest.raises(ValueError, match=r"options\['draws'\]: stored 10, given 11"):
        runs.llc_trajectory(models, nn.MSELoss(), (x, y), store=store, client="sync",
                            progress=False, **{**options, "draws": 11})
