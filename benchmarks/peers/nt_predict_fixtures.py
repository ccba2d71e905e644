"""Reference training dynamics from neural-tangents 0.6.5 ``predict`` (runs in the NT env).

    benchmarks/envs/neural_tangents/bin/python benchmarks/peers/nt_predict_fixtures.py \
        tests/kernels/data/nt_predict_reference.npz

For each architecture (occamlab's spec grammar, parsed by nt_fixtures.build), with 12 training
inputs, 5 test inputs and 2 outputs, in float64:

- ``gradient_descent_mse_ensemble``: means and covariances, "ntk" and "nngp" modes, on the test
  inputs and on the training inputs, at an array of times and at t = None, for diag_reg 0 and a
  relative diag_reg (and one absolute-scale case and one learning rate ≠ 1);
- ``gradient_descent_mse`` from random initial outputs with the analytic NTK;
- ``gradient_descent`` (ODE) on a softmax cross-entropy, with and without momentum;
- ``max_learning_rate``.

Inputs are multiples of 1/16 (exact first-layer dot products on both sides).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
from neural_tangents import predict  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from nt_fixtures import build, channels_last  # noqa: E402

CASES = [
    # (spec, per-example input shape, diag_reg, diag_reg_absolute_scale, learning_rate)
    ("dense(w=1.4142135623730951) relu dense", (6,), 0.0, False, 1.0),
    ("dense(w=1.4142135623730951) relu dense", (6,), 1e-2, False, 1.0),
    ("dense(w=1.5,b=0.3) erf dense(w=1.5,b=0.3) relu dense(w=0.8,b=0.2)", (6,), 0.0, False, 0.5),
    ("dense(w=1.5,b=0.3) erf dense(w=1.5,b=0.3) relu dense(w=0.8,b=0.2)", (6,), 0.05, True, 1.0),
    ("conv(3,circular,w=1.41,b=0.1) relu flatten dense(w=1.41,b=0.1) erf dense", (2, 7), 0.0,
     False, 1.0),
    ("conv(3,same,w=1.3,b=0.2) relu gap dense(w=1.2,b=0.1)", (2, 7), 1e-3, False, 2.0),
]
TIMES = np.array([0.0, 0.7, 5.0, 40.0, 300.0])
N_TRAIN, N_TEST, K_OUT = 12, 5, 2


def main(out: str) -> None:
    rng = np.random.default_rng(20261201)
    data = {"cases": np.array(json.dumps([list(c[:1]) + [list(c[1]), *c[2:]] for c in CASES])),
            "times": TIMES}
    for i, (spec, shape, reg, absolute, lr) in enumerate(CASES):
        kernel_fn = build(spec, len(shape) - 1)
        x = np.round(rng.standard_normal((N_TRAIN, *shape)) * 16) / 16
        xt = np.round(rng.standard_normal((N_TEST, *shape)) * 16) / 16
        y = rng.standard_normal((N_TRAIN, K_OUT))
        a, b = channels_last(x), channels_last(xt)
        data[f"x_{i}"], data[f"xt_{i}"], data[f"y_{i}"] = x, xt, y
        fn = predict.gradient_descent_mse_ensemble(kernel_fn, a, y, learning_rate=lr,
                                                   diag_reg=reg,
                                                   diag_reg_absolute_scale=absolute)
        for where, x_test in (("test", b), ("train", None)):
            for g in ("ntk", "nngp"):
                for when, t in (("t", TIMES), ("inf", None)):
                    mean, cov = fn(t=t, x_test=x_test, get=g, compute_cov=True)
                    data[f"ens_{where}_{g}_{when}_mean_{i}"] = np.asarray(mean)
                    data[f"ens_{where}_{g}_{when}_cov_{i}"] = np.asarray(cov)
        # one network: random initial outputs under the analytic NTK
        k_dd = kernel_fn(a, None, "ntk")
        k_td = kernel_fn(b, a, "ntk")
        f0, ft0 = rng.standard_normal((N_TRAIN, K_OUT)), rng.standard_normal((N_TEST, K_OUT))
        data[f"f0_{i}"], data[f"ft0_{i}"] = f0, ft0
        mse = predict.gradient_descent_mse(k_dd, y, learning_rate=lr, diag_reg=reg,
                                           diag_reg_absolute_scale=absolute)
        for when, t in (("t", TIMES), ("inf", None)):
            ftr, fte = mse(t, f0, ft0, k_td)
            data[f"mse_train_{when}_{i}"], data[f"mse_test_{when}_{i}"] = (np.asarray(ftr),
                                                                        np.asarray(fte))
        data[f"maxlr_{i}"] = np.asarray(predict.max_learning_rate(k_dd, y.size, 0.0))
        data[f"maxlr_m_{i}"] = np.asarray(predict.max_learning_rate(k_dd, None, 0.9))
        labels = np.eye(K_OUT)[rng.integers(0, K_OUT, N_TRAIN)]
        data[f"labels_{i}"] = labels

        def xent(fx, y_hat):
            return -jnp.mean(jax.nn.log_softmax(fx) * y_hat)

        for name, m in (("ode", None), ("ode_m", 0.9)):
            gd = predict.gradient_descent(xent, k_dd, labels, learning_rate=lr, momentum=m)
            ftr, fte = gd(TIMES[1:], f0, ft0, k_td)
            data[f"{name}_train_{i}"], data[f"{name}_test_{i}"] = np.asarray(ftr), np.asarray(fte)
    np.savez_compressed(out, **data)
    print(json.dumps({"cases": len(CASES), "out": out}))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "nt_predict_reference.npz")
