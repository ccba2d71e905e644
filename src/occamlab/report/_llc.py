"""Report section: the local learning coefficient of a small trained network (parameter space).

An MLP trained on MNIST-1D, and a deep linear network trained on a rank-2 teacher whose λ is known
exactly (Aoyagi 2024), each with its SGLD traces and diagnostics.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import torch
from torch import nn

from occamlab import slt
from occamlab._torch import num_threads
from occamlab.report._page import Section
from occamlab.report._study import Study
from occamlab.tasks import deep_linear_network, deep_linear_teacher


def _train(model: nn.Module, loss_fn, x: torch.Tensor, y: torch.Tensor, steps: int,
           lr: float) -> None:
    # Full-batch Adam with a cosine schedule: ends close to a minimum, as the LLC requires.
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    with num_threads(1):  # small full-batch steps: threads cost more than they save
        for _ in range(steps):
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
            sched.step()


def section_log(study: Study) -> Callable[[str], None]:
    """A progress line for the study's log, with the seconds since this call."""
    start = time.perf_counter()
    return lambda what: study.log(f"  {what} ({time.perf_counter() - start:.0f} s into the "
                                  "section)")


def why_failed(r: slt.LLCResult) -> str:
    """Why an estimate's diagnostics failed, in numbers from its own draws ("" if none did)."""
    if not r.warnings:
        return ""
    kept = r.kept_steps
    d = (r.nbeta * (r.traces - r.ref_traces))[:, -kept:].double()
    ok = [c for c in range(r.chains) if c not in r.divergent]
    parts = [f"{r.traces.shape[1]} sampler steps per chain ({r.stop}), ESS {r.ess:.0f} "
             f"(target 400), R̂ {r.rhat:.3f} (target < 1.05)"]
    if ok and kept >= 4:
        half = d[ok].reshape(len(ok), 2, kept // 2) if kept % 2 == 0 else \
            d[ok, 1:].reshape(len(ok), 2, kept // 2)
        first, second = half.mean(dim=2).mean(dim=0).tolist()
        spread = d[ok].mean(dim=1)
        parts.append(f"λ̂ from the first and second half of the kept draws {first:.4g} and "
                     f"{second:.4g}, per chain {float(spread.min()):.4g} to "
                     f"{float(spread.max()):.4g}: the chains were still "
                     + ("relaxing" if abs(second - first) > 2 * r.se else "apart"))
    return "; ".join(parts)


def _row(name: str, params: int, r: slt.LLCResult, theory: str) -> dict:
    return {"model": name, "parameters": params, "λ̂": r.mean, "SE": r.se, "theory": theory,
            "R̂": r.rhat, "ESS": round(r.ess), "below L(w*)": f"{100 * r.frac_below:.0f}%",
            "divergent": len(r.divergent), "stabilized": "yes" if r.stabilized else "no"}


def section(sec: Section, study: Study) -> None:
    # Every tensor here is small: on one thread no op waits at a barrier for a second thread
    # (on a busy 2-core machine such waits made calibration 17× slower).
    with num_threads(1):
        _section(sec, study)


def _section(sec: Section, study: Study) -> None:
    import matplotlib.pyplot as plt

    quick = study.quick
    log = section_log(study)

    # Full mode: the library's defaults (the run stops at its diagnostics' targets), capped so
    # the section keeps its time budget; a capped run says so in its diagnostics.
    kw = dict(draws=40, thin=5) if quick else dict(max_steps=12_000)
    # The MLP's chains relax slowly (its step size is set by its stiffest direction): its cap
    # is half the deep linear network's, and the page says what that leaves unconverged.
    kw_mlp = kw if quick else dict(max_steps=6000)
    torch.manual_seed(study.seed)
    rows = 1000 if quick else 2000
    x, y = study.data.x_train[:rows].flatten(1), study.data.y_train[:rows]
    hidden = 16
    mlp = nn.Sequential(nn.Linear(x.shape[1], hidden, dtype=x.dtype), nn.ReLU(),
                        nn.Linear(hidden, study.data.n_classes, dtype=x.dtype))
    ce = nn.CrossEntropyLoss()
    log(f"training the MLP ({rows} signals)")
    _train(mlp, ce, x, y, 300 if quick else 2000, 0.01)
    log("sampling the MLP's LLC")
    with warnings.catch_warnings(record=True) as w_mlp:
        warnings.simplefilter("always", slt.LLCWarning)
        r_mlp = slt.llc(mlp, ce, (x, y), seed=study.seed, progress=False, **kw_mlp)

    widths, rank = (5, 5, 5, 5), 2
    teacher = deep_linear_teacher(2000 if quick else 10_000, widths, rank, seed=study.seed)
    dln = deep_linear_network(widths, seed=study.seed)
    log(f"MLP: {r_mlp.traces.shape[1]} sampler steps, stop: {r_mlp.stop}; training the deep "
        "linear network")
    _train(dln, teacher.loss(), teacher.x, teacher.y, 600 if quick else 3000, 0.01)
    log("sampling the deep linear network's LLC")
    with warnings.catch_warnings(record=True) as w_dln:
        warnings.simplefilter("always", slt.LLCWarning)
        r_dln = slt.llc(dln, teacher.loss(), teacher.data, seed=study.seed, progress=False,
                        **kw)
    log(f"deep linear network: {r_dln.traces.shape[1]} sampler steps, stop: {r_dln.stop}")
    lam = slt.theory.deep_linear(list(widths), rank)

    sec.text("The local learning coefficient λ (Lau et al. 2023, arXiv 2308.12108) is the "
             "effective number of parameters, halved, of the solution training found: the "
             "exponent with which the volume of low-loss parameters shrinks around it. It is "
             "estimated as nβ·(E[L_n(w)] − L_n(w*)) over a localized, tempered posterior "
             "sampled by SGLD, with nβ = n/log n. A deep linear network trained on a rank-2 "
             "teacher has a known λ (Aoyagi 2024, Theorem 1), a check on the estimator next to "
             "the MLP whose λ is not known.")
    n_mlp = sum(p.numel() for p in mlp.parameters())
    n_dln = sum(p.numel() for p in dln.parameters())
    sec.table([
        _row(f"MLP 40-{hidden}-{study.data.n_classes} on {rows} MNIST-1D signals "
             "(cross-entropy)", n_mlp, r_mlp,
             f"unknown (≤ P/2 = {n_mlp // 2})"),
        _row("deep linear 5-5-5-5, rank-2 teacher (Gaussian NLL)", n_dln, r_dln,
             f"{lam:g} (Aoyagi 2024)"),
    ], caption="LLC estimates with their diagnostics (4 chains)")
    err = 100 * (r_dln.mean / lam - 1)
    verdict = (f"of at most {n_mlp / 2:g}: training found a solution far simpler than its "
               f"parameter count" if not r_mlp.warnings and r_mlp.mean < 0.25 * n_mlp / 2 else
               f"of at most {n_mlp / 2:g}" + (" — but its diagnostics failed (below), so the "
                                              "value is not to be trusted as it stands"
                                              if r_mlp.warnings else ""))
    sec.text(f"Deep linear network: λ̂ = {r_dln.mean:.3g} ± {r_dln.se:.2g} against λ = {lam:g} "
             f"({err:+.1f}%). MLP: λ̂ = {r_mlp.mean:.4g} ± {r_mlp.se:.2g} {verdict}.")
    for w in [*w_mlp, *w_dln]:
        sec.text(f"Diagnostic: {w.message}", note=True)
    for name, r in (("MLP", r_mlp), ("deep linear network", r_dln)):
        if r.warnings:
            sec.text(f"Why the {name}'s diagnostics failed: {why_failed(r)}.", note=True)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.8))
    r_mlp.plot(ax1)
    ax1.set_title("MLP on MNIST-1D")
    r_dln.plot(ax2)
    ax2.axhline(lam, color="C3", ls=":", label=f"theory λ = {lam:g}")
    ax2.legend(fontsize=7, loc="lower right", ncol=2)
    ax2.set_title("deep linear network, rank-2 teacher")
    fig.tight_layout()
    sec.figure(fig, "traces", caption="Running mean of nβ·(L_B(w) − L_B(w*)) (same minibatch) "
               "per chain after burn-in (shaded grey), over the draws averaged in blocks (dots); "
               "the black line and band are λ̂ ± SE.")
    sec.text(f"Settings chosen automatically — MLP: {r_mlp.calibration}. Deep linear: "
             f"{r_dln.calibration}.")
