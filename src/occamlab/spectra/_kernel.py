"""What a ``kernel`` argument may be: a function of the cosine, or an ``occamlab.kernels``
architecture. One place resolves it, so every function of this room accepts the same things.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from occamlab._torch import as_tensor
from occamlab.kernels._core import Layer, check_kind


def is_architecture(kernel: Any) -> bool:
    """True for an architecture of ``occamlab.kernels``."""
    return isinstance(kernel, Layer)


def evaluate_cosine(fn: Callable[[torch.Tensor], torch.Tensor], c: torch.Tensor,
                    name: str = "kernel") -> torch.Tensor:
    """``fn(c)`` as a float64 tensor shaped like ``c``, checked to be finite."""
    out = fn(c)
    out = as_tensor(out, f"{name}(c)", dtype=c.dtype, device=c.device)
    if out.shape != c.shape:
        out = out.expand_as(c) if out.numel() == 1 else out
        if out.shape != c.shape:
            raise ValueError(f"{name} must map a tensor of cosines of shape {tuple(c.shape)} to "
                             f"the same shape, got {tuple(out.shape)}")
    return out


def kernel_matrix(kernel: Any, x1: torch.Tensor, x2: torch.Tensor | None = None, *,
                  kind: str = "ntk") -> torch.Tensor:
    """The kernel matrix K[i, j] = K(x1_i, x2_j) in float64.

    An architecture is evaluated by its own ``kernel(x1, x2)`` (any input layout it accepts). A
    callable of the cosine is applied to ``c = x·x'/d`` with the inputs flattened to (n, d): it
    assumes inputs of norm √d (normalize them first otherwise).

    Arguments:
        kernel: callable of c, or an architecture of ``occamlab.kernels``.
        x1: (n1, ...) inputs; x2: (n2, ...) inputs (default x1).
        kind: ``"ntk"`` or ``"nngp"``.

    Returns:
        (n1, n2) float64 tensor on x1's device.
    """
    check_kind(kind)
    x1 = as_tensor(x1, "x1", dtype=torch.float64)
    same = x2 is None
    x2 = x1 if x2 is None else as_tensor(x2, "x2", dtype=torch.float64, device=x1.device)
    if is_architecture(kernel):
        # one argument lets the architecture use the symmetry of K(x, x)
        res = kernel.kernel(x1) if same else kernel.kernel(x1, x2)
        return as_tensor(getattr(res, kind), f"kernel.{kind}", dtype=torch.float64)
    if not callable(kernel):
        raise TypeError("kernel must be a callable of the cosine c or an architecture of "
                        f"occamlab.kernels, got {type(kernel).__name__}")
    a, b = x1.flatten(1), x2.flatten(1)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x1 and x2 must have the same dimension, got {a.shape[1]} and "
                         f"{b.shape[1]}")
    c = (a @ b.T / a.shape[1]).clamp(-1.0, 1.0) if _on_sphere(a, b) else a @ b.T / a.shape[1]
    return evaluate_cosine(kernel, c)


def _on_sphere(a: torch.Tensor, b: torch.Tensor) -> bool:
    # Rounding can push a cosine of points of norm √d a hair past ±1, where arccos-based
    # kernels return NaN; clip only when the inputs really are on that sphere.
    r = math.sqrt(a.shape[1])
    return bool(torch.allclose(a.norm(dim=1), torch.full_like(a[:, 0], r), rtol=1e-6)
                and torch.allclose(b.norm(dim=1), torch.full_like(b[:, 0], r), rtol=1e-6))
