"""Fast sums over a spectrum for many κ at once: Σ mλ/(λ+κ) and its relatives.

The eigenlearning equations need, for every κ, sums over all modes of rational functions of
λ/(λ+κ). Evaluating them directly costs (modes × κ values) per Newton step; for a million modes
and a hundred sample sizes that is 10⁸ divisions per step. Instead, modes are grouped in narrow
geometric bins (λ within a factor √ρ of the bin centre c), and each sum is expanded around c:

    1/(λ+κ) = Σ_j (−1)^j (λ−c)^j / (c+κ)^{j+1},   |λ−c|/(c+κ) ≤ √ρ − 1 ≈ 0.049,

which converges geometrically for every κ > 0, so J = 14 terms give ~1e-16 relative accuracy.
The moments Σ mλ(λ−c)^j per bin are computed once; each κ then costs (bins × J) operations.
"""

from __future__ import annotations

import math

import torch

_RHO = 1.1
_TERMS = 14
# Below this many levels the direct sum is as cheap as the moments.
_DIRECT_MAX = 4096
_BLOCK = 1 << 22


class SpectrumSums:
    """Sums over levels (λᵢ > 0 or = 0, multiplicity mᵢ, target power pᵢ) as functions of κ.

    ``s1(κ) = Σ mᵢ rᵢ``, ``s2(κ) = Σ mᵢ rᵢ(1−rᵢ)``, ``sq(κ) = Σ mᵢ rᵢ²`` and
    ``miss(κ) = Σ pᵢ (1−rᵢ)²`` with ``rᵢ = λᵢ/(λᵢ+κ)``; κ is a (B,) tensor.
    """

    def __init__(self, lam: torch.Tensor, mult: torch.Tensor,
                 power: torch.Tensor | None = None, *, direct: bool | None = None):
        pos = lam > 0
        self.zero_power = 0.0 if power is None else float(power[~pos].sum())
        self.lam, self.mult = lam[pos], mult[pos]
        self.power = None if power is None else power[pos]
        self.direct = lam.shape[0] <= _DIRECT_MAX if direct is None else direct
        if not self.direct:
            self._moments()

    def _moments(self) -> None:
        lam = self.lam
        lmax = float(lam.max())
        b = torch.floor((math.log(lmax) - lam.log()) / math.log(_RHO)).long().clamp_min(0)
        self.nb = int(b.max()) + 1
        self.centre = lmax * _RHO ** (-(torch.arange(self.nb, dtype=lam.dtype,
                                                       device=lam.device) + 0.5))
        self.bins, self.dev = b, lam - self.centre[b]
        self.mom: dict[str, torch.Tensor] = {}

    def _moment(self, key: str) -> torch.Tensor:
        """(J, bins) moments Σ_{i∈bin} wᵢ(λᵢ − c)^j of the weights of ``key``, computed once."""
        if key not in self.mom:
            w = {"E": lambda: self.mult * self.lam,
                 "F": lambda: self.mult * self.lam * self.lam,
                 "P": lambda: self.power}[key]()
            out = torch.zeros(_TERMS, self.nb, dtype=w.dtype, device=w.device)
            term = w.clone()
            for j in range(_TERMS):
                out[j].index_add_(0, self.bins, term)
                term.mul_(self.dev)
            self.mom[key] = out
        return self.mom[key]

    def _series(self, key: str, kappa: torch.Tensor, order: int) -> torch.Tensor:
        """Σ_b Σ_j (−1)^j·binom(j+order−1, j)·M_jb / (c_b+κ)^{j+order}, for order 1 or 2."""
        a = self.centre.unsqueeze(0) + kappa.unsqueeze(1)
        x = -1.0 / a
        mom = self._moment(key)
        acc = torch.zeros_like(a)
        for j in range(_TERMS - 1, -1, -1):
            coef = 1.0 if order == 1 else float(j + 1)
            acc = acc * x + coef * mom[j].unsqueeze(0)
        return (acc / a**order).sum(1)

    def _direct(self, kappa: torch.Tensor, fn) -> torch.Tensor:
        out = torch.zeros_like(kappa)
        step = max(1, _BLOCK // max(1, kappa.shape[0]))
        k = kappa.unsqueeze(1)
        for a in range(0, self.lam.shape[0], step):
            sl = slice(a, a + step)
            lb = self.lam[sl]
            r = lb / (lb + k)
            out += fn(r, sl).sum(1)
        return out

    def s1_s2(self, kappa: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.direct:
            s1 = self._direct(kappa, lambda r, sl: r * self.mult[sl])
            s2 = self._direct(kappa, lambda r, sl: r * (1 - r) * self.mult[sl])
            return s1, s2
        # r = λ/(λ+κ) and r(1−r) = κλ/(λ+κ)²: no subtraction, so no cancellation.
        return self._series("E", kappa, 1), kappa * self._series("E", kappa, 2)

    def sq(self, kappa: torch.Tensor) -> torch.Tensor:
        if self.direct:
            return self._direct(kappa, lambda r, sl: r * r * self.mult[sl])
        return self._series("F", kappa, 2)

    def miss(self, kappa: torch.Tensor) -> torch.Tensor:
        if self.power is None:
            raise ValueError("no target power given")
        if self.direct:
            out = self._direct(kappa, lambda r, sl: (1 - r) ** 2 * self.power[sl])
        else:
            # (1−r)² = κ²/(λ+κ)².
            out = kappa**2 * self._series("P", kappa, 2)
        return out + self.zero_power
