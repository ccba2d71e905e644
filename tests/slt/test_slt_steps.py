"""Each sampler's update replayed by hand from the same seeded streams, against its paper's rule."""

import pytest
import torch
from torch import nn

from occamlab._torch import flatten, trainable_params
from occamlab.slt._samplers import chain_generators, make_loss, run_chains
from occamlab.slt._steps import _RMS_ALPHA, _RMS_DELTA, _SGNHT_A


def _problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g, dtype=torch.float64)
    y = torch.randn(64, 2, generator=g, dtype=torch.float64)
    m = nn.Linear(3, 2, dtype=torch.float64)
    params = trainable_params(m)
    return make_loss(m, nn.MSELoss(), params), flatten(params).clone(), x, y


@pytest.mark.parametrize("sampler", ["sgld", "sgnht", "rmsprop_sgld"])
def test_two_steps_replayed_from_the_formula(sampler):
    # Full batch, 2 chains, 2 steps (the second has w ≠ w*, so γ enters). The driver draws, per
    # chain and block, (SGNHT's initial momentum first, then) the block's noise (2, P); the
    # replay draws the same from a fresh copy of each chain's generator. Agreement to 1e-12
    # relative (float64; the driver's vmapped gradient sums in another order than grad's).
    loss, w_star, x, y = _problem()
    nb, gam = 50.0, 3.0
    eps = torch.tensor([1e-3, 2e-3], dtype=torch.float64)
    run = run_chains(loss, w_star, x, y, nbeta=nb, step_size=eps, localization=gam, chains=2,
                     steps=2, batch_size=64, sampler=sampler,
                     generator=chain_generators(7, [(0, 0), (0, 1)]))
    gens = chain_generators(7, [(0, 0), (0, 1)])
    grad = torch.func.grad(lambda w: loss(w, x, y))
    for c in range(2):
        e = float(eps[c])
        p = torch.randn(w_star.numel(), generator=gens[c], dtype=torch.float64) \
            if sampler == "sgnht" else None
        xi = torch.randn((2, w_star.numel()), generator=gens[c], dtype=torch.float64)
        w, zeta, v = w_star.clone(), _SGNHT_A, None
        for t in range(2):
            du = nb * grad(w) + gam * (w - w_star)  # ∇U = nβ∇L + γ(w − w*)
            if sampler == "sgld":  # Welling & Teh 2011, eq. 4
                w = w - e / 2 * du + e ** 0.5 * xi[t]
            elif sampler == "sgnht":  # Ding et al. 2014, Alg. 2
                p = p - e * zeta * p - e * du + (2 * _SGNHT_A * e) ** 0.5 * xi[t]
                w = w + e * p
                zeta = zeta + e * (float((p ** 2).mean()) - 1)
            else:  # Li et al. 2016, Alg. 1 (no Γ), V₀ = max(∇U², 1/ε)
                v = torch.clamp(du ** 2, min=1 / e) if v is None else \
                    _RMS_ALPHA * v + (1 - _RMS_ALPHA) * du ** 2
                gpre = 1 / (_RMS_DELTA + v.sqrt())
                w = w - e / 2 * gpre * du + (e * gpre).sqrt() * xi[t]
        assert torch.allclose(run.final[c], w, rtol=1e-12, atol=1e-15), (sampler, c)


@pytest.mark.parametrize("per_chain", [False, True])
def test_preconditioned_sgld_replayed_from_the_formula(per_chain):
    # SGLD in the coordinates z of w = w* + S·z (a constant metric, Girolami & Calderhead 2011
    # §5): w ← w − (ε/2)·S²·∇U + √ε·S·ξ with the driver's own noise ξ. S symmetric positive
    # definite, shared or one per chain; agreement to 1e-12 relative as above.
    loss, w_star, x, y = _problem()
    p = w_star.numel()
    g = torch.Generator().manual_seed(3)
    a = torch.randn(2, p, p, generator=g, dtype=torch.float64)
    s = a @ a.transpose(1, 2) / p + 0.5 * torch.eye(p, dtype=torch.float64)
    s = s if per_chain else s[0]
    nb, gam = 50.0, 3.0
    eps = torch.tensor([1e-3, 2e-3], dtype=torch.float64)
    run = run_chains(loss, w_star, x, y, nbeta=nb, step_size=eps, localization=gam, chains=2,
                     steps=2, batch_size=64, sampler="sgld", precondition=s,
                     generator=chain_generators(7, [(0, 0), (0, 1)]))
    gens = chain_generators(7, [(0, 0), (0, 1)])
    grad = torch.func.grad(lambda w: loss(w, x, y))
    for c in range(2):
        sc, e = (s[c] if per_chain else s), float(eps[c])
        xi = torch.randn((2, p), generator=gens[c], dtype=torch.float64)
        w = w_star.clone()
        for t in range(2):
            du = nb * grad(w) + gam * (w - w_star)
            w = w - e / 2 * sc @ sc @ du + e ** 0.5 * sc @ xi[t]
        assert torch.allclose(run.final[c], w, rtol=1e-12, atol=1e-15), c


def test_preconditioning_is_for_sgld_only():
    loss, w_star, x, y = _problem()
    with pytest.raises(ValueError, match="precondition is for sampler='sgld'"):
        run_chains(loss, w_star, x, y, nbeta=1.0, step_size=1e-3, localization=1.0, chains=1,
                   steps=1, batch_size=64, sampler="sgnht",
                   precondition=torch.eye(w_star.numel(), dtype=torch.float64),
                   generator=chain_generators(0, [(0, 0)]))
