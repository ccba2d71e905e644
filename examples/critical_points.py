"""Critical points or gradient-flat points? Frye et al. (2021)'s experiment at small scale.

Frye, Simon, Wadia, Ligeralde, DeWeese & Bouchard (Neural Computation 33, 2021) ran Newton-type
critical-point finders on neural-network losses and found that they often stop at gradient-flat
points — g ≠ 0 with H·g ≈ 0 — not at critical points, so the "index against loss" plots used
to argue that deep networks have no bad local minima partly describe points that are not critical.

Here: a 2-8-1 tanh MLP (33 parameters) fitting a smooth target on 32 points (MSE). From many
starts — random initializations trained for a random number of Adam steps, so the starts span
the loss range — Newton-MR (MINRES + backtracking on ‖g‖²) and gradient-norm minimization search
for a critical point. Each end point is classified as critical (‖g‖ ≤ tol), gradient-flat (not
converged and ‖Hg‖/(‖H‖‖g‖) ≤ 10⁻³), or neither, with the index counted from the exact Hessian.

Run ``python examples/critical_points.py`` (``--plot index_vs_loss.png`` for the figure); the
script writes below its table what the numbers show. Measured (12 starts, Newton-MR 50
iterations, gradient-norm minimization 500, tol ‖g‖ ≤ 1e-8; 2026-12-01, ~8 minutes on a loaded
2-core machine)::

    | method | critical | gradient-flat | neither |
    | newton_mr | 0/12 | 0/12 | 12/12 |
    | gradient_norm | 0/12 | 0/12 | 12/12 |
    newton_mr: median ‖g‖ 0.0013, median ‖Hg‖/(‖H‖‖g‖) 0.43
    gradient_norm: median ‖g‖ 0.00068, median ‖Hg‖/(‖H‖‖g‖) 0.0066

No start reached a critical point at ‖g‖ ≤ 1e-8 within these budgets. The Hessians at the starts
span eight decades (down to |λ| ~ 1e-8), so Newton steps along the flattest directions are
cut back by the line search to ~1e-5 of their length; gradient-norm minimization instead drifts
to where g is nearly a null vector of H (r = 0.0066, within 7× of the 1e-3 threshold): the
gradient-flat regions Frye et al. (2021) describe, rather than critical points. Claims of "no bad
minima" drawn from such end points would describe non-critical points. A fast version runs in
tests/landscape/test_landscape_examples.py.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from occamlab import landscape as LS
from occamlab._torch import num_threads


def task(n: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """2-D inputs on a grid-like random set and the target sin(2x₁)·cos(x₂), float64."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 2, generator=g, dtype=torch.float64) * 4 - 2
    return x, (torch.sin(2 * x[:, :1]) * torch.cos(x[:, 1:]))


def start(seed: int, x: torch.Tensor, y: torch.Tensor, hidden: int = 8) -> nn.Sequential:
    """A random 2-H-1 tanh MLP trained for a seed-dependent number of Adam steps (0 to 2,000)."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, 1)).double()
    steps = int(torch.randint(0, 2001, (1,)))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    return model


def run(*, starts: int = 12, hidden: int = 8, tol: float = 1e-8, seed: int = 0,
        newton_iter: int = 50, gradient_iter: int = 500) -> list[dict]:
    """One row per (start, method): the outcome, loss, ‖g‖, index and nullity at the end."""
    x, y = task(seed=seed)
    rows = []
    with num_threads(1):
        for s in range(starts):
            model = start(seed * 1000 + s, x, y, hidden)
            for method, iters in (("newton_mr", newton_iter), ("gradient_norm", gradient_iter)):
                cp = LS.critical_point(model, nn.MSELoss(), (x, y), method=method, tol=tol,
                                       max_iter=iters)
                outcome = ("critical" if cp.converged else
                           "gradient-flat" if cp.gradient_flat else "neither")
                rows.append({"start": s, "method": method, "outcome": outcome,
                             "loss": cp.loss, "grad_norm": cp.grad_norm, "index": cp.index,
                             "nullity": cp.nullity, "flatness": cp.flatness,
                             "params": cp.params, "eigenvalues": cp.eigenvalues})
    return rows


def summary(rows: list[dict]) -> str:
    """A table of outcomes per method and what the numbers show, computed from them."""
    lines = ["| method | critical | gradient-flat | neither |", "| --- | --- | --- | --- |"]
    for method in ("newton_mr", "gradient_norm"):
        r = [row for row in rows if row["method"] == method]
        c = {k: sum(row["outcome"] == k for row in r) for k in ("critical", "gradient-flat",
                                                                "neither")}
        lines.append(f"| {method} | {c['critical']}/{len(r)} | {c['gradient-flat']}/{len(r)} "
                     f"| {c['neither']}/{len(r)} |")
    crit = [row for row in rows if row["outcome"] == "critical"]
    if crit:
        minima = [row for row in crit if row["index"] == 0]
        best = min(row["loss"] for row in crit)
        losses = ", ".join(f"{row['loss']:.3g}" for row in minima) or "none"
        lines.append(f"\n{len(crit)} critical points; {len(minima)} are minima (index 0), with "
                     f"losses {losses}; the lowest critical loss is {best:.3g}.")
        saddles = [row for row in crit if row["index"] > 0]
        if saddles and minima:
            worst_min = max(row["loss"] for row in minima)
            above = sum(row["loss"] > worst_min for row in saddles)
            lines.append(f"{len(saddles)} saddles, {above} of them above the highest minimum: "
                         + ("index grows with loss, as for a landscape without bad minima."
                            if above >= len(saddles) / 2 else
                            "saddles and minima overlap in loss: bad minima or low saddles "
                            "exist here."))
    for method in ("newton_mr", "gradient_norm"):
        rest = [row for row in rows if row["method"] == method and row["outcome"] == "neither"]
        if rest:
            med = len(rest) // 2
            gn = sorted(r["grad_norm"] for r in rest)[med]
            fl = sorted(r["flatness"] for r in rest)[med]
            lines.append(f"{method}: {len(rest)} runs stopped short of both (median ‖g‖ {gn:.2g}, "
                         f"median ‖Hg‖/(‖H‖‖g‖) {fl:.2g}" + (
                             ", approaching the gradient-flat threshold 1e-3)" if fl < 1e-2
                             else ")"))
    flat = [row for row in rows if row["outcome"] == "gradient-flat"]
    if flat:
        lines.append(f"{len(flat)} runs ended on gradient-flat points (median ‖g‖ "
                     f"{sorted(r['grad_norm'] for r in flat)[len(flat) // 2]:.2g}): a "
                     "critical-point finder's end point is not a critical point unless ‖g‖ is "
                     "checked, as Frye et al. (2021) found.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--starts", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", default=None, help="write index fraction against loss (PNG)")
    args = ap.parse_args()
    rows = run(starts=args.starts, seed=args.seed)
    print(summary(rows))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.8))
        marks = {"critical": "o", "gradient-flat": "x", "neither": "."}
        for k, m in marks.items():
            r = [row for row in rows if row["outcome"] == k]
            p = r[0]["params"].numel() if r else 1
            ax.scatter([row["loss"] for row in r], [row["index"] / p for row in r], marker=m,
                       label=k)
        ax.set_xscale("log")
        ax.set_xlabel("loss")
        ax.set_ylabel("index / P")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)


if __name__ == "__main__":
    main()
