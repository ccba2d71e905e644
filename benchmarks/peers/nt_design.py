"""neural-tangents side of benchmarks/design_vs_neural_tangents.py (runs in the NT env).

    python nt_design.py N D REPEATS COEF_JSON

NNGP+NTK of the shallow network Dense(W_std=1) → φ → Dense(W_std=1) (no biases, NTK
parameterization) on X of shape (N, D) with rows of norm √D, float64, x2 = None, for two
activations: φ the polynomial with monomial coefficients COEF_JSON (``stax.Polynomial``) and
φ = ½·sin(6z) (``stax.Sin``). Times the first (compiling) call and the best of REPEATS steady
calls of each jitted kernel_fn; prints one JSON line with times and kernel checksums.
"""

from __future__ import annotations

import json
import sys

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from _common import time_kernel_fn  # noqa: E402
from neural_tangents import stax  # noqa: E402


def inputs(n: int, d: int) -> np.ndarray:
    x = np.random.default_rng(4).standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True) * np.sqrt(d)


def timed(layer, x, repeats):
    kernel_fn = jax.jit(stax.serial(stax.Dense(1, W_std=1.0), layer,
                                    stax.Dense(1, W_std=1.0))[2], static_argnames="get")
    first, steady, k = time_kernel_fn(kernel_fn, x, repeats)
    return {"first": first, "steady": steady, "ntk_sum": float(np.asarray(k.ntk).sum()),
            "nngp_sum": float(np.asarray(k.nngp).sum()),
            "ntk_00": float(k.ntk[0, 0]), "ntk_01": float(k.ntk[0, 1])}


def main(n: int, d: int, repeats: int, coef: list[float]) -> None:
    x = inputs(n, d)
    print(json.dumps({"poly": timed(stax.Polynomial(coef), x, repeats),
                      "sin": timed(stax.Sin(a=0.5, b=6.0), x, repeats),
                      "jax": jax.__version__}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4]))
