"""Shallow-network kernels of engineered activations: occamlab.design vs neural-tangents 0.6.5.

    .venv/bin/python benchmarks/design_vs_neural_tangents.py [--repeats 5]

The kernel of Dense → φ → Dense (w_std = 1, no biases) on X (2000, 100) with rows of norm √100,
float64, for (a) φ the degree-5 activation engineered for a 4-hidden-layer ReLU NTK (w_std = √2,
b_std = 0.1), which neural-tangents gets as ``stax.Polynomial`` of its monomial
coefficients, and (b) φ = ½·sin(6z) (``stax.Sin``), which occamlab expands in 100 Hermite
coefficients. occamlab's route is the series NTK(c) = Σ (k+1)aₖ²cᵏ on the cosines c = X·Xᵀ/d
(arXiv 2106.03186, Thm 3.1). The kernels are checked to agree (sums to 1e-9 relative) before any
time is reported. Prints a Markdown section for RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _peer import best_of, machine, run_peer  # noqa: E402

from occamlab import design  # noqa: E402
from occamlab import kernels as K  # noqa: E402

N, D = 2000, 100


def _kernels(coefficients: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    c = (x @ x.T / x.shape[1]).clamp(-1, 1)
    return (design.shallow_kernel(coefficients, "nngp")(c),
            design.shallow_kernel(coefficients, "ntk")(c))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    act = design.activation_for(K.mlp(4, "relu", w_std=math.sqrt(2), b_std=0.1), degree=5,
                                norm="max")
    k = np.arange(act.degree + 1)
    # φ = Σ aₖ Heₖ/√k!, as monomial coefficients for stax.Polynomial.
    herme = act.coefficients.numpy() / np.sqrt([math.factorial(i) for i in k])
    monomial = np.polynomial.hermite_e.herme2poly(herme).tolist()
    peer = run_peer("neural_tangents", HERE / "peers" / "nt_design.py", N, D, args.repeats,
                    json.dumps(monomial))
    x = np.random.default_rng(4).standard_normal((N, D))
    x = torch.from_numpy(x / np.linalg.norm(x, axis=1, keepdims=True) * np.sqrt(D))
    sin_coefficients = design.hermite_coefficients(lambda z: 0.5 * torch.sin(6 * z), 100)
    rows = []
    for name, coefficients in (("poly", act.coefficients), ("sin", sin_coefficients)):
        t0 = time.perf_counter()
        nngp, ntk = _kernels(coefficients, x)
        first = time.perf_counter() - t0
        for kind, got in (("ntk", ntk), ("nngp", nngp)):
            ref = peer[name][f"{kind}_sum"]
            if abs(float(got.sum()) - ref) > 1e-9 * abs(ref):
                raise SystemExit(f"{name} {kind} disagrees with neural-tangents: "
                                 f"{float(got.sum())} vs {ref}")
        steady = best_of(lambda c=coefficients: _kernels(c, x), args.repeats)
        rows.append((name, first, steady, peer[name]["first"], peer[name]["steady"]))
    print(f"## Engineered-activation kernels vs neural-tangents 0.6.5 ({datetime.date.today()})\n")
    print("Command: `.venv/bin/python benchmarks/design_vs_neural_tangents.py "
          f"--repeats {args.repeats}`  ")
    print(f"Machine: {machine()}; jax {peer['jax']}; load average {os.getloadavg()[0]:.1f}  ")
    print(f"Task: NNGP+NTK of Dense → φ → Dense on X ({N}, {D}) float64 on the sphere, x2 = None; "
          "kernels agree to 1e-9 (sums).\n")
    print("| activation | occamlab first (s) | occamlab best (s) | NT first (s) | NT best (s) "
          "| NT best / occamlab best |\n| --- | --- | --- | --- | --- | --- |")
    label = {"poly": "degree-5 engineered (Hermite series)", "sin": "½·sin(6z), 100 Hermite terms"}
    for name, f, s, pf, ps in rows:
        print(f"| {label[name]} | {f:.4f} | {s:.4f} | {pf:.4f} | {ps:.4f} | {ps / s:.2f} |")


if __name__ == "__main__":
    main()
