"""Loss surfaces along filter-normalized random directions (Li, Xu, Taylor, Studer & Goldstein
2018).

A random Gaussian direction d is rescaled filter by filter to the norm of the weights it perturbs
(Li et al. 2018, NeurIPS, Sec. 4, eq. 1):

    d_{i,j} ← d_{i,j} / ‖d_{i,j}‖ · ‖θ_{i,j}‖,

where j runs over the filters of layer i — slices along dim 0 of each weight (output channels of
a convolution, rows of a linear layer). 1-D parameters (biases, norm scales) are set to zero under
``ignore="biasbn"`` (Li et al.'s choice), or treated as one filter each under ``ignore="none"``.
The surface is then L(θ + α d₁ + β d₂) on a grid of (α, β) (or L(θ + α d₁) for one direction).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from occamlab._check import check_choice, check_instance, check_int, check_real
from occamlab._result import Result
from occamlab._torch import flatten, make_generator
from occamlab.landscape._objective import make_objective

__all__ = ["filter_normalize", "surface", "Surface"]


def filter_normalize(model: nn.Module, *, seed: int | None = 0,
                     generator: torch.Generator | None = None,
                     ignore: str = "biasbn") -> dict[str, torch.Tensor]:
    """A random direction in parameter space, filter-normalized (Li et al. 2018, eq. 1).

    Arguments:
        model: any ``nn.Module``; its trainable parameters set the filter norms.
        seed, generator: the Gaussian draw.
        ignore: ``"biasbn"`` zeroes 1-D parameters; ``"none"`` rescales each to its own norm.

    Returns:
        A dict name → tensor shaped like each trainable parameter (on its device and dtype).
    """
    check_instance(model, "model", nn.Module, "a torch.nn.Module")
    ignore = check_choice(ignore, "ignore", ("biasbn", "none"))
    gen = make_generator(seed, generator)
    out = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        d = torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device)
        if p.ndim <= 1:
            if ignore == "biasbn":
                d = torch.zeros_like(p)
            else:
                d = d / d.norm().clamp_min(1e-30) * p.detach().norm()
        else:
            dn = d.reshape(d.shape[0], -1).norm(dim=1).clamp_min(1e-30)
            pn = p.detach().reshape(p.shape[0], -1).norm(dim=1)
            d = d * (pn / dn).reshape(-1, *([1] * (p.ndim - 1)))
        out[name] = d
    return out


@dataclass(frozen=True, repr=False)
class Surface(Result):
    """The loss on a grid around the model's parameters.

    Fields:
        coords: (steps,) the offsets α (and β) along each direction.
        loss: (steps,) for one direction, (steps, steps) for two, ``loss[i, j]`` at
            (α = coords[i], β = coords[j]).
        center_loss: L(θ) at the model's parameters.
        directions: (dims, P) the flattened directions used.
    """

    coords: torch.Tensor
    loss: torch.Tensor
    center_loss: float
    directions: torch.Tensor

    def plot(self, ax=None, *, levels: int = 20, **kwargs):
        """A line (one direction) or filled contours (two), with the model at the origin."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(5, 4))[1]
        c = self.coords.detach().cpu().numpy()
        z = self.loss.detach().cpu().numpy()
        if z.ndim == 1:
            ax.plot(c, z, **kwargs)
            ax.set_xlabel("α (filter-normalized direction)")
            ax.set_ylabel("loss")
        else:
            cs = ax.contourf(c, c, z.T, levels=levels, **kwargs)
            ax.figure.colorbar(cs, ax=ax, label="loss")
            ax.plot([0], [0], "k+", ms=10)
            ax.set_xlabel("α")
            ax.set_ylabel("β")
        return ax


def surface(model: nn.Module, loss_fn: Any, data: Any, *, dims: int = 2, steps: int = 21,
            span: float = 1.0, seed: int | None = 0, generator: torch.Generator | None = None,
            directions: list[dict[str, torch.Tensor]] | None = None,
            ignore: str = "biasbn", batch_size: int | None = None) -> Surface:
    """L(θ + α d₁ + β d₂) on a ``steps × steps`` grid of α, β ∈ [−span, span] (Li et al. 2018).

    Arguments:
        model, loss_fn, data: as for :func:`hessian`; the model is not changed.
        dims: 1 (a line) or 2 (a plane).
        steps: grid points per axis (≥ 2).
        span: the grid half-width in units of the filter-normalized directions.
        seed, generator: draw the directions (ignored when ``directions`` is given).
        directions: ``dims`` dicts name → tensor (e.g. from :func:`filter_normalize`).
        ignore: passed to :func:`filter_normalize`.
        batch_size: rows per loss evaluation.

    Returns:
        :class:`Surface` with ``coords`` and ``loss``; ``.plot()``.
    """
    dims = check_int(dims, "dims", ge=1, le=2)
    steps = check_int(steps, "steps", ge=2)
    span = check_real(span, "span", gt=0)
    obj = make_objective(model, loss_fn, data, batch_size=batch_size)
    if directions is None:
        gen = make_generator(seed, generator)
        directions = [filter_normalize(model, generator=gen, ignore=ignore) for _ in range(dims)]
    if len(directions) != dims:
        raise ValueError(f"directions must hold dims = {dims} direction(s), got "
                         f"{len(directions)}")
    dirs = []
    for i, d in enumerate(directions):
        if not isinstance(d, dict) or set(d) != set(obj.like):
            raise ValueError(f"directions[{i}] must be a dict with one tensor per trainable "
                             f"parameter ({list(obj.like)})")
        dirs.append(flatten({k: torch.as_tensor(d[k]).to(obj.w0) for k in obj.like}))
    dirs = torch.stack(dirs)
    coords = torch.linspace(-span, span, steps, dtype=obj.w0.dtype, device=obj.w0.device)
    w0 = obj.w0
    if dims == 1:
        loss = torch.stack([obj.value(w0 + a * dirs[0]) for a in coords])
    else:
        loss = torch.stack([torch.stack([obj.value(w0 + a * dirs[0] + b * dirs[1])
                                         for b in coords]) for a in coords])
    return Surface(coords, loss, float(obj.value(w0)), dirs)
