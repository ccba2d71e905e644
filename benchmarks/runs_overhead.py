"""What Dask costs: the scheduling overhead of runs.sweep, and runs.kernel against arch.kernel.

1. 16 cells that each sleep 0.25 s, on a local cluster of 2 single-threaded worker processes:
   the ideal wall time is 16 × 0.25 / 2 = 2 s; the sweep's wall time over it is the overhead
   (task submission, result transfer, one Zarr write per cell and its done mark).
2. The report's CNN+GAP kernel (3 × Conv(5, circular) + ReLU, GlobalAvgPool, Dense) of n
   MNIST-1D signals (n, 1, 40): ``runs.kernel`` on the same 2 workers against the in-process
   ``arch.kernel`` with 2 threads, side by side, plus the peak memory of each worker against
   that of one process computing one tile.

Run: ``.venv/bin/python benchmarks/runs_overhead.py [--n 2000] [--tile 100]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time

import torch


def sleepy(x, seed):
    time.sleep(0.25)
    return {"y": float(x)}


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_mib() -> float:
    """Resident memory now, and (first) the peak since the last ``reset_peak``."""
    return _status_mib("VmRSS")


def peak_mib() -> float:
    return _status_mib("VmHWM")


def reset_peak() -> None:
    """Linux: start the peak resident memory (VmHWM) afresh from the current one."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


ONE_TILE = """
import sys, numpy, torch, zarr
sys.path.insert(0, sys.argv[3])
from runs_overhead import peak_mib, reset_peak, rss_mib
torch.set_num_threads(1)
from occamlab.runs._cluster import worker_malloc
from occamlab.report._kernels import architectures
worker_malloc()  # as on a worker
x, tile = torch.from_numpy(numpy.load(sys.argv[1])), int(sys.argv[2])
arch = architectures()["CNN"]
arch.kernel(x[:2])
before = rss_mib()
reset_peak()
arch.kernel(x[:tile], x[tile:2 * tile])
print(before, peak_mib())
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000, help="MNIST-1D signals in the kernel")
    ap.add_argument("--tile", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved kernel repetitions")
    ap.add_argument("--skip-kernel", action="store_true")
    args = ap.parse_args()

    from distributed import Client, LocalCluster

    from occamlab import runs, tasks
    from occamlab.report._kernels import architectures

    print(f"load average {os.getloadavg()}", flush=True)
    t0 = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.CRITICAL) as cluster, \
            Client(cluster) as client, tempfile.TemporaryDirectory() as tmp:
        client.wait_for_workers(2)
        started = time.perf_counter() - t0
        # the one-time imports of a worker (occamlab, zarr), before anything is measured
        client.run(lambda: (__import__("occamlab.runs"), __import__("zarr")) and None)
        warm = time.perf_counter() - t0
        print(f"cluster start {started:.1f} s, workers importing occamlab: until {warm:.1f} s",
              flush=True)

        walls = []
        for rep in range(3):
            t = time.perf_counter()
            ds = runs.sweep(sleepy, {"x": list(range(16))}, store=f"{tmp}/s{rep}.zarr",
                            client=client, progress=False)
            walls.append(time.perf_counter() - t)
            assert ds.attrs["computed"] == 16
        print(f"sweep 16 × 0.25 s on 2 workers: {', '.join(f'{w:.2f}' for w in walls)} s "
              f"(ideal 2.00 s; best {min(walls) / 2:.2f}× ideal)", flush=True)
        if args.skip_kernel:
            return

        x = tasks.mnist1d(n_train=args.n, n_test=1, seed=0).x_train.double()
        arch = architectures()["CNN"]
        now = client.run(rss_mib)
        client.run(reset_peak)
        torch.set_num_threads(2)
        inproc, tiled = [], []
        for rep in range(args.repeats):  # interleaved, so that both see the same load
            t = time.perf_counter()
            ref = arch.kernel(x)
            inproc.append(time.perf_counter() - t)
            t = time.perf_counter()
            sk = runs.kernel(arch, x, store=f"{tmp}/k{rep}.zarr", tile=args.tile,
                             client=client, progress=False)
            tiled.append(time.perf_counter() - t)
            print(f"  repeat {rep}: in-process {inproc[-1]:.1f} s, runs.kernel {tiled[-1]:.1f} s "
                  f"(ratio {tiled[-1] / inproc[-1]:.3f}); load {os.getloadavg()[0]:.1f}",
                  flush=True)
        peak = client.run(peak_mib)
        err = float((sk.load().ntk - ref.ntk).abs().max())
        ratios = sorted(b / a for a, b in zip(inproc, tiled))
        print(f"n = {args.n}: in-process arch.kernel (2 threads) best {min(inproc):.1f} s; "
              f"runs.kernel ({sk.tiles} tiles of {args.tile}, 2 workers) best {min(tiled):.1f} s;"
              f" best/best {min(tiled) / min(inproc):.3f}, median pair ratio "
              f"{ratios[len(ratios) // 2]:.3f}; max |Δ NTK| = {err:.1e}", flush=True)
        np_path = f"{tmp}/x.npy"
        import numpy as np

        np.save(np_path, x.numpy())
        out = subprocess.run([sys.executable, "-c", ONE_TILE, np_path, str(args.tile),
                              os.path.dirname(os.path.abspath(__file__))],
                             capture_output=True, text=True, check=True).stdout.split()
        tb, ta = map(float, out)
        for w in peak:
            print(f"worker {w}: resident {now[w]:.0f} MiB before the kernels, peak while "
                  f"computing them {peak[w]:.0f} MiB (+{peak[w] - now[w]:.0f} MiB)")
        print(f"one process computing one {args.tile}×{args.tile} tile: resident {tb:.0f} MiB, "
              f"peak {ta:.0f} MiB (+{ta - tb:.0f} MiB); "
              f"store {sk.shape}: {2 * 8 * args.n ** 2 / 2**20:.1f} MiB")
        print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
