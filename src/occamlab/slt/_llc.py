"""The local learning coefficient (LLC) of a trained model, estimated by vectorized SGLD.

Estimator (Lau et al. 2023, arXiv 2308.12108, eq. 7; REFERENCES §4):

    λ̂(w*) = nβ·(E_w[L_n(w)] − L_n(w*)),

the expectation under the localized tempered posterior ∝ exp(−nβ·L_n(w) − (γ/2)‖w − w*‖²).
Each draw contributes nβ·(L_B(w_t) − L_B(w*)) with L_B both times on the chain's own minibatch
of that step: an unbiased estimate of nβ·(L_n(w_t) − L_n(w*)) whose minibatch noise cancels
(estimating L_n(w*) from a few other minibatches instead inflates that noise by nβ: the
error REFERENCES §4 warns about). L_n(w*) on the full data is reported beside it.

Loss convention. Watanabe's theory is stated for L_n = the per-sample negative log-likelihood.
A loss c·NLL (e.g. ``MSELoss`` = 2σ²·NLL for Gaussian noise of variance σ², up to a constant, and
divided by the output dimension) is the same posterior at inverse temperature c·β: λ̂ still
estimates λ, with the effective temperature that the loss scale implies. Two consequences:
(1) at a minimizer of L_n, a regular model gives d/2 for any c (the Gaussian posterior's
E[nβ·ΔL] = d/2 whatever its width); (2) at the *true* parameter w₀ instead of the minimizer, the
estimate is low by nβ·(L_n(w₀) − min L_n) ≈ c·β·d/2 for NLL units (Watanabe's fluctuation term
of WBIC, Watanabe 2013 JMLR eq. 20), so a loss scaled far above the NLL (c·β not ≪ 1) is biased
there. devinterp and Lau et al. pass the user's loss (usually ``MSELoss``) with nβ as given; so
does this function. For Gaussian teachers, :func:`occamlab.tasks.gaussian_nll` gives the NLL.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from occamlab._result import Result
from occamlab._torch import check_positive_int, make_generator
from occamlab.slt._diagnostics import ess, geweke_z, split_rhat
from occamlab.slt._samplers import run_chains
from occamlab.slt._setup import (
    Problem,
    check_batch,
    check_positive,
    check_sampler,
    curvature,
    per_chain_values,
    prepare,
)

__all__ = ["LLCResult", "llc", "default_nbeta", "LLCWarning"]

# SGLD's discretization error is O(ε·a) for curvature a (a Gaussian's variance is inflated by
# 1/(1 − εa/4)); ε = c/a_max keeps it ≲ c/4 in the stiffest direction. SGNHT and pSGLD move by
# ~ε·√a per step, hence ε = c/√a_max for them.
_STEP_FRACTION = {"sgld": 0.05, "sgnht": 0.05, "rmsprop_sgld": 0.05}
# γ = 1% of nβ times the mean curvature: a regular direction's estimate is then a/(a+γ) of ½.
_LOC_FRACTION = 0.01
_PILOT_STEPS = 100
# Up to 100 steps per draw: deep linear networks have a_max/a_mean ~ 10 (thin 80–320 uncapped).
# A cap of 20 ran them ~1/10 of their relaxation time per draw: on [3, 4, 4, 3], r = 1 (λ = 4.5)
# single chains gave 3.2–6.5 and λ̂ moved −17%..+16% with the sampler seed (RESULTS.md).
_MAX_THIN = 100
_DEFAULT_BATCH = 1024
# A chain whose estimate passes this many times the parameter count ran away: λ ≤ P/2 always.
_RUNAWAY = 10.0
_BELOW_WARN = 0.25
_RHAT_WARN = 1.1
_GEWEKE_WARN = 3.0


class LLCWarning(UserWarning):
    """An LLC estimate that should not be trusted as it stands."""


def default_nbeta(n: int) -> float:
    """nβ* = n/log n: Watanabe's WBIC temperature β* = 1/log n (Watanabe 2013, JMLR 14, Thm 4).

    Alternatives: any nβ with β → 0 and nβ → ∞ gives the same λ asymptotically; devinterp
    defaults to batch_size/log(batch_size), which ties the temperature to the batch size, not to
    the data set, and is not used here.
    """
    n = check_positive_int(n, "n", minimum=2)
    return n / math.log(n)


@dataclass(frozen=True, repr=False)
class LLCResult(Result):
    """An LLC estimate with the settings that produced it and its health.

    Fields:
        mean: λ̂, the mean of the per-chain estimates over the chains that did not diverge.
        std: their standard deviation across chains (ddof=1; 0 with one chain).
        se: standard error of ``mean`` from the pooled draws' effective sample size.
        chain_estimates: (C,) per-chain λ̂ (NaN for a divergent chain).
        traces: (C, (burnin+draws)·thin) minibatch losses L_B(w_t) at every step.
        ref_traces: (C, (burnin+draws)·thin) L_B(w*) on the same minibatches.
        loss_star: L_n(w*) on the full data set.
        nbeta, step_size, localization, sampler, chains, draws, burnin, thin, batch_size, n:
            settings
            (``step_size`` a list when it differs per chain).
        divergent: indices of chains that went NaN/Inf or ran away; excluded from ``mean``.
        frac_below: fraction of kept draws with L_B(w_t) < L_B(w*).
        rhat: split-R̂ of nβ·(L_B(w_t) − L_B(w*)) over the kept chains' draws.
        ess: effective sample size of those draws (all kept chains).
        geweke: Geweke's z of the draws (first 10% against last 50%).
        stabilized: |geweke| < 3: the trace had levelled off after burn-in.
        calibration: how step size, localization, nβ and batch size were chosen.
        warnings: the diagnostics that failed, in words (also issued as ``LLCWarning``).
    """

    mean: float
    std: float
    se: float
    chain_estimates: torch.Tensor
    traces: torch.Tensor
    ref_traces: torch.Tensor
    loss_star: float
    nbeta: float
    step_size: float | list[float]
    localization: float
    sampler: str
    chains: int
    draws: int
    burnin: int
    thin: int
    batch_size: int
    n: int
    divergent: tuple[int, ...]
    frac_below: float
    rhat: float
    ess: float
    geweke: float
    stabilized: bool
    calibration: str
    warnings: tuple[str, ...]

    def plot(self, ax: Any = None) -> Any:
        """Per-chain traces of nβ·(L_B(w_t) − L_B(w*)), burn-in shaded, divergent chains dashed.

        The horizontal line is λ̂; the text box lists R̂, ESS and the draws below L(w*).
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        d = (self.nbeta * (self.traces - self.ref_traces)).detach().cpu().numpy()
        steps = np.arange(d.shape[1])
        for c in range(d.shape[0]):
            bad = c in self.divergent
            ax.plot(steps, d[c], lw=0.8, ls="--" if bad else "-", alpha=0.5 if bad else 0.9,
                    label=f"chain {c}" + (" (divergent)" if bad else ""))
        if self.burnin:
            ax.axvspan(0, self.burnin * self.thin, color="0.85", zorder=0, label="burn-in")
        ax.axhline(self.mean, color="k", lw=1.2, label=f"λ̂ = {self.mean:.3g} ± {self.se:.2g}")
        ax.set_xlabel("step")
        ax.set_ylabel("nβ·(L_B(w) − L_B(w*))")
        ax.text(0.01, 0.97, f"R̂ = {self.rhat:.3f}   ESS = {self.ess:.0f}   "
                f"below L(w*): {100 * self.frac_below:.0f}%   "
                f"{'stabilized' if self.stabilized else 'NOT stabilized'}",
                transform=ax.transAxes, va="top", fontsize=8)
        finite = d[np.isfinite(d)]
        if finite.size:
            lo, hi = np.percentile(finite, [0.5, 99.5])
            pad = 0.1 * (hi - lo + 1e-12)
            ax.set_ylim(min(lo, 0) - pad, hi + pad)
        ax.legend(fontsize=7, loc="lower right", ncol=2)
        return ax


