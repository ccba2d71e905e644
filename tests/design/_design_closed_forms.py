"""Independent closed forms used as references by the design tests (not library code).

Deep fully connected NTKs by the arc-cosine (ReLU, Cho & Saul 2009) and arcsine (erf,
Williams 1997) recursions (Lee et al. 2019, arXiv 1902.06720), NTK parameterization,
inputs of norm √d.
"""

from __future__ import annotations

import math

import torch


def deep_relu_ntk(c: torch.Tensor, hidden: int = 4, w2: float = 2.0, b2: float = 0.01):
    s = w2 * c + b2
    q = w2 + b2
    ntk = s.clone()
    for _ in range(hidden):
        cos = (s / q).clamp(-1, 1)
        t = torch.arccos(cos)
        T = q / (2 * math.pi) * (torch.sin(t) + (math.pi - t) * cos)
        Td = (math.pi - t) / (2 * math.pi)
        s = w2 * T + b2
        ntk = s + w2 * Td * ntk
        q = w2 * q / 2 + b2
    return ntk


def deep_erf_ntk(c: torch.Tensor, hidden: int = 4, w2: float = 2.0, b2: float = 0.01):
    s = w2 * c + b2
    q = w2 + b2
    ntk = s.clone()
    for _ in range(hidden):
        T = 2 / math.pi * torch.asin(2 * s / (1 + 2 * q))
        Td = 4 / math.pi / torch.sqrt((1 + 2 * q) ** 2 - 4 * s**2)
        s = w2 * T + b2
        ntk = s + w2 * Td * ntk
        q = w2 * 2 / math.pi * math.asin(2 * q / (1 + 2 * q)) + b2
    return ntk


def shallow_erf_ntk(c: torch.Tensor, a: float = 1.0, b: float = 1.0, g: float = 0.0):
    """NTK of φ(z) = a·erf(b·z) + g·z, one hidden layer, unit preactivation variance.

    E[erf(bu)erf(bv)] = (2/π)·asin(2b²c/(1+2b²)); E[φ'φ'] from E[erf'(bu)erf'(bv)] =
    (4/π)/√((1+2b²)² − 4b⁴c²); cross terms by Stein's lemma: E[erf(bu)·v] = c·b·E[erf'(bu)] =
    c·(2b/√π)/√(1+2b²).
    """
    r = 1 + 2 * b * b
    m = 2 * b / math.sqrt(math.pi) / math.sqrt(r)  # E[b·erf'(bu)] = E[d/du erf(bu)]
    nngp = a * a * 2 / math.pi * torch.asin(2 * b * b * c / r) + 2 * a * g * c * m + g * g * c
    dot = a * a * b * b * 4 / math.pi / torch.sqrt(r * r - 4 * b**4 * c * c) + 2 * a * g * m + g * g
    return nngp + c * dot

