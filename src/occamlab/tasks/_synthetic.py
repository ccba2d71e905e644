"""Synthetic domains for kernel theory: the hypersphere S^{d-1} and the Boolean cube {-1, 1}^d.

Points are scaled to norm √d, so the cosine between two inputs is ``c = x·x'/d``: the convention
under which :mod:`occamlab.spectra` evaluates dot-product kernels. Targets are normalized
eigenfunctions of every dot-product kernel on these domains (zonal spherical harmonics and
parities), so their power per eigenspace is known exactly.
"""

from __future__ import annotations

import math

import torch

from occamlab._check import check_int
from occamlab._harmonics import gegenbauer, harmonic_multiplicity
from occamlab._torch import as_tensor, make_generator

__all__ = ["sphere_points", "cube_points", "gegenbauer", "sphere_harmonic", "parity",
           "harmonic_multiplicity"]


def sphere_points(n: int, d: int, *, seed: int | None = None,
                  generator: torch.Generator | None = None,
                  dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``n`` points drawn uniformly on the sphere of radius √d in R^d.

    Arguments:
        n: number of points.
        d: ambient dimension (≥ 2); the sphere is S^{d-1}.
        seed, generator: the randomness (see :func:`occamlab._torch.make_generator`).
        dtype: floating dtype.

    Returns:
        (n, d) tensor with every row of norm √d.
    """
    check_int(n, "n", ge=1)
    check_int(d, "d", ge=2)
    g = make_generator(seed, generator)
    x = torch.randn(n, d, generator=g, dtype=dtype)
    return x * (math.sqrt(d) / x.norm(dim=1, keepdim=True))


def cube_points(n: int, d: int, *, seed: int | None = None,
                generator: torch.Generator | None = None,
                dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``n`` vertices of {-1, 1}^d drawn uniformly (with replacement): an (n, d) tensor."""
    check_int(n, "n", ge=1)
    check_int(d, "d", ge=1)
    g = make_generator(seed, generator)
    return torch.randint(0, 2, (n, d), generator=g).to(dtype) * 2 - 1


def sphere_harmonic(x: torch.Tensor, degree: int, *, direction: torch.Tensor | None = None
                    ) -> torch.Tensor:
    """A unit-norm spherical harmonic of the given degree, evaluated at points of norm √d.

    The zonal harmonic ``√N(d,k) · P_k(x·e/√d)`` around a unit direction ``e`` (default the first
    axis) has mean square 1 under the uniform measure on the sphere and lies entirely in the
    degree-k eigenspace of every dot-product kernel.

    Arguments:
        x: (n, d) points of norm √d.
        degree: k ≥ 0.
        direction: (d,) vector (normalized here); default e₁.

    Returns:
        (n,) target values.
    """
    x = as_tensor(x, "x", ndim=2)
    degree = check_int(degree, "degree", ge=0)
    d = x.shape[1]
    if direction is None:
        e = torch.zeros(d, dtype=x.dtype, device=x.device)
        e[0] = 1.0
    else:
        e = as_tensor(direction, "direction", ndim=1, dtype=x.dtype, device=x.device)
        if e.shape[0] != d or float(e.norm()) == 0.0:
            raise ValueError(f"direction must be a nonzero vector of length {d}, "
                             f"got shape {tuple(e.shape)}")
        e = e / e.norm()
    t = (x @ e / math.sqrt(d)).clamp(-1.0, 1.0)
    return math.sqrt(harmonic_multiplicity(d, degree)) * gegenbauer(t, d, degree)[degree]


def parity(x: torch.Tensor, degree: int) -> torch.Tensor:
    """The parity of the first ``degree`` coordinates, ``Π_{j<k} x_j``, on {-1, 1}^d: shape (n,).

    It has unit mean square and lies in the degree-k eigenspace of every dot-product kernel on
    the cube.
    """
    x = as_tensor(x, "x", ndim=2)
    degree = check_int(degree, "degree", ge=0)
    if degree > x.shape[1]:
        raise ValueError(f"degree must be ≤ d = {x.shape[1]}, got {degree}")
    return x[:, :degree].prod(dim=1) if degree else torch.ones_like(x[:, 0])
