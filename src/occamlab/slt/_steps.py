"""One step of each stochastic-gradient MCMC sampler, on a batch of chains (rows of (C, P)).

Every step takes the chains' positions ``w`` (C, P), the drift ``∇U`` (C, P) of the potential
U(w) = nβ·L_B(w) + (γ/2)‖w − w*‖², standard normal noise ``xi`` (C, P) and its per-chain step
size ``eps`` (C, 1), and updates ``w`` and its own state **in place** (``drift`` is scratch,
``xi`` is left as it was). The vectorized driver (:func:`occamlab.slt._samplers.run_chains`)
computes the drift and draws the noise; these classes are only the update rule, written as in
the papers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["SGLD", "SGNHT", "PSGLD", "STEPS"]


class SGLD:
    """Stochastic gradient Langevin dynamics, Welling & Teh 2011 (ICML), eq. 4:

        w ← w − (ε/2)·∇U(w) + √ε·ξ,   ξ ~ N(0, I).
    """

    name = "sgld"

    def init(self, w: torch.Tensor, eps: torch.Tensor, draw: Callable[[], torch.Tensor]) -> dict:
        return {}

    def step(self, w: torch.Tensor, state: dict, drift: torch.Tensor, xi: torch.Tensor,
             eps: torch.Tensor) -> None:
        w.sub_(drift.mul_(0.5 * eps)).addcmul_(xi, eps.sqrt())


# SGNHT's diffusion A (Ding et al. 2014 use A = 1 in their experiments).
_SGNHT_A = 1.0


class SGNHT:
    """Stochastic-gradient Nosé–Hoover thermostat, Ding et al. 2014 (NeurIPS), Algorithm 2:

        p ← p − ε·ζ·p − ε·∇U(w) + √(2Aε)·ξ;   w ← w + ε·p;   ζ ← ζ + ε·(‖p‖²/P − 1),

    with momentum p (C, P) started from N(0, I) and the thermostat ζ (C, 1) from A = 1.
    """

    name = "sgnht"

    def init(self, w: torch.Tensor, eps: torch.Tensor, draw: Callable[[], torch.Tensor]) -> dict:
        return {"p": draw(), "zeta": torch.full_like(eps, _SGNHT_A)}

    def step(self, w: torch.Tensor, state: dict, drift: torch.Tensor, xi: torch.Tensor,
             eps: torch.Tensor) -> None:
        p, zeta = state["p"], state["zeta"]
        kick = (eps * zeta) * p
        p.sub_(kick).sub_(drift.mul_(eps)).addcmul_(xi, (2 * _SGNHT_A * eps).sqrt())
        w.add_(eps * p)
        zeta.add_(eps * (p.square().mean(dim=1, keepdim=True) - 1))


# δ as Li et al. 2016, §5; α = 0.999 instead of their 0.99, so that G is nearly constant along a
# chain, which dropping the Γ term requires (with 0.99, G follows |w − w*| and inflated λ̂ by
# ~25% on a regular model).
_RMS_ALPHA, _RMS_DELTA = 0.999, 1e-5


class PSGLD:
    """RMSprop-preconditioned SGLD, Li et al. 2016 (AAAI), Algorithm 1 without the Γ term:

        V ← α·V + (1 − α)·∇U²;   G = 1/(δ + √V);   w ← w − (ε/2)·G·∇U + √(ε·G)·ξ.

    V starts at max(∇U², 1/ε) on the first step, not 0: at a minimum the first drift can vanish,
    and a zero V makes the first steps ~1/δ. With ε = c/√a (:func:`occamlab.slt.llc`'s rule)
    1/ε = √a/c is of the order of the equilibrium V ~ a.
    """

    name = "rmsprop_sgld"

    def init(self, w: torch.Tensor, eps: torch.Tensor, draw: Callable[[], torch.Tensor]) -> dict:
        return {"v": None}

    def step(self, w: torch.Tensor, state: dict, drift: torch.Tensor, xi: torch.Tensor,
             eps: torch.Tensor) -> None:
        v = state["v"]
        if v is None:
            v = state["v"] = torch.maximum(drift.square(), (1 / eps).expand_as(drift))
        else:
            v.mul_(_RMS_ALPHA).add_(drift.square().mul_(1 - _RMS_ALPHA))
        g = v.sqrt().add_(_RMS_DELTA).reciprocal_()
        w.sub_((0.5 * eps * g).mul_(drift)).addcmul_((eps * g).sqrt_(), xi)


STEPS = {cls.name: cls for cls in (SGLD, SGNHT, PSGLD)}
