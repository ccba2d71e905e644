"""The local learning coefficient (LLC) of a trained model, estimated by vectorized SGLD.

Estimator (Lau et al. 2023, arXiv 2308.12108, eq. 7):

    λ̂(w*) = nβ·(E_w[L_n(w)] − L_n(w*)),

the expectation under the localized tempered posterior ∝ exp(−nβ·L_n(w) − (γ/2)‖w − w*‖²).
Each draw contributes nβ·(L_B(w_t) − L_B(w*)) with L_B both times on the chain's own minibatch
of that step: an unbiased estimate of nβ·(L_n(w_t) − L_n(w*)) whose minibatch noise cancels
(estimating L_n(w*) from a few other minibatches instead inflates that noise by nβ: the
classic error of estimating it separately). L_n(w*) on the full data is reported beside it.

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

Refined LLCs (Wang et al. 2024, arXiv 2410.02984, §3). *Weight-refined*: ``params=[names]``
samples only those parameters, the rest frozen at w* — λ(w*; V) of the subspace V. *Data-refined*:
pass another data set q′ as ``data``; the posterior and the estimator then both use q′, and nβ
defaults to n′/log n′ with n′ the rows of q′.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from occamlab._check import check_bool, check_int
from occamlab._result import Result
from occamlab.slt._diagnostics import summarize_chains
from occamlab.slt._estimate import (
    RUNAWAY,
    Centres,
    Sampled,
    Settings,
    calibrate_centres,
    default_batch,
    sample_centres,
)
from occamlab.slt._setup import (
    check_batch,
    check_positive,
    check_sampler,
    per_chain_values,
    prepare,
)

__all__ = ["LLCResult", "llc", "default_nbeta", "LLCWarning"]

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
    n = check_int(n, "n", ge=2)
    return n / math.log(n)


@dataclass(frozen=True, repr=False)
class LLCResult(Result):
    """An LLC estimate with the settings that produced it and its health.

    Fields:
        mean: λ̂, the mean of the per-chain estimates over the chains that did not diverge.
        std: their standard deviation across chains (ddof=1; 0 with one chain).
        se: standard error of ``mean``: the larger of SD/√ESS of the pooled kept draws and the
            between-chain SD/√C.
        chain_estimates: (C,) per-chain λ̂ (NaN for a divergent chain).
        traces: (C, T) minibatch losses L_B(w_t) at every step.
        ref_traces: (C, T) L_B(w*) on the same minibatches.
        loss_star: L_n(w*) on the full data set.
        nbeta, step_size, localization, sampler, chains, thin, batch_size, n: settings
            (``step_size`` a list when it differs per chain).
        draws, burnin: kept and discarded draws of ``thin`` steps each; ``kept_steps`` is the
            exact number of final steps of ``traces`` that the estimate averages.
        stop: ``"fixed"`` (``draws`` given), ``"converged"`` (the diagnostics' targets met) or
            ``"cap"`` (the longest default run ended first).
        divergent: indices of chains that went NaN/Inf or ran away; excluded from ``mean``.
        frac_below: fraction of kept draws with L_B(w_t) < L_B(w*).
        rhat: split-R̂ of nβ·(L_B(w_t) − L_B(w*)) over the kept chains' draws.
        ess: effective sample size of those draws (all kept chains).
        geweke: Geweke's z of the draws (first 10% against last 50%).
        stabilized: |geweke| < 3: the trace had levelled off after burn-in.
        params: the names of the sampled parameters (all trainable ones unless refined).
        calibration: how step size, localization, nβ, batch size and run length were chosen.
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
    kept_steps: int
    stop: str
    batch_size: int
    n: int
    divergent: tuple[int, ...]
    frac_below: float
    rhat: float
    ess: float
    geweke: float
    stabilized: bool
    params: tuple[str, ...]
    calibration: str
    warnings: tuple[str, ...]

    def plot(self, ax: Any = None) -> Any:
        """Running mean of nβ·(L_B(w_t) − L_B(w*)) per chain, with λ̂ ± SE shaded.

        Faint points are the draws averaged over blocks of ``thin`` steps; the running mean
        starts after burn-in (shaded grey). Divergent chains are dashed.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        d = (self.nbeta * (self.traces - self.ref_traces)).detach().cpu().double().numpy()
        t = d.shape[1]
        start = t - self.kept_steps
        th = max(1, self.thin)
        nb = t // th
        blocks = d[:, :nb * th].reshape(d.shape[0], nb, th).mean(axis=2)
        centres = (np.arange(nb) + 0.5) * th
        for c in range(d.shape[0]):
            bad = c in self.divergent
            color = f"C{c % 10}"
            ax.plot(centres, blocks[c], ".", ms=2, color=color, alpha=0.35)
            kept = d[c, start:]
            run = np.cumsum(kept) / np.arange(1, kept.size + 1)
            ax.plot(np.arange(start, t), run, lw=1.2, color=color, ls="--" if bad else "-",
                    label=f"chain {c}" + (" (divergent)" if bad else ""))
        if start:
            ax.axvspan(0, start, color="0.9", zorder=0, label="burn-in")
        if math.isfinite(self.mean):
            ax.axhspan(self.mean - self.se, self.mean + self.se, color="k", alpha=0.15,
                       label=f"λ̂ = {self.mean:.3g} ± {self.se:.2g} (SE)")
            ax.axhline(self.mean, color="k", lw=1)
        ax.set_xlabel("sampler step")
        ax.set_ylabel("nβ·(L_B(w) − L_B(w*))")
        ax.text(0.01, 0.97, f"R̂ = {self.rhat:.3f}   ESS = {self.ess:.0f}   "
                f"below L(w*): {100 * self.frac_below:.0f}%   "
                f"{'stabilized' if self.stabilized else 'NOT stabilized'}",
                transform=ax.transAxes, va="top", fontsize=8)
        finite = blocks[np.isfinite(blocks)]
        if finite.size:
            lo, hi = np.percentile(finite, [1, 99])
            pad = 0.1 * (hi - lo + 1e-12)
            ax.set_ylim(min(lo, 0) - pad, hi + pad)
        ax.legend(fontsize=7, loc="lower right", ncol=2)
        return ax


def llc(model: nn.Module, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        data: Any, *, params: Sequence[str] | None = None, nbeta: float | None = None,
        step_size: Any = None, localization: float | None = None, chains: int = 4,
        draws: int | None = None, burnin: int | None = None, thin: int | None = None,
        batch_size: int | None = None, max_steps: int | None = None, sampler: str = "sgld",
        precondition: bool | None = None, seed: int | None = 0,
        progress: bool = True) -> LLCResult:
    """Estimate the local learning coefficient λ(w*) of ``model`` at its current parameters.

    Arguments:
        model: any ``nn.Module`` in eval mode; its trainable parameters are w*. Not modified.
        loss_fn: ``loss_fn(output, target)`` → scalar mean loss over the batch (e.g.
            ``torch.nn.MSELoss()``). See the module docstring for its scale (the likelihood).
            A loss that does not depend on the parameters is an error.
        data: ``(X, y)`` tensors or arrays with N rows, a map-style ``Dataset`` of pairs, or a
            ``DataLoader`` (its batch size becomes the default ``batch_size``). Another data
            set than the training set gives the data-refined LLC (module docstring).
        params: names (or module prefixes) of the parameters to sample — the weight-refined
            LLC; the others stay at w*. Default all trainable parameters.
        nbeta: inverse temperature times n; default n/log n (:func:`default_nbeta`).
        step_size: ε (> 0), or one value per chain; default from the curvature: the
            regular part of λ̂ biased by at most 2.5% (:mod:`occamlab.slt._estimate`; see
            ``result.calibration``).
        localization: γ ≥ 0; default 3 when preconditioned (each coordinate the loss does
            not confine within 1/√3 of w*), else P/9 (P sampled parameters: E‖w − w*‖² ≤ 9
            in the directions the loss does not confine).
        chains: C ≥ 1 chains, advanced together in one vectorized computation.
        draws: draws per chain (≥ 1), a fixed run of (burnin + draws)·thin steps. Default None:
            run until the chains' own diagnostics are met (pooled ESS ≥ 400, R̂ < 1.05,
            |Geweke z| < 2 on the second half), starting from the relaxation time of the
            slowest direction and doubling up to ``max_steps`` (default 8 times that
            start, at least 400·thin) — see :mod:`occamlab.slt._estimate`.
        burnin: discarded first draws with ``draws``; default ``draws``.
        thin: sampler steps per draw; default ⌈1/(ε·a_mean)⌉ (at most 1000), the relaxation time
            of a direction of mean curvature a_mean = nβ·tr(H)/P + γ. Every step's loss is
            recorded and used.
        batch_size: rows per chain per step; default a DataLoader's batch size, else
            min(N, ⌈nβ⌉) (N: full batch).
        max_steps: the cap of an adaptive run (``draws=None``), counted from where it last
            started again with a smaller step (``result.calibration`` says when).
        sampler: ``"sgld"``, ``"sgnht"`` or ``"rmsprop_sgld"`` (:mod:`occamlab.slt._steps`).
        precondition: run SGLD in the coordinates that make the potential's curvature at w*
            the identity (S = (nβ·|H| + γ)^(−1/2) from the dense Hessian; the same posterior).
            Default None: when ``sampler="sgld"``, ``step_size`` is chosen automatically and
            P ≤ 256 (P dense Hessian products per point). A given ``step_size`` is then in
            those coordinates; the default localization is then 3.
        seed: seed of minibatches, noise and calibration (same seed, same result).
        progress: show a progress bar.

    Returns:
        An :class:`LLCResult`. Divergent chains are named in ``divergent`` and left out of
        ``mean``; failed diagnostics are in ``warnings`` and issued as :class:`LLCWarning`.
        If every chain diverges, ``mean`` is NaN.
    """
    opts = check_options(chains=chains, draws=draws, burnin=burnin, thin=thin,
                         max_steps=max_steps, sampler=sampler, seed=seed,
                         precondition=precondition)
    prob = prepare(model, loss_fn, data, params)
    names = tuple(prob.loss.like)
    centres = Centres(prob.loss, prob.w_star.unsqueeze(0), prob.x, prob.y, False, [0])
    return estimate(centres, [prob.loss_star], n=prob.n, loader_batch=prob.loader_batch,
                    names=names, nbeta=nbeta, step_size=step_size, localization=localization,
                    batch_size=batch_size, progress=progress, **opts)[0]


def check_options(*, chains: Any, draws: Any, burnin: Any, thin: Any, max_steps: Any,
                  sampler: Any, seed: Any, precondition: Any = None) -> dict[str, Any]:
    """Validate the sampler options shared by :func:`llc` and its relatives."""
    chains = check_int(chains, "chains", ge=1)
    if draws is not None:
        draws = check_int(draws, "draws", ge=1)
        burnin = draws if burnin is None else check_int(burnin, "burnin", ge=0)
    elif burnin is not None:
        raise ValueError("burnin needs draws: with draws=None the run length (and its burn-in, "
                         "the first half) is chosen from the chains' diagnostics")
    if thin is not None:
        thin = check_int(thin, "thin", ge=1)
    if max_steps is not None:
        max_steps = check_int(max_steps, "max_steps", ge=2)
    if seed is None:
        seed = int(torch.randint(0, 2 ** 62, (1,)).item())
    seed = check_int(seed, "seed", ge=0)
    sampler = check_sampler(sampler)
    if precondition is not None:
        precondition = check_bool(precondition, "precondition")
        if precondition and sampler != "sgld":
            raise ValueError(f"precondition=True is for sampler='sgld', not {sampler!r}")
    return dict(chains=chains, draws=draws, burnin=burnin or 0, thin=thin,
                max_steps=max_steps, sampler=sampler, seed=seed, precondition=precondition)


def estimate(centres: Centres, loss_star: list[float], *, n: int, loader_batch: int | None,
             names: tuple[str, ...], nbeta: Any, step_size: Any, localization: Any,
             chains: int, draws: int | None, burnin: int, thin: int | None,
             batch_size: Any, max_steps: int | None, sampler: str, seed: int,
             progress: bool, precondition: bool | None = None,
             inspect: Callable[[Settings, float], None] | None = None,
             inspect_curvature: bool = False, record: bool = False
             ) -> list[LLCResult] | tuple[list[LLCResult], list[Sampled]]:
    """LLC estimates at every centre: settings, calibration, sampling, summary.

    ``inspect(settings, nbeta)`` runs after calibration, before sampling (checks of the
    centres; ``inspect_curvature``: it reads ``settings.mean_curvature``). ``record=True`` also
    returns the raw runs with the recorded positions. The curvature at w* is measured only when
    something reads it: a default ε or thin, an adaptive run length (``draws=None``), or
    ``inspect_curvature``.
    """
    batch = check_batch(batch_size, n)
    adapt_batch = batch is None and not loader_batch
    notes = []
    if nbeta is None:
        nbeta = default_nbeta(n)
        notes.append(f"nβ = n/log n = {nbeta:.4g} with n = {n} rows (WBIC's β*)")
    else:
        nbeta = check_positive(nbeta, "nbeta")
    batch_note = None
    if batch is None:
        batch = min(loader_batch, n) if loader_batch else default_batch(n, nbeta)
        batch_note = f"batch size {batch}" + (" (the DataLoader's)" if loader_batch else
                                              " = min(N, ⌈nβ⌉): minibatch noise at most the "
                                              "step's own bias")
    if step_size is not None:
        step_size = per_chain_values(step_size, "step_size", chains)
    if localization is not None:
        localization = check_positive(localization, "localization", allow_zero=True)
    st = calibrate_centres(centres, nbeta=nbeta, step_size=step_size,
                           localization=localization, thin=thin, chains=chains, batch=batch,
                           sampler=sampler, seed=seed, precondition=precondition,
                           adapt_batch=adapt_batch, measure=draws is None or inspect_curvature)
    if batch_note:  # where the calibration kept it (else its own note says why not)
        for i in range(centres.k):
            if st.batch[i] == batch:
                st.notes[i].insert(0, batch_note)
    if inspect is not None:
        inspect(st, nbeta)
    runs = sample_centres(centres, st, nbeta=nbeta, chains=chains, draws=draws, burnin=burnin,
                          sampler=sampler, seed=seed, progress=progress, max_steps=max_steps,
                          record=record)
    results = [summarize(runs[i], st, i, loss_star=loss_star[i], n=n, names=names,
                         nbeta=nbeta, sampler=sampler, chains=chains, notes=notes,
                         n_params=centres.w.shape[1])
               for i in range(centres.k)]
    return (results, runs) if record else results


def summarize(run: Sampled, st: Settings, i: int, *, loss_star: float, n: int,
              names: tuple[str, ...], nbeta: float, sampler: str, chains: int,
              notes: list[str], n_params: int) -> LLCResult:
    """The :class:`LLCResult` of centre ``i``: the shared summary, warnings, settings."""
    t = run.losses.shape[1]
    d = (nbeta * (run.losses - run.refs))[:, t - run.kept:].detach().cpu().double().numpy()
    s = summarize_chains(d, RUNAWAY * n_params)
    msgs = []
    if s.divergent:
        msgs.append(f"chain(s) {list(s.divergent)} diverged (NaN/Inf or estimate > "
                    f"{RUNAWAY:g}·P) and were excluded; lower the step size")
    ok = len(s.divergent) < chains
    if not ok:
        msgs.append("every chain diverged: no estimate")
    stabilized = bool(math.isfinite(s.geweke) and abs(s.geweke) < _GEWEKE_WARN)
    if ok and s.frac_below > _BELOW_WARN:
        msgs.append(f"{s.frac_below:.0%} of draws have a lower loss than w*: w* may not be a "
                    f"local minimum (train longer) or the step size is too large")
    if ok and math.isfinite(s.rhat) and s.rhat > _RHAT_WARN:
        msgs.append(f"R-hat = {s.rhat:.3f} > {_RHAT_WARN}: the chains disagree; use more draws "
                    f"or burn-in")
    if ok and not stabilized:
        msgs.append(f"the trace had not stabilized after burn-in (Geweke z = {s.geweke:.2g}); "
                    f"increase burnin")
    if ok and run.stop == "cap":
        msgs.append(f"the run reached its cap of {t} steps before the diagnostics' targets "
                    f"(ESS ≥ 400, R̂ < 1.05, |Geweke z| < 2); raise max_steps")
    for m in msgs:
        warnings.warn(m, LLCWarning, stacklevel=4)
    thin = st.thin[i]
    length = {"fixed": f"{t} steps (given draws)",
              "converged": f"{t} steps: doubled until the second half met ESS ≥ 400, R̂ < 1.05 "
                           f"and |Geweke z| < 2",
              "cap": f"{t} steps: the cap, before the diagnostics' targets"}[run.stop]
    return LLCResult(
        mean=s.mean, std=s.std, se=s.se,
        chain_estimates=torch.as_tensor(s.per_chain, device=run.losses.device),
        traces=run.losses, ref_traces=run.refs, loss_star=loss_star, nbeta=float(nbeta),
        step_size=st.step_size[i], localization=float(st.localization[i]), sampler=sampler,
        chains=chains, draws=run.kept // thin, burnin=(t - run.kept) // thin, thin=thin,
        kept_steps=run.kept, stop=run.stop, batch_size=st.batch[i], n=n, divergent=s.divergent,
        frac_below=s.frac_below, rhat=s.rhat, ess=s.ess, geweke=s.geweke,
        stabilized=stabilized, params=names,
        calibration="; ".join([*notes, *st.notes[i], f"run length {length}"]),
        warnings=tuple(msgs),
    )
