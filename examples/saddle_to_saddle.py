"""Saddle to saddle: a deep linear network learns its teacher one mode at a time, and its LLC
climbs Aoyagi's staircase.

A 5→3→3→5 linear network (three weight layers), teacher diag(8, 3, 1.2, 0, 0), x ~ N(0, I),
n = 10,000, loss ½·mean‖f(x) − y‖², init entries N(0, 0.05²), plain gradient descent. From small
initialisation the loss rests on plateaus ½·Σ_{i>r} sᵢ² while the network has learned r modes
(Saxe et al. arXiv 1312.6120; Jacot et al. arXiv 2106.15933). At each checkpoint
``slt.trajectory(..., relabel=True)`` measures the LLC of the function the network computes
there; Aoyagi (2024, arXiv 2501.12747, Theorem 1) gives it exactly for a rank-r product: 4.5,
6.5, 8.5, 10.5 for r = 0…3, against the "regular part" r(M+N−r)/2 = 0, 4.5, 8, 10.5.
``slt.stages`` then cuts the run at the plateaus of the LLC.

A negative control: a wide 5→10→10→5 network (every hidden width ≥ input + output), whose λ is
MN/2 = 12.5 at every rank, so its LLC stays flat while it learns the same modes.

Run: ``python examples/saddle_to_saddle.py`` (``--quick`` for a small version).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from occamlab import dynamics, slt
from occamlab._torch import num_threads
from occamlab.tasks import deep_linear_network, gaussian_nll

SINGULAR_VALUES = (8.0, 3.0, 1.2, 0.0, 0.0)
WIDTHS = (5, 3, 3, 5)
WIDE = (5, 10, 10, 5)


def teacher(n: int = 10_000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """x ~ N(0, I₅) (n, 5) and y = diag(8, 3, 1.2, 0, 0)·x (n, 5), float64, no noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g, dtype=torch.float64)
    return x, x * torch.tensor(SINGULAR_VALUES, dtype=torch.float64)


def train(widths, x, y, steps, *, lr=0.02, init_scale=0.05, seed=0):
    """Gradient descent from N(0, init_scale²); returns checkpoints at ``steps`` and losses."""
    model = deep_linear_network(widths, seed=seed, init_scale=init_scale)
    loss_fn = gaussian_nll(1.0)  # ½·mean ‖f(x) − y‖²
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    states, want = [], set(int(s) for s in steps)
    with num_threads(1):
        for t in range(int(max(steps)) + 1):
            if t in want:
                states.append({k: v.clone() for k, v in model.state_dict().items()})
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
    return model, states


def study(*, quick: bool = False, seed: int = 0, progress: bool = False) -> dict:
    """Train, sample the LLC at every checkpoint, find the stages; return what was measured."""
    t0 = time.perf_counter()
    x, y = teacher(4000 if quick else 10_000, seed=seed)
    steps = ([20, 200, 1000, 3000] if quick
             else np.unique(np.geomspace(5, 4000, 20).round()).astype(int).tolist())
    model, states = train(WIDTHS, x, y, steps, seed=seed)
    kw = dict(draws=60, thin=20) if quick else {}
    traj = slt.trajectory((model, states), gaussian_nll(1.0), (x, y), steps=steps,
                          relabel=True, seed=seed, progress=progress, **kw)
    ranks = [dynamics.plateau_rank(v, SINGULAR_VALUES) for v in traj.loss]
    theory = [slt.theory.deep_linear(list(WIDTHS), r) if r is not None else np.nan
              for r in ranks]
    st = slt.stages(traj) if len(steps) >= 3 else None
    out = {"steps": steps, "traj": traj, "ranks": ranks, "theory": np.array(theory),
           "stages": st, "seconds": time.perf_counter() - t0}
    if not quick:
        wide, wstates = train(WIDE, x, y, steps, seed=seed)
        out["wide"] = slt.trajectory((wide, wstates), gaussian_nll(1.0), (x, y), steps=steps,
                                     relabel=True, seed=seed, progress=progress)
        out["wide_theory"] = slt.theory.deep_linear(list(WIDE), 0)
        out["wide_seconds"] = time.perf_counter() - t0 - out["seconds"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--plot", default=None, help="write the figure to this PNG")
    args = ap.parse_args()
    res = study(quick=args.quick, progress=True)
    tr = res["traj"]
    print("step   loss      rank  λ̂ ± SE          Aoyagi")
    for s, lo, r, lam, se, th in zip(res["steps"], tr.loss, res["ranks"], tr.llc, tr.se,
                                     res["theory"], strict=True):
        print(f"{s:5d}  {lo:8.4f}  {r if r is not None else '-':>4}  {lam:6.2f} ± {se:4.2f}"
              f"   {th:5.2f}")
    if res["stages"] is not None:
        print("stages:", res["stages"].boundaries.tolist(), res["stages"].kinds)
    if "wide" in res:
        print(f"wide control: λ̂ from {res['wide'].llc.min():.2f} to {res['wide'].llc.max():.2f}"
              f" (Aoyagi {res['wide_theory']:g} at every rank; {res['wide_seconds']:.0f} s)")
    print(f"showcase (training, trajectory, stages): {res['seconds']:.0f} s")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        ax = tr.plot(theory=res["theory"])
        ax.figure.savefig(args.plot, dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    main()
