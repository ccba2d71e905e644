"""The vectorized driver of stochastic-gradient MCMC: many chains advanced in one computation.

Chains are rows of one tensor of flattened parameters, shape (C, P). Every step evaluates all
chains' minibatch losses and gradients in one computation, each chain on its own minibatch:
batched matrix products for a Sequential of Linear layers and pointwise activations
(:mod:`occamlab.slt._stacked`), ``torch.func.vmap`` over ``functional_call`` and one backward
for any other model. The target is the localized, tempered
posterior of Lau et al. (arXiv 2308.12108, eq. 6):

    p(w) ∝ exp(−nβ·L_n(w) − (γ/2)·‖w − w*‖²),

whose potential U has gradient ``nβ·∇L_B(w) + γ(w − w*)`` with ∇L_B the minibatch gradient.
Step size ε, localization γ, nβ, the centre w* and even the targets may differ per chain, which
is how calibration sweeps a grid and how many checkpoints of one architecture are sampled in
one run. The update rules themselves are in :mod:`occamlab.slt._steps` (SGLD, SGNHT, pSGLD).

Each chain draws its minibatches and noise from its own generator, so a chain's path does not
depend on how many other chains run beside it, and a run can be continued (``state=``) or
narrowed to a subset of its chains between calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import vmap

from occamlab._progress import track
from occamlab._torch import call, num_threads, unflatten
from occamlab.slt._stacked import Stack
from occamlab.slt._steps import STEPS

__all__ = ["SAMPLERS", "ChainRun", "ChainState", "chain_generators", "make_loss", "run_chains"]

SAMPLERS = tuple(STEPS)


class _ModelLoss:
    """``loss(w (P,), x_batch, y_batch) -> scalar``: ``loss_fn`` of ``model`` at flat parameters.

    :meth:`of_params` is the same loss on a dict of parameter tensors; the sampler vmaps it over
    per-parameter views of its chain buffer, so the backward pass has no slicing of a flat
    vector to undo. Weights that the model ties (one tensor under two names) are passed under
    every name. Parameters not in ``like`` (frozen ones) keep the model's own values.
    ``stack`` is the model's :class:`~occamlab.slt._stacked.Stack` when it is a Sequential of
    Linear layers and pointwise activations (the sampler's fast path), else None.
    """

    def __init__(self, model: nn.Module, loss_fn: Callable, like: dict[str, torch.Tensor]):
        self.model, self.loss_fn = model, loss_fn
        self.like = like
        name_of = {id(p): k for k, p in model.named_parameters() if k in like}
        self.aliases = [(k, name_of[id(p)]) for k, p in
                        model.named_parameters(remove_duplicate=False)
                        if k not in like and id(p) in name_of]
        self.complete = len(like) + len(self.aliases) == len(
            list(model.named_parameters(remove_duplicate=False)))
        self.stack = Stack.of(model, loss_fn, like)

    def split(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of ``w`` (..., P) shaped as the parameters (leading dimensions kept)."""
        return unflatten(w, self.like)

    def of_params(self, params: dict[str, torch.Tensor], xb: torch.Tensor,
                  yb: torch.Tensor) -> torch.Tensor:
        if self.aliases:
            params = {**params, **{a: params[k] for a, k in self.aliases}}
        return self.loss_fn(call(self.model, params, xb, tie_weights=not self.complete), yb)

    def __call__(self, w: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return self.of_params(self.split(w), xb, yb)


def make_loss(model: nn.Module, loss_fn: Callable, like: dict[str, torch.Tensor]
              ) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss of one flat parameter vector (P,) on a batch, for use under ``vmap``."""
    return _ModelLoss(model, loss_fn, like)


_U64 = (1 << 64) - 1


def chain_generators(seed: int, keys: Sequence[tuple[int, ...]],
                     device: torch.device | str = "cpu") -> list[torch.Generator]:
    """One generator per key, seeded from ``(seed, *key)`` (NumPy's ``SeedSequence``).

    Keys such as ``(checkpoint, chain)`` make every chain's random stream a function of its own
    identity only, not of how many chains run with it.
    """
    gens = []
    for key in keys:
        words = [int(v) & _U64 for v in (seed, *key)]  # negative keys: calibration streams
        s = int(np.random.SeedSequence(words).generate_state(1, np.uint64)[0])
        gens.append(torch.Generator(device=device).manual_seed(s & ((1 << 63) - 1)))
    return gens


@dataclass
class ChainState:
    """Where a set of chains stands: positions (C, P), the sampler's state, their generators."""

    w: torch.Tensor
    extra: dict[str, Any]
    generators: list[torch.Generator]
    steps: int = 0

    def select(self, rows: Sequence[int]) -> ChainState:
        """The state of a subset of the chains (their generators continue their streams)."""
        idx = torch.as_tensor(list(rows), dtype=torch.long, device=self.w.device)
        extra = {k: (None if v is None else v[idx]) for k, v in self.extra.items()}
        return ChainState(self.w[idx], extra, [self.generators[i] for i in rows], self.steps)


@dataclass
class ChainRun:
    """Raw output of :func:`run_chains` (tensors on the data's device).

    ``losses`` and ``ref_losses`` are (C, T): the minibatch loss L_B(w_t) at the start of step t
    and L_B(w*) on the same minibatch. ``final`` is (C, P), the chains' last positions;
    ``state`` continues the run; ``positions`` (C, T // record_every, P) when recorded.
    """

    losses: torch.Tensor
    ref_losses: torch.Tensor
    final: torch.Tensor
    state: ChainState
    positions: torch.Tensor | None = field(default=None)


def _per_chain(v: float | torch.Tensor, chains: int, like: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(v, dtype=like.dtype, device=like.device)
    return t.expand(chains).reshape(chains, 1).clone() if t.ndim == 0 else t.reshape(chains, 1)


# Below this many multiply-adds per step (chains × rows × parameters), torch's intra-op threads
# cost more than they save (each multithreaded op pays a barrier).
_SMALL_STEP = 10_000_000


def run_chains(loss: Callable, centers: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *,
               nbeta: float | torch.Tensor, step_size: float | torch.Tensor,
               localization: float | torch.Tensor, chains: int, steps: int, batch_size: int,
               sampler: str, generator: torch.Generator | Sequence[torch.Generator],
               groups: torch.Tensor | None = None, state: ChainState | None = None,
               precondition: torch.Tensor | None = None, own_targets: bool = False,
               record_every: int | None = None, progress: bool = False,
               description: str = "sampling") -> ChainRun:
    """Advance ``chains`` chains for ``steps`` steps, all in one batched computation per step.

    Arguments:
        loss: ``loss(w (P,), x_batch, y_batch) -> scalar`` (see :func:`make_loss`).
        centers: (P,) the w* every chain is localized at and starts from, or (C, P) one per chain.
        x: the full data (n, ...).  y: targets (n, ...), or (G, n, ...) with ``groups``.
        nbeta, step_size, localization: scalars or (C,) tensors, one value per chain.
        chains: C.  steps: T.  batch_size: B, rows per chain per step (B = n: full batch).
        sampler: one of :data:`SAMPLERS`.
        generator: one generator per chain, or one generator that seeds a generator per chain.
        groups: (C,) which target set of ``y`` each chain uses (``y`` of shape (G, n, ...)).
        state: continue from an earlier run's ``state`` (positions, sampler state, generators).
        precondition: SGLD only: a symmetric positive-definite S, (P, P) for every chain or
            (C, P, P) one per chain. The chains then run SGLD in the coordinates z of
            w = w* + S·z (Girolami & Calderhead 2011, JRSS B 73(2), §5, with a constant metric):
            w ← w − (ε/2)·S²·∇U(w) + √ε·S·ξ, which leaves the same posterior invariant.
        own_targets: the targets of each chain are its centre's own outputs on ``x`` (a
            relabelled checkpoint). A Linear-only stack with a squared-error loss then takes
            its residuals from the difference of the composite maps, (P − P*)·x + (q − q*),
            instead of gathering targets, and L_B(w*) = 0.
        record_every: also keep the positions after every k-th step.

    Returns:
        A :class:`ChainRun`. A chain that becomes non-finite is frozen at its last value (NaN
        losses recorded from then on), so it cannot spread NaN into the others.
    """
    work = chains * min(batch_size, x.shape[0]) * centers.shape[-1]
    small = centers.device.type == "cpu" and work < _SMALL_STEP
    if state is None:
        if isinstance(generator, torch.Generator):
            seeds = torch.randint(0, 2 ** 62, (chains,), generator=generator,
                                  device=generator.device).tolist()
            gens = [torch.Generator(device=centers.device).manual_seed(s) for s in seeds]
        else:
            gens = list(generator)
        if len(gens) != chains:
            raise ValueError(f"got {len(gens)} generators for {chains} chains")
        w0 = (centers.unsqueeze(0).expand(chains, -1) if centers.ndim == 1 else centers).clone()
        state = ChainState(w0.contiguous(), {}, gens)
    if precondition is not None and sampler != "sgld":
        raise ValueError(f"precondition is for sampler='sgld', not {sampler!r} (rmsprop_sgld "
                         f"adapts its own)")
    with num_threads(1 if small else torch.get_num_threads()):
        return _run(loss, centers, x, y, nbeta=nbeta, step_size=step_size,
                    localization=localization, chains=chains, steps=steps,
                    batch_size=batch_size, sampler=sampler, groups=groups, state=state,
                    precondition=precondition, own_targets=own_targets,
                    record_every=record_every, progress=progress, description=description)


# Steps per block. Minibatch indices and noise are drawn for a block of steps at once, the
# reference losses L_B(w*) of the whole block come from one batched no-grad forward, and
# divergence is checked once per block. A block holds at most _BLOCK_ELEMS noise or input
# entries and _BLOCK_ROWS rows per chain. The length does not depend on the number of chains:
# a chain's random stream (a block's indices, then its noise) is then the same whatever else
# runs beside it.
_MAX_BLOCK, _BLOCK_ELEMS, _BLOCK_ROWS = 16, 1 << 19, 1 << 12
# Input and target entries of all chains gathered at once (a chunk of a block's steps).
_CHUNK_ELEMS = 1 << 18


def _block_len(n_params: int, rows: int, row_elems: int, steps: int) -> int:
    per_step = max(n_params, rows * row_elems, 1)
    return max(min(_MAX_BLOCK, _BLOCK_ELEMS // per_step, _BLOCK_ROWS // max(rows, 1), steps), 1)


def _ref_table(stack: Stack, split: Callable, centers: torch.Tensor, x: torch.Tensor,
               y: torch.Tensor, groups: torch.Tensor | None, chains: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Every row's loss at each distinct (w*, target set) of the chains, flat (U·n,), and each
    chain's offset into it (C, 1, 1): L_B(w*) of a loss that is a mean over rows is then the
    mean of the table over the minibatch's indices."""
    n = x.shape[0]
    if centers.ndim == 1 and groups is None:
        table = stack.row_losses(split(centers), x, y, False)
        return table, torch.zeros(1, 1, 1, dtype=torch.long, device=x.device)
    per = centers.expand(chains, -1) if centers.ndim == 1 else centers
    keys = per if groups is None else torch.cat([per, groups.to(per.dtype).unsqueeze(1)], 1)
    uniq, inverse = torch.unique(keys, dim=0, return_inverse=True)
    w = uniq[:, :per.shape[1]].contiguous()
    ys = y if groups is None else y[uniq[:, -1].long()]
    table = stack.row_losses(split(w), x, ys, groups is not None)
    return table.reshape(-1), (inverse * n).reshape(-1, 1, 1)


def _clone_extra(extra: dict) -> dict:
    return {k: (None if v is None else v.clone()) for k, v in extra.items()}


def _run(loss: Callable, centers: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *,
         nbeta: Any, step_size: Any, localization: Any, chains: int, steps: int,
         batch_size: int, sampler: str, groups: torch.Tensor | None, state: ChainState,
         precondition: torch.Tensor | None, own_targets: bool, record_every: int | None,
         progress: bool, description: str) -> ChainRun:
    n = x.shape[0]
    dev, dt = centers.device, centers.dtype
    rule = STEPS[sampler]()
    nb = _per_chain(nbeta, chains, centers)
    eps = _per_chain(step_size, chains, centers)
    gam = _per_chain(localization, chains, centers)
    full = batch_size >= n
    rows = n if full else batch_size
    shared = centers.ndim == 1
    gens = state.generators
    w = state.w
    n_params = w.shape[1]
    if not state.extra and state.steps == 0:
        state.extra = rule.init(w, eps, lambda: torch.stack(
            [torch.randn(n_params, generator=g, device=dev, dtype=dt) for g in gens]))
    # A stack of Linear layers and activations takes its gradients by batched products
    # (occamlab.slt._stacked): views of w and of grad (C, P) per parameter, no autograd leaves.
    stack = getattr(loss, "stack", None) if x.ndim == 2 and x.is_floating_point() else None
    if stack is not None:
        stack = stack.for_targets(y, tuple(y.shape[1 if groups is None else 2:]))
    # Otherwise the autograd leaves are views of w (C, P): one per parameter for a model (the
    # backward then writes each parameter's gradient directly), or w itself for a flat loss.
    if isinstance(loss, _ModelLoss):
        fn, split = loss.of_params, loss.split
        leaves = loss.split(w)
        if stack is None:
            leaves = {k: v.requires_grad_(True) for k, v in leaves.items()}
    else:
        leaves = {"w": w.view(chains, -1).requires_grad_(True)}
        fn, split = (lambda p, xb, yb: loss(p["w"], xb, yb)), (lambda v: {"w": v})
    at_star = split(centers)
    leaf_list = list(leaves.values())
    grad = torch.zeros_like(w)  # parameters that no layer uses keep a zero gradient
    metric = None if precondition is None else precondition @ precondition  # S², symmetric
    grads = None if stack is None else split(grad)
    y_dim = None if groups is None else 0
    y_full = y if groups is None else y[groups]  # (C, n, ...) per chain in full-batch mode
    x_all = x.T if stack is not None else x  # every row, as the step takes them
    if groups is not None and not full:  # the rows of every target set, one after another
        y_rows, y_offset = y.flatten(0, 1), (groups * n).reshape(-1, 1, 1)
    chain_loss = vmap(fn, in_dims=(0, None, y_dim) if full else (0, 0, 0))
    if shared and groups is None:  # w* shared: one plain forward of all rows of a block
        ref_loss = vmap(fn, in_dims=(None, 0, 0))
    else:  # per chain (its own w* or targets), and per step inside it
        ref_loss = vmap(vmap(fn, in_dims=(None, 0, 0)), in_dims=(None if shared else 0, 0, 0))
    losses = torch.empty(chains, steps, device=dev, dtype=dt)
    refs = torch.empty(chains, steps, device=dev, dtype=dt)
    if full:
        with torch.no_grad():
            if shared and groups is None:
                refs[:] = loss(centers, x, y)  # L_n(w*) does not change
            else:
                refs[:] = vmap(fn, in_dims=(None if shared else 0, None, y_dim))(
                    at_star, x, y_full).reshape(chains, 1)
    # Own targets of a collapsed Linear stack: residuals from the maps, no targets gathered.
    resid = own_targets and not full and stack is not None and stack.takes_residuals
    star_map = stack.affine_map(at_star) if resid else None  # (P*, q*), fixed for the run
    # (the targets still count in the block's length: the random streams do not depend on it)
    row_elems = (x[0].numel() + y[0].numel() // (1 if groups is None else n)) if not full else 0
    block = _block_len(n_params, rows, row_elems, steps)
    noise_buf = torch.empty(chains, block, n_params, device=dev, dtype=dt)
    idx_buf = None if full else torch.empty(chains, block, rows, dtype=torch.long, device=dev)
    # L_B(w*) of a closed-form loss of a Linear stack is the mean of its rows' losses at w*: a
    # table of every row's loss at each distinct centre, read at the minibatch's indices, when a
    # chain's run evaluates at least n rows (otherwise the minibatches' own forward at w*).
    table = offset = None
    if (stack is not None and stack.form is not None and not full and not resid
            and steps * rows >= n):
        with torch.no_grad():
            table, offset = _ref_table(stack, split, centers, x, y, groups, chains)
    # The rows of a block are gathered into reused buffers; with a forward at w*, in chunks of
    # steps small enough for its temporaries to stay in cache (one step for many chains).
    chunk = block if table is not None or resid else max(1, min(
        block, _CHUNK_ELEMS // max(chains * rows * row_elems, 1)))
    y_row = y.shape[1 if groups is None else 2:]
    # The stack takes its inputs feature-major (C, in, B): they are gathered one input feature at
    # a time, and so are its targets when they are vectors (each feature a table of its own is
    # more cache-friendly than rows; the targets are then a (C, ..., B, width) view).
    x_cols = x.T.contiguous() if stack is not None and not full else None
    y_src = None if full else (y if groups is None else y_rows)
    y_cols = (y_src.T.contiguous() if x_cols is not None and len(y_row) == 1 and not resid
              else None)
    m_max = chains * chunk * rows
    x_buf = None if full else (x.new_empty(x.shape[1], m_max) if x_cols is not None
                               else x.new_empty(m_max, *x.shape[1:]))
    y_buf = None if full or resid else (y.new_empty(y_row[0], m_max) if y_cols is not None
                                        else y.new_empty(m_max, *y_row))

    def rows_of(j0: int, j1: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Steps j0..j1 of the block: every chain's minibatch, inputs (C, j1 − j0, B, ...) or
        feature-major for the stack (C, j1 − j0, in, B), targets (C, j1 − j0, B, ...)."""
        idx = idx_buf[:, j0:j1]
        shape, m, flat = idx.shape, idx.numel(), idx.reshape(-1)
        if x_cols is not None:
            for j in range(x_cols.shape[0]):
                torch.index_select(x_cols[j], 0, flat, out=x_buf[j, :m])
            xs = x_buf[:, :m].view(-1, *shape).permute(1, 2, 0, 3)
        else:
            xs = torch.index_select(x, 0, flat, out=x_buf[:m]).view(*shape, *x.shape[1:])
        if resid:
            return xs, None
        if groups is not None:
            flat = (idx + y_offset).reshape(-1)
        if y_cols is not None:
            for j in range(y_cols.shape[0]):
                torch.index_select(y_cols[j], 0, flat, out=y_buf[j, :m])
            return xs, y_buf[:, :m].view(-1, *shape).permute(1, 2, 3, 0)
        return xs, torch.index_select(y_src, 0, flat, out=y_buf[:m]).view(*shape, *y_row)

    kept = [] if record_every else None
    # alive is None while every chain is finite: the fast path updates w in place and checks
    # once per block. A block that ends non-finite is replayed from its start with the checks
    # of every step (a non-finite chain frozen at its last value, NaN losses from then on); a
    # non-finite coordinate stays non-finite under every update, so the block end tells.
    alive: torch.Tensor | None = None

    def step(t: int, xb: Any, yb: Any, xi: torch.Tensor) -> None:
        nonlocal alive
        if stack is not None:
            val = stack.loss_and_grad(leaves, xb, yb, grads,
                                      y_batched=not full or groups is not None,
                                      star=star_map)
        else:
            val = chain_loss(leaves, xb, yb)
            gs = torch.autograd.grad(val.sum(), leaf_list, allow_unused=True)
            torch.cat([(torch.zeros_like(v) if g is None else g).reshape(chains, -1)  # unused
                       for g, v in zip(gs, leaf_list, strict=True)], dim=1, out=grad)
        with torch.no_grad():
            val = val.detach()
            losses[:, t] = val if alive is None else torch.where(alive[:, 0], val, torch.nan)
            drift = torch.mul(nb, grad)
            drift.add_((w - centers).mul_(gam))
            if metric is not None:
                drift = torch.matmul(drift.unsqueeze(1), metric).squeeze(1)
            if alive is None:
                rule.step(w, state.extra, drift, xi, eps)
            else:
                new, extra = w.clone(), _clone_extra(state.extra)
                rule.step(new, extra, drift, xi, eps)
                alive = alive & torch.isfinite(new).all(dim=1, keepdim=True) & torch.isfinite(
                    val).reshape(chains, 1)
                w.copy_(torch.where(alive, new, w))
                for k, v in extra.items():
                    old = state.extra[k]
                    state.extra[k] = v if old is None else torch.where(alive, v, old)
            if kept is not None and (state.steps + t + 1) % record_every == 0:
                kept.append(w.detach().clone())

    t0 = pending = c0 = span = 0
    xs = ys = noise = None
    for t in track(range(steps), description=description, total=steps, enabled=progress):
        if t == t0 + pending:  # a new block: draw its randomness
            t0, pending = t, min(block, steps - t)
            for c, g in enumerate(gens):  # each chain from its own stream: indices, then noise
                if not full:
                    torch.randint(0, n, (pending, rows), generator=g, out=idx_buf[c, :pending])
                torch.randn((pending, n_params), generator=g, out=noise_buf[c, :pending])
            noise = noise_buf[:, :pending]
            if precondition is not None:  # S·ξ (S symmetric), for the whole block at once
                noise = torch.matmul(noise, precondition)
            saved = None if alive is not None else (w.clone(), _clone_extra(state.extra),
                                                    None if kept is None else len(kept))
        if not full and t == c0 + span:  # a new chunk: its rows, L_B(w*) of all its steps
            c0, span = t, min(chunk, t0 + pending - t)
            xs, ys = rows_of(t - t0, t - t0 + span)
            with torch.no_grad():
                if resid:  # the targets are the outputs at w*
                    refs[:, c0:c0 + span] = 0
                elif table is not None:
                    idx = idx_buf[:, t - t0:t - t0 + span] + offset
                    refs[:, c0:c0 + span] = table.index_select(0, idx.reshape(-1)).view(
                        idx.shape).mean(dim=-1)
                elif stack is not None:  # all rows of the chunk in one batched forward
                    refs[:, c0:c0 + span] = stack.block_losses(at_star, xs, ys)
                elif shared and groups is None:
                    refs[:, c0:c0 + span] = ref_loss(
                        at_star, xs.flatten(0, 1), ys.flatten(0, 1)).reshape(chains, span)
                else:
                    refs[:, c0:c0 + span] = ref_loss(at_star, xs, ys)
        k = t - t0
        if full:
            step(t, x_all, y_full, noise[:, k])
        else:
            step(t, xs[:, t - c0], None if ys is None else ys[:, t - c0], noise[:, k])
        if k == pending - 1 and saved is not None:
            done = slice(t0, t0 + pending)
            if not (bool(torch.isfinite(w).all()) and bool(torch.isfinite(losses[:, done]).all())):
                with torch.no_grad():
                    w.copy_(saved[0])
                state.extra = saved[1]
                if kept is not None:
                    del kept[saved[2]:]
                alive = torch.ones(chains, 1, dtype=torch.bool, device=dev)
                for j in range(pending):
                    xy = (x_all, y_full) if full else tuple(
                        None if v is None else v[:, 0] for v in rows_of(j, j + 1))
                    step(t0 + j, *xy, noise[:, j])
    if stack is None:
        for v in leaf_list:
            v.requires_grad_(False)
    state.steps += steps
    positions = torch.stack(kept, dim=1) if kept else None
    return ChainRun(losses=losses, ref_losses=refs, final=w.detach().clone(), state=state,
                    positions=positions)
