"""Scale-out on Dask: sweeps, tiled kernels and LLC trajectories, resumable in Zarr stores.

The same call runs on this machine, on any running Dask scheduler or on a SLURM allocation::

    from occamlab import runs
    ds = runs.sweep(fn, {"width": [64, 256], "lr": [0.1, 0.01]}, seeds=3, store="runs/w.zarr")
    sk = runs.kernel(arch, x, store="runs/k.zarr", tile=512, client="tcp://host:8786")
    traj = runs.llc_trajectory(models, torch.nn.MSELoss(), (x, y), store="runs/llc.zarr")
    cluster = runs.slurm_cluster(cores=8, memory="32GB", jobs=4)   # occamlab[slurm]

``client``: ``None`` starts a local cluster (one single-threaded worker process per core),
a string is a scheduler address, a ``distributed.Client`` or cluster is used as it is, and
``"sync"`` runs everything in this process. Every cell, tile or checkpoint is written to the
store (data, then its done mark) as it finishes; a rerun computes only what is missing.
"""

from occamlab.runs._kernel import StoredKernel, kernel
from occamlab.runs._slurm import slurm_cluster
from occamlab.runs._sweep import checkpoint_seed, llc_trajectory, sweep

__all__ = ["sweep", "kernel", "StoredKernel", "llc_trajectory", "checkpoint_seed",
           "slurm_cluster"]
