"""Normalized Hermite polynomials and the Hermite coefficients of an activation function.

With hₖ = Heₖ/√k! (probabilists' Hermite polynomials, normalized so that E[hₖhⱼ] = δₖⱼ for
z ~ N(0, 1)), any square-integrable activation is φ(√q·z) = Σₖ aₖ hₖ(z), and a one-hidden-layer
network whose preactivations have variance q has NNGP(c) = Σ aₖ² cᵏ and NTK(c) = Σ (k+1) aₖ² cᵏ
(Simon, Anand & DeWeese 2022, arXiv 2106.03186, Theorem 3.1).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from occamlab._check import check_int, check_real
from occamlab._gaussian import gauss_hermite
from occamlab._torch import as_tensor, call_elementwise

__all__ = ["hermite", "gauss_hermite", "hermite_coefficients", "check_degree"]

def check_degree(degree: Any, name: str = "degree") -> int:
    """Return ``degree`` as an int ≥ 0, or raise naming the problem."""
    return check_int(degree, f"{name} (the highest power of the series)", ge=0)


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
    """``fn(z)`` on quadrature nodes ``z``, checked: float64 of z's shape, finite."""
    return call_elementwise(fn, z, name, var="z", where="on the quadrature nodes",
                            requirement="the activation must be finite on the whole real line "
                                        "and square-integrable under a Gaussian")


def _hermite_at_zero(n: int) -> list[float]:
    # hₘ(0) by the normalized recurrence at z = 0: h_{m+1}(0) = −√(m/(m+1))·h_{m−1}(0)
    out = [1.0, 0.0]
    for m in range(1, n):
        out.append(-math.sqrt(m / (m + 1)) * out[m - 1])
    return out[:max(n, 1)]


def _closed_form_kind(fn: Any) -> tuple[str, float, float] | None:
    """("abrelu", a, b), ("sign", 0, 0) or ("erf", 0, 0) when fn is one of the activations with
    closed-form coefficients, else None."""
    import torch.nn.functional as F
    from torch import nn

    from occamlab import kernels as K

    if fn in (torch.relu, F.relu) or isinstance(fn, nn.ReLU):
        return "abrelu", 0.0, 1.0
    if isinstance(fn, nn.LeakyReLU):
        return "abrelu", float(fn.negative_slope), 1.0
    if fn is F.leaky_relu:
        return "abrelu", 0.01, 1.0
    if fn is torch.abs:
        return "abrelu", -1.0, 1.0
    if isinstance(fn, K.ABRelu):
        return "abrelu", fn.a, fn.b
    if fn is torch.sign or isinstance(fn, K.Sign):
        return "sign", 0.0, 0.0
    if fn in (torch.erf, torch.special.erf) or isinstance(fn, K.Erf):
        return "erf", 0.0, 0.0
    return None


def _closed_form(kind: tuple[str, float, float], degree: int, q: float) -> torch.Tensor:
    """Exact aₖ by Gaussian integration by parts, E[f(z)Heₖ(z)] = E[f⁽ᵏ⁾(z)] (Stein's lemma).

    - ABReLU a·min(u,0) + b·max(u,0) (ReLU, LeakyReLU, |u|): a₀ = √q(b−a)/√(2π), a₁ = √q(a+b)/2,
      and for k ≥ 2, aₖ = √q·(b − (−1)ᵏa)·hₖ₋₂(0)/√(2π·k(k−1)) (max(z,0)'' is the density at 0).
    - sign: aₖ = 2·hₖ₋₁(0)/√(2πk) for odd k, 0 for even k.
    - erf(√q·z): with s² = q, aₖ = (2s/√π)·(1+2s²)^(−1/2)·hₖ₋₁(0)·(2s²/(1+2s²))^((k−1)/2)/√k for
      odd k, 0 for even k (the k−1-th derivative of e^{−s²z²} averaged under N(0, 1)).
    """
    name, a, b = kind
    h0 = _hermite_at_zero(degree + 1)
    out = torch.zeros(degree + 1, dtype=torch.float64)
    rt = math.sqrt(q)
    if name == "abrelu":
        out[0] = rt * (b - a) / math.sqrt(2 * math.pi)
        if degree >= 1:
            out[1] = rt * (a + b) / 2
        for k in range(2, degree + 1):
            out[k] = rt * (b - (-1) ** k * a) * h0[k - 2] / math.sqrt(2 * math.pi * k * (k - 1))
    elif name == "sign":
        for k in range(1, degree + 1, 2):
            out[k] = 2 * h0[k - 1] / math.sqrt(2 * math.pi * k)
    else:
        r = 1 + 2 * q
        for k in range(1, degree + 1, 2):
            out[k] = (2 * rt / math.sqrt(math.pi * r) * h0[k - 1] * (2 * q / r) ** ((k - 1) / 2)
                      / math.sqrt(k))
    return out


