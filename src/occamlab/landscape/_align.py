"""Permutation alignment of two networks by weight matching (Ainsworth, Hayase & Srinivasa 2023).

Permuting the hidden units of a layer (rows of its weight and bias, and the matching input
columns of the next layer) leaves the function unchanged. Weight matching (Git Re-Basin, ICLR
2023, Sec. 3.2, eq. 2) picks, for every hidden layer ℓ, the permutation P_ℓ of model B's units
that maximizes Σ_ℓ ⟨W_ℓ^A, P_ℓ W_ℓ^B P_{ℓ−1}ᵀ⟩: coordinate descent over the layers in random
order, each step a linear assignment problem

    P_ℓ = argmax_P ⟨P, W_ℓ^A (P_{ℓ−1} W_ℓ^B)ᵀ + b_ℓ^A b_ℓ^Bᵀ + W_{ℓ+1}^Aᵀ P_{ℓ+1} W_{ℓ+1}^B⟩

(solved exactly by ``scipy.optimize.linear_sum_assignment``), until no permutation changes.

Supported: an ``nn.Sequential`` of ``Linear`` and ``Conv1d/2d/3d`` (groups = 1) layers with
elementwise activations, dropout, pooling and ``Flatten`` between them (a convolution's channels
then permute blocks of the flattened features). Not supported, with an error naming the layer:
batch/layer/group norm (their statistics and scales would need permuting too), residual adds and
any other non-Sequential model (a skip connection ties the permutations of the layers it joins),
recurrent and attention layers, nested containers.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from occamlab._check import check_int
from occamlab._torch import check_finite, make_generator
from occamlab.landscape._objective import check_same_architecture

__all__ = ["align"]

_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_PASS = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.SiLU, nn.ELU, nn.SELU,
         nn.CELU, nn.Softplus, nn.Mish, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Tanhshrink,
         nn.Softsign, nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
         nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
         nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
         nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
_SUPPORTED = ("an nn.Sequential of Linear/Conv1d/Conv2d/Conv3d layers with elementwise "
              "activations, dropout, pooling and Flatten")


def _weighted_layers(model: nn.Module, name: str) -> list[nn.Module]:
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"align supports {_SUPPORTED}; {name} is a {type(model).__name__} (a "
                         f"model with residual adds or other branching is not supported: a "
                         f"skip connection ties the permutations of the layers it joins)")
    layers = []
    for i, m in enumerate(model):
        if isinstance(m, _WEIGHTED):
            if getattr(m, "groups", 1) != 1:
                raise ValueError(f"align: {name}[{i}] ({m}) is a grouped convolution, which is "
                                 f"not supported; supported: {_SUPPORTED}")
            layers.append(m)
        elif isinstance(m, nn.Flatten):
            if m.start_dim != 1:
                raise ValueError(f"align: {name}[{i}] flattens from dim {m.start_dim}; only "
                                 f"Flatten(start_dim=1) is supported")
        elif not isinstance(m, _PASS):
            raise ValueError(f"align: {name}[{i}] ({type(m).__name__}) is not supported "
                             f"(batch/layer norm would need its statistics permuted; "
                             f"nested containers and residual blocks are not handled); "
                             f"supported: {_SUPPORTED}")
    if len(layers) < 2:
        raise ValueError(f"align needs at least two Linear/Conv layers (one hidden layer to "
                         f"permute); {name} has {len(layers)}")
    for i in range(1, len(layers)):
        units, fan_in = layers[i - 1].weight.shape[0], layers[i].weight.shape[1]
        if fan_in % units:
            raise ValueError(f"align: layer {i} of {name} takes {fan_in} inputs, not a "
                             f"multiple of the {units} units before it")
    return layers


def _permute_in(w: torch.Tensor, perm: torch.Tensor | None, units: int) -> torch.Tensor:
    # Inputs grouped by unit: (out, units, rest) covers kernels (rest = kernel size),
    # Flatten after a convolution (rest = spatial size, channel-major) and Linear (rest = 1).
    if perm is None:
        return w
    return w.reshape(w.shape[0], units, -1)[:, perm].reshape(w.shape)


def align(model_a: nn.Module, model_b: nn.Module, *, max_iter: int = 100, seed: int | None = 0,
          generator: torch.Generator | None = None) -> tuple[nn.Module, list[torch.Tensor]]:
    """Permute model_b's hidden units to match model_a's by weight matching (Git Re-Basin).

    Arguments:
        model_a: the reference network.
        model_b: the network to permute (not changed); same architecture as model_a.
        max_iter: most sweeps of coordinate descent over the layers.
        seed, generator: the random order of the layers in each sweep.

    Returns:
        ``(b_aligned, perm)``: a copy of model_b with permuted weights, computing the same
        function as model_b; ``perm[ℓ]`` (LongTensor of the layer's width) lists, for each unit
        position i of hidden layer ℓ, the unit of model_b placed there.
    """
    check_same_architecture(model_a, model_b, ("model_a", "model_b"))
    max_iter = check_int(max_iter, "max_iter", ge=1)
    la, lb = _weighted_layers(model_a, "model_a"), _weighted_layers(model_b, "model_b")
    wa = [m.weight.detach().double().cpu() for m in la]
    wb = [m.weight.detach().double().cpu() for m in lb]
    for i, w in enumerate([*wa, *wb]):
        check_finite(w, f"weights of layer {i % len(la)}")
    ba = [m.bias.detach().double().cpu() if m.bias is not None else None for m in la]
    bb = [m.bias.detach().double().cpu() if m.bias is not None else None for m in lb]
    n_hidden = len(la) - 1
    units = [w.shape[0] for w in wa]
    perm: list[torch.Tensor] = [torch.arange(u) for u in units[:-1]]
    gen = make_generator(seed, generator)

    def cost(ell: int) -> np.ndarray:
        n = units[ell]
        prev = perm[ell - 1] if ell > 0 else None
        c = wa[ell].reshape(n, -1) @ _permute_in(wb[ell], prev, units[ell - 1] if ell else 0
                                                 ).reshape(n, -1).T
        if ba[ell] is not None:
            c = c + torch.outer(ba[ell], bb[ell])
        nxt_b = wb[ell + 1][perm[ell + 1]] if ell + 1 < n_hidden else wb[ell + 1]
        a_next = wa[ell + 1].reshape(wa[ell + 1].shape[0], n, -1).transpose(0, 1).reshape(n, -1)
        b_next = nxt_b.reshape(nxt_b.shape[0], n, -1).transpose(0, 1).reshape(n, -1)
        return (c + a_next @ b_next.T).numpy()

    for _ in range(max_iter):
        changed = False
        for ell in torch.randperm(n_hidden, generator=gen).tolist():
            c = cost(ell)
            rows, cols = linear_sum_assignment(c, maximize=True)
            new = torch.as_tensor(cols[np.argsort(rows)], dtype=torch.long)
            old = perm[ell]
            if c[np.arange(units[ell]), new.numpy()].sum() > c[np.arange(units[ell]),
                                                                 old.numpy()].sum() + 1e-12:
                perm[ell], changed = new, True
        if not changed:
            break

    b_aligned = copy.deepcopy(model_b)
    layers = _weighted_layers(b_aligned, "model_b")
    with torch.no_grad():
        for ell, m in enumerate(layers):
            w = m.weight
            if ell < n_hidden:
                w = w[perm[ell].to(w.device)]
            if ell > 0:
                w = _permute_in(w, perm[ell - 1].to(w.device), units[ell - 1])
            m.weight.copy_(w)
            if m.bias is not None and ell < n_hidden:
                m.bias.copy_(m.bias[perm[ell].to(m.bias.device)])
    return b_aligned, perm
