"""Report section: development — the LLC over training, its stages, and Aoyagi's staircase.

Two studies. (1) A 5→3→3→5 deep linear network trained by gradient descent from small
initialisation on the teacher diag(8, 3, 1.2, 0, 0) learns one mode at a time (saddle to saddle);
at each checkpoint :func:`occamlab.slt.trajectory` with ``relabel=True`` measures the LLC of the
function computed there, against Aoyagi's exact value for its rank (arXiv 2501.12747, Thm 1),
and :func:`occamlab.slt.stages` cuts the run at the LLC's plateaus. (2) The LLC over training of
an MLP on MNIST-1D, with the library's own diagnostics.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from occamlab import dynamics, slt
from occamlab._torch import num_threads
from occamlab.report._llc import section_log, why_failed
from occamlab.report._page import Section
from occamlab.report._study import Study
from occamlab.tasks import deep_linear_network, gaussian_nll

_S = (8.0, 3.0, 1.2, 0.0, 0.0)


def _train_checkpoints(model: nn.Module, loss_fn, x, y, steps, opt) -> list[dict]:
    states, want = [], {int(s) for s in steps}
    with num_threads(1):  # small full-batch steps: threads cost more than they save
        for t in range(int(max(steps)) + 1):
            if t in want:
                states.append({k: v.clone() for k, v in model.state_dict().items()})
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
    return states


def _dln(sec: Section, study: Study, log: Callable[[str], None]) -> None:
    import matplotlib.pyplot as plt

    g = torch.Generator().manual_seed(study.seed)
    n = 2000 if study.quick else 4000
    x = torch.randn(n, 5, generator=g, dtype=torch.float64)
    y = x * torch.tensor(_S, dtype=torch.float64)
    # slt.stages resolves a plateau that spans about four checkpoints (its docstring)
    steps = [20, 200, 1000, 3000] if study.quick else [10, 20, 40, 60, 120, 150, 200, 250, 300,
                                                      500, 800, 1000, 1500, 1900, 2500, 3000]
    model = deep_linear_network([5, 3, 3, 5], seed=study.seed, init_scale=0.05)
    loss_fn = gaussian_nll(1.0)
    log(f"training the deep linear network ({n} rows, {max(steps)} GD steps)")
    states = _train_checkpoints(model, loss_fn, x, y, steps,
                                torch.optim.SGD(model.parameters(), lr=0.02))
    kw = dict(draws=30, thin=10) if study.quick else dict(max_steps=40_000)
    log(f"sampling the LLC at its {len(steps)} checkpoints in one run")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", slt.LLCWarning)
        traj = slt.trajectory((model, states), loss_fn, (x, y), steps=steps, relabel=True,
                              seed=study.seed, progress=False, **kw)
    log("deep linear network: sampler steps per checkpoint "
        + ", ".join(str(r.traces.shape[1]) for r in traj.results))
    ranks = [dynamics.plateau_rank(v, _S) for v in traj.loss]
    theory = np.array([slt.theory.deep_linear([5, 3, 3, 5], r) if r is not None else np.nan
                       for r in ranks])
    st = slt.stages(traj)
    sec.text("A 5→3→3→5 deep linear network trained by gradient descent from small "
             "initialisation (entries N(0, 0.05²)) on y = diag(8, 3, 1.2, 0, 0)·x learns the "
             "teacher's modes one at a time, largest first (Saxe et al. 2014; Jacot et al. "
             "2021): its loss rests on plateaus ½·Σ_{i>r} sᵢ² = 37.2, 5.2, 0.72, 0. With the "
             "targets relabelled to each checkpoint's own outputs the checkpoint is an exact "
             "minimum, and λ̂ measures the degeneracy of the function it computes; Aoyagi "
             "(2024) gives it exactly for a rank-r product: 4.5, 6.5, 8.5, 10.5.")
    rows = []
    for i, s in enumerate(steps):
        r = traj.results[i]
        rows.append({"step": s, "loss": float(traj.loss[i]),
                     "plateau rank": "-" if ranks[i] is None else ranks[i],
                     "λ̂": r.mean, "SE": r.se, "Aoyagi λ": float(theory[i]),
                     "λ̂ / λ": r.mean / theory[i] if np.isfinite(theory[i]) else float("nan"),
                     "R̂": r.rhat, "steps run": r.traces.shape[1]})
    sec.table(rows, caption="LLC over training of the deep linear network (relabelled)")
    on = [i for i in range(len(steps)) if ranks[i] is not None]
    ratios = np.array([traj.llc[i] / theory[i] for i in on])
    levels = sorted({ranks[i] for i in on})
    means = [float(np.mean([traj.llc[i] for i in on if ranks[i] == r])) for r in levels]
    rising = len(means) > 1 and bool(np.all(np.diff(means) > 0))
    sec.text(f"On the plateaus, λ̂/λ ranges from {ratios.min():.2f} to {ratios.max():.2f}; "
             f"the mean λ̂ of each plateau (rank " + ", ".join(
                 f"{r}: {m:.2f}" for r, m in zip(levels, means)) + f") "
             f"{'rises' if rising else 'does not rise'} strictly from one plateau to the "
             f"next. slt.stages finds {len(st.kinds)} stage(s) of kinds {', '.join(st.kinds)} "
             f"with boundaries at steps {', '.join(f'{b:g}' for b in st.boundaries.tolist())}.")
    failed = sorted({str(w.message).split(':')[0] for w in caught})
    if failed:
        sec.text("Diagnostics that failed at some checkpoints: " + "; ".join(failed[:4]),
                 note=True)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    traj.plot(ax, theory=theory)
    ax.set_title("5→3→3→5 deep linear network: loss and relabelled LLC over training")
    sec.figure(fig, "dln", caption="λ̂ ± SE (blue), Aoyagi's λ for the plateau's rank (red "
               "circles), training loss (grey, right axis); stages shaded (A blue, B orange).")


def _mlp(sec: Section, study: Study, log: Callable[[str], None]) -> None:
    import matplotlib.pyplot as plt

    rows = 500 if study.quick else 2000
    x = study.data.x_train[:rows].flatten(1)
    y = study.data.y_train[:rows]
    torch.manual_seed(study.seed)
    hidden = 16
    mlp = nn.Sequential(nn.Linear(x.shape[1], hidden, dtype=x.dtype), nn.ReLU(),
                        nn.Linear(hidden, study.data.n_classes, dtype=x.dtype))
    ce = nn.CrossEntropyLoss()
    steps = [30, 100, 300] if study.quick else [30, 100, 300, 1000, 2000]
    log(f"training the MLP ({rows} signals, {max(steps)} Adam steps)")
    states = _train_checkpoints(mlp, ce, x, y, steps, torch.optim.Adam(mlp.parameters(),
                                                                         lr=0.01))
    kw = dict(draws=20, thin=5) if study.quick else dict(max_steps=16_000)
    log(f"sampling the MLP's LLC at its {len(steps)} checkpoints in one run")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", slt.LLCWarning)
        traj = slt.trajectory((mlp, states), ce, (x, y), steps=steps, seed=study.seed,
                              progress=False, **kw)
    table = [{"step": s, "loss": float(traj.loss[i]), "λ̂": r.mean, "SE": r.se, "R̂": r.rhat,
              "stabilized": "yes" if r.stabilized else "no", "stop": r.stop}
             for i, (s, r) in enumerate(zip(steps, traj.results, strict=True))]
    sec.table(table, caption=f"LLC over training of an MLP {x.shape[1]}-{hidden}-"
              f"{study.data.n_classes} on {rows} MNIST-1D signals (cross-entropy, Adam); chance "
              f"loss log(10) = {np.log(10):.2f}")
    bad = [(s, r) for s, r in zip(steps, traj.results, strict=True) if r.warnings]
    if bad:
        sec.text("Diagnostics failed at step(s) " + ", ".join(str(s) for s, _ in bad) + ": " +
                 "; ".join(r.warnings[0] for _, r in bad[:3]) + " — those estimates are not "
                 "to be trusted as they stand.", note=True)
        for s, r in bad:
            sec.text(f"Step {s}: {why_failed(r)}.", note=True)
    else:
        sec.text("Every estimate passed the library's diagnostics (R̂ < 1.1, stabilized, no "
                 "divergent chain).")
    del caught
    fig, ax = plt.subplots(figsize=(8, 3.4))
    traj.plot(ax)
    ax.set_title("MLP on MNIST-1D: loss and LLC over training")
    sec.figure(fig, "mlp", caption="λ̂ ± SE and the training loss over training.")


def section(sec: Section, study: Study) -> None:
    log = section_log(study)
    with num_threads(1):  # small tensors throughout (see occamlab.report._llc.section)
        _dln(sec, study, log)
        _mlp(sec, study, log)
    log("MLP done")