def _auto_localization(h: float, nbeta: float) -> tuple[float, str]:
    if h > 0 and math.isfinite(h):
        gamma = _LOC_FRACTION * nbeta * h
        return gamma, (f"localization γ = {gamma:.3g} = {_LOC_FRACTION}·nβ·tr(H)/P with "
                       f"tr(H)/P = {h:.3g} at w* (a regular direction then loses "
                       f"γ/(nβh+γ) ≈ {_LOC_FRACTION:.0%} of its ½)")
    return 1.0, (f"localization γ = 1 (the mean curvature at w*, {h:.3g}, gives no scale: w* is "
                 f"degenerate to second order; γ = 1 confines chains to |w − w*| ~ 1)")


def _step_for(a: float, sampler: str) -> float:
    c = _STEP_FRACTION[sampler]
    return c / a if sampler == "sgld" else c / math.sqrt(a)


def _auto_step(prob: Problem, top: float, *, nbeta: float, gamma: float, chains: int,
               batch: int, sampler: str, gen: torch.Generator) -> tuple[float, str]:
    """Step size from the curvature of the sampled potential, refreshed along short pilots."""
    a = nbeta * top + gamma
    where = "w*"
    eps = _step_for(a, sampler)
    notes = []
    for _ in range(4):
        run = run_chains(prob.loss, prob.w_star, prob.x, prob.y, nbeta=nbeta, step_size=eps,
                         localization=gamma, chains=chains, steps=_PILOT_STEPS,
                         batch_size=batch, sampler=sampler, generator=gen)
        if not bool(torch.isfinite(run.final).all()) or not bool(
                torch.isfinite(run.losses).all()):
            eps /= 10
            notes.append("a pilot chain diverged: step divided by 10")
            continue
        top, _ = curvature(prob.loss, run.final, prob.x, prob.y, generator=gen, trace=False)
        a_pilot = nbeta * float(top.max()) + gamma
        if a_pilot <= 1.5 * a:
            break
        a, where = a_pilot, f"the end of a {_PILOT_STEPS}-step pilot"
        eps = _step_for(a, sampler)
    form = "c/a" if sampler == "sgld" else "c/√a"
    msg = (f"step size ε = {eps:.3g} = {form} with c = {_STEP_FRACTION[sampler]} and "
           f"a = nβ·λ_max(H) + γ = {a:.4g}, the stiffest curvature of the sampled potential "
           f"(found at {where}); SGLD's bias is O(ε·a)")
    if notes:
        msg += "; " + "; ".join(notes)
    return eps, msg


