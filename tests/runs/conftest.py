"""One local Dask cluster (2 single-threaded worker processes on 127.0.0.1) for the runs tests."""

import logging

import _cells
import cloudpickle
import pytest

# the workers get the cell functions by value: they do not need this folder on their path
cloudpickle.register_pickle_by_value(_cells)


@pytest.fixture(scope="session")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.CRITICAL) as cluster, \
            Client(cluster, timeout="60s") as c:
        c.wait_for_workers(2, timeout=120)
        yield c
