"""Vectorized stochastic-gradient MCMC over many chains at once.

Chains are rows of one tensor of flattened parameters, shape (C, P). Every step evaluates all
chains' minibatch losses and gradients in one computation (``torch.func.vmap`` over
``functional_call``), each chain on its own minibatch. The target is the localized, tempered
posterior of Lau et al. (arXiv 2308.12108, eq. 6):

    p(w) ∝ exp(−nβ·L_n(w) − (γ/2)·‖w − w*‖²),

whose potential has gradient ``nβ·∇L_B(w) + γ(w − w*)`` with ∇L_B the minibatch gradient.
Step size ε, localization γ and nβ may differ per chain (shape (C,)), which is how calibration
sweeps a whole grid in one run.

Samplers (``SAMPLERS``):

- ``"sgld"``: Welling & Teh 2011, eq. 4: w ← w − (ε/2)·∇U + √ε·ξ (REFERENCES §4).
- ``"sgnht"``: stochastic-gradient Nosé–Hoover thermostat, Ding et al. 2014 (NeurIPS), Alg. 2:
  p ← p − ε·ξ_t·p − ε·∇U + √(2Aε)·η;  w ← w + ε·p;  ξ_t ← ξ_t + ε·(‖p‖²/P − 1).
- ``"rmsprop_sgld"``: preconditioned SGLD, Li et al. 2016 (AAAI), Alg. 1 (without the Γ term),
  V initialised to max(∇U², 1/ε):
  V ← αV + (1−α)·∇U²;  G = 1/(δ + √V);  w ← w − (ε/2)·G·∇U + √(ε·G)·ξ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import vmap

from occamlab._progress import track
from occamlab._torch import call, num_threads, unflatten

__all__ = ["SAMPLERS", "ChainRun", "make_loss", "run_chains"]

SAMPLERS = ("sgld", "sgnht", "rmsprop_sgld")

# SGNHT diffusion A (Ding et al. 2014 use A = 1 in their experiments). pSGLD: δ as Li et al.
# 2016, §5; α = 0.999 instead of their 0.99, so that G is nearly constant along a chain, which
# dropping the Γ term requires (with 0.99, G follows |w − w*| and inflated λ̂ by ~25% on a
# regular model in our tests).
_SGNHT_A = 1.0
_RMS_ALPHA, _RMS_DELTA = 0.999, 1e-5


def make_loss(model: nn.Module, loss_fn: Callable, like: dict[str, torch.Tensor]
              ) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss of one flat parameter vector (P,) on a batch, for use under ``vmap``."""

    def f(w: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return loss_fn(call(model, unflatten(w, like), xb), yb)

    return f


@dataclass
class ChainRun:
    """Raw output of :func:`run_chains` (tensors on the data's device).

    ``losses`` and ``ref_losses`` are (C, T): the minibatch loss L_B(w_t) at the start of step t
    and L_B(w*) on the same minibatch. ``final`` is (C, P), the chains' last positions.
    """

    losses: torch.Tensor
    ref_losses: torch.Tensor
    final: torch.Tensor


def _per_chain(v: float | torch.Tensor, chains: int, like: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(v, dtype=like.dtype, device=like.device)
    return t.expand(chains).reshape(chains, 1).clone() if t.ndim == 0 else t.reshape(chains, 1)


# Below this many multiply-adds per step (chains × rows × parameters), torch's intra-op threads
# cost more than they save; on a shared 2-core machine they made small runs ~30× slower.
_SMALL_STEP = 10_000_000


def run_chains(loss: Callable, w_star: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *,
               nbeta: float | torch.Tensor, step_size: float | torch.Tensor,
               localization: float | torch.Tensor, chains: int, steps: int, batch_size: int,
               sampler: str, generator: torch.Generator, progress: bool = False,
               description: str = "sampling") -> ChainRun:
    """Advance ``chains`` chains from ``w_star`` for ``steps`` steps, all in one vmap per step.

    Arguments:
        loss: ``loss(w (P,), x_batch, y_batch) -> scalar`` (see :func:`make_loss`).
        w_star: (P,) the parameter the chains are localized at and start from.
        x, y: the full data (n, ...) and targets (n, ...).
        nbeta, step_size, localization: scalars or (C,) tensors, one value per chain.
        chains: C.  steps: T.  batch_size: B, rows per chain per step (B = n: full batch).
        sampler: one of :data:`SAMPLERS`.
        generator: the source of minibatches and noise (on the data's device).

    Returns:
        A :class:`ChainRun`. A chain that becomes non-finite is frozen at its last value (NaN
        losses recorded from then on), so it cannot spread NaN into the others.
    """
    work = chains * min(batch_size, x.shape[0]) * w_star.numel()
    small = w_star.device.type == "cpu" and work < _SMALL_STEP
    with num_threads(1 if small else torch.get_num_threads()):
        return _run(loss, w_star, x, y, nbeta=nbeta, step_size=step_size,
                    localization=localization, chains=chains, steps=steps,
                    batch_size=batch_size, sampler=sampler, generator=generator,
                    progress=progress, description=description)


def _run(loss: Callable, w_star: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *,
         nbeta: Any, step_size: Any, localization: Any, chains: int, steps: int,
         batch_size: int, sampler: str, generator: torch.Generator, progress: bool,
         description: str) -> ChainRun:
    n = x.shape[0]
    dev, dt = w_star.device, w_star.dtype
    nb = _per_chain(nbeta, chains, w_star)
    eps = _per_chain(step_size, chains, w_star)
    gam = _per_chain(localization, chains, w_star)
    w = w_star.unsqueeze(0).repeat(chains, 1)
    # One batched forward over [chains; w* copies] and ordinary autograd for the gradient: faster
    # per step than vmap(grad(...)), and L_B(w*) on each chain's batch comes in the same pass.
    batched = vmap(loss)
    shared = vmap(loss, in_dims=(0, None, None))  # full batch: every copy sees the same rows
    w_ref = w_star.unsqueeze(0).expand(chains, -1)
    mom = torch.zeros_like(w)
    if sampler == "sgnht":
        mom = torch.randn(w.shape, generator=generator, device=dev, dtype=dt)
        thermo = torch.full((chains, 1), _SGNHT_A, device=dev, dtype=dt)
    alive = torch.ones(chains, 1, dtype=torch.bool, device=dev)
    losses = torch.empty(chains, steps, device=dev, dtype=dt)
    refs = torch.empty(chains, steps, device=dev, dtype=dt)
    full = batch_size >= n
    if full:
        with torch.no_grad():
            ref_full = loss(w_star, x, y).reshape(1).expand(chains)
    for t in track(range(steps), description=description, total=steps, enabled=progress):
        wg = w.requires_grad_(True)
        if full:  # L_n(w*) does not change: evaluate only the chains
            both = torch.cat([shared(wg, x, y), ref_full])
        else:
            # Independent rows with replacement for every chain and step: the gradient noise is
            # then exactly that of a uniform minibatch, whatever the chain did before.
            idx = torch.randint(0, n, (chains, batch_size), generator=generator, device=dev)
            xb, yb = x[idx], y[idx]
            both = batched(torch.cat([wg, w_ref]), torch.cat([xb, xb]), torch.cat([yb, yb]))
        val = both[:chains]
        (g,) = torch.autograd.grad(val.sum(), wg)
        val = val.detach()
        refs[:, t] = both[chains:].detach()
        losses[:, t] = torch.where(alive[:, 0], val, torch.nan)
        drift = nb * g + gam * (w - w_star)
        noise = torch.randn(w.shape, generator=generator, device=dev, dtype=dt)
        if sampler == "sgld":
            new = w - 0.5 * eps * drift + eps.sqrt() * noise
        elif sampler == "sgnht":
            new_mom = (mom - eps * thermo * mom - eps * drift
                       + (2 * _SGNHT_A * eps).sqrt() * noise)
            new = w + eps * new_mom
            thermo = thermo + eps * ((new_mom ** 2).mean(dim=1, keepdim=True) - 1)
            mom = torch.where(alive, new_mom, mom)
        else:
            # V starts at max(drift², 1/ε), not 0: at a minimum the first drift can vanish and a
            # zero V makes the first steps ~1/δ. With ε = c/√a (llc's rule) 1/ε = √a/c is of
            # the order of the equilibrium V ~ a for the curvatures met in practice.
            if t == 0:
                mom = torch.maximum(drift ** 2, (1 / eps).expand_as(drift))
            else:
                mom = _RMS_ALPHA * mom + (1 - _RMS_ALPHA) * drift ** 2
            precond = 1 / (_RMS_DELTA + mom.sqrt())
            new = w - 0.5 * eps * precond * drift + (eps * precond).sqrt() * noise
        alive = alive & torch.isfinite(new).all(dim=1, keepdim=True) & torch.isfinite(
            val).reshape(chains, 1)
        w = torch.where(alive, new, w).detach()
    return ChainRun(losses=losses, ref_losses=refs, final=w)
