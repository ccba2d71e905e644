"""neural-tangents side of benchmarks/residual_kernels_vs_neural_tangents.py (runs in the NT env).

    python nt_residual_kernels.py SPEC X.npy BATCH REPEATS

Builds the architecture from occamlab's spec grammar with the parser of ``nt_layers_fixtures``
(FanOut/parallel/FanInSum for residual blocks, AvgPool, GlobalAvgPool), jits its kernel_fn,
wraps it in ``nt.batch`` with BATCH inputs per block (a whole 500 × 500 × 40 × 40 covariance
does not fit in memory), and times the first (compiling) call and the best of REPEATS on X
(PyTorch layout (N, C, W), transposed to channels-last), x2 = None. Prints one JSON line with
the times and checksums of the kernels.
"""

from __future__ import annotations

import sys

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import neural_tangents as nt  # noqa: E402
from _common import print_times, time_kernel_fn  # noqa: E402
from nt_layers_fixtures import build, channels_last  # noqa: E402


def main(spec: str, path: str, batch: int, repeats: int) -> None:
    x = channels_last(np.load(path))
    kernel_fn = build(spec, x.ndim - 2)[2]
    kernel_fn = nt.batch(kernel_fn, batch_size=batch)  # jitted inside, per block
    first, steady, k = time_kernel_fn(kernel_fn, x, repeats)
    print_times(first, steady, k)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
