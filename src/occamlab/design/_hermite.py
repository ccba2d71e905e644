"""Normalized Hermite polynomials and the Hermite coefficients of an activation function.

With hₖ = Heₖ/√k! (probabilists' Hermite polynomials, normalized so that E[hₖhⱼ] = δₖⱼ for
z ~ N(0, 1)), any square-integrable activation is φ(√q·z) = Σₖ aₖ hₖ(z), and a one-hidden-layer
network whose preactivations have variance q has NNGP(c) = Σ aₖ² cᵏ and NTK(c) = Σ (k+1) aₖ² cᵏ
(Simon, Anand & DeWeese 2022, arXiv 2106.03186, Theorem 3.1; REFERENCES §3).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from occamlab._gaussian import gauss_hermite
from occamlab._torch import as_tensor

__all__ = ["hermite", "gauss_hermite", "hermite_coefficients", "check_degree"]

def check_degree(degree: Any, name: str = "degree") -> int:
    """Return ``degree`` as an int ≥ 0, or raise naming the problem."""
    if isinstance(degree, bool) or not isinstance(degree, int | np.integer):
        raise TypeError(f"{name} must be an integer ≥ 0, got {degree!r}")
    if degree < 0:
        raise ValueError(f"{name} must be ≥ 0 (the highest power of the series), got {degree}")
    return int(degree)


def hermite(z: torch.Tensor | np.ndarray | float, degree: int) -> torch.Tensor:
    """Normalized probabilists' Hermite polynomials h₀ … h_degree evaluated at ``z``.

    Uses the three-term recurrence h_{k+1} = (z·hₖ − √k·h_{k−1})/√(k+1), which follows from
    He_{k+1} = z·Heₖ − k·He_{k−1}; it stays stable where the monomial form would cancel.

    Arguments:
        z: points, any shape (...). Floating tensors keep their dtype; others become float64.
        degree: highest degree (≥ 0).

    Returns:
        Tensor of shape (..., degree + 1) on ``z``'s device; entry k is hₖ(z).
    """
    degree = check_degree(degree)
    z = as_tensor(z, "z")
    if not z.is_floating_point():
        z = z.to(torch.float64)
    out = [torch.ones_like(z)]
    if degree >= 1:
        out.append(z)
    for k in range(1, degree):
        out.append((z * out[k] - math.sqrt(k) * out[k - 1]) / math.sqrt(k + 1))
    return torch.stack(out, dim=-1)


def evaluate_on_nodes(fn: Callable[[torch.Tensor], Any], z: torch.Tensor,
                      name: str = "fn") -> torch.Tensor:
    """``fn(z)`` as a float64 tensor of z's shape, with a message naming any NaN/Inf node."""
    if not callable(fn):
        raise TypeError(f"{name} must be a callable of a tensor (an activation), got "
                        f"{type(fn).__name__}")
    out = fn(z)
    if not isinstance(out, torch.Tensor):
        out = torch.as_tensor(np.asarray(out, dtype=np.float64))
    out = out.to(torch.float64)
    if out.shape != z.shape:
        try:
            out = out.expand(z.shape)
        except RuntimeError:
            raise ValueError(f"{name} must act elementwise: on input of shape {tuple(z.shape)} "
                             f"it returned shape {tuple(out.shape)}") from None
    bad = ~torch.isfinite(out)
    if bool(bad.any()):
        where = z[bad]
        n_nan = int(torch.isnan(out).sum())
        raise ValueError(
            f"{name} returned {n_nan} NaN and {int(bad.sum()) - n_nan} Inf values on the "
            f"quadrature nodes (first at z = {float(where.reshape(-1)[0]):.4g}; nodes span "
            f"±{float(z.abs().max()):.3g}); the activation must be finite on the whole real "
            "line and square-integrable under a Gaussian"
        )
    return out


def hermite_coefficients(fn: Callable[[torch.Tensor], Any], degree: int, q: float = 1.0, *,
                         n_nodes: int = 256) -> torch.Tensor:
    """Normalized Hermite coefficients aₖ = E_{z∼N(0,1)}[φ(√q·z)·hₖ(z)], k = 0 … degree.

    So φ(u) = Σₖ aₖ hₖ(u/√q) for preactivations u of variance q, and the shallow network's
    kernels are NNGP(c) = Σ aₖ²cᵏ and NTK(c) = Σ (k+1)aₖ²cᵏ (Simon et al. 2022, arXiv
    2106.03186, Thm 3.1). Computed by Gauss–Hermite quadrature with ``n_nodes`` nodes: exact
    (to rounding) when φ is a polynomial of degree ≤ 2·n_nodes − 1 − degree. For a kink (ReLU,
    |z|) the error falls like 1/n_nodes: about 6e-4 per coefficient at 256 nodes.

    Arguments:
        fn: the activation, a callable taking a float64 tensor of shape (n_nodes,) and acting
            elementwise (a ``torch.nn.Module`` such as ``nn.Tanh()`` works).
        degree: highest coefficient (≥ 0).
        q: preactivation variance (> 0).
        n_nodes: quadrature nodes (≤ 300).

    Returns:
        float64 tensor of shape (degree + 1,).

    Raises:
        ValueError: negative degree, q ≤ 0, or fn not finite on the nodes.
    """
    degree = check_degree(degree)
    q = float(q)
    if not math.isfinite(q) or q <= 0:
        raise ValueError(f"q (the preactivation variance) must be a finite number > 0, got {q}")
    z, w = gauss_hermite(n_nodes)
    with torch.no_grad():
        f = evaluate_on_nodes(fn, math.sqrt(q) * z)
    return (w * f) @ hermite(z, degree)
