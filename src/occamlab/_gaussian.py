"""Gaussian expectations by Gauss–Hermite quadrature: the one rule every room uses.

- :func:`gauss_hermite`: the n-point probabilists' rule, Σᵢ wᵢ f(zᵢ) = E[f(z)] for z ~ N(0, 1),
  exact for polynomials of degree ≤ 2n − 1 (Abramowitz & Stegun 25.4.46, weights divided by √(2π)).
- :func:`pair_expectation`: E[f(u)·g(v)] for a centred Gaussian pair (u, v) of variances q₁, q₂
  and covariance s, written as u = √q₁·z₁, v = √q₂·(c·z₁ + √(1−c²)·z₂) with c = s/√(q₁q₂) and
  z₁, z₂ independent standard normals, on the tensor product of two n-point rules. This is the
  map T (f = g = φ) and Ṫ (f = g = φ') of the infinite-width kernel recursion (Lee et al. 2018,
  arXiv 1711.00165, eq. 5; Jacot et al. 2018, arXiv 1806.07572, Theorem 1).

Everything is differentiable in whatever ``f`` and ``g`` close over. Nothing here is public API.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch

from occamlab._check import check_int

__all__ = ["MAX_NODES", "gauss_hermite", "pair_expectation", "derivative"]

# numpy's Gauss–Hermite weights underflow to NaN past ~300 nodes.
MAX_NODES = 300

# Entries of the (m, n, n) grid of v evaluated at once: 2**22 float64 entries (32 MiB).
_CHUNK_ENTRIES = 1 << 22


@lru_cache(maxsize=16)
def _rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.hermite_e.hermegauss(n)
    # Probability weights: the rule integrates against N(0, 1), not exp(−z²/2).
    return nodes, weights / math.sqrt(2 * math.pi)


def gauss_hermite(n_nodes: int, *, dtype: torch.dtype = torch.float64,
                  device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Gauss–Hermite rule for expectations under z ~ N(0, 1).

    Σᵢ wᵢ f(zᵢ) = E[f(z)] exactly when f is a polynomial of degree ≤ 2·n_nodes − 1.

    Arguments:
        n_nodes: number of nodes, 1 … 300.
        dtype, device: of the returned tensors.

    Returns:
        ``(nodes, weights)``, each of shape (n_nodes,); the weights sum to 1.
    """
    n_nodes = check_int(n_nodes, "n_nodes", ge=1, le=MAX_NODES)
    nodes, weights = _rule(n_nodes)
    return (torch.tensor(nodes, dtype=dtype, device=device),
            torch.tensor(weights, dtype=dtype, device=device))


def pair_expectation(f: Callable[[torch.Tensor], torch.Tensor],
                     g: Callable[[torch.Tensor], torch.Tensor], s: torch.Tensor,
                     q1: torch.Tensor, q2: torch.Tensor, n_nodes: int) -> torch.Tensor:
    """E[f(u)·g(v)] for (u, v) centred Gaussian with Var u = q1, Var v = q2, Cov(u, v) = s.

    Arguments:
        f, g: elementwise functions of a tensor (any shape).
        s, q1, q2: broadcastable tensors of covariances and variances (q > 0).
        n_nodes: Gauss–Hermite nodes per dimension (n_nodes² evaluations of g per entry).

    Returns:
        Tensor of the broadcast shape, in ``s``'s dtype and on its device. Accuracy: exact (to
        rounding) when f·g is a polynomial of degree ≤ 2·n_nodes − 1 in each variable; a kink in
        f or g converges like 1/n_nodes.
    """
    s, q1, q2 = torch.broadcast_tensors(s, q1, q2)
    shape = s.shape
    s, q1, q2 = s.reshape(-1), q1.reshape(-1), q2.reshape(-1)
    z, w = gauss_hermite(n_nodes, dtype=s.dtype, device=s.device)
    chunk = max(1, _CHUNK_ENTRIES // (n_nodes * n_nodes))
    parts = []
    for i in range(0, s.numel(), chunk):
        ss, a, b = s[i:i + chunk], q1[i:i + chunk].sqrt(), q2[i:i + chunk].sqrt()
        c = (ss / (a * b).clamp_min(torch.finfo(s.dtype).tiny)).clamp(-1.0, 1.0)
        sn = (1 - c * c).clamp_min(0.0).sqrt()
        fu = f(a[:, None] * z)                                            # (m, n)
        v = b[:, None, None] * (c[:, None, None] * z[:, None] + sn[:, None, None] * z)
        gv = g(v)                                                         # (m, n, n)
        parts.append(torch.einsum("ma,mab,a,b->m", fu, gv, w, w))
    return torch.cat(parts).reshape(shape) if parts else s.reshape(shape)


def derivative(fn: Callable[[torch.Tensor], torch.Tensor], *,
               create_graph: bool = False) -> Callable[[torch.Tensor], torch.Tensor]:
    """φ' of an elementwise φ by autograd, as a function of a tensor.

    With ``create_graph=True`` the derivative stays differentiable in whatever ``fn`` closes
    over (parameters being fitted); otherwise it is detached.
    """
    def d(x: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            xr = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(fn(xr).sum(), xr, create_graph=create_graph)
        return grad if create_graph else grad.detach()

    return d
