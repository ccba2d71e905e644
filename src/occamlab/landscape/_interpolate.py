"""The loss along the straight line between two models, and its barrier.

Along θ(t) = (1 − t) θ_A + t θ_B the loss barrier has two conventions in use:

- ``barrier`` = max_t L(θ(t)) − ½ (L(θ_A) + L(θ_B)) (Ainsworth, Hayase & Srinivasa 2023, Git
  Re-Basin, ICLR, Sec. 2; Frankle et al. 2020 measure error the same way);
- ``barrier_linear`` = max_t [L(θ(t)) − ((1 − t) L(θ_A) + t L(θ_B))] (Entezari, Sedghi, Saukh &
  Neyshabur 2022, ICLR, Def. 1): the height above the chord between the end losses.

They agree when L(θ_A) = L(θ_B).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from occamlab._check import check_int
from occamlab._result import Result
from occamlab.landscape._objective import check_same_architecture, make_objective

__all__ = ["interpolate", "Interpolation", "barriers"]


def barriers(t: torch.Tensor, loss: torch.Tensor) -> tuple[float, float]:
    """(Git Re-Basin barrier, Entezari et al. barrier) of losses (S,) at t (S,), t from 0 to 1."""
    ends = 0.5 * (loss[0] + loss[-1])
    chord = (1 - t) * loss[0] + t * loss[-1]
    return float(loss.max() - ends), float((loss - chord).max())


def _plot_path(self, ax=None, **kwargs):
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    ax.plot(self.t.detach().cpu().numpy(), self.loss.detach().cpu().numpy(), **kwargs)
    ax.set_xlabel("t")
    ax.set_ylabel("loss")
    return ax


@dataclass(frozen=True, repr=False)
class Interpolation(Result):
    """The loss along θ(t) = (1 − t) θ_A + t θ_B.

    Fields:
        t: (steps,) from 0 to 1.
        loss: (steps,) L(θ(t)).
        barrier: max_t L(θ(t)) − ½(L(0) + L(1)) (Git Re-Basin).
        barrier_linear: max_t [L(θ(t)) − ((1−t)L(0) + tL(1))] (Entezari et al. 2022).
    """

    t: torch.Tensor
    loss: torch.Tensor
    barrier: float
    barrier_linear: float

    plot = _plot_path


def interpolate(model_a: nn.Module, model_b: nn.Module, loss_fn: Any, data: Any, *,
                steps: int = 25, batch_size: int | None = None) -> Interpolation:
    """The loss on the segment between two models of the same architecture.

    Arguments:
        model_a, model_b: ``nn.Module``s with the same parameter names and shapes. The
            trainable parameters are interpolated; buffers are model_a's (batch-norm statistics
            would need recomputing along the path, which this does not do).
        loss_fn, data: as for :func:`hessian`.
        steps: points on the segment, t = 0 … 1 (≥ 2).
        batch_size: rows per loss evaluation.

    Returns:
        :class:`Interpolation` with ``t``, ``loss``, ``barrier``, ``barrier_linear``.
    """
    check_same_architecture(model_a, model_b, ("model_a", "model_b"))
    steps = check_int(steps, "steps", ge=2)
    obj_a = make_objective(model_a, loss_fn, data, batch_size=batch_size)
    w_b = make_objective(model_b, loss_fn, data, batch_size=batch_size).w0.to(obj_a.w0)
    t = torch.linspace(0, 1, steps, dtype=obj_a.w0.dtype, device=obj_a.w0.device)
    loss = torch.stack([obj_a.value((1 - s) * obj_a.w0 + s * w_b) for s in t])
    return Interpolation(t, loss, *barriers(t, loss))
