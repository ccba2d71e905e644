"""Deep-linear-network mode dynamics (``dynamics.saxe``) against SciPy's ODE integrator.

No library ships these dynamics; the plain alternative is to integrate τ·du/dt = L·u^{2−2/L}(s − u)
numerically. Both sides solve the same m independent modes at the same T times:

- occamlab: the exact inverted time integral (depth ≥ 3) or the closed form (depth 2), vectorized;
- SciPy: one ``solve_ivp`` call on the m-dimensional system (DOP853, rtol 1e-10, atol 1e-14,
  ``t_eval`` = the T times), the usual way to do it.

Reported: wall times, their ratio, the largest relative difference between the two, and, for the
mode where they differ most, each side's error against a tight integration of log u (DOP853,
rtol 1e-13), which says which of the two is off.

Run: ``.venv/bin/python benchmarks/dynamics_vs_scipy.py [--small]``; prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.integrate import solve_ivp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peer import machine  # noqa: E402

from occamlab import dynamics  # noqa: E402


def scipy_modes(s: np.ndarray, u0: np.ndarray, t: np.ndarray, depth: int) -> np.ndarray:
    def rhs(_, u):
        return depth * np.abs(u) ** (2 - 2 / depth) * (s - u)

    sol = solve_ivp(rhs, (0.0, float(t[-1])), u0, method="DOP853", t_eval=t, rtol=1e-10,
                    atol=1e-14)
    return sol.y.T


def main(small: bool) -> dict:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    m, T = (100, 200) if small else (1000, 1000)
    s = rng.uniform(0.2, 5.0, m)
    u0 = 10 ** rng.uniform(-6, -2, m)
    out: dict = {"machine": machine(), "load_average": os.getloadavg()[0], "modes": m, "times": T}
    for depth in (2, 3, 5):
        t = np.linspace(0, 1.2 * float(dynamics.saxe(s, u0, [0.0], depth=depth).half_times.max()),
                        T)
        t0 = time.perf_counter()
        ours = dynamics.saxe(s, u0, t, depth=depth).strengths.numpy()
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref = scipy_modes(s, u0, t, depth)
        t_ref = time.perf_counter() - t0
        rel = np.abs(ours - ref) / np.abs(ref)
        j = int(np.unravel_index(rel.argmax(), rel.shape)[1])
        tight = np.exp(solve_ivp(
            lambda _, z, j=j, L=depth: L * np.exp((1 - 2 / L) * z) * (s[j] - np.exp(z)),
            (0.0, float(t[-1])), [np.log(u0[j])], method="DOP853", t_eval=t, rtol=1e-13,
            atol=1e-13).y[0])
        out[f"depth{depth}"] = {
            "occamlab_s": t_ours, "scipy_s": t_ref, "ratio": t_ref / t_ours,
            "max_rel_diff": float(rel.max()),
            "worst_mode_occamlab_err": float(np.max(np.abs(ours[:, j] - tight) / tight)),
            "worst_mode_scipy_err": float(np.max(np.abs(ref[:, j] - tight) / tight))}
    return out


if __name__ == "__main__":
    print(json.dumps(main("--small" in sys.argv)))
