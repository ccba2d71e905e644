"""The trace of an operator from products alone: Hutchinson's estimator and Hutch++.

Hutchinson (1989): for probes v with E[v vᵀ] = I (Rademacher ±1 entries),

    tr A ≈ (1/m) Σᵢ vᵢᵀ A vᵢ,   Var[vᵀAv] = 2 (‖A‖_F² − Σᵢ A_ii²)   (Rademacher).

Hutch++ (Meyer, Musco, Musco & Woodruff 2021, SOSA, Algorithm 1): spend m/3 products on a sketch
Q = orth(A S), m/3 on its exact part tr(QᵀAQ), and the rest on Hutchinson for the deflated
remainder (I − QQᵀ) A (I − QQᵀ):

    tr A ≈ tr(QᵀAQ) + (1/m') Σᵢ gᵢᵀ (I − QQᵀ) A (I − QQᵀ) gᵢ.

Its error is O(1/m) instead of O(1/√m) for PSD A, and it is exact once the sketch spans A's range
(rank A ≤ m/3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from occamlab._check import check_choice, check_int
from occamlab._result import Result
from occamlab._torch import make_generator
from occamlab.landscape._operators import as_operator

__all__ = ["trace", "Trace", "rademacher"]

METHODS = ("hutch++", "hutchinson")


def rademacher(shape: tuple[int, ...], generator: torch.Generator, dtype: torch.dtype,
               device: torch.device) -> torch.Tensor:
    """Independent ±1 entries (drawn on the CPU generator, then moved)."""
    return (torch.randint(0, 2, shape, generator=generator) * 2 - 1).to(device=device,
                                                                         dtype=dtype)


@dataclass(frozen=True, repr=False)
class Trace(Result):
    """A trace estimate.

    Fields:
        mean: the estimate of tr A.
        se: its standard error: std of the (deflated) Hutchinson terms / √(their number); 0 when
            the sketch of Hutch++ captures A exactly.
        matvecs: operator products used (= probes).
        method: ``"hutch++"`` or ``"hutchinson"``.
        samples: the Hutchinson terms vᵢᵀ A vᵢ (of the deflated operator for Hutch++).
        exact_part: tr(QᵀAQ) of Hutch++'s sketch (0 for Hutchinson).
    """

    mean: float
    se: float
    matvecs: int
    method: str
    samples: torch.Tensor
    exact_part: float


def trace(operator, probes: int = 30, method: str = "hutch++", *, seed: int | None = 0,
          generator: torch.Generator | None = None) -> Trace:
    """Estimate tr A with ``probes`` operator products (see the module docstring for the math).

    Arguments:
        operator: a :func:`hessian`/:func:`ggn` operator, a square tensor, or anything with
            ``@`` and ``shape``.
        probes: products to spend (≥ 1; ≥ 3 for Hutch++, whose sketch takes ⌊probes/3⌋ and its
            exact part another ⌊probes/3⌋).
        method: ``"hutch++"`` (default) or ``"hutchinson"``.
        seed, generator: the Rademacher probes.

    Returns:
        :class:`Trace` with ``mean``, ``se``, ``matvecs``.
    """
    op = as_operator(operator)
    method = check_choice(method, "method", METHODS)
    probes = check_int(probes, "probes", ge=3 if method == "hutch++" else 1)
    gen = make_generator(seed, generator)
    p, dt, dev = op.shape[0], op.dtype, op.device
    if method == "hutchinson":
        v = rademacher((p, probes), gen, dt, dev)
        samples = ((op @ v) * v).sum(0)
        exact, used = 0.0, probes
    else:
        k = probes // 3
        s = rademacher((p, k), gen, dt, dev)
        q, _ = torch.linalg.qr(op @ s)
        exact = float(torch.trace(q.T @ (op @ q)))
        g = rademacher((p, probes - 2 * k), gen, dt, dev)
        g = g - q @ (q.T @ g)
        ag = op @ g
        samples = ((ag - q @ (q.T @ ag)) * g).sum(0)
        used = probes
    m = samples.numel()
    se = float(samples.std(unbiased=True)) / math.sqrt(m) if m > 1 else float("nan")
    return Trace(exact + float(samples.mean()), se, used, method, samples, exact)
