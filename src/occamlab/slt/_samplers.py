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


class _ModelLoss:
    """``loss(w (P,), x_batch, y_batch) -> scalar``: ``loss_fn`` of ``model`` at flat parameters.

    :meth:`of_params` is the same loss on a dict of parameter tensors; the sampler vmaps it over
    per-parameter views of its chain buffer, so the backward pass has no slicing of a flat
    vector to undo. Weights that the model ties (one tensor under two names) are passed under
    every name, so ``functional_call`` can skip its per-call search for ties.
    """

    def __init__(self, model: nn.Module, loss_fn: Callable, like: dict[str, torch.Tensor]):
        self.model, self.loss_fn = model, loss_fn
        self.like = like
        name_of = {id(p): k for k, p in model.named_parameters() if k in like}
        self.aliases = [(k, name_of[id(p)]) for k, p in
                        model.named_parameters(remove_duplicate=False)
                        if k not in like and id(p) in name_of]

    def split(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of ``w`` (..., P) shaped as the parameters (leading dimensions kept)."""
        return unflatten(w, self.like)

    def of_params(self, params: dict[str, torch.Tensor], xb: torch.Tensor,
                  yb: torch.Tensor) -> torch.Tensor:
        if self.aliases:
            params = {**params, **{a: params[k] for a, k in self.aliases}}
        return self.loss_fn(call(self.model, params, xb, tie_weights=False), yb)

    def __call__(self, w: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return self.of_params(self.split(w), xb, yb)


def make_loss(model: nn.Module, loss_fn: Callable, like: dict[str, torch.Tensor]
              ) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss of one flat parameter vector (P,) on a batch, for use under ``vmap``."""
    return _ModelLoss(model, loss_fn, like)


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


# Steps per block. Minibatch indices and noise are drawn for a block of steps at once (in the
# same order as step by step, so the random stream is unchanged), the reference losses L_B(w*)
# of the whole block come from one batched no-grad forward, and divergence is checked once per
# block. A block holds at most _BLOCK_ELEMS noise or input entries and _BLOCK_ROWS rows.
_MAX_BLOCK, _BLOCK_ELEMS, _BLOCK_ROWS = 16, 1 << 21, 1 << 14


def _block_len(chains: int, n_params: int, rows: int, row_elems: int, steps: int) -> int:
    per_step = max(chains * n_params, chains * rows * row_elems, 1)
    k = min(_MAX_BLOCK, _BLOCK_ELEMS // per_step, _BLOCK_ROWS // max(chains * rows, 1), steps)
    return max(k, 1)


def _run(loss: Callable, w_star: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *,
         nbeta: Any, step_size: Any, localization: Any, chains: int, steps: int,
         batch_size: int, sampler: str, generator: torch.Generator, progress: bool,
         description: str) -> ChainRun:
    n = x.shape[0]
    dev, dt = w_star.device, w_star.dtype
    nb = _per_chain(nbeta, chains, w_star)
    eps = _per_chain(step_size, chains, w_star)
    gam = _per_chain(localization, chains, w_star)
    half_eps = 0.5 * eps
    full = batch_size >= n
    rows = n if full else batch_size
    # w (C, P) is updated in place. The autograd leaves are views of it: one per parameter for
    # a model (the backward then writes each parameter's gradient directly, with no slicing of
    # a flat vector to undo), or w itself for a plain loss of a flat vector.
    w = w_star.unsqueeze(0).repeat(chains, 1)
    if isinstance(loss, _ModelLoss):
        # split along dim 1 of a contiguous (C, P) buffer: every reshape is a view, never a copy
        leaves = {k: v.requires_grad_(True) for k, v in loss.split(w).items()}
        fn, at_star = loss.of_params, loss.split(w_star)
    else:
        leaves = {"w": w.view(chains, -1).requires_grad_(True)}
        fn, at_star = (lambda p, xb, yb: loss(p["w"], xb, yb)), {"w": w_star}
    leaf_list = list(leaves.values())
    grad = torch.empty_like(w)
    chain_loss = vmap(fn, in_dims=(0, None, None) if full else (0, 0, 0))
    ref_loss = vmap(fn, in_dims=(None, 0, 0))  # w* shared: one plain forward of all rows
    if sampler == "sgnht":
        mom = torch.randn(w.shape, generator=generator, device=dev, dtype=dt)
        thermo = torch.full((chains, 1), _SGNHT_A, device=dev, dtype=dt)
        noise_scale = (2 * _SGNHT_A * eps).sqrt()
    else:
        mom = torch.zeros_like(w)
        thermo = None
        noise_scale = eps.sqrt() if sampler == "sgld" else None
    losses = torch.empty(chains, steps, device=dev, dtype=dt)
    refs = torch.empty(chains, steps, device=dev, dtype=dt)
    if full:
        with torch.no_grad():
            refs[:] = loss(w_star, x, y)  # L_n(w*) does not change: evaluate only the chains
    row_elems = (x[0].numel() + y[0].numel()) if not full else 0
    block = _block_len(chains, w.shape[1], rows, row_elems, steps)
    noise_buf = torch.empty(block, chains, w.shape[1], device=dev, dtype=dt)
    idx_buf = None if full else torch.empty(block, chains, rows, dtype=torch.long, device=dev)
    # alive is None while every chain is finite: the fast path updates w in place and checks
    # once per block. A block that ends non-finite is replayed from its start with the checks
    # of every step (a non-finite chain frozen at its last value, NaN losses from then on); a
    # non-finite coordinate stays non-finite under every update below, so the end of a block
    # shows whether any step in it went non-finite.
    alive: torch.Tensor | None = None

    def step(t: int, xb: Any, yb: Any, noise: torch.Tensor) -> None:
        nonlocal mom, thermo, alive
        val = chain_loss(leaves, xb, yb)
        grads = torch.autograd.grad(val.sum(), leaf_list, allow_unused=True)
        torch.cat([(torch.zeros_like(v) if g is None else g).reshape(chains, -1)  # None: unused
                   for g, v in zip(grads, leaf_list, strict=True)], dim=1, out=grad)
        with torch.no_grad():
            val = val.detach()
            losses[:, t] = val if alive is None else torch.where(alive[:, 0], val, torch.nan)
            drift = torch.mul(nb, grad)
            drift.add_((w - w_star).mul_(gam))
            new = w if alive is None else w.clone()
            if sampler == "sgld":
                new.sub_(drift.mul_(half_eps)).add_(noise)
            elif sampler == "sgnht":
                new_mom = mom if alive is None else mom.clone()
                new_mom.sub_(eps * thermo * mom).sub_(drift.mul_(eps)).add_(noise)
                new.add_(eps * new_mom)
                thermo = thermo + eps * (new_mom.square().mean(dim=1, keepdim=True) - 1)
                if alive is not None:
                    mom = torch.where(alive, new_mom, mom)
            else:
                # V starts at max(drift², 1/ε), not 0: at a minimum the first drift can vanish
                # and a zero V makes the first steps ~1/δ. With ε = c/√a (llc's rule) 1/ε = √a/c
                # is of the order of the equilibrium V ~ a for the curvatures met in practice.
                if t == 0:
                    mom = torch.maximum(drift.square(), (1 / eps).expand_as(drift))
                else:
                    mom.mul_(_RMS_ALPHA).add_(drift.square().mul_(1 - _RMS_ALPHA))
                precond = mom.sqrt().add_(_RMS_DELTA).reciprocal_()
                new.sub_((half_eps * precond).mul_(drift)).add_(
                    (eps * precond).sqrt_().mul_(noise))
            if alive is not None:
                alive = alive & torch.isfinite(new).all(dim=1, keepdim=True) & torch.isfinite(
                    val).reshape(chains, 1)
                w.copy_(torch.where(alive, new, w))

    t0 = pending = 0
    for t in track(range(steps), description=description, total=steps, enabled=progress):
        if t == t0 + pending:  # a new block: draw its randomness, L_B(w*) of all its steps
            t0, pending = t, min(block, steps - t)
            for j in range(pending):  # the order of step-by-step draws: indices, then noise
                if not full:
                    torch.randint(0, n, (chains, rows), generator=generator, out=idx_buf[j])
                torch.randn(w.shape, generator=generator, out=noise_buf[j])
            noise = noise_buf[:pending]
            if noise_scale is not None:
                noise.mul_(noise_scale)
            if not full:
                idx = idx_buf[:pending]
                xs, ys = x[idx], y[idx]
                with torch.no_grad():
                    refs[:, t0:t0 + pending] = ref_loss(
                        at_star, xs.flatten(0, 1), ys.flatten(0, 1)).reshape(pending, chains).T
            saved = None if alive is not None else (w.clone(), mom.clone(), thermo)
        k = t - t0
        if full:
            step(t, x, y, noise[k])
        else:
            step(t, xs[k], ys[k], noise[k])
        if k == pending - 1 and saved is not None:
            span = slice(t0, t0 + pending)
            if not (bool(torch.isfinite(w).all()) and bool(torch.isfinite(losses[:, span]).all())):
                with torch.no_grad():
                    w.copy_(saved[0])
                    mom.copy_(saved[1])
                thermo = saved[2]
                alive = torch.ones(chains, 1, dtype=torch.bool, device=dev)
                for j in range(pending):
                    step(t0 + j, *((x, y) if full else (xs[j], ys[j])), noise[j])
    return ChainRun(losses=losses, ref_losses=refs, final=w.detach().clone())
