"""Small models and data shared by the landscape tests."""

from __future__ import annotations

import torch
from torch import nn


def mlp(widths: list[int], *, seed: int = 0, act: type[nn.Module] = nn.Tanh,
        dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """A Sequential MLP with the given layer widths and one activation between linear layers."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b, dtype=dtype))
        if i < len(widths) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def regression(n: int, d: int, k: int, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian inputs (n, d) and targets (n, k), float64."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=g, dtype=torch.float64),
            torch.randn(n, k, generator=g, dtype=torch.float64))


def classification(n: int, d: int, classes: int, *, seed: int = 0
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian inputs (n, d) and uniform labels (n,)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=g, dtype=torch.float64),
            torch.randint(0, classes, (n,), generator=g))


def dense_hessian(model: nn.Module, loss_fn, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The Hessian by torch.func.jacrev twice of the flat-parameter loss: an independent oracle."""
    from torch.func import functional_call, jacrev

    names = [k for k, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    w0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def f(w):
        parts = {n: t.reshape(s) for n, t, s in zip(names, torch.split(w, sizes), shapes)}
        return loss_fn(functional_call(model, parts, (x,)), y)

    return jacrev(jacrev(f))(w0)  # reverse over reverse: an independent route
