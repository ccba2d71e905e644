"""A sweep through a scheduler address: `dask scheduler` and two `dask worker` processes started
here on 127.0.0.1; one worker is killed (by pid) while it runs a cell."""

import functools
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import _cells
import numpy as np
import pytest

from occamlab import runs

DASK = str(Path(sys.executable).parent / "dask")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(scheduler, workers) -> None:
    """Workers killed (nothing of theirs is kept), the scheduler asked to stop, all reaped."""
    for p in workers:
        if p.poll() is None:
            p.kill()
    if scheduler.poll() is None:
        scheduler.terminate()
    for p in (*workers, scheduler):
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=15)


@pytest.fixture
def scheduler(tmp_path):
    """(address, worker processes) of a scheduler with two single-threaded workers, no nanny
    (a killed worker stays dead)."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    logs = [open(tmp_path / f"{name}.log", "w") for name in ("scheduler", "w0", "w1")]
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port",
                               address.rsplit(":", 1)[1], "--no-dashboard"],
                              stdout=logs[0], stderr=subprocess.STDOUT, env=env)]
    try:
        for k in (1, 2):
            procs.append(subprocess.Popen(
                [DASK, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                 "--host", "127.0.0.1", "--name", f"w{k - 1}"],
                stdout=logs[k], stderr=subprocess.STDOUT, env=env))
        with Client(address, timeout="180s") as c:  # a loaded machine starts dask slowly
            c.wait_for_workers(2, timeout=120)
        yield address, procs[1:]
    finally:
        stop(procs[0], procs[1:])
        for f in logs:
            f.close()


# The sweep runs in its own process, as a user's would: distributed's futures are not safe with
# a second Client in one process (the session's local cluster), when a lost task is reset.
SWEEP = """
import functools, sys
sys.path.insert(0, sys.argv[1])
import _cells, cloudpickle
cloudpickle.register_pickle_by_value(_cells)
from occamlab import runs
runs.sweep(functools.partial(_cells.slow, marker=sys.argv[2]), {"x": list(range(8))},
           seeds=[3], store=sys.argv[3], client=sys.argv[4], retries=0, progress=False)
"""


def test_sweep_through_address_survives_a_killed_worker(scheduler, tmp_path):
    address, workers = scheduler
    marker = tmp_path / "pid"
    store = tmp_path / "k.zarr"
    sweep = subprocess.Popen([sys.executable, "-c", SWEEP, str(Path(__file__).parent),
                              str(marker), str(store), address])
    try:
        deadline = time.monotonic() + 180
        while not marker.exists() and sweep.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "cell x = 2 never started"
        pid = int(marker.read_text())
        assert pid in {p.pid for p in workers}
        os.kill(pid, signal.SIGKILL)  # while it runs cell x = 2
        assert sweep.wait(timeout=180) == 0
    finally:
        if sweep.poll() is None:
            sweep.kill()
            sweep.wait(timeout=15)
    dead = [p for p in workers if p.pid == pid][0]
    assert dead.wait(timeout=20) == -signal.SIGKILL
    # the store, read back without computing: every cell present and equal to its closed form
    # x² + seed, none recorded as failed
    ds = runs.sweep(functools.partial(_cells.slow, marker=str(marker)), {"x": list(range(8))},
                    seeds=[3], store=store, client="sync", progress=False)
    assert ds.attrs["computed"] == 0
    assert (ds.error.values == "").all(), ds.error.values
    np.testing.assert_array_equal(ds.y.values[:, 0], np.arange(8) ** 2 + 3)
