"""Report section: the loss landscape of a trained MNIST-1D MLP (parameter space).

The Hessian's top eigenvalues (Lanczos) and spectral density (stochastic Lanczos quadrature); the
loss on the straight line between two networks trained from different seeds, before and after
permutation alignment (weight matching), and along a trained Bézier curve; a filter-normalized
2-D loss surface around one of them.
"""

from __future__ import annotations

import torch
from torch import nn

from occamlab import landscape as LS
from occamlab._torch import num_threads
from occamlab.report._page import Section
from occamlab.report._study import Study


def _mlp(d: int, hidden: int, classes: int, seed: int, dtype: torch.dtype) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, hidden, dtype=dtype), nn.ReLU(),
                         nn.Linear(hidden, classes, dtype=dtype))


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    ce = nn.CrossEntropyLoss()
    for _ in range(steps):
        opt.zero_grad()
        ce(model(x), y).backward()
        opt.step()
        sched.step()


def section(sec: Section, study: Study) -> None:
    import matplotlib.pyplot as plt

    quick = study.quick
    rows = 500 if quick else 2000
    hidden = 16 if quick else 32
    x, y = study.data.x_train[:rows].flatten(1), study.data.y_train[:rows]
    xt, yt = study.data.x_test.flatten(1), study.data.y_test
    ce = nn.CrossEntropyLoss()
    with num_threads(1):  # small full-batch steps: threads cost more than they save
        a = _mlp(x.shape[1], hidden, study.data.n_classes, study.seed, x.dtype)
        b = _mlp(x.shape[1], hidden, study.data.n_classes, study.seed + 1, x.dtype)
        for m in (a, b):
            _train(m, x, y, 200 if quick else 1500)
        h = LS.hessian(a, ce, (x, y))
        top = LS.eigenvalues(h, k=5, which="largest", tol=1e-6, seed=study.seed)
        low = LS.eigenvalues(h, k=1, which="smallest", tol=1e-6, seed=study.seed)
        tr = LS.trace(h, probes=30 if quick else 90, seed=study.seed)
        ds = LS.density(h, steps=40 if quick else 80, runs=2 if quick else 6, seed=study.seed)
        b_aligned, _ = LS.align(a, b, seed=study.seed)
        line = LS.interpolate(a, b, ce, (x, y), steps=11 if quick else 25)
        line_al = LS.interpolate(a, b_aligned, ce, (x, y), steps=11 if quick else 25)
        curve = LS.connect(a, b, ce, (x, y), kind="bezier", bends=1,
                           train_steps=150 if quick else 1000, batch_size=256,
                           steps=11 if quick else 25, seed=study.seed)
        sf = LS.surface(a, ce, (x, y), dims=2, steps=9 if quick else 21, span=1.0,
                        seed=study.seed)
    p = h.shape[0]
    acc = [float((m(xt).argmax(1) == yt).double().mean()) for m in (a, b)]
    sec.text(f"Two MLPs 40-{hidden}-{study.data.n_classes} (P = {p} parameters) trained from "
             f"seeds {study.seed} and {study.seed + 1} on {rows} MNIST-1D signals reach test "
             f"accuracy {100 * acc[0]:.1f}% and {100 * acc[1]:.1f}%. Curvature is that of the "
             "training cross-entropy at the first network's parameters, from Hessian–vector "
             "products only (Pearlmutter 1994).")
    sec.table([{"quantity": f"λ_{i + 1} (largest)", "value": float(v)}
               for i, v in enumerate(top.values)]
              + [{"quantity": "λ_min (smallest)", "value": float(low.values[0])},
                 {"quantity": f"tr H (Hutch++, {tr.matvecs} products)",
                  "value": f"{tr.mean:.4g} ± {tr.se:.2g}"},
                 {"quantity": "Lanczos products for the top 5", "value": top.matvecs}],
              caption="Hessian spectrum of the trained MLP (Lanczos, full reorthogonalization; "
                      "eigenvalue error bounds ≤ 1e-6·‖H‖)")
    neg = float((ds.weights * (ds.nodes < -1e-3 * float(top.values[0]))).sum(1).mean())
    lam1, lam5, lam_min = float(top.values[0]), float(top.values[4]), float(low.values[0])
    outliers = lam1 / max(abs(tr.mean / p), 1e-300)
    bulk = ("a few outlying directions over a bulk near zero, as Sagun et al. (2017) and "
            "Ghorbani et al. (2019) found" if outliers > 10 else "no clear separation of "
            "outliers from the bulk")
    where = (f"the density puts {100 * neg:.1f}% of its mass below −10⁻³·λ_max: the trained "
             "point is close to, but not exactly at, a minimum" if neg > 0 else
             "the density resolves no mass below −10⁻³·λ_max: a minimum to that resolution")
    sec.text(f"The top eigenvalue {lam1:.3g} is {lam1 / lam5:.2g}× the fifth and "
             f"{outliers:.3g}× the mean eigenvalue tr H / P = {tr.mean / p:.3g}: {bulk}. The "
             f"most negative eigenvalue is {lam_min:.3g} ({abs(lam_min / lam1):.2g} of the "
             f"largest), and {where}.")
    rows_tab = [{"path": name, "max loss": float(r.loss.max()),
                 "barrier (Git Re-Basin)": r.barrier, "barrier (Entezari et al.)":
                 r.barrier_linear} for name, r in (("straight line", line),
                                                   ("straight line after alignment", line_al),
                                                   ("Bézier curve, 1 bend", curve))]
    sec.table(rows_tab, caption=f"Training loss between the two networks (end losses "
                                f"{float(line.loss[0]):.3g} and {float(line.loss[-1]):.3g})")
    drop = 100 * (1 - line_al.barrier / line.barrier) if line.barrier > 0 else 0.0
    lowers = (f"lowers the barrier to {line_al.barrier:.3g} ({drop:.0f}% lower)" if drop > 0
              else f"does not lower the barrier ({line_al.barrier:.3g})")
    ends = 0.5 * float(line.loss[0] + line.loss[-1])
    joined = ("the two modes are joined by a path of nearly constant loss"
              if curve.barrier < 0.1 * ends else
              f"{100 * curve.barrier / max(line.barrier, 1e-300):.0f}% of the straight line's "
              f"barrier remains, {curve.barrier / ends:.2g}× the mean end loss")
    sec.text(f"The straight line between the two solutions climbs a barrier of "
             f"{line.barrier:.3g} (max L(t) − mean of the end losses). Permuting the second "
             f"network's hidden units to match the first (weight matching, Ainsworth et al. "
             f"2023) leaves its function unchanged and {lowers}. A trained one-bend Bézier "
             f"curve (Garipov et al. 2018) between the unaligned networks has barrier "
             f"{curve.barrier:.3g}: {joined}.")
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    ds.plot(axes[0])
    axes[0].set_title("Hessian spectral density (SLQ)")
    line.plot(axes[1], label="straight line")
    line_al.plot(axes[1], label="after alignment")
    curve.plot(axes[1], label="Bézier curve")
    axes[1].legend(fontsize=8)
    axes[1].set_title("loss between two seeds")
    sf.plot(axes[2])
    axes[2].set_title("filter-normalized surface around network 1")
    fig.tight_layout()
    sec.figure(fig, "landscape", caption="Left: SLQ estimate of the Hessian's eigenvalue density "
               "(log scale). Middle: training loss along the straight line, the aligned line and "
               "the trained curve. Right: loss on the plane of two filter-normalized random "
               "directions (Li et al. 2018).")
