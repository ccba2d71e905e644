"""Helpers shared by the peer-side scripts (they run in the peers' environments, not occamlab's)."""

from __future__ import annotations

import time


def best_of(fn, repeats: int = 3) -> float:
    """The fastest of ``repeats`` wall times of ``fn()``, in seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def time_kernel_fn(kernel_fn, x, repeats: int) -> tuple[float, float, object]:
    """First (compiling) call time, best steady-state time of ``repeats`` calls, and the kernels
    of a jitted neural-tangents ``kernel_fn`` on ``x`` with ``x2 = None``."""
    t0 = time.perf_counter()
    k = kernel_fn(x, None, get=("nngp", "ntk"))
    k.ntk.block_until_ready()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        k = kernel_fn(x, None, get=("nngp", "ntk"))
        k.ntk.block_until_ready()
        times.append(time.perf_counter() - t0)
    return first, min(times), k


def print_times(first: float, steady: float, k) -> None:
    """The JSON line a kernel peer script ends with: times and checksums of the kernels."""
    import json

    import jax
    import numpy as np

    print(json.dumps({"first": first, "steady": steady,
                      "ntk_sum": float(np.asarray(k.ntk).sum()),
                      "nngp_sum": float(np.asarray(k.nngp).sum()),
                      "jax": jax.__version__}))


def build_mlp(arch: dict):
    """The benchmark's torch model from its JSON description: Linear layers of ``widths``,
    ReLU between them when ``relu``, biases when ``bias``."""
    from torch import nn

    layers = []
    for i, (a, b) in enumerate(zip(arch["widths"][:-1], arch["widths"][1:])):
        layers.append(nn.Linear(a, b, bias=arch["bias"]))
        if arch["relu"] and i < len(arch["widths"]) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)
