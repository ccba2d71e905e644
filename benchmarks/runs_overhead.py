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
import resource
import subprocess
import sys
import tempfile
import time

import torch


def sleepy(x, seed):
    time.sleep(0.25)
    return {"y": float(x)}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


ONE_TILE = """
import resource, sys, numpy, torch, zarr
torch.set_num_threads(1)
from occamlab.report._kernels import architectures
x, tile = torch.from_numpy(numpy.load(sys.argv[1])), int(sys.argv[2])
arch = architectures()["CNN"]
arch.kernel(x[:2])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
arch.kernel(x[:tile], x[tile:2 * tile])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(before, after)
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
        base = client.run(peak_rss_mib)
        now = client.run(rss_mib)
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
        peak = client.run(peak_rss_mib)
        err = float((sk.load().ntk - ref.ntk).abs().max())
        ratios = sorted(b / a for a, b in zip(inproc, tiled))
        print(f"n = {args.n}: in-process arch.kernel (2 threads) best {min(inproc):.1f} s; "
              f"runs.kernel ({sk.tiles} tiles of {args.tile}, 2 workers) best {min(tiled):.1f} s;"
              f" best/best {min(tiled) / min(inproc):.3f}, median pair ratio "
              f"{ratios[len(ratios) // 2]:.3f}; max |Δ NTK| = {err:.1e}", flush=True)
        np_path = f"{tmp}/x.npy"
        import numpy as np

        np.save(np_path, x.numpy())
        out = subprocess.run([sys.executable, "-c", ONE_TILE, np_path, str(args.tile)],
                             capture_output=True, text=True, check=True).stdout.split()
        tb, ta = map(float, out)
        for w in peak:
            print(f"worker {w}: RSS before {now[w]:.0f} MiB, peak before {base[w]:.0f} MiB, "
                  f"peak after {peak[w]:.0f} MiB (+{peak[w] - base[w]:.0f} MiB)")
        print(f"one process, one {args.tile}×{args.tile} tile: peak {tb:.0f} → {ta:.0f} MiB "
              f"(+{ta - tb:.0f} MiB); store {sk.shape}: {2 * 8 * args.n ** 2 / 2**20:.1f} MiB")
        print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
