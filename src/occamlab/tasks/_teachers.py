"""Linear teachers: regression data whose true learning coefficient is known exactly.

A teacher is a matrix T (N × M) of a chosen rank; data are x ~ N(0, I_M), y = T·x + σ·ξ with
ξ ~ N(0, I_N). Fitting it with a linear model (regular: λ = MN/2), a two-layer linear network
(reduced-rank regression, Aoyagi & Watanabe 2005) or a deep linear network (Aoyagi 2024) gives
the models of :mod:`occamlab.slt.theory`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from occamlab._check import check_int, type_error, value_error
from occamlab._result import Result
from occamlab._torch import make_generator

__all__ = ["Teacher", "linear_teacher", "reduced_rank_teacher", "deep_linear_teacher",
           "deep_linear_network", "gaussian_nll"]


@dataclass(frozen=True, repr=False)
class Teacher(Result):
    """Data from a linear teacher.

    Fields:
        x: (n, M) inputs, standard normal.  y: (n, N) targets T·x + σ·ξ.
        matrix: (N, M) the teacher map T (rank ``rank``).
        rank: rank of T.  noise: σ, the noise standard deviation.
        widths: the widths [M, H₁, …, N] of the student it was made for ([M, N] for a linear
            model).
    """

    x: torch.Tensor
    y: torch.Tensor
    matrix: torch.Tensor
    rank: int
    noise: float
    widths: tuple[int, ...]

    @property
    def data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)``, the form :func:`occamlab.slt._llc` takes."""
        return self.x, self.y

    def loss(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """The per-sample negative log-likelihood of this teacher's noise (:func:`gaussian_nll`)."""
        return gaussian_nll(self.noise)


def gaussian_nll(noise: float = 1.0) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Per-sample Gaussian negative log-likelihood without its constant.

    ``loss(out, y) = mean over rows of ‖out − y‖² / (2σ²)`` for outputs of shape (B, N): the L_n
    of Watanabe's theory for y = f(x) + σ·ξ. ``MSELoss`` is this times 2σ²/N.
    """
    noise = _check_noise(noise, positive=True)
    scale = 1.0 / (2.0 * noise ** 2)

    def loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        diff = (out - y).reshape(out.shape[0], -1)
        return scale * (diff * diff).sum(dim=1).mean()

    return loss


def _check_noise(noise: float, positive: bool = False) -> float:
    """``noise`` as a float: TypeError for a non-number, ValueError outside [0, ∞) (or (0, ∞))."""
    what = "a standard deviation " + ("> 0" if positive else "≥ 0")
    if isinstance(noise, bool) or not isinstance(noise, int | float):
        raise type_error("noise", what, noise)
    if not math.isfinite(noise) or noise < 0 or (positive and noise == 0):
        raise value_error("noise", what, noise)
    return float(noise)


def _draw(matrix: torch.Tensor, n: int, noise: float, g: torch.Generator,
          dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    m = matrix.shape[1]
    x = torch.randn(n, m, generator=g, dtype=dtype)
    y = x @ matrix.T + noise * torch.randn(n, matrix.shape[0], generator=g, dtype=dtype)
    return x, y


def _low_rank(n_out: int, n_in: int, rank: int, g: torch.Generator,
              dtype: torch.dtype) -> torch.Tensor:
    # Singular values evenly spaced in [1, 2]: far from 0 at the posterior's scale, so the rank
    # is unambiguous, and O(1) so the teacher is neither trivial nor stiff.
    if rank == 0:
        return torch.zeros(n_out, n_in, dtype=dtype)
    u, _ = torch.linalg.qr(torch.randn(n_out, rank, generator=g, dtype=dtype))
    v, _ = torch.linalg.qr(torch.randn(n_in, rank, generator=g, dtype=dtype))
    s = torch.linspace(2.0, 1.0, rank, dtype=dtype)
    return (u * s) @ v.T


def linear_teacher(n: int, d: int, *, out_dim: int = 1, noise: float = 1.0, seed: int = 0,
                   dtype: torch.dtype = torch.float64) -> Teacher:
    """A full-rank linear teacher T (out_dim × d) with standard normal entries.

    Arguments:
        n: rows.  d: input dimension M.  out_dim: N.  noise: σ.  seed: the seed.

    Returns:
        A :class:`Teacher`; a linear student has d·N parameters and λ = d·N/2.
    """
    n, d = check_int(n, "n", ge=1), check_int(d, "d", ge=1)
    out_dim = check_int(out_dim, "out_dim", ge=1)
    noise = _check_noise(noise)
    g = make_generator(seed)
    t = torch.randn(out_dim, d, generator=g, dtype=dtype)
    x, y = _draw(t, n, noise, g, dtype)
    return Teacher(x, y, t, min(out_dim, d), noise, (d, out_dim))


def reduced_rank_teacher(n: int, M: int, H: int, N: int, rank: int, *,  # noqa: N803
                         noise: float = 1.0, seed: int = 0,
                         dtype: torch.dtype = torch.float64) -> Teacher:
    """A rank-``rank`` teacher (N × M) for a two-layer linear student with H hidden units.

    Returns:
        A :class:`Teacher` with ``widths = (M, H, N)``; λ = ``slt.theory.reduced_rank(M, H, N,
        rank)``.
    """
    return deep_linear_teacher(n, (M, H, N), rank, noise=noise, seed=seed, dtype=dtype)


def deep_linear_teacher(n: int, widths: Sequence[int], rank: int, *, noise: float = 1.0,
                        seed: int = 0, dtype: torch.dtype = torch.float64) -> Teacher:
    """A rank-``rank`` teacher for a deep linear student with the given widths.

    Arguments:
        n: rows.  widths: [M, H₁, …, N] of the student.  rank: 0 ≤ r ≤ min(widths).
        noise: σ.  seed: the seed.

    Returns:
        A :class:`Teacher`; λ = ``slt.theory.deep_linear(widths, rank)``.
    """
    n = check_int(n, "n", ge=1)
    ws = tuple(check_int(w, f"widths[{i}]", ge=1) for i, w in enumerate(widths))
    if len(ws) < 2:
        raise ValueError(f"widths must have at least 2 entries, got {list(widths)}")
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank <= min(ws):
        raise ValueError(f"rank must be an integer in [0, min(widths)] = [0, {min(ws)}], "
                         f"got {rank!r}")
    noise = _check_noise(noise)
    g = make_generator(seed)
    t = _low_rank(ws[-1], ws[0], rank, g, dtype)
    x, y = _draw(t, n, noise, g, dtype)
    return Teacher(x, y, t, rank, noise, ws)


def deep_linear_network(widths: Sequence[int], *, seed: int = 0, init_scale: float | None = None,
                        dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """A bias-free deep linear network ``Linear(H₁→H₂) → … → Linear(H_L→H_{L+1})``.

    Arguments:
        widths: [M, H₁, …, N].  seed: the seed of the initial weights.
        init_scale: entries ~ N(0, init_scale²); default 1/√fan_in.
    """
    ws = [check_int(w, f"widths[{i}]", ge=1) for i, w in enumerate(widths)]
    if len(ws) < 2:
        raise ValueError(f"widths must have at least 2 entries, got {list(widths)}")
    g = make_generator(seed)
    layers = []
    for a, b in zip(ws[:-1], ws[1:], strict=True):
        lin = nn.Linear(a, b, bias=False, dtype=dtype)
        scale = (1 / a ** 0.5) if init_scale is None else float(init_scale)
        with torch.no_grad():
            lin.weight.copy_(scale * torch.randn(b, a, generator=g, dtype=dtype))
        layers.append(lin)
    return nn.Sequential(*layers)
