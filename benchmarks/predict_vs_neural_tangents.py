"""Infinite-width training dynamics: occamlab.kernels.predict vs neural-tangents 0.6.5.

    .venv/bin/python benchmarks/predict_vs_neural_tangents.py [--repeats 2]
    .venv/bin/python benchmarks/predict_vs_neural_tangents.py --after-kernel

Default: ``gradient_descent_mse_ensemble`` of a 3-hidden-layer ReLU MLP on 2,000 training and
500 test inputs (dimension 100, 10 targets each, diag_reg = 1e-4), at 10 times, mean and
covariance in NTK mode, float64. Kernels are included on both sides (a fresh predictor per run).
The results are checked to agree (sums to 1e-8 relative) before any time is reported.

``--after-kernel``: ``K.after_kernel`` on 1,000 MNIST-1D training and 500 test signals with a
3-layer CNN (3 × circular conv(5) + ReLU, global average pooling, Dense; width 64, standard
parameterization, 10 outputs), trained 20 SGD steps first: wall time and peak resident memory
(the layerwise empirical NTK path applies to this chain). Prints Markdown for RESULTS.md.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _peer import machine, run_peer  # noqa: E402

from occamlab import kernels as K  # noqa: E402
from occamlab.kernels import predict  # noqa: E402

N, M, D, DEPTH = 2000, 500, 100, 3
TIMES = np.logspace(0, 4, 10)


def after_kernel_run() -> None:
    from occamlab.report._kernels import architectures
    from occamlab.tasks import mnist1d

    data = mnist1d(n_train=1000, n_test=500, seed=42)
    net = architectures()["CNN"].network((1, 40), 64, seed=0, out_dim=10, dtype=torch.float64,
                                         parameterization="standard")
    init = copy.deepcopy(net)
    y = torch.nn.functional.one_hot(data.y_train, 10).double()
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    for _ in range(20):
        opt.zero_grad()
        (0.5 * ((net(data.x_train) - y) ** 2).mean()).backward()
        opt.step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    t0 = time.perf_counter()
    res = K.after_kernel(init, net, data.x_train, data.y_train, data.x_test, data.y_test,
                         ridge=1e-6)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    print(f"## after_kernel on MNIST-1D, 3-layer CNN ({datetime.date.today()})\n")
    print("Command: `.venv/bin/python benchmarks/predict_vs_neural_tangents.py --after-kernel`  ")
    print(f"Machine: {machine()}; torch {torch.__version__} with {torch.get_num_threads()} "
          f"threads; load average {os.getloadavg()[0]:.1f}  ")
    print(f"after_kernel (4 empirical NTKs: train–train and test–train, initial and trained; "
          f"1000 train / 500 test signals, CNN width 64, float64): **{wall:.1f} s**, peak RSS "
          f"{peak:.2f} GiB (before the call {before:.2f} GiB).  ")
    print(f"Result: network test MSE {res.network_mse:.4f}, initial-kernel "
          f"{res.initial_kernel_mse:.4f}, final-kernel {res.final_kernel_mse:.4f}; kernel "
          f"distance {res.kernel_distance:.3f}.")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--after-kernel", action="store_true")
    args = ap.parse_args()
    if args.after_kernel:
        after_kernel_run()
        return
    peer = run_peer("neural_tangents", HERE / "peers" / "nt_predict.py", N, M, D, DEPTH,
                    args.repeats)
    arch = K.mlp(DEPTH, "relu", w_std=2 ** 0.5, b_std=0.1, readout_w_std=1.0, readout_b_std=0.0)
    rng = np.random.default_rng(1)
    x, xt = rng.standard_normal((N, D)), rng.standard_normal((M, D))
    y = rng.standard_normal((N, 10))

    def run():
        fn = predict.gradient_descent_mse_ensemble(arch, x, y, diag_reg=1e-4)
        return fn(t=TIMES, x_test=xt, get="ntk", compute_cov=True)

    times = []
    for _ in range(args.repeats + 1):
        t0 = time.perf_counter()
        mean, cov = run()
        times.append(time.perf_counter() - t0)
    for name, got in (("mean_sum", mean.sum()), ("cov_sum", cov.sum()),
                      ("mean_abs", mean.abs().sum())):
        ref = peer[name]
        if abs(float(got) - ref) > 1e-8 * max(abs(ref), peer["mean_abs"]):
            raise SystemExit(f"{name} disagrees with neural-tangents: {float(got)} vs {ref}")
    first, steady = times[0], min(times[1:])
    print(f"## Training dynamics (predict) vs neural-tangents 0.6.5 ({datetime.date.today()})\n")
    print("Command: `.venv/bin/python benchmarks/predict_vs_neural_tangents.py "
          f"--repeats {args.repeats}`  ")
    print(f"Machine: {machine()}; torch {torch.__version__} with {torch.get_num_threads()} "
          f"threads; jax {peer['jax']}; load average {os.getloadavg()[0]:.1f} (shared machine)  ")
    print(f"Task: gradient_descent_mse_ensemble, {DEPTH}-hidden-layer ReLU MLP, {N} train / {M} "
          f"test inputs (d = {D}, 10 targets), diag_reg 1e-4, 10 times, NTK-mode mean and "
          "covariance, float64, kernels included; results agree to 1e-8 (sums).\n")
    print("| run | wall time (s) |\n| --- | --- |")
    print(f"| occamlab, first call | {first:.2f} |")
    print(f"| occamlab, best of {args.repeats} | {steady:.2f} |")
    print(f"| neural-tangents, first (jit-compiling) call | {peer['first']:.2f} |")
    print(f"| neural-tangents, best of {args.repeats} | {peer['steady']:.2f} |")
    print(f"\nRatio NT best / occamlab best = {peer['steady'] / steady:.2f} (goal ≥ 1).")


if __name__ == "__main__":
    main()