# Gaussian mass beyond |z| = 20 is below 1e-88: nothing a float64 coefficient can see.
_Z_MAX = 20.0
_PANEL_NODES = 24


def _split_quadrature(fn: Callable[[torch.Tensor], Any], degree: int, q: float,
                      kinks: tuple[float, ...]) -> torch.Tensor:
    """aₖ by Gauss–Legendre on panels of width ≤ 1 in z over [−20, 20], with panel edges at the
    kinks (given in the activation's argument u = √q·z), so each panel sees a smooth integrand."""
    edges = {-_Z_MAX, _Z_MAX, *[float(k) for k in range(-int(_Z_MAX) + 1, int(_Z_MAX))]}
    edges |= {t / math.sqrt(q) for t in kinks if abs(t / math.sqrt(q)) < _Z_MAX}
    e = torch.tensor(sorted(edges), dtype=torch.float64)
    x, w = np.polynomial.legendre.leggauss(_PANEL_NODES)
    x, w = torch.from_numpy(x), torch.from_numpy(w)
    lo, hi = e[:-1, None], e[1:, None]
    z = (0.5 * (hi - lo) * x + 0.5 * (hi + lo)).reshape(-1)
    wz = (0.5 * (hi - lo) * w).reshape(-1) * torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    with torch.no_grad():
        f = evaluate_on_nodes(fn, math.sqrt(q) * z)
    return (wz * f) @ hermite(z, degree)


def hermite_coefficients(fn: Callable[[torch.Tensor], Any], degree: int, q: float = 1.0, *,
                         n_nodes: int = 256, kinks: Any = None) -> torch.Tensor:
    """Normalized Hermite coefficients aₖ = E_{z∼N(0,1)}[φ(√q·z)·hₖ(z)], k = 0 … degree.

    So φ(u) = Σₖ aₖ hₖ(u/√q) for preactivations u of variance q, and the shallow network's
    kernels are NNGP(c) = Σ aₖ²cᵏ and NTK(c) = Σ (k+1)aₖ²cᵏ (Simon et al. 2022, arXiv
    2106.03186, Thm 3.1). Three ways, most exact first:

    - closed forms (exact to rounding, ~1e-16) for ReLU, LeakyReLU, |z|, sign and erf, given as
      ``torch.relu``/``nn.ReLU()``/``nn.LeakyReLU(α)``/``torch.abs``/``torch.sign``/``torch.erf``
      or occamlab's ``kernels.Relu()``, ``LeakyRelu``, ``Abs``, ``ABRelu``, ``Sign``, ``Erf``;
    - ``kinks=(t₁, …)``: the points (in φ's argument u) where φ or a derivative jumps; Gauss–
      Legendre panels of width ≤ 1 on [−20, 20] with edges at the kinks, so every panel is
      smooth: below 1e-12 absolute for a φ that is analytic between its kinks and grows at most
      polynomially (tests check 1e-12 against 50-digit integration);
    - otherwise Gauss–Hermite with ``n_nodes`` nodes: exact (to rounding) when φ is a polynomial
      of degree ≤ 2·n_nodes − 1 − degree, geometric for entire φ (tanh, GELU), but only like
      1/n_nodes at an undeclared kink (about 6e-4 per coefficient for ReLU at 256 nodes).

    Arguments:
        fn: the activation, a callable taking a float64 tensor and acting elementwise (a
            ``torch.nn.Module`` such as ``nn.Tanh()`` works), or an occamlab kernels activation.
        degree: highest coefficient (≥ 0).
        q: preactivation variance (> 0).
        n_nodes: Gauss–Hermite nodes (≤ 300), used without a closed form or kinks.
        kinks: points of non-smoothness of φ(u), e.g. ``(0.0,)`` for a ReLU-like φ.

    Returns:
        float64 tensor of shape (degree + 1,).

    Raises:
        ValueError: negative degree, q ≤ 0, or fn not finite on the nodes.
    """
    degree = check_degree(degree)
    q = check_real(q, "q (the preactivation variance)", gt=0)
    form = _closed_form_kind(fn)
    if form is not None:
        return _closed_form(form, degree, q)
    from occamlab import kernels as K

    if isinstance(fn, K.Activation):
        fn = fn.fn
    if kinks is not None:
        kinks = tuple(check_real(t, "kinks[i]") for t in
                      (kinks if isinstance(kinks, list | tuple) else [kinks]))
        return _split_quadrature(fn, degree, q, kinks)
    z, w = gauss_hermite(n_nodes)
    with torch.no_grad():
        f = evaluate_on_nodes(fn, math.sqrt(q) * z)
    return (w * f) @ hermite(z, degree)