def llc(model: nn.Module, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        data: Any, *, nbeta: float | None = None, step_size: Any = None,
        localization: float | None = None, chains: int = 4, draws: int = 200,
        burnin: int | None = None, thin: int | None = None, batch_size: int | None = None,
        sampler: str = "sgld", seed: int | None = 0, progress: bool = True) -> LLCResult:
    """Estimate the local learning coefficient λ(w*) of ``model`` at its current parameters.

    Arguments:
        model: any ``nn.Module``; its trainable parameters are w*. It is not modified.
        loss_fn: ``loss_fn(output, target)`` → scalar mean loss over the batch (e.g.
            ``torch.nn.MSELoss()``). See the module docstring for its scale (the likelihood).
        data: ``(X, y)`` tensors or arrays with N rows, a map-style ``Dataset`` of pairs, or a
            ``DataLoader`` (its batch size becomes the default ``batch_size``).
        nbeta: inverse temperature times n; default n/log n (:func:`default_nbeta`).
        step_size: ε (> 0), or one value per chain; default from the curvature (see
            ``result.calibration``).
        localization: γ ≥ 0; default 1% of nβ·tr(H)/P at w*.
        chains: C ≥ 1 chains, advanced together in one vectorized computation.
        draws: draws per chain (≥ 1).  burnin: discarded first draws; default ``draws``.
        thin: sampler steps per draw; default ⌈1/(ε·a_mean)⌉ (at most 100), the relaxation time of
            a direction of mean curvature a_mean = nβ·tr(H)/P + γ, so that draws are roughly
            independent. Every step's loss is recorded and used: the chains run
            (burnin + draws)·thin steps.
        batch_size: rows per chain per step; default min(N, 1024) (N: full batch).
        sampler: ``"sgld"``, ``"sgnht"`` or ``"rmsprop_sgld"`` (:mod:`occamlab.slt._samplers`).
        seed: seed of minibatches, noise and calibration (same seed, same result).
        progress: show a progress bar.

    Returns:
        An :class:`LLCResult`. Divergent chains are named in ``divergent`` and left out of
        ``mean``; failed diagnostics are in ``warnings`` and issued as :class:`LLCWarning`.
        If every chain diverges, ``mean`` is NaN.
    """
    chains = check_positive_int(chains, "chains")
    draws = check_positive_int(draws, "draws")
    burnin = draws if burnin is None else check_positive_int(burnin, "burnin", minimum=0)
    sampler = check_sampler(sampler)
    prob = prepare(model, loss_fn, data)
    n = prob.n
    batch = check_batch(batch_size, n)
    notes = []
    if batch is None:
        batch = min(prob.loader_batch or _DEFAULT_BATCH, n)
        notes.append(f"batch size {batch}" + (" (the DataLoader's)" if prob.loader_batch else
                                              f" = min(N, {_DEFAULT_BATCH})"))
    if nbeta is None:
        nbeta = default_nbeta(n)
        notes.append(f"nβ = n/log n = {nbeta:.4g} with n = {n} training rows (WBIC's β*)")
    else:
        nbeta = check_positive(nbeta, "nbeta")
    gen = make_generator(seed, device=prob.w_star.device)
    need_curv = localization is None or step_size is None or thin is None
    top = mean_diag = math.nan
    if need_curv:
        tops, diags = curvature(prob.loss, prob.w_star.unsqueeze(0), prob.x, prob.y,
                                generator=gen)
        top, mean_diag = float(tops[0]), float(diags[0])
    if localization is None:
        localization, note = _auto_localization(mean_diag, nbeta)
        notes.append(note)
    else:
        localization = check_positive(localization, "localization", allow_zero=True)
    if step_size is None:
        step_size, note = _auto_step(prob, top, nbeta=nbeta, gamma=localization, chains=chains,
                                     batch=batch, sampler=sampler, gen=gen)
        notes.append(note)
    else:
        step_size = per_chain_values(step_size, "step_size", chains)
    if thin is None:
        thin, note = _auto_thin(step_size, nbeta * max(mean_diag, 0.0) + localization, sampler)
        notes.append(note)
    else:
        thin = check_positive_int(thin, "thin")
    steps = (burnin + draws) * thin
    run = run_chains(prob.loss, prob.w_star, prob.x, prob.y, nbeta=nbeta, step_size=step_size,
                     localization=localization, chains=chains, steps=steps,
                     batch_size=batch, sampler=sampler, generator=gen, progress=progress,
                     description=f"LLC: {chains} chains × {steps} steps")
    return _summarize(run.losses, run.ref_losses, prob=prob, nbeta=nbeta, step_size=step_size,
                      localization=localization, sampler=sampler, chains=chains, draws=draws,
                      burnin=burnin, thin=thin, batch=batch,
                      calibration="; ".join(notes) or "all given")


