"""neural-tangents side of benchmarks/kernels_vs_neural_tangents.py (runs in the NT env).

    python nt_kernels.py N D DEPTH REPEATS

Times NNGP+NTK of a DEPTH-hidden-layer ReLU MLP (NTK parameterization, w_std = √2,
b_std = 0.1, readout w_std = 1) on X of shape (N, D), float64, x2 = None: the first call of the
jitted kernel_fn (compiling) and the best of REPEATS steady-state calls. Saves nothing; prints
one JSON line with the times and a checksum of the kernels (to compare with occamlab).
"""

from __future__ import annotations

import sys

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from _common import print_times, time_kernel_fn  # noqa: E402
from neural_tangents import stax  # noqa: E402


def main(n: int, d: int, depth: int, repeats: int) -> None:
    layers = []
    for _ in range(depth):
        layers += [stax.Dense(1, W_std=2 ** 0.5, b_std=0.1), stax.Relu()]
    layers.append(stax.Dense(1, W_std=1.0, b_std=0.0))
    kernel_fn = jax.jit(stax.serial(*layers)[2], static_argnames="get")
    x = np.random.default_rng(1).standard_normal((n, d))
    first, steady, k = time_kernel_fn(kernel_fn, x, repeats)
    print_times(first, steady, k)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:5]))
