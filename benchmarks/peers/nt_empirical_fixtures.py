"""Reference empirical NTKs from neural-tangents 0.6.5 for occamlab's tests (runs in the NT env).

    benchmarks/envs/neural_tangents/bin/python benchmarks/peers/nt_empirical_fixtures.py \
        tests/kernels/data/nt_empirical_reference.npz

Finite networks in NTK parameterization with fixed weights drawn here (NumPy, seed 0), stored in
PyTorch layout so the tests can load them into ``torch.nn`` modules; NT computes the empirical
NTK with its Jacobian contraction in float64, untraced (n1, n2, O, O), between two input sets.
Inputs are given to NT channels-last (N, W, C); weights are transposed to NT's layouts.

Cases (prefix of every array's name):
- ``mlp``: Dense(7, 1.3, 0.2) → Erf → Dense(6, 1.1, 0.1) → Relu → Dense(3, 0.9, 0.3), d = 5.
- ``cnn``: Conv(4, 3 taps, CIRCULAR, 1.4, 0.1) → Relu → Conv(5, 4 taps, SAME, 1.3, 0.2) → Erf →
  GlobalAvgPool → Dense(3, 1.1, 0.3), inputs (C=2, W=9).
"""

from __future__ import annotations

import sys

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from neural_tangents import NtkImplementation, empirical_ntk_fn, stax  # noqa: E402


def _dense(rng, n_in, n_out, w_std, b_std, name, store):
    store[f"{name}_W"] = rng.standard_normal((n_out, n_in))  # torch layout: out × in
    store[f"{name}_b"] = rng.standard_normal(n_out)
    store[f"{name}_std"] = np.array([w_std, b_std])
    layer = stax.Dense(n_out, W_std=w_std, b_std=b_std)
    return layer, (store[f"{name}_W"].T, store[f"{name}_b"][None])


def _conv(rng, c_in, c_out, taps, padding, w_std, b_std, name, store):
    store[f"{name}_W"] = rng.standard_normal((c_out, c_in, taps))  # torch layout: O × I × W
    store[f"{name}_b"] = rng.standard_normal(c_out)
    store[f"{name}_std"] = np.array([w_std, b_std])
    layer = stax.Conv(c_out, (taps,), padding=padding, W_std=w_std, b_std=b_std,
                      dimension_numbers=("NWC", "WIO", "NWC"))
    return layer, (store[f"{name}_W"].transpose(2, 1, 0), store[f"{name}_b"][None, None])


def main(path: str) -> None:
    rng = np.random.default_rng(0)
    store: dict[str, np.ndarray] = {}

    mlp = [_dense(rng, 5, 7, 1.3, 0.2, "mlp0", store), (stax.Erf(), ()),
           _dense(rng, 7, 6, 1.1, 0.1, "mlp1", store), (stax.Relu(), ()),
           _dense(rng, 6, 3, 0.9, 0.3, "mlp2", store)]
    store["mlp_x1"] = rng.standard_normal((6, 5))
    store["mlp_x2"] = rng.standard_normal((4, 5))

    cnn = [_conv(rng, 2, 4, 3, "CIRCULAR", 1.4, 0.1, "cnn0", store), (stax.Relu(), ()),
           _conv(rng, 4, 5, 4, "SAME", 1.3, 0.2, "cnn1", store), (stax.Erf(), ()),
           (stax.GlobalAvgPool(), ()), _dense(rng, 5, 3, 1.1, 0.3, "cnn2", store)]
    store["cnn_x1"] = rng.standard_normal((5, 2, 9))  # torch layout (N, C, W)
    store["cnn_x2"] = rng.standard_normal((4, 2, 9))

    for name, layers, channels_last in (("mlp", mlp, False), ("cnn", cnn, True)):
        _, apply_fn, _ = stax.serial(*(layer for layer, _ in layers))
        params = [p for _, p in layers]
        fn = empirical_ntk_fn(apply_fn, trace_axes=(), vmap_axes=0,
                              implementation=NtkImplementation.JACOBIAN_CONTRACTION)
        x1, x2 = store[f"{name}_x1"], store[f"{name}_x2"]
        if channels_last:
            x1, x2 = x1.transpose(0, 2, 1), x2.transpose(0, 2, 1)
        store[f"{name}_ntk"] = np.asarray(fn(x1, x2, params))  # (n1, n2, O, O)
    np.savez(path, **store)
    print(f"wrote {path}: " + ", ".join(f"{k}{list(v.shape)}" for k, v in store.items()
                                        if k.endswith("_ntk")))


if __name__ == "__main__":
    main(sys.argv[1])