def _auto_thin(step_size: Any, a_mean: float, sampler: str) -> tuple[int, str]:
    eps = min(step_size) if isinstance(step_size, list) else step_size
    rate = eps * (a_mean if sampler == "sgld" else math.sqrt(max(a_mean, 0.0)))
    if not rate > 0:
        return _MAX_THIN, f"{_MAX_THIN} steps per draw (no curvature scale at w*)"
    thin = int(min(_MAX_THIN, max(1, math.ceil(1 / rate))))
    return thin, (f"{thin} steps per draw ≈ 1/(ε·a_mean), a_mean = nβ·tr(H)/P + γ = {a_mean:.4g}: "
                  f"the relaxation time of a typical direction")


def _summarize(losses: torch.Tensor, refs: torch.Tensor, *, prob: Problem, nbeta: float,
               step_size: Any, localization: float, sampler: str, chains: int, draws: int,
               burnin: int, thin: int, batch: int, calibration: str) -> LLCResult:
    diffs = (nbeta * (losses - refs))[:, burnin * thin:].detach().cpu().double().numpy()
    finite = np.isfinite(diffs).all(axis=1)
    with np.errstate(invalid="ignore"):
        per_chain = np.where(finite, diffs.mean(axis=1), np.nan)
    runaway = finite & (per_chain > _RUNAWAY * prob.n_params)
    divergent = tuple(int(c) for c in np.nonzero(~finite | runaway)[0])
    keep = [c for c in range(chains) if c not in divergent]
    msgs = []
    if divergent:
        msgs.append(f"chain(s) {list(divergent)} diverged (NaN/Inf or estimate > "
                    f"{_RUNAWAY:g}·P) and were excluded; lower the step size")
    if keep:
        kept = diffs[keep]
        mean = float(kept.mean(axis=1).mean())
        std = float(kept.mean(axis=1).std(ddof=1)) if len(keep) > 1 else 0.0
        n_eff = ess(kept)
        se = float(kept.std(ddof=1) / math.sqrt(max(n_eff, 1.0))) if kept.size > 1 else math.nan
        below = float((kept < 0).mean())
        rhat = split_rhat(kept) if len(keep) > 1 or draws >= 4 else math.nan
        gz = geweke_z(kept)
    else:
        mean = std = se = rhat = gz = below = n_eff = math.nan
        msgs.append("every chain diverged: no estimate")
    stabilized = bool(math.isfinite(gz) and abs(gz) < _GEWEKE_WARN)
    if keep and below > _BELOW_WARN:
        msgs.append(f"{below:.0%} of draws have a lower loss than w*: w* may not be a local "
                    f"minimum (train longer) or the step size is too large")
    if keep and math.isfinite(rhat) and rhat > _RHAT_WARN:
        msgs.append(f"R-hat = {rhat:.3f} > {_RHAT_WARN}: the chains disagree; use more draws "
                    f"or burn-in")
    if keep and not stabilized:
        msgs.append(f"the trace had not stabilized after burn-in (Geweke z = {gz:.2g}); "
                    f"increase burnin")
    for m in msgs:
        warnings.warn(m, LLCWarning, stacklevel=3)
    dev = losses.device
    return LLCResult(
        mean=mean, std=std, se=se,
        chain_estimates=torch.as_tensor(per_chain, device=dev),
        traces=losses, ref_traces=refs, loss_star=prob.loss_star, nbeta=float(nbeta),
        step_size=step_size, localization=float(localization), sampler=sampler, chains=chains,
        draws=draws, burnin=burnin, thin=thin, batch_size=batch, n=prob.n, divergent=divergent,
        frac_below=below, rhat=rhat, ess=n_eff, geweke=gz, stabilized=stabilized,
        calibration=calibration, warnings=tuple(msgs),
    )
