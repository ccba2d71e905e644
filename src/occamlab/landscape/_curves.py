"""Low-loss curves between two models: mode connectivity (Garipov et al. 2018).

A curve φ_θ(t), t ∈ [0, 1], joins the end points w₁ = φ(0) and w₂ = φ(1) through trainable bends
θ₁ … θ_n (Garipov, Izmailov, Podoprikhin, Vetrov & Wilson 2018, NeurIPS, Sec. 3):

- Bézier: φ(t) = Σ_{i=0}^{n+1} C(n+1, i) tⁱ (1 − t)^{n+1−i} θᵢ with θ₀ = w₁, θ_{n+1} = w₂; one
  bend gives their eq. 3, φ(t) = (1 − t)² w₁ + 2t(1 − t) θ + t² w₂;
- polygonal chain: straight segments through θ₁ … θ_n at t = i/(n + 1) (their eq. 2 for n = 1).

The bends start on the straight segment and are trained to minimize E_{t∼U(0,1)} L(φ_θ(t)) (their
eq. 5) by Adam on minibatches, one t per step. The trained curve's loss is then evaluated on a
grid of t, with the barriers of :func:`interpolate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from occamlab._check import check_choice, check_int, check_real
from occamlab._progress import track
from occamlab._result import Result
from occamlab._torch import make_generator, unflatten
from occamlab.landscape._interpolate import _plot_path, barriers
from occamlab.landscape._objective import check_same_architecture, make_objective

__all__ = ["connect", "Curve", "curve_point"]

KINDS = ("bezier", "polychain")


def curve_point(kind: str, control: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """φ(t) for control points (n + 2, P) (end points first and last)."""
    m = control.shape[0] - 1
    t = torch.as_tensor(t, dtype=control.dtype, device=control.device)
    if kind == "bezier":
        i = torch.arange(m + 1, dtype=control.dtype, device=control.device)
        binom = torch.tensor([math.comb(m, int(k)) for k in range(m + 1)], dtype=control.dtype,
                             device=control.device)
        coef = binom * t ** i * (1 - t) ** (m - i)
        return coef @ control
    s = (t * m).clamp(0, m)
    j = int(min(int(s), m - 1))
    frac = s - j
    return (1 - frac) * control[j] + frac * control[j + 1]


@dataclass(frozen=True, repr=False)
class Curve(Result):
    """A trained curve between two models.

    Fields:
        kind: ``"bezier"`` or ``"polychain"``.
        t: (steps,) evaluation points from 0 to 1.
        loss: (steps,) L(φ(t)) on the data.
        barrier, barrier_linear: as for :class:`Interpolation`, along the curve.
        control_points: (bends + 2, P) θ₀ = w₁, the trained bends, θ_{n+1} = w₂ (flat).
        train_loss: (train_steps,) the minibatch loss L(φ(t)) at the sampled t of each step.
        names: the parameter names, in the order of the flat vectors.
    """

    kind: str
    t: torch.Tensor
    loss: torch.Tensor
    barrier: float
    barrier_linear: float
    control_points: torch.Tensor
    train_loss: torch.Tensor
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    def point(self, t: float) -> dict[str, torch.Tensor]:
        """φ(t) as a dict name → tensor (for ``model.load_state_dict(..., strict=False)``)."""
        t = check_real(t, "t", ge=0, le=1)
        like = {n: torch.empty(s) for n, s in zip(self.names, self.shapes)}
        return unflatten(curve_point(self.kind, self.control_points, t), like)

    plot = _plot_path


def connect(model_a: nn.Module, model_b: nn.Module, loss_fn: Any, data: Any, *,
            kind: str = "bezier", bends: int = 1, train_steps: int = 500, lr: float = 1e-2,
            batch_size: int = 128, steps: int = 25, seed: int | None = 0,
            generator: torch.Generator | None = None, progress: bool = False) -> Curve:
    """Train a low-loss curve between two models of the same architecture (Garipov et al. 2018).

    Arguments:
        model_a, model_b: the end points (not changed).
        loss_fn, data: as for :func:`hessian`; ``loss_fn(output, target)`` a scalar mean.
        kind: ``"bezier"`` or ``"polychain"``.
        bends: trainable control points n ≥ 1.
        train_steps: Adam steps; each draws t ∼ U(0, 1) and a minibatch.
        lr: Adam's learning rate.
        batch_size: rows per training step (and per evaluation pass).
        steps: grid points of t on which the trained curve is evaluated (on all the data).
        seed, generator: t, the minibatches.
        progress: show a progress bar.

    Returns:
        :class:`Curve` with ``t``, ``loss``, ``barrier``, ``barrier_linear``, ``control_points``.
    """
    check_same_architecture(model_a, model_b, ("model_a", "model_b"))
    kind = check_choice(kind, "kind", KINDS)
    bends = check_int(bends, "bends", ge=1)
    train_steps = check_int(train_steps, "train_steps", ge=0)
    lr = check_real(lr, "lr", gt=0)
    batch_size = check_int(batch_size, "batch_size", ge=1)
    steps = check_int(steps, "steps", ge=2)
    obj = make_objective(model_a, loss_fn, data, batch_size=batch_size)
    w_a = obj.w0
    w_b = make_objective(model_b, loss_fn, data, batch_size=batch_size).w0.to(w_a)
    frac = torch.arange(1, bends + 1, dtype=w_a.dtype, device=w_a.device) / (bends + 1)
    theta = ((1 - frac)[:, None] * w_a + frac[:, None] * w_b).clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    gen = make_generator(seed, generator)
    n_batches = len(obj.weights)
    history = torch.zeros(train_steps, dtype=w_a.dtype)
    for it in track(range(train_steps), description="training the curve", enabled=progress):
        t = float(torch.rand((), generator=gen, dtype=torch.float64))
        b = int(torch.randint(0, n_batches, (), generator=gen))
        control = torch.cat([w_a[None], theta, w_b[None]])
        loss = obj.batch_loss(curve_point(kind, control, t), b)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history[it] = loss.detach()
    control = torch.cat([w_a[None], theta.detach(), w_b[None]])
    grid = torch.linspace(0, 1, steps, dtype=w_a.dtype, device=w_a.device)
    loss = torch.stack([obj.value(curve_point(kind, control, s)) for s in grid])
    return Curve(kind, grid, loss, *barriers(grid, loss), control, history,
                 tuple(obj.like), tuple(tuple(p.shape) for p in obj.like.values()))
