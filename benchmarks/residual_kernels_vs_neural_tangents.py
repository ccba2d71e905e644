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
import datetime
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _peer import best_of, machine, run_peer  # noqa: E402

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


def memory(n: int) -> None:
    x = signals(n)
    arch = _arch()
    t0 = time.perf_counter()
    k = arch.kernel(x, progress=True)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    print(f"residual CNN NTK on X {x.shape} float64: {wall:.1f} s, peak RSS {peak:.2f} GiB, "
          f"ntk {tuple(k.ntk.shape)}; load average {os.getloadavg()[0]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--nt-batch", type=int, default=50)
    ap.add_argument("--memory", action="store_true")
    args = ap.parse_args()
    if args.memory:
        memory(args.n or 2000)
        return
    n = args.n or 500
    x = signals(n)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.npy"
        np.save(path, x)
        peer = run_peer("neural_tangents", HERE / "peers" / "nt_residual_kernels.py", SPEC, path,
                        args.nt_batch, args.repeats)
    arch = _arch()
    t0 = time.perf_counter()
    k = arch.kernel(x)
    first = time.perf_counter() - t0
    for name, ref in (("ntk", peer["ntk_sum"]), ("nngp", peer["nngp_sum"])):
        got = float(getattr(k, name).sum())
        if abs(got - ref) > 1e-10 * abs(ref):
            raise SystemExit(f"{name} disagrees with neural-tangents: {got} vs {ref}")
    steady = best_of(lambda: arch.kernel(x), args.repeats)
    rows = [
        ("occamlab, first call", first),
        (f"occamlab, best of {args.repeats}", steady),
        ("neural-tangents nt.batch, first (jit-compiling) call", peer["first"]),
        (f"neural-tangents nt.batch, best of {args.repeats}", peer["steady"]),
    ]
    print(f"## Residual CNN kernels vs neural-tangents 0.6.5 ({datetime.date.today()})\n")
    print("Command: `.venv/bin/python benchmarks/residual_kernels_vs_neural_tangents.py "
          f"--n {n} --repeats {args.repeats} --nt-batch {args.nt_batch}`  ")
    print(f"Machine: {machine()}; jax {peer['jax']}  ")
    print(f"Task: NNGP+NTK of `{SPEC}` on X {x.shape} float64, x2 = None; kernels agree to "
          "1e-10.\n")
    print("| run | wall time (s) |\n| --- | --- |")
    for name, t in rows:
        print(f"| {name} | {t:.3f} |")
    print(f"\nRatios: NT steady / occamlab steady = {peer['steady'] / steady:.2f} (goal ≥ 1); "
          f"NT first call / occamlab steady = {peer['first'] / steady:.2f}, / occamlab first "
          f"call = {peer['first'] / first:.2f} (goal ≥ 2). Load average during the run: "
          f"{os.getloadavg()[0]:.1f}.")


if __name__ == "__main__":
    main()
