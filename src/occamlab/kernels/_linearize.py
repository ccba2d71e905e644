"""The linearized network: the first-order Taylor model of a network in its parameters.

f_lin(θ, x) = f(θ₀, x) + J(θ₀, x)·(θ − θ₀) (Lee et al. 2019, arXiv 1902.06720, eq. 6). Trained by
gradient flow on the MSE its outputs follow :func:`occamlab.kernels.predict.gradient_descent_mse`
with the network's empirical NTK at θ₀ exactly, because its NTK J(θ₀)J(θ₀)ᵀ never changes; a wide
network stays close to it (Lee et al. 2019, Thm. 2.1).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from occamlab._check import check_instance
from occamlab._torch import call, jvp

__all__ = ["linearize", "Linearized"]


def _lookup(module: nn.Module, name: str) -> torch.Tensor:
    for part in name.split("."):
        module = getattr(module, part)
    return module


class Linearized(nn.Module):
    """f₀(x) + J(x)·(θ − θ₀) as a module; made by :func:`linearize`.

    Attributes:
        model: a copy of the network whose parameters are the trainable θ (they start at θ₀).
        origin: the expansion point θ₀, a dict of buffers (not trained), keyed like
            ``model.named_parameters()``.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = copy.deepcopy(model)
        self._names = [k for k, p in self.model.named_parameters() if p.requires_grad]
        if not self._names:
            raise ValueError(f"model {type(model).__name__} has no trainable parameters "
                             "(requires_grad=True) to linearize in")
        for i, k in enumerate(self._names):
            self.register_buffer(f"_origin_{i}", self.model.get_parameter(k).detach().clone())

    @property
    def origin(self) -> dict[str, torch.Tensor]:
        return {k: getattr(self, f"_origin_{i}") for i, k in enumerate(self._names)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta0 = self.origin
        # attribute lookup, not get_parameter: under functional_call θ is a plain tensor
        delta = {k: _lookup(self.model, k) - theta0[k] for k in self._names}
        f0, jd = jvp(lambda p: call(self.model, p, x), (theta0,), (delta,))
        return f0 + jd

    def extra_repr(self) -> str:
        n = sum(_lookup(self.model, k).numel() for k in self._names)
        return f"first-order Taylor model in {n} parameters"


def linearize(model: nn.Module) -> Linearized:
    """The first-order Taylor model f₀ + J(θ − θ₀) of ``model`` around its current parameters.

    Lee et al. 2019 (arXiv 1902.06720), eq. 6; J·(θ − θ₀) is one forward-mode Jacobian-vector
    product (``torch.func.jvp``) per call, so no Jacobian is stored.

    Arguments:
        model: any ``torch.nn.Module`` (copied; the original is untouched). Its trainable
            parameters (``requires_grad=True``) are those it is linear in; buffers are kept as
            they are.

    Returns:
        :class:`Linearized`, an ``nn.Module`` mapping x like ``model`` does, with parameters
        ``model.*`` that start at θ₀ (so its outputs start at f₀) and an empirical NTK equal to
        ``model``'s at θ₀ for every θ. Train it with any torch optimizer.
    """
    check_instance(model, "model", nn.Module, "a torch.nn.Module")
    return Linearized(model)
