"""Dot-product kernels given either way: a user's function of the cosine, or an architecture.

``kernels``, ``spectra``, ``eigenlearning`` and ``design`` all accept a ``kernel`` (or ``target``)
argument that is either a callable ``c ↦ K(c)`` of the cosine between inputs of norm √d, or an
``occamlab.kernels`` architecture. This module is the one place that resolves such an argument,
calls the user's function and checks what it returns, and builds kernel matrices from it, so that
every room accepts the same things and reports the same errors. Nothing here is public API.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from occamlab._check import type_error
from occamlab._torch import as_tensor, call_elementwise

__all__ = ["KINDS", "check_kind", "is_architecture", "as_cosine_function", "evaluate_cosine",
           "kernel_matrix"]

KINDS = ("ntk", "nngp")


def check_kind(kind: Any) -> str:
    """``kind`` if it is "ntk" or "nngp"; else a ``TypeError`` (not a string) or ``ValueError``."""
    if not isinstance(kind, str):
        raise type_error("kind", "'ntk' or 'nngp'", kind)
    if kind not in KINDS:
        raise ValueError(f"kind must be 'ntk' or 'nngp', got {kind!r}")
    return kind


def is_architecture(kernel: Any) -> bool:
    """True for an architecture (a ``Layer``) of ``occamlab.kernels``."""
    from occamlab.kernels import Layer  # kernels imports this module: resolve at call time

    return isinstance(kernel, Layer)


def as_cosine_function(kernel: Any, d: int, kind: str = "ntk", *,
                       name: str = "kernel") -> Callable[[torch.Tensor], torch.Tensor]:
    """A dot-product kernel given either way, as the map c ↦ K(c) on inputs of norm √d.

    Arguments:
        kernel: a callable of a tensor of cosines (returned as it is), or an architecture, whose
            ``kind`` kernel ``occamlab.kernels.cosine_kernel`` evaluates exactly.
        d: input dimension (used for an architecture).
        kind: "ntk" or "nngp" (checked either way).
        name: the argument's name in error messages.
    """
    check_kind(kind)
    if is_architecture(kernel):
        from occamlab.kernels import cosine_kernel

        return cosine_kernel(kernel, d, kind)
    if callable(kernel):
        return kernel
    raise TypeError(f"{name} must be a callable of the cosine c or an occamlab.kernels "
                    f"architecture, got {type(kernel).__name__}")


def evaluate_cosine(fn: Callable[[torch.Tensor], Any], c: torch.Tensor,
                    name: str = "kernel") -> torch.Tensor:
    """``fn(c)`` on cosines ``c``, checked: float64 of ``c``'s shape on its device, finite."""
    return call_elementwise(fn, c, name, var="c", where="on the grid of cosines",
                            requirement="it must be finite on all of [−1, 1]")


def kernel_matrix(kernel: Any, x1: Any, x2: Any = None, *, kind: str = "ntk") -> torch.Tensor:
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
    c = a @ b.T / a.shape[1]
    if _on_sphere(a, b):
        c = c.clamp(-1.0, 1.0)
    return evaluate_cosine(kernel, c)


def _on_sphere(a: torch.Tensor, b: torch.Tensor) -> bool:
    # Rounding can push a cosine of points of norm √d a hair past ±1, where arccos-based
    # kernels return NaN; clip only when the inputs really are on that sphere.
    r = math.sqrt(a.shape[1])
    return bool(torch.allclose(a.norm(dim=1), torch.full_like(a[:, 0], r), rtol=1e-6)
                and torch.allclose(b.norm(dim=1), torch.full_like(b[:, 0], r), rtol=1e-6))
