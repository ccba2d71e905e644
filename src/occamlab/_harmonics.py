"""Spherical-harmonic arithmetic on S^{d-1}: the dimension of each degree's harmonics and the
Gegenbauer polynomials of the Funk–Hecke formula. Used by ``tasks`` (zonal harmonics as targets)
and ``spectra`` (eigenvalues of dot-product kernels on the sphere). Nothing here is public API.
"""

from __future__ import annotations

import math

import torch

from occamlab._check import check_int

__all__ = ["harmonic_multiplicity", "gegenbauer"]


def harmonic_multiplicity(d: int, k: int) -> int:
    """N(d, k): the dimension of the degree-k spherical harmonics on S^{d-1}.

    ``N(d, k) = (2k+d-2)/k · binom(k+d-3, k-1)``, N(d, 0) = 1 (Atkinson & Han 2012, *Spherical
    Harmonics and Approximations on the Unit Sphere*, ch. 2).
    """
    check_int(d, "d", ge=2)
    check_int(k, "k", ge=0)
    if k == 0:
        return 1
    if d == 2:
        return 2
    return (2 * k + d - 2) * math.comb(k + d - 3, k - 1) // k


def gegenbauer(t: torch.Tensor, d: int, max_degree: int) -> torch.Tensor:
    """Gegenbauer polynomials normalized to 1 at t = 1: P_k(t) = C_k^{(d/2-1)}(t)/C_k^{(d/2-1)}(1).

    By the three-term recurrence ``(k+d-2)·P_{k+1} = (2k+d-2)·t·P_k − k·P_{k-1}``, which never
    forms the large C_k(1) and so does not overflow at high degree (Atkinson & Han, *Spherical
    Harmonics and Approximations on the Unit Sphere*, eq. 2.89). For d = 2: cos(k·arccos t).

    Arguments:
        t: tensor of cosines, any shape.
        d: dimension of the ambient space (the sphere is S^{d-1}), ≥ 2.
        max_degree: highest degree K.

    Returns:
        tensor of shape (K+1, *t.shape).
    """
    out = [torch.ones_like(t), t.clone()]
    for k in range(1, max_degree):
        if d == 2:
            out.append(2 * t * out[k] - out[k - 1])
        else:
            out.append(((2 * k + d - 2) * t * out[k] - k * out[k - 1]) / (k + d - 2))
    return torch.stack(out[: max_degree + 1])
