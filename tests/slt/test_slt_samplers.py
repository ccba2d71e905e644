"""The vectorized sampler loop: chain independence, divergence handling, parameter plumbing."""

from __future__ import annotations

import pytest
import torch
from _slt_helpers import fit_least_squares
from torch import nn

from occamlab._torch import flatten, trainable_params
from occamlab.slt._samplers import SAMPLERS, chain_generators, make_loss, run_chains
from occamlab.tasks import linear_teacher


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_diverging_chain_frozen_and_others_bit_identical(sampler):
    # Chains are independent rows: chain 2's step size must not change chains 0, 1, 3 by a
    # single bit, whether chain 2 stays finite (no per-step checks) or diverges mid-run (its
    # block is replayed with per-step checks). 70 steps span several blocks of the loop.
    t = linear_teacher(400, 3, seed=1)
    m = fit_least_squares(t)
    params = trainable_params(m)
    loss = make_loss(m, t.loss(), params)
    w_star = flatten(params)
    # pSGLD's steps are ~ε/2 per coordinate whatever the gradient: it needs ε ~ 1e200 to overflow
    big = 1e200 if sampler == "rmsprop_sgld" else 10.0

    def run(eps2):
        eps = torch.tensor([1e-4, 1e-4, eps2, 1e-4], dtype=w_star.dtype)
        return run_chains(loss, w_star, t.x, t.y, nbeta=100.0, step_size=eps, localization=1.0,
                          chains=4, steps=70, batch_size=50, sampler=sampler,
                          generator=torch.Generator().manual_seed(3))

    calm, wild = run(1e-4), run(big)
    others = [0, 1, 3]
    assert torch.equal(calm.losses[others], wild.losses[others])
    assert torch.equal(calm.final[others], wild.final[others])
    assert torch.equal(calm.ref_losses, wild.ref_losses)  # L_B(w*) does not depend on ε
    lost = torch.isnan(wild.losses[2])
    first = int(lost.nonzero()[0]) if lost.any() else None
    assert first is not None and 0 < first < 70, "chain 2 should diverge mid-run"
    assert not lost[:first].any() and lost[first:].all()  # NaN from the divergence on
    assert torch.isfinite(wild.final[2]).all()  # frozen at its last finite position
    assert torch.isfinite(calm.losses).all()


class _TiedWithSpare(nn.Module):
    """x ↦ A·(A·x): one matrix used twice (tied under two names), plus an unused parameter."""

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(3, 3, bias=False, dtype=torch.float64)
        self.second = nn.Linear(3, 3, bias=False, dtype=torch.float64)
        self.second.weight = self.first.weight
        self.spare = nn.Parameter(torch.zeros(2, dtype=torch.float64))

    def forward(self, x):
        return self.second(self.first(x))


def test_tied_weights_and_unused_parameter():
    torch.manual_seed(0)
    m = _TiedWithSpare()
    params = trainable_params(m)
    assert sorted(params) == ["first.weight", "spare"]  # the tie is one parameter
    x = torch.randn(64, 3, dtype=torch.float64)
    y = torch.randn(64, 3, dtype=torch.float64)
    loss = make_loss(m, nn.MSELoss(), params)
    a = torch.randn(3, 3, dtype=torch.float64)
    parts = {"first.weight": a.reshape(-1), "spare": torch.ones(2, dtype=torch.float64)}
    w = torch.cat([parts[k] for k in params])
    # Independent computation: the tied matrix enters both layers.
    assert float(loss(w, x, y)) == pytest.approx(float(((x @ a.T @ a.T - y) ** 2).mean()),
                                                 rel=1e-12)
    run = run_chains(loss, flatten(params), x, y, nbeta=10.0, step_size=1e-3,
                     localization=1.0, chains=2, steps=20, batch_size=16, sampler="sgld",
                     generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(run.losses).all() and torch.isfinite(run.final).all()
    # The unused parameter feels only localization and noise: it moves, and stays near 0.
    at = 0 if list(params)[0] == "spare" else 9
    spare = run.final[:, at:at + 2]
    assert (spare != 0).all() and spare.abs().max() < 1.0  # √(20·ε) ≈ 0.14 spread


def test_a_chain_does_not_depend_on_how_many_run_beside_it():
    # Chains keyed by (checkpoint, chain) draw the same indices and noise with 2 or 12 chains
    # running, so their traces and positions are bit-identical (the blocks of pre-drawn
    # randomness have a length that does not depend on the number of chains).
    t = linear_teacher(3000, 4, seed=2)
    m = fit_least_squares(t)
    params = trainable_params(m)
    loss = make_loss(m, t.loss(), params)

    def run(chains):
        gens = chain_generators(5, [(0, j) for j in range(chains)])
        return run_chains(loss, flatten(params), t.x, t.y, nbeta=50.0, step_size=1e-4,
                          localization=1.0, chains=chains, steps=40, batch_size=512,
                          sampler="sgld", generator=gens)

    few, many = run(2), run(12)
    assert torch.equal(few.losses, many.losses[:2]) and torch.equal(few.final, many.final[:2])
