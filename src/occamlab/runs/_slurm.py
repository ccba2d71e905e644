"""A Dask cluster of SLURM jobs (dask-jobqueue), for ``client=`` of every :mod:`occamlab.runs`
entry point. Needs the extra ``occamlab[slurm]``."""

from __future__ import annotations

from typing import Any

from occamlab._check import check_int

__all__ = ["slurm_cluster"]


def slurm_cluster(cores: int | None = None, memory: str | None = None, jobs: int = 1, *,
                  walltime: str | None = None, processes: int | None = None, **options: Any):
    """A ``dask_jobqueue.SLURMCluster`` with ``jobs`` jobs submitted.

    Each job is one SLURM allocation of ``cores`` cores and ``memory`` running ``processes``
    Dask worker processes (default: one single-threaded worker per core, as the local cluster
    of :func:`occamlab.runs.sweep`); give one GPU per single-worker job with
    ``cores=1, job_extra_directives=["--gres=gpu:1"]``. Arguments left ``None`` come from the
    dask-jobqueue configuration (``~/.config/dask/jobqueue.yaml``).

    Arguments:
        cores: cores per job (``#SBATCH --cpus-per-task``).
        memory: memory per job, e.g. ``"16GB"`` (``#SBATCH --mem``).
        jobs: jobs to submit now (0: none; ``cluster.scale`` or ``cluster.adapt`` later).
        walltime: ``"HH:MM:SS"`` per job (``#SBATCH -t``).
        processes: worker processes per job.
        **options: any other ``SLURMCluster`` option (``queue``, ``account``,
            ``job_extra_directives``, ``scheduler_options``, ``python``, …).

    Returns:
        The cluster; pass it (or ``Client(cluster)``) as ``client=``. ``cluster.job_script()``
        shows what is submitted; close it with ``cluster.close()``.
    """
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise ImportError("runs.slurm_cluster needs dask-jobqueue: pip install "
                          "'occamlab[slurm]'") from None
    jobs = check_int(jobs, "jobs", ge=0)
    if cores is not None:
        cores = check_int(cores, "cores", ge=1)
        if processes is None:
            processes = cores
    if processes is not None:
        options["processes"] = check_int(processes, "processes", ge=1)
    for name, value in (("cores", cores), ("memory", memory), ("walltime", walltime)):
        if value is not None:
            options[name] = value
    cluster = SLURMCluster(**options)
    if jobs:
        cluster.scale(jobs=jobs)
    return cluster
