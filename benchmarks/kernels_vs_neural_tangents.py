"""Infinite-width kernels: occamlab vs neural-tangents 0.6.5, side by side.

    .venv/bin/python benchmarks/kernels_vs_neural_tangents.py [--repeats 5]

NNGP+NTK of a 3-hidden-layer ReLU MLP (NTK parameterization, w_std = √2, b_std = 0.1, readout
w_std = 1) on X of shape (2000, 100), float64, x2 = None. The same X goes to both
(drawn from the same NumPy seed); the kernels are checked to agree (sums to 1e-10 relative)
before any time is reported. NT's jitted kernel_fn is timed on its first (compiling) call and in
steady state (best of --repeats); occamlab on its first call and best of --repeats. Goals: at
least as fast as NT's steady state, ≥ 2× faster than its first call. Prints a Markdown section
for RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _peer import best_of, machine, run_peer  # noqa: E402

from occamlab import kernels as K  # noqa: E402

N, D, DEPTH = 2000, 100, 3


def cnn_memory() -> None:
    """NTK of a 3-layer CNN with global average pooling on 2000 MNIST-1D signals
    (memory goal: ≤ 4 GB peak). Run under ``/usr/bin/time -v`` for an outside measurement."""
    from occamlab.report._kernels import architectures
    from occamlab.tasks import mnist1d

    x = mnist1d(n_train=4000, n_test=1000, seed=42).x_train[:2000]
    peak_memory(architectures()["CNN"], x, "CNN (3× conv(5, circular) + ReLU, GAP, Dense)")


def peak_memory(arch, x, label: str) -> None:
    """Time ``arch``'s NTK on ``x`` and print it with this process's peak resident memory."""
    import resource

    t0 = time.perf_counter()
    k = arch.kernel(x, progress=True)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    print(f"{label} NTK on X {tuple(x.shape)} float64: {wall:.1f} s, peak RSS {peak:.2f} GiB, "
          f"ntk {tuple(k.ntk.shape)}; load average {os.getloadavg()[0]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cnn-memory", action="store_true",
                    help="instead: peak memory of a CNN+GAP NTK on 2000 MNIST-1D signals")
    args = ap.parse_args()
    if args.cnn_memory:
        cnn_memory()
        return
    peer = run_peer("neural_tangents", HERE / "peers" / "nt_kernels.py", N, D, DEPTH,
                    args.repeats)
    arch = K.mlp(DEPTH, "relu", w_std=2 ** 0.5, b_std=0.1, readout_w_std=1.0, readout_b_std=0.0)
    x = np.random.default_rng(1).standard_normal((N, D))
    race(arch, x, peer, args.repeats, title="Infinite-width kernels vs neural-tangents 0.6.5",
         command=f"benchmarks/kernels_vs_neural_tangents.py --repeats {args.repeats}",
         task=f"NNGP+NTK, {DEPTH}-hidden-layer ReLU MLP, X ({N}, {D}) float64, x2 = None")


def race(arch, x, peer: dict, repeats: int, *, title: str, command: str, task: str,
         peer_name: str = "neural-tangents") -> None:
    """Time ``arch.kernel(x)`` (first call, best of ``repeats``) against the peer's times, after
    checking that the kernels agree (sums to 1e-10 relative); print a RESULTS.md section."""
    t0 = time.perf_counter()
    k = arch.kernel(x)
    first = time.perf_counter() - t0
    for name, ref in (("ntk", peer["ntk_sum"]), ("nngp", peer["nngp_sum"])):
        got = float(getattr(k, name).sum())
        if abs(got - ref) > 1e-10 * abs(ref):
            raise SystemExit(f"{name} disagrees with neural-tangents: {got} vs {ref}")
    steady = best_of(lambda: arch.kernel(x), repeats)
    rows = [
        ("occamlab, first call", first),
        (f"occamlab, best of {repeats}", steady),
        (f"{peer_name}, first (jit-compiling) call", peer["first"]),
        (f"{peer_name} jitted, best of {repeats}", peer["steady"]),
    ]
    print(f"## {title} ({datetime.date.today()})\n")
    print(f"Command: `.venv/bin/python {command}`  ")
    print(f"Machine: {machine()}; jax {peer['jax']}  ")
    print(f"Task: {task}; kernels agree to 1e-10.\n")
    print("| run | wall time (s) |\n| --- | --- |")
    for name, t in rows:
        print(f"| {name} | {t:.4f} |")
    print(f"\nRatios: NT steady / occamlab steady = {peer['steady'] / steady:.2f} (goal ≥ 1); "
          f"NT first call / occamlab steady = {peer['first'] / steady:.2f}, / occamlab first "
          f"call = {peer['first'] / first:.2f} (goal ≥ 2). Load average during the run: "
          f"{os.getloadavg()[0]:.1f}.")


if __name__ == "__main__":
    main()
