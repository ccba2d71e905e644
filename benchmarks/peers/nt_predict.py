"""neural-tangents side of benchmarks/predict_vs_neural_tangents.py (runs in the NT env).

    python nt_predict.py N M D DEPTH REPEATS

``predict.gradient_descent_mse_ensemble`` of a DEPTH-hidden-layer ReLU MLP (NTK parameterization,
w_std = √2, b_std = 0.1, readout w_std = 1; jitted kernel_fn) on N training and M test inputs of
dimension D, 10 targets per input, diag_reg = 1e-4, at 10 times, mean and covariance in "ntk"
mode. Each call builds a fresh predictor, so the kernels (train–train, test–train, test–test),
the eigendecomposition and the products are all inside the time. Prints one JSON line: the
first (compiling) and best steady wall times, and checksums.
"""

from __future__ import annotations

import json
import sys
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from neural_tangents import predict, stax  # noqa: E402

TIMES = np.logspace(0, 4, 10)


def main(n: int, m: int, d: int, depth: int, repeats: int) -> None:
    layers = []
    for _ in range(depth):
        layers += [stax.Dense(1, W_std=2 ** 0.5, b_std=0.1), stax.Relu()]
    layers.append(stax.Dense(1, W_std=1.0, b_std=0.0))
    kernel_fn = jax.jit(stax.serial(*layers)[2], static_argnames="get")
    rng = np.random.default_rng(1)
    x, xt = rng.standard_normal((n, d)), rng.standard_normal((m, d))
    y = rng.standard_normal((n, 10))

    def run():
        fn = predict.gradient_descent_mse_ensemble(kernel_fn, x, y, diag_reg=1e-4)
        mean, cov = fn(t=TIMES, x_test=xt, get="ntk", compute_cov=True)
        mean.block_until_ready()
        cov.block_until_ready()
        return mean, cov

    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        mean, cov = run()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"first": times[0], "steady": min(times[1:]),
                      "mean_sum": float(np.asarray(mean).sum()),
                      "cov_sum": float(np.asarray(cov).sum()),
                      "mean_abs": float(np.abs(np.asarray(mean)).sum()),
                      "jax": jax.__version__}))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:6]))
