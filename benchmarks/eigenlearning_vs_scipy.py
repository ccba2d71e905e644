"""Spectra and eigenlearning at scale, against SciPy's standard tools (no peer environment:
SciPy is already a dependency, and no library implements eigenlearning to compare with).

1. ``spectra.from_kernel(K, top_k=500)`` on a 20,000-point pool (randomized block subspace
   iteration) — wall time, in float64 and float32; and at M = 5,000 against
   ``scipy.sparse.linalg.eigsh`` (ARPACK Lanczos, the usual tool), with the relative
   difference of the 500 eigenvalues.
2. ``eigenlearning.solve_kappa`` for 10⁶ modes × 100 sample sizes, against scipy's ``brentq``
   per n on the directly summed equation (timed on 5 values of n, scaled to 100).

Run: ``.venv/bin/python benchmarks/eigenlearning_vs_scipy.py [--small]``; prints one JSON line.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import brentq
from scipy.sparse.linalg import eigsh

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peer import machine  # noqa: E402

from occamlab import eigenlearning as el  # noqa: E402
from occamlab import spectra  # noqa: E402
from occamlab.tasks import sphere_points  # noqa: E402


def pool_kernel(M: int, d: int = 8) -> torch.Tensor:
    # exp(c) on the sphere: a PSD dot-product kernel, built in place to bound memory
    x = sphere_points(M, d, seed=0)
    K = x @ x.T
    K.div_(d).clamp_(-1, 1).exp_()
    return K


def main(small: bool) -> dict:
    out: dict = {"machine": machine(), "threads": torch.get_num_threads()}
    M_big, M_cmp, k = (4000, 2000, 100) if small else (20000, 5000, 500)
    K = pool_kernel(M_big)
    t0 = time.perf_counter()
    spec = spectra.from_kernel(K, top_k=k, keep_eigenvectors=False)
    out[f"from_kernel_M{M_big}_top{k}_s"] = time.perf_counter() - t0
    out["tail_trace"] = spec.tail_trace
    K = K.float()
    t0 = time.perf_counter()
    spec32 = spectra.from_kernel(K, top_k=k, keep_eigenvectors=False)
    out[f"from_kernel_float32_M{M_big}_top{k}_s"] = time.perf_counter() - t0
    out["float32_vs_float64_max_rel_diff_top_half"] = float(
        ((spec32.eigenvalues - spec.eigenvalues) / spec.eigenvalues)[: k // 2].abs().max())
    del K, spec, spec32
    K = pool_kernel(M_cmp)
    t0 = time.perf_counter()
    ours = spectra.from_kernel(K, top_k=k, keep_eigenvectors=False).eigenvalues.numpy()
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    w = np.sort(eigsh(K.numpy(), k=k, which="LA", return_eigenvectors=False))[::-1] / M_cmp
    t_arpack = time.perf_counter() - t0
    rel = np.abs(ours - w) / w
    out.update({f"from_kernel_M{M_cmp}_top{k}_s": t_ours, f"eigsh_M{M_cmp}_top{k}_s": t_arpack,
                "eigsh_over_ours": t_arpack / t_ours,
                "max_rel_diff_top_half": float(rel[: k // 2].max()),
                "max_rel_diff_all": float(rel.max())})
    del K

    lam = torch.arange(1, 1_000_001, dtype=torch.float64) ** -1.5
    ns = torch.logspace(0, 5, 100, dtype=torch.float64)
    el.solve_kappa(lam, ns[:2])  # warm-up
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        kap = el.solve_kappa(lam, ns)
        times.append(time.perf_counter() - t0)
    out["kappa_1e6_modes_100n_s"] = min(times)
    t0 = time.perf_counter()
    pred = el.predict(lam, ns, target_power=lam)
    out["predict_1e6_modes_100n_s"] = time.perf_counter() - t0
    assert bool(torch.isfinite(pred.test_mse).all())
    lam_np = lam.numpy()
    sub = [0, 25, 50, 75, 99]
    t0 = time.perf_counter()
    ref = [brentq(lambda q, n=float(ns[i]): np.sum(lam_np / (lam_np + q)) - n, 1e-14, 1e3,
                  xtol=1e-300, rtol=1e-14) for i in sub]
    t_brent = (time.perf_counter() - t0) * 100 / len(sub)
    out["brentq_100n_s_extrapolated"] = t_brent
    out["brentq_over_ours"] = t_brent / out["kappa_1e6_modes_100n_s"]
    out["kappa_max_rel_diff_vs_brentq"] = float(max(abs(float(kap[i]) / r - 1)
                                                    for i, r in zip(sub, ref)))
    return out


if __name__ == "__main__":
    res = main("--small" in sys.argv)
    print(json.dumps({k: (float(f"{v:.4g}") if isinstance(v, float) and math.isfinite(v)
                          else v) for k, v in res.items()}))
