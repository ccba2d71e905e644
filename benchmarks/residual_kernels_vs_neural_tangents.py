"""Residual CNN kernels with local pooling: occamlab vs neural-tangents 0.6.5, side by side.

    .venv/bin/python benchmarks/residual_kernels_vs_neural_tangents.py [--n 500] [--repeats 3]
    .venv/bin/python benchmarks/residual_kernels_vs_neural_tangents.py --memory [--n 2000]

NNGP+NTK of the report's residual CNN (conv(5, circular) → residual(ReLU, conv) → AvgPool(2)
→ residual(ReLU, conv) → ReLU → GlobalAvgPool → Dense; NTK parameterization, w_std = √2,
b_std = 0.1) on N MNIST-1D signals (N, 1, 40), float64, x2 = None. The same signals go
to both; the kernels are checked to agree (sums to 1e-10 relative) before any time is reported.
neural-tangents runs its kernel_fn under ``nt.batch`` (blocks of --nt-batch inputs, jitted per
block: the whole N × N × 40 × 40 covariance would not fit in memory), timed on its first
(compiling) call and in steady state (best of --repeats); occamlab on its first call and best of
--repeats. Goals: at least as fast as NT's steady state, ≥ 2× faster than its first call.
``--memory`` instead measures occamlab's peak RSS on N signals (goal: ≤ 4 GB at N = 2000).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _peer import run_peer  # noqa: E402
from kernels_vs_neural_tangents import peak_memory, race  # noqa: E402

from occamlab import kernels as K  # noqa: E402
from occamlab.tasks import mnist1d  # noqa: E402

_W = 2 ** 0.5
# the same architecture as occamlab.report's "ResCNN", in the spec grammar both sides parse
SPEC = (f"conv(5,circular,w={_W!r},b=0.1) residual(relu conv(5,circular,w={_W!r},b=0.1)) "
        f"avgpool(2) residual(relu conv(5,circular,w={_W!r},b=0.1)) relu gap dense")


def _arch() -> K.Serial:
    from occamlab.report._kernels import architectures

    arch = K.parse_spec(SPEC)
    if repr(arch) != repr(architectures()["ResCNN"]):
        raise SystemExit("SPEC is not the report's ResCNN")
    return arch


def signals(n: int) -> np.ndarray:
    return np.asarray(mnist1d(n_train=max(n, 200), n_test=50, seed=42).x_train[:n],
                      dtype=np.float64)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--nt-batch", type=int, default=50)
    ap.add_argument("--memory", action="store_true")
    args = ap.parse_args()
    if args.memory:
        peak_memory(_arch(), signals(args.n or 2000), "residual CNN")
        return
    n = args.n or 500
    x = signals(n)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.npy"
        np.save(path, x)
        peer = run_peer("neural_tangents", HERE / "peers" / "nt_residual_kernels.py", SPEC, path,
                        args.nt_batch, args.repeats)
    race(_arch(), x, peer, args.repeats, peer_name="neural-tangents nt.batch",
         title="Residual CNN kernels with local pooling vs neural-tangents 0.6.5",
         command=f"benchmarks/residual_kernels_vs_neural_tangents.py --n {n} "
                 f"--repeats {args.repeats} --nt-batch {args.nt_batch}",
         task=f"NNGP+NTK of `{SPEC}` on MNIST-1D X {x.shape} float64, x2 = None")


if __name__ == "__main__":
    main()
