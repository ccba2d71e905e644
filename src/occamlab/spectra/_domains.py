"""Exact spectra of dot-product kernels on symmetric domains: the sphere, the cube, the circle.

On these domains the eigenfunctions do not depend on the kernel (spherical harmonics, parities,
Fourier modes), so the eigenvalue of each level is a one-dimensional sum or integral of K(c).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from occamlab._check import check_int
from occamlab._cosine import as_cosine_function, evaluate_cosine
from occamlab._harmonics import gegenbauer, harmonic_multiplicity
from occamlab._linalg import check_psd
from occamlab.spectra._spectrum import Spectrum


@lru_cache(maxsize=16)
def _gauss_gegenbauer(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    from scipy.special import roots_gegenbauer

    return roots_gegenbauer(n, d / 2 - 1)


def sphere(kernel: Any, d: int, max_degree: int = 20, *, kind: str = "ntk",
           n_quad: int | None = None, target_power: Any = None) -> Spectrum:
    """Eigenvalues per degree of a dot-product kernel on the sphere S^{d-1} (radius √d).

    By the Funk–Hecke formula (Atkinson & Han 2012, ch. 2) with Gauss–Gegenbauer quadrature:
    ``λ_k = Γ(d/2)/(√π·Γ((d−1)/2)) · ∫₋₁¹ K(t)·P_k(t)·(1−t²)^{(d−3)/2} dt`` with P_k the
    Gegenbauer polynomial of index d/2−1 normalized to P_k(1) = 1, multiplicity N(d, k), and the
    trace beyond ``max_degree``, ``K(1) − Σ_k N(d,k)·λ_k``, in ``tail_trace`` (Simon et al. 2023,
    arXiv 2110.03922, App. on the hypersphere).

    Arguments:
        kernel: a callable c ↦ K(c) on cosines in [−1, 1], or an ``occamlab.kernels``
            architecture (evaluated on inputs of norm √d).
        d: dimension of the ambient space, ≥ 2.
        max_degree: highest degree computed.
        kind: ``"ntk"`` or ``"nngp"`` for an architecture.
        n_quad: quadrature nodes (default max(1000, 8·max_degree)); the rule is exact for
            polynomial kernels of degree < 2·n_quad − max_degree.
        target_power: optional (max_degree+1,) power of the target in each degree.

    Returns:
        :class:`Spectrum` with ``domain="sphere"``, one level per degree 0..max_degree.
    """
    d = check_int(d, "d", ge=2)
    max_degree = check_int(max_degree, "max_degree", ge=0)
    n_quad = max(1000, 8 * max_degree) if n_quad is None else check_int(n_quad,
                                                                                  "n_quad", ge=1)
    fn = as_cosine_function(kernel, d, kind)
    t_np, w_np = _gauss_gegenbauer(n_quad, d)
    t, w = torch.from_numpy(t_np), torch.from_numpy(w_np)
    Kt = evaluate_cosine(fn, t)
    # The constant makes the weight a probability density: Γ(d/2)/(√π Γ((d−1)/2)).
    norm = math.exp(math.lgamma(d / 2) - math.lgamma((d - 1) / 2)) / math.sqrt(math.pi)
    P = gegenbauer(t, d, max_degree)
    lam = norm * (P * (w * Kt)).sum(1)
    k1 = float(evaluate_cosine(fn, torch.ones(1, dtype=torch.float64))[0])
    lam = check_psd(lam, "kernel", max(abs(k1), float(lam.abs().max())), n_quad, where="degree")
    mult = torch.tensor([harmonic_multiplicity(d, k) for k in range(max_degree + 1)],
                        dtype=torch.int64)
    tail = k1 - float((lam * mult).sum())
    spec = Spectrum(eigenvalues=lam, multiplicities=mult, tail_trace=max(tail, 0.0),
                    domain="sphere")
    return spec if target_power is None else spec.with_target(target_power)


def hypercube(kernel: Any, d: int, *, kind: str = "ntk", target_power: Any = None) -> Spectrum:
    """The d+1 eigenvalues of a dot-product kernel on {−1, 1}^d, one per parity degree.

    ``λ_k = 2^{−d} Σ_h K(1 − 2h/d) Σ_j (−1)^j binom(k,j)·binom(d−k,h−j)`` (a Krawtchouk
    transform; Yang & Salman 2019, arXiv 1907.10599), multiplicity binom(d, k).

    Arguments:
        kernel: a callable c ↦ K(c) or an ``occamlab.kernels`` architecture.
        d: dimension, ≥ 1. The alternating sum loses about log10(2^d) digits to cancellation,
            so eigenvalues below ~1e-16·2^d·K(1) are rounding (fine to d ≈ 30).
        kind: ``"ntk"`` or ``"nngp"`` for an architecture.
        target_power: optional (d+1,) power of the target in each degree.

    Returns:
        :class:`Spectrum` with ``domain="hypercube"``.
    """
    d = check_int(d, "d", ge=1)
    fn = as_cosine_function(kernel, d, kind)
    h = torch.arange(d + 1, dtype=torch.float64)
    Kh = evaluate_cosine(fn, 1 - 2 * h / d).tolist()
    lam = []
    for k in range(d + 1):
        terms = []
        for hh in range(d + 1):
            kraw = sum((-1) ** j * math.comb(k, j) * math.comb(d - k, hh - j)
                       for j in range(max(0, hh - (d - k)), min(k, hh) + 1))
            terms.append(Kh[hh] * kraw)
        lam.append(math.fsum(terms) / 2**d)
    lam_t = torch.tensor(lam, dtype=torch.float64)
    lam_t = check_psd(lam_t, "kernel", max(abs(x) for x in Kh), d + 1, where="degree")
    mult = torch.tensor([math.comb(d, k) for k in range(d + 1)], dtype=torch.int64)
    spec = Spectrum(eigenvalues=lam_t, multiplicities=mult, domain="hypercube")
    return spec if target_power is None else spec.with_target(target_power)


def circle(kernel: Any, M: int, *, kind: str = "ntk", target_power: Any = None) -> Spectrum:
    """Eigenvalues of a dot-product kernel on M equally spaced points of the circle.

    The kernel matrix is circulant, so its eigenvalues are the discrete Fourier transform of
    its first row, ``λ_k = (1/M) Σ_j K(cos(2πj/M))·cos(2πjk/M)``, for frequencies
    k = 0..⌊M/2⌋ with multiplicity 2 (cos and sin) except k = 0 and k = M/2.

    Arguments:
        kernel: a callable c ↦ K(c) or an ``occamlab.kernels`` architecture (d = 2).
        M: number of points, ≥ 1.
        kind: ``"ntk"`` or ``"nngp"`` for an architecture.
        target_power: optional (⌊M/2⌋+1,) power of the target per frequency.

    Returns:
        :class:`Spectrum` with ``domain="circle"``, eigenvalues already divided by M.
    """
    M = check_int(M, "M", ge=1)
    fn = as_cosine_function(kernel, 2, kind)
    j = torch.arange(M, dtype=torch.float64)
    row = evaluate_cosine(fn, torch.cos(2 * math.pi * j / M))
    lam = torch.fft.rfft(row).real / M
    lam = check_psd(lam, "kernel", float(row.abs().max()), M, where="frequency")
    mult = torch.full((lam.shape[0],), 2, dtype=torch.int64)
    mult[0] = 1
    if M % 2 == 0:
        mult[-1] = 1
    spec = Spectrum(eigenvalues=lam, multiplicities=mult, domain="circle")
    return spec if target_power is None else spec.with_target(target_power)
