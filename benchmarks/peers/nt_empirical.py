"""neural-tangents 0.6.5 side of ``empirical_ntk_vs_neural_tangents.py`` (runs in the NT env).

    benchmarks/envs/neural_tangents/bin/python benchmarks/peers/nt_empirical.py WEIGHTS.npz \
        float32|float64 IMPLEMENTATIONS REPEATS

WEIGHTS.npz holds ``x`` (N, D), and for each Dense layer i ``W{i}`` (PyTorch layout, out × in),
``b{i}``, ``w_std{i}``, ``b_std{i}``: an MLP in NTK parameterization with ReLU between layers,
exactly occamlab's ``arch.network``. Times NT's empirical NTK (traced over the outputs, x2=None)
with the IMPLEMENTATIONS named (comma-separated: jacobian_contraction = implementation 1,
structured_derivatives = implementation 3), jitted: the first call (compiling) and the best of
REPEATS steady-state calls. Prints one JSON
line with the times and a corner of each kernel, for occamlab to check the numbers agree.
"""

from __future__ import annotations

import json
import sys
import time

import jax
import numpy as np


def main(path: str, dtype: str, names: list[str], repeats: int) -> dict:
    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    from neural_tangents import NtkImplementation, empirical_ntk_fn, stax

    data = np.load(path)
    n_layers = sum(1 for k in data.files if k.startswith("W"))
    layers, params = [], []
    for i in range(n_layers):
        w = data[f"W{i}"]
        layers.append(stax.Dense(w.shape[0], W_std=float(data[f"w_std{i}"]),
                                 b_std=float(data[f"b_std{i}"])))
        # NT keeps W as in × out and b as (1, out).
        params.append((jax.numpy.asarray(w.T.astype(dtype)),
                       jax.numpy.asarray(data[f"b{i}"][None].astype(dtype))))
        if i < n_layers - 1:
            layers.append(stax.Relu())
            params.append(())
    _, apply_fn, _ = stax.serial(*layers)
    x = jax.numpy.asarray(data["x"].astype(dtype))

    out: dict = {"jax": jax.__version__, "devices": str(jax.devices())}
    impls = {"jacobian_contraction": NtkImplementation.JACOBIAN_CONTRACTION,
             "structured_derivatives": NtkImplementation.STRUCTURED_DERIVATIVES}
    for name in names:
        impl = impls[name]
        fn = jax.jit(empirical_ntk_fn(apply_fn, trace_axes=(-1,), vmap_axes=0,
                                      implementation=impl))
        t0 = time.perf_counter()
        k = fn(x, None, params).block_until_ready()
        first = time.perf_counter() - t0
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn(x, None, params).block_until_ready()
            times.append(time.perf_counter() - t0)
        k = np.asarray(k, dtype=np.float64)
        out[name] = {"first": first, "best": min(times), "shape": list(k.shape),
                     "corner": k[:6, :6].tolist(), "sum": float(k.sum())}
        del k
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4]))))
