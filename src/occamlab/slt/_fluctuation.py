"""Singular fluctuation, WAIC and WBIC from draws of the (localized) posterior.

Watanabe, *Algebraic Geometry and Statistical Learning Theory* (2009), §8.3 and Watanabe 2010
(JMLR 11, "Asymptotic equivalence of Bayes cross validation and widely applicable information
criterion"), eqs. 5–7: with per-sample losses ℓᵢ(w) = −log p(yᵢ|xᵢ, w) under the posterior at
inverse temperature β,

    T_n = −(1/n)·Σᵢ log E_w[p(yᵢ|xᵢ, w)]            (the Bayes training loss)
    V_n = Σᵢ Var_w[ℓᵢ(w)]                            (the functional variance)
    ν   = (β/2)·V_n                                  (the singular fluctuation)
    WAIC = T_n + (β/n)·V_n.

WBIC (Watanabe 2013, JMLR 14, eq. 5) is E_w[n·L_n(w)] at β = 1/log n, estimated from the paired
LLC draws as n·L_n(w*) + λ̂·log n (:func:`occamlab.slt.llc` at its default nβ = n/log n).

A regular model has ν = ½·tr(I·J⁻¹) (I the covariance of the score, J the Hessian of the
average loss; Watanabe 2009, §8.3), which is d/2 only when the model is well specified; λ stays
d/2 either way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import vmap

from occamlab._check import check_real
from occamlab._result import Result
from occamlab._torch import call
from occamlab.slt._estimate import Centres
from occamlab.slt._llc import LLCResult, check_options, estimate, llc
from occamlab.slt._setup import prepare

__all__ = ["FluctuationResult", "singular_fluctuation"]

_MAX_DRAWS = 1000
_CHUNK = 1 << 20  # draws × rows evaluated per chunk


@dataclass(frozen=True, repr=False)
class FluctuationResult(Result):
    """Singular fluctuation and the information criteria of one posterior.

    Fields:
        nu: ν = (β/2)·V_n.  functional_variance: V_n = Σᵢ Var_w[ℓᵢ(w)].
        waic: T_n + (β/n)·V_n (per sample, in nats).  training_loss: T_n.
        wbic: E_w[n·L_n(w)] at β = 1/log n (total, in nats).
        beta: the inverse temperature of the posterior of ν, T_n, WAIC.  n: rows.
        draws: posterior draws used for V_n and T_n.
        posterior: the sampler run at β (its diagnostics).  llc: the run at β = 1/log n.
    """

    nu: float
    functional_variance: float
    waic: float
    training_loss: float
    wbic: float
    beta: float
    n: int
    draws: int
    posterior: LLCResult
    llc: LLCResult


def singular_fluctuation(model: nn.Module, nll_fn: Callable[[torch.Tensor, torch.Tensor],
                                                            torch.Tensor],
                         data: Any, *, beta: float = 1.0, params: Sequence[str] | None = None,
                         chains: int = 4, draws: int | None = None, seed: int = 0,
                         progress: bool = True, **sampler: Any) -> FluctuationResult:
    """ν, V_n, WAIC, T_n and WBIC of ``model`` around its current parameters w*.

    Arguments:
        model: an ``nn.Module`` in eval mode, at (near) a minimum of its loss.
        nll_fn: ``nll_fn(output, target)`` → per-sample negative log-likelihood, shape (B,)
            (the full NLL, constants included, for WAIC and WBIC to be comparable across
            models).
        data: the n training rows, as for :func:`occamlab.slt.llc`; V_n and T_n are evaluated
            on all of them.
        beta: inverse temperature of the posterior (1: the Bayes posterior); the sampler runs
            at nβ = β·n, localized at w* as :func:`occamlab.slt.llc` is.
        params, chains, draws, seed, progress and the other keywords of ``llc`` (``step_size``,
            ``localization``, ``thin``, ``batch_size``, ``max_steps``, ``sampler``): as there.

    Returns:
        A :class:`FluctuationResult`.
    """
    beta = check_real(beta, "beta", gt=0)
    prob = prepare(model, _Mean(nll_fn), data, params)
    with torch.no_grad():
        probe = nll_fn(call(model, prob.loss.split(prob.w_star), prob.x[:8]), prob.y[:8])
    if not isinstance(probe, torch.Tensor) or tuple(probe.shape) != (min(prob.n, 8),):
        shape = tuple(probe.shape) if isinstance(probe, torch.Tensor) else type(probe).__name__
        raise ValueError(f"nll_fn must return the per-sample NLL of shape (B,) = "
                         f"({min(prob.n, 8)},) for a batch of {min(prob.n, 8)}, got {shape}; use "
                         f"reduction='none' and sum over output dimensions")
    unknown = sorted(set(sampler) - {"step_size", "localization", "thin", "batch_size",
                                     "max_steps", "sampler", "burnin"})
    if unknown:
        raise TypeError(f"singular_fluctuation() got unexpected keyword(s) {unknown}")
    opts = check_options(chains=chains, draws=draws, burnin=sampler.pop("burnin", None),
                         thin=sampler.pop("thin", None), max_steps=sampler.pop("max_steps", None),
                         sampler=sampler.pop("sampler", "sgld"), seed=seed)
    n = prob.n
    centres = Centres(prob.loss, prob.w_star.unsqueeze(0), prob.x, prob.y, False, [0])
    (post,), (run,) = estimate(centres, [prob.loss_star], n=n, loader_batch=prob.loader_batch,
                               names=tuple(prob.loss.like), nbeta=beta * n, progress=progress,
                               step_size=sampler.get("step_size"),
                               localization=sampler.get("localization"),
                               batch_size=sampler.get("batch_size"), record=True, **opts)
    keep = [c for c in range(chains) if c not in post.divergent]
    pos = run.positions[keep]  # (C', D, P)
    d = pos.shape[1]
    first = d - post.kept_steps // post.thin
    w = pos[:, first:].reshape(-1, pos.shape[-1])
    if w.shape[0] > _MAX_DRAWS:
        w = w[torch.linspace(0, w.shape[0] - 1, _MAX_DRAWS, device=w.device).long()]
    ell = _per_sample(model, nll_fn, prob.loss.split, w, prob.x, prob.y)  # (S, n)
    s = ell.shape[0]
    vn = float(ell.var(dim=0, unbiased=True).sum())
    log_mean_p = torch.logsumexp(-ell, dim=0) - math.log(s)
    tn = float(-log_mean_p.mean())
    at_wbic = llc(model, _Mean(nll_fn), data, params=params, progress=progress, chains=chains,
                  seed=seed, draws=draws, batch_size=sampler.get("batch_size"))
    wbic = n * at_wbic.loss_star + at_wbic.mean * math.log(n)
    return FluctuationResult(nu=beta / 2 * vn, functional_variance=vn, waic=tn + beta / n * vn,
                             training_loss=tn, wbic=wbic, beta=beta, n=n, draws=s,
                             posterior=post, llc=at_wbic)


class _Mean:
    """The mean of a per-sample NLL: the L_n that the sampler needs."""

    def __init__(self, nll_fn: Callable):
        if not callable(nll_fn):
            raise TypeError(f"nll_fn must be callable as nll_fn(output, target), got "
                            f"{type(nll_fn).__name__}")
        self.nll_fn = nll_fn

    def __call__(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.nll_fn(out, y).mean()


def _per_sample(model: nn.Module, nll_fn: Callable, split: Callable, w: torch.Tensor,
                x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """ℓᵢ(w_s) for every draw s and row i: (S, n), in chunks of draws."""
    per = vmap(lambda p: nll_fn(call(model, p, x), y))
    step = max(1, _CHUNK // max(x.shape[0], 1))
    with torch.no_grad():
        return torch.cat([per(split(w[s:s + step])) for s in range(0, w.shape[0], step)])
