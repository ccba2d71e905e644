"""Exact mode dynamics of deep linear networks from balanced, aligned initialisation (Saxe et al.).

Setting. A deep linear network ``f(x) = W_L ⋯ W_1 x`` (no biases) is trained by gradient flow on

    ℒ(W) = 1/(2n) · Σ_μ ‖f(x_μ) − y_μ‖²

with whitened inputs, ``(1/n) Σ_μ x_μ x_μᵀ = I``. Then ``ℒ = ½‖W_L⋯W_1 − Σ_yx‖²_F + ℒ_irr``
with ``Σ_yx = (1/n) Σ_μ y_μ x_μᵀ = U diag(s) Vᵀ`` and ``ℒ_irr = ½·mean‖y‖² − ½·Σ sᵢ²`` (what no
linear map explains). In the balanced, aligned initialisation every layer carries the same
strength ``w`` on each singular mode, ``W_1 = R_1 diag(w) Vᵀ``, ``W_l = R_l diag(w) R_{l−1}ᵀ``,
``W_L = U diag(w) R_{L−1}ᵀ`` with orthonormal ``R_l``; gradient flow keeps that form, and each
mode's layer strength obeys ``τ·dw/dt = w^{L−1}(s − w^L)``. The end-to-end mode strength
``u = w^L`` (the mode's singular value of ``W_L⋯W_1``) therefore obeys

    τ·du/dt = L·u^{2−2/L}·(s − u),                                                  (★)

which for L = 2 is Saxe et al.'s ``τ·du/dt = 2u(s − u)`` with the logistic solution
``u(t) = s·e^{2st/τ} / (e^{2st/τ} − 1 + s/u₀)`` (Saxe, McClelland, Ganguli 2014, arXiv 1312.6120:
their two-layer mode solution, and their reduction of deeper networks to one strength per mode;
the saddle-to-saddle picture is Jacot et al. 2021, arXiv 2106.15933). The loss is
``½·Σᵢ (sᵢ − uᵢ)² + ℒ_irr``.

Time units. With ``τ = 1`` the time ``t`` is gradient-flow time of ℒ, i.e. learning rate × number
of steps: plain gradient descent with learning rate η on ℒ (the mean, not the sum, over the n
samples) after k steps is at ``t = k`` with ``τ = 1/η``, or at ``t = η·k`` with ``τ = 1``. For the
summed loss ``½·Σ_μ‖f(x_μ) − y_μ‖²`` the gradient is n times larger: ``τ = 1/(n·η)`` per step.

Depth L ≥ 3 is solved exactly, not by a time stepper: with ``x = (u/s)^{1/L}``, (★) separates into
``dt = τ·s^{2/L−2} dx / (x^{L−1}(1 − x^L))``, whose antiderivative is

    T(x) = x^{2−L}/(2−L) − (1/L) Σ_{j=0}^{L−1} Re[ω_j² log(1 − x ω̄_j)],   ω_j = e^{2πij/L}

(partial fractions of ``x/(1 − x^L)`` over the L-th roots of unity). So
``t = τ·s^{2/L−2}·(T(x) − T(x₀))``, and ``u(t)`` is its inverse, found by bisection in ``log x``
(T is monotone between x₀ and 1), vectorized over modes and times and exact to float64 rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from occamlab._check import check_int, check_real
from occamlab._result import Result
from occamlab._torch import as_tensor

__all__ = ["SaxeResult", "saxe"]

_BISECTIONS = 80  # halves a bracket of width ≤ 2·|log x₀| ≤ ~1.5e3 down to below 1e-20


@dataclass(frozen=True, repr=False)
class SaxeResult(Result):
    """Predicted mode strengths of a deep linear network over time (:func:`saxe`).

    Attributes:
        times: (T,) the times asked for, in the units of ``tau`` (see :func:`saxe`).
        singular_values: (m,) the target's singular values sᵢ.
        init_scale: (m,) the initial end-to-end mode strengths u_i(0).
        depth: number of weight layers L.
        tau: the time constant τ.
        strengths: (T, m) end-to-end mode strengths u_i(t) (the singular values of W_L⋯W_1 on
            the target's modes).
        loss: (T,) ½·Σᵢ (sᵢ − uᵢ(t))², the loss above its irreducible part ℒ_irr.
        plateau_losses: (m+1,) ½·Σ_{i>k} sᵢ² for k = 0…m over the singular values sorted in
            descending order: the loss on the plateau where the k largest modes are learned.
        half_times: (m,) the time at which u_i first reaches s_i/2 (0 where it starts there).
    """

    times: torch.Tensor
    singular_values: torch.Tensor
    init_scale: torch.Tensor
    depth: int
    tau: float
    strengths: torch.Tensor
    loss: torch.Tensor
    plateau_losses: torch.Tensor
    half_times: torch.Tensor

    def plot(self, ax: Any = None) -> Any:
        """Mode strengths u_i(t)/s_i against t, the half-learned times dotted; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        t = self.times.detach().cpu().numpy()
        u = self.strengths.detach().cpu().numpy()
        s = self.singular_values.detach().cpu().numpy()
        th = self.half_times.detach().cpu().numpy()
        for i in range(u.shape[1]):
            line, = ax.plot(t, u[:, i], lw=1.5, label=f"mode {i + 1}: s = {s[i]:.3g}")
            ax.axhline(s[i], color=line.get_color(), lw=0.6, ls=":")
            if 0 < th[i] <= t.max():
                ax.axvline(th[i], color=line.get_color(), lw=0.6, ls="--")
        ax.set_xlabel(f"time t (τ = {self.tau:.3g})")
        ax.set_ylabel("mode strength u(t)")
        ax.set_title(f"Saxe dynamics, depth {self.depth}")
        ax.legend(fontsize=7)
        return ax


def _antiderivative(x: torch.Tensor, depth: int) -> torch.Tensor:
    """T(x) with T'(x) = 1 / (x^{L−1}(1 − x^L)) for L ≥ 3, x > 0, x ≠ 1 (module docstring)."""
    total = x.pow(2 - depth) / (2 - depth)
    for j in range(depth):
        theta = 2 * math.pi * j / depth
        c, s = math.cos(theta), math.sin(theta)
        # Re[ω² log(1 − x ω̄)] = cos 2θ · log|1 − x ω̄| − sin 2θ · arg(1 − x ω̄); the argument is
        # continuous along (0, ∞) (the imaginary part x·sin θ never changes sign), so this is
        # the antiderivative on each side of x = 1.
        log_abs = 0.5 * torch.log((1 - x * c) ** 2 + (x * s) ** 2)
        arg = torch.atan2(x * s, 1 - x * c)
        total = total - (math.cos(2 * theta) * log_abs - math.sin(2 * theta) * arg) / depth
    return total


def _deep(s: torch.Tensor, u0: torch.Tensor, t: torch.Tensor, depth: int,
          tau: float) -> torch.Tensor:
    """Solution of (★) for L ≥ 3, s > 0, u₀ ≠ s: (T, m) from s, u0 (m,) and t (T,)."""
    x0 = (u0 / s).pow(1.0 / depth)
    target = _antiderivative(x0, depth) + t[:, None] * s.pow(2 - 2.0 / depth) / tau
    # bracket log x between log x₀ and 0 (x → 1 as t → ∞), from either side
    lo = torch.minimum(x0.log(), torch.zeros_like(x0)).expand_as(target).clone()
    hi = torch.maximum(x0.log(), torch.zeros_like(x0)).expand_as(target).clone()
    rising = (x0 < 1).expand_as(target)
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        below = _antiderivative(mid.exp(), depth) < target  # T still short of the target
        # rising (x₀ < 1): T increases with x, so x lies above mid; falling: T decreases with x
        go_up = below == rising
        lo = torch.where(go_up, mid, lo)
        hi = torch.where(go_up, hi, mid)
    return s * (0.5 * (lo + hi)).exp().pow(depth)


def _closed(s: torch.Tensor, u0: torch.Tensor, t: torch.Tensor, depth: int,
            tau: float) -> torch.Tensor:
    """Closed forms for L = 1 and L = 2, valid for every s ≥ 0: (T, m)."""
    t = t[:, None] / tau
    if depth == 1:  # τ·du/dt = s − u
        return s + (u0 - s) * torch.exp(-t)
    # u = s·e^z/(e^z − 1 + s/u₀), z = 2st, written with e^{−z} so that it neither overflows nor
    # loses s = 0: u = 1 / ((1 − e^{−z})/s + e^{−z}/u₀), (1 − e^{−z})/s = 2t·(−expm1(−z)/z).
    z = 2 * s * t
    ratio = torch.where(z > 0, -torch.expm1(-z) / torch.where(z > 0, z, 1.0), 1.0)
    return 1.0 / (2 * t * ratio + torch.exp(-z) / u0)


def _half_times(s: torch.Tensor, u0: torch.Tensor, depth: int, tau: float) -> torch.Tensor:
    """First time with u = s/2, from (★) integrated exactly; 0 where u₀ ≥ s/2."""
    late = u0 < s / 2
    s_, u_ = torch.where(late, s, 1.0), torch.where(late, u0, 0.25)
    if depth == 1:
        t = torch.log(2 * (s_ - u_) / s_)
    elif depth == 2:
        t = torch.log(s_ / u_ - 1) / (2 * s_)
    else:
        x0 = (u_ / s_).pow(1.0 / depth)
        xh = torch.full_like(x0, 0.5 ** (1.0 / depth))
        t = s_.pow(2.0 / depth - 2) * (_antiderivative(xh, depth) - _antiderivative(x0, depth))
    return torch.where(late, tau * t, torch.zeros_like(t))


def saxe(singular_values: Any, init_scale: Any, t: Any, *, depth: int = 2,
         tau: float = 1.0) -> SaxeResult:
    """Mode strengths over time of a deep linear network from balanced, aligned initialisation.

    Each singular mode of the target evolves on its own under (★) ``τ·du/dt = L·u^{2−2/L}(s − u)``:
    for L = 2 by Saxe et al.'s closed form ``u(t) = s·e^{2st/τ}/(e^{2st/τ} − 1 + s/u₀)`` (Saxe,
    McClelland, Ganguli 2014, arXiv 1312.6120), for L ≥ 3 by inverting the exact time integral of
    (★) (module docstring); from small u₀ the modes are learned one at a time, largest first, with
    the loss resting on the plateaus ½·Σ_{i>k} sᵢ² in between (Jacot et al. 2021, arXiv 2106.15933).

    Units: for a network ``f = W_L⋯W_1`` trained on ``ℒ = 1/(2n)·Σ_μ‖f(x_μ) − y_μ‖²`` with whitened
    inputs (``(1/n)Σ x xᵀ = I``), ``sᵢ`` are the singular values of ``Σ_yx = (1/n)Σ_μ y_μ x_μᵀ``,
    ``u`` is the end-to-end mode strength (a balanced net with per-layer strength w₀ has
    ``u₀ = w₀^L``), and ``t`` counts gradient-descent steps when ``tau = 1/learning_rate`` (or is
    learning rate × steps when ``tau = 1``). For a loss summed over the n samples,
    ``tau = 1/(n·learning_rate)``. Gradient descent follows this gradient flow up to O(lr).

    Arguments:
        singular_values: (m,) or a number: the target's singular values sᵢ ≥ 0.
        init_scale: (m,) or a number (shared by every mode): u_i(0) > 0.
        t: (T,) or a number: times ≥ 0.
        depth: the number of weight layers L ≥ 1 (1 is linear regression: u relaxes
            exponentially).
        tau: the time constant τ > 0.

    Returns:
        :class:`SaxeResult` with ``strengths`` (T, m), ``loss`` (T,), ``plateau_losses`` (m+1,)
        and ``half_times`` (m,), float64 on the device of ``singular_values``.
    """
    depth = check_int(depth, "depth", ge=1)
    tau = check_real(tau, "tau", gt=0)
    s = as_tensor(singular_values, "singular_values", dtype=torch.float64, ndim=(0, 1))
    device = s.device
    s = s.reshape(-1)
    if s.numel() == 0:
        raise ValueError("singular_values must hold at least one value, got an empty array")
    if bool((s < 0).any()):
        raise ValueError(f"singular_values must be ≥ 0 (singular values of Σ_yx), got "
                         f"{s.tolist()}")
    u0 = as_tensor(init_scale, "init_scale", dtype=torch.float64, device=device, ndim=(0, 1))
    u0 = u0.reshape(-1)
    if u0.numel() not in (1, s.numel()):
        raise ValueError(f"init_scale must be a number or have one entry per singular value "
                         f"({s.numel()}), got {u0.numel()} entries")
    if bool((u0 <= 0).any()):
        raise ValueError(f"init_scale must be > 0 (a mode at u = 0 sits on a fixed point and "
                         f"never learns), got {u0.tolist()}")
    u0 = u0.expand_as(s).clone()
    times = as_tensor(t, "t", dtype=torch.float64, device=device, ndim=(0, 1)).reshape(-1)
    if bool((times < 0).any()):
        raise ValueError(f"t must be ≥ 0 (time since initialisation), got min {times.min():.3g}")

    if depth <= 2:
        u = _closed(s, u0, times, depth, tau)
    else:
        u = torch.empty(times.numel(), s.numel(), dtype=torch.float64, device=device)
        moving = (s > 0) & (u0 != s)
        if bool(moving.any()):
            u[:, moving] = _deep(s[moving], u0[moving], times, depth, tau)
        still = u0 == s
        u[:, still] = s[still]
        if bool((s == 0).any()):
            # s = 0: τ·dw/dt = −w^{2L−1}, so w^{2−2L} grows linearly in t:
            # u = (u₀^{(2−2L)/L} + (2L−2)·t/τ)^{−L/(2L−2)}
            zero = s == 0
            base = u0[zero].pow((2 - 2 * depth) / depth) + (2 * depth - 2) * times[:, None] / tau
            u[:, zero] = base.pow(-depth / (2 * depth - 2))
    return SaxeResult(times=times, singular_values=s, init_scale=u0, depth=depth, tau=tau,
                      strengths=u, loss=0.5 * ((s - u) ** 2).sum(-1),
                      plateau_losses=_plateau_losses(s), half_times=_half_times(s, u0, depth, tau))


def _plateau_losses(s: torch.Tensor) -> torch.Tensor:
    """(m+1,) ½·Σ_{i>k} sᵢ² for k = 0…m, the singular values sorted in descending order."""
    squares = torch.sort(s, descending=True).values ** 2
    tail = torch.cat([torch.flip(torch.cumsum(torch.flip(squares, [0]), 0), [0]),
                      squares.new_zeros(1)])
    return 0.5 * tail


def plateau_rank(loss: float, singular_values: Any, *, rtol: float = 0.05,
                 atol: float = 1e-3) -> int | None:
    """The number k of learned modes whose plateau ½·Σ_{i>k} sᵢ² the loss sits on, else None.

    A loss within ``rtol`` (relative) of a plateau's level is on it; the last plateau, every
    nonzero mode learned (level 0), takes any loss below ``atol``. Plateaus as in :func:`saxe`
    (Saxe et al. 2014, arXiv 1312.6120, §2: the loss between mode transitions).
    """
    s = as_tensor(singular_values, "singular_values", dtype=torch.float64, ndim=1)
    loss = check_real(loss, "loss", ge=0)
    levels = _plateau_losses(s).tolist()
    for k in range(int((s > 0).sum()) + 1):
        if (levels[k] > 0 and abs(loss - levels[k]) <= rtol * levels[k]) or (
                levels[k] == 0 and loss < atol):
            return k
    return None
