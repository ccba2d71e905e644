"""Empirical NTK and NNGP of any PyTorch model at finite width.

The empirical neural tangent kernel of a network f(θ, x) ∈ R^O is

    Θ(x, x')_{o o'} = Σ_p ∂f_o(x)/∂θ_p · ∂f_{o'}(x')/∂θ_p = [J(x) J(x')ᵀ]_{o o'}

(Jacot, Gabriel, Hongler 2018, arXiv 1806.07572, eq. 2 and §4; Lee et al. 2019, arXiv 1902.06720,
eq. 2). Three ways to compute it, named after the implementations of neural-tangents
(Novak, Sohl-Dickstein, Schoenholz 2022, "Fast Finite Width Neural Tangent Kernel", arXiv
2206.08720):

- ``"jacobian"``: per-sample Jacobians by reverse mode, then their contraction (NT
  implementation 1);
- ``"jvp"``: NTK-vector products, Θ·v = J(x)·(J(x')ᵀ v): a vector-Jacobian product on x' followed
  by a forward-mode Jacobian-vector product on x (NT implementation 2);
- ``"layerwise"``: structured derivatives (the idea of NT implementation 3) for chains of
  ``nn.Linear``/``nn.Conv1d``/``nn.Conv2d`` and parameter-free modules. For a layer z = W·h + b,
  ∂f_o/∂W = Σ_p g_{o,p} ⊗ h_p with g_o = ∂f_o/∂z the backpropagated output signal, so its share of
  the kernel is a product of Grams, Σ_{p,q} (g_{o,p}·g'_{o',q})·(h_p·h'_q + 1), and the Jacobian of
  all parameters is never formed (see :mod:`occamlab.kernels._empirical_layerwise`).

All three are blocked over the inputs (``batch_size``) so memory stays bounded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.func import jacrev, vmap

from occamlab._check import check_int
from occamlab._modules import Capture, check_eval_mode, find_submodule
from occamlab._progress import track
from occamlab._torch import as_tensor, batch_slices, call, jvp, model_device_dtype, trainable_params
from occamlab.kernels._empirical_layerwise import (
    Step,
    dense_contract,
    gram_rows,
    layerwise_factor,
    layerwise_plan,
    layerwise_sizes,
    own_modules,
)

__all__ = ["empirical_ntk", "empirical_nngp", "METHODS"]

METHODS = ("auto", "jacobian", "jvp", "layerwise")

# Elements (not bytes) one block of per-sample factors may hold when batch_size=None: 2**27 is
# 1 GiB in float64 (512 MiB in float32); two blocks and their product fit on a small machine.
_BUDGET = 2**27


# --------------------------------------------------------------------------- validation


def _check_model(model: Any) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")


def _prepare(x: Any, name: str, device: torch.device, dtype: torch.dtype
             ) -> tuple[torch.Tensor, torch.device]:
    """``x`` validated and moved to the model's device and dtype, plus the device it came from."""
    t = as_tensor(x, name)
    if t.ndim < 2:
        raise ValueError(
            f"{name} must have shape (n, ...) with a sample axis and at least one feature axis, "
            f"got shape {tuple(t.shape)}"
        )
    if t.shape[0] == 0:
        raise ValueError(f"{name} has no samples (shape {tuple(t.shape)}); need n ≥ 1")
    return t.to(device=device, dtype=dtype), t.device


def _prepare_pair(model: nn.Module, x1: Any, x2: Any
                  ) -> tuple[torch.Tensor, torch.Tensor | None, torch.device]:
    device, dtype = model_device_dtype(model)
    a, home = _prepare(x1, "x1", device, dtype)
    if x2 is None:
        return a, None, home
    b, _ = _prepare(x2, "x2", device, dtype)
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(
            f"x1 and x2 must have the same feature shape (they may differ in the number of "
            f"samples only); got x1 {tuple(a.shape)} and x2 {tuple(b.shape)}"
        )
    return a, b, home


def _output_size(model: nn.Module, x: torch.Tensor, name: str = "x1") -> int:
    with torch.no_grad():
        try:
            y = model(x[:1])
        except RuntimeError as e:  # a shape mismatch inside the user's forward
            raise ValueError(f"model could not be evaluated on {name} of shape "
                             f"{tuple(x.shape)} (check its feature dimension against the "
                             f"model's first layer): {e}") from None
    if not isinstance(y, torch.Tensor) or y.ndim < 1 or y.shape[0] != 1:
        shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(
            f"model must map inputs of shape (n, ...) to a tensor of shape (n, ...); "
            f"one sample of shape {tuple(x[:1].shape)} gave {shape}"
        )
    return max(1, y[0].numel())


def _activation_size(model: nn.Module, x: torch.Tensor) -> int:
    """Elements of all intermediate outputs for one sample (what forward mode carries along)."""
    layers = {str(i): m for i, m in enumerate(model.modules())}
    with Capture(layers, inputs=False) as cap, torch.no_grad():
        model(x[:1])
    total = sum(y[0].numel() if y.ndim else 1 for outs in cap.outputs.values() for y in outs
                if isinstance(y, torch.Tensor))
    return max(total, 1)


# --------------------------------------------------------------------------- blocking


def _block_size(batch_size: int | None, per_sample: int, per_pair: int) -> int | None:
    """The block size: the user's, else the largest that keeps factors and products in budget."""
    if batch_size is not None:
        return batch_size
    by_factor = _BUDGET // max(per_sample, 1)
    by_pair = math.isqrt(_BUDGET // max(per_pair, 1))
    return max(1, min(by_factor, by_pair))


def _blocked(x1: torch.Tensor, x2: torch.Tensor | None, block: int | None,
             factor: Callable[[torch.Tensor], Any],
             contract: Callable[[Any, Any], torch.Tensor],
             tail: tuple[int, ...], keep: bool = False, progress: bool = False) -> torch.Tensor:
    """Θ of shape (n1, n2, *tail) assembled from blocks ``contract(factor(x1[i]), factor(x2[j]))``.

    With ``x2=None`` only the blocks on and above the diagonal are computed; the others are their
    transposes (Θ(x, x')_{oo'} = Θ(x', x)_{o'o}). ``keep``: the factors of all of x2 fit in
    memory, so each is computed once instead of once per block of x1. ``progress``: a bar over
    the blocks of x1.
    """
    sym = x2 is None
    xb = x1 if sym else x2
    n1, n2 = x1.shape[0], xb.shape[0]
    s1, s2 = list(batch_slices(n1, block)), list(batch_slices(n2, block))
    if len(s1) == 1 and len(s2) == 1:
        f1 = factor(x1)
        return contract(f1, f1 if sym else factor(xb))
    out = torch.empty((n1, n2, *tail), dtype=x1.dtype, device=x1.device)
    cache: dict[int, Any] | None = {} if keep else None
    rows = track(list(enumerate(s1)), description="empirical NTK", total=len(s1),
                 enabled=progress)
    for i, a in rows:
        f1 = cache[i] if sym and cache is not None and i in cache else factor(x1[a])
        for j, b in enumerate(s2):
            if sym and j < i:
                out[a, b] = out[b, a].transpose(0, 1).transpose(-1, -2) if tail else \
                    out[b, a].transpose(0, 1)
                continue
            if sym and j == i:
                f2 = f1
            elif cache is not None and j in cache:
                f2 = cache[j]
            else:
                f2 = factor(xb[b])
                if cache is not None:
                    cache[j] = f2
            out[a, b] = contract(f1, f2)
    return out


# --------------------------------------------------------------------------- jacobian, jvp


def _single(model: nn.Module) -> Callable[[dict, torch.Tensor], torch.Tensor]:
    def f(params: dict, x: torch.Tensor) -> torch.Tensor:
        return call(model, params, x.unsqueeze(0)).reshape(-1)
    return f


def _jacobian_factor(model: nn.Module, params: dict
                     ) -> Callable[[torch.Tensor], list[torch.Tensor]]:
    """Per block: the per-sample Jacobian of each parameter tensor, (n, O, numel)."""
    jac = vmap(jacrev(_single(model)), in_dims=(None, 0))

    def factor(x: torch.Tensor) -> list[torch.Tensor]:
        n = x.shape[0]
        # Kept per parameter (not concatenated) so the block never exists twice in memory.
        return [v.reshape(n, v.shape[1], -1) for v in jac(params, x).values()]
    return factor


def _jacobian_contract(trace: bool) -> Callable[[list, list], torch.Tensor]:
    def contract(j1: list[torch.Tensor], j2: list[torch.Tensor]) -> torch.Tensor:
        return sum(gram_rows(a, b, trace) for a, b in zip(j1, j2))
    return contract


def _jvp_ntk(model: nn.Module, params: dict, x1: torch.Tensor, x2: torch.Tensor | None,
             block: int | None, out: int, trace: bool, progress: bool) -> torch.Tensor:
    """Θ by NTK-vector products: rows J(x')ᵀe by reverse mode, then J(x)·row by forward mode."""
    pullback = vmap(jacrev(_single(model)), in_dims=(None, 0))

    def factor(x: torch.Tensor) -> Any:
        return x

    def contract(xa: torch.Tensor, xb: torch.Tensor) -> torch.Tensor:
        rows = pullback(params, xb)  # {name: (b, O, *shape)}: J(x')ᵀ e_{o'} for each x', o'
        nb = xb.shape[0]
        tangents = {k: v.reshape(nb * out, *v.shape[2:]) for k, v in rows.items()}

        def push(t: dict) -> torch.Tensor:
            return jvp(lambda p: call(model, p, xa), (params,), (t,))[1].reshape(xa.shape[0], out)

        cols = vmap(push)(tangents)  # (b·O', a, O)
        theta = cols.reshape(nb, out, xa.shape[0], out).permute(2, 0, 3, 1)  # (a, b, O, O')
        return theta.diagonal(dim1=2, dim2=3).sum(-1) if trace else theta

    return _blocked(x1, x2, block, factor, contract, () if trace else (out, out), keep=True,
                    progress=progress)


def _layerwise_ntk(steps: list[Step], x1: torch.Tensor, x2: torch.Tensor | None,
                   batch_size: int | None, out: int, trace: bool,
                   progress: bool) -> torch.Tensor:
    factor = layerwise_factor(steps, out)
    per_sample, per_pair = layerwise_sizes(steps, x1, out, trace)
    block = _block_size(batch_size, per_sample, per_pair)

    def contract(f1: list, f2: list) -> torch.Tensor:
        total = None
        for (s, h1, g1), (_, h2, g2) in zip(f1, f2):
            part = dense_contract(s, h1, g1, h2, g2, trace)
            total = part if total is None else total.add_(part)
        return total

    n2 = (x1 if x2 is None else x2).shape[0]
    return _blocked(x1, x2, block, factor, contract, () if trace else (out, out),
                    keep=per_sample * n2 <= _BUDGET, progress=progress)


# --------------------------------------------------------------------------- public


def empirical_ntk(model: nn.Module, x1: Any, x2: Any = None, *, method: str = "auto",
                  batch_size: int | None = None, trace: bool = True,
                  progress: bool = False) -> torch.Tensor:
    """The empirical neural tangent kernel Θ(x1, x2) = J(x1)·J(x2)ᵀ of ``model`` as it is now.

    Θ(x, x')_{oo'} = Σ_θ ∂f_o(x)/∂θ · ∂f_{o'}(x')/∂θ over all trainable parameters θ (those with
    ``requires_grad=True``), Jacot et al. 2018 (arXiv 1806.07572) eq. 2; the computation strategies
    follow Novak et al. 2022 (arXiv 2206.08720), see the module docstring.

    Arguments:
        model: any ``torch.nn.Module`` mapping (n, ...) to (n, ...) outputs; all output entries
            of a sample count as its O outputs. It is called as it is (train/eval mode untouched).
        x1: inputs of shape (n1, ...), tensor or NumPy array, finite.
        x2: inputs of shape (n2, ...) with the same feature shape; ``None`` means x1 (and the
            symmetric half is computed once).
        method: ``"jacobian"`` (Jacobian contraction), ``"jvp"`` (NTK-vector products),
            ``"layerwise"`` (structured Gram products; an ``nn.Sequential`` chain of
            ``nn.Linear``, ``nn.Conv1d``/``nn.Conv2d`` with groups=1, the Dense/Conv modules of
            occamlab's ``arch.network`` and parameter-free modules, no parameter shared between
            layers), or ``"auto"`` (layerwise when it applies, else jacobian).
        batch_size: inputs per block; memory grows with the block, not with n. ``None`` picks
            the largest block that keeps each block of per-sample factors below 2**27 elements.
        trace: sum the kernel over the diagonal of the outputs (Σ_o Θ_oo) or keep the full
            output-by-output kernel.
        progress: show a progress bar over the blocks of x1 (when there is more than one).

    Returns:
        Θ of shape (n1, n2) if ``trace`` else (n1, n2, O, O), in the model's dtype, on x1's
        device (the inputs are cast to the model's dtype and device for the computation).
    """
    _check_model(model)
    check_eval_mode(model, "the empirical NTK")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    if batch_size is not None:
        check_int(batch_size, "batch_size", ge=1)
    params = trainable_params(model)
    a, b, home = _prepare_pair(model, x1, x2)
    out = _output_size(model, a)

    steps = None
    if method in ("auto", "layerwise"):
        steps, why = layerwise_plan(model)
        if steps is None and method == "layerwise":
            raise ValueError(f"method='layerwise' does not apply to this model: {why}; "
                             "use method='jacobian' or 'jvp'")
    if steps is not None:
        theta = _layerwise_ntk(steps, a, b, batch_size, out, trace, progress)
    else:
        per_sample = out * sum(p.numel() for p in params.values())
        n2 = (a if b is None else b).shape[0]
        if method == "jvp":
            # Forward mode pushes O tangents per x2 sample through the whole x1 block.
            per_pair = out * (out + _activation_size(model, a))
            theta = _jvp_ntk(model, params, a, b, _block_size(batch_size, per_sample, per_pair),
                             out, trace, progress)
        else:
            block = _block_size(batch_size, per_sample, out * out)
            theta = _blocked(a, b, block, _jacobian_factor(model, params),
                             _jacobian_contract(trace),
                             () if trace else (out, out), keep=per_sample * n2 <= _BUDGET,
                             progress=progress)
    return theta.to(home)


def _find_layer(model: nn.Module, layer: nn.Module | str | None, probe: torch.Tensor
                ) -> nn.Module:
    if layer is not None:
        return find_submodule(model, layer)[1]
    # The readout is the last dense layer *called*, which need not be the last one registered.
    own_dense = own_modules()[0]
    called: list[nn.Module] = []
    hooks = [m.register_forward_pre_hook(lambda m, args: called.append(m))
             for m in model.modules()
             if isinstance(m, nn.Linear) or (own_dense is not None and type(m) is own_dense)]
    try:
        with torch.no_grad():
            model(probe)
    finally:
        for hk in hooks:
            hk.remove()
    if not called:
        raise ValueError("model has no nn.Linear (or occamlab Dense) readout; pass layer= (a "
                         "submodule or its name) whose input features to use")
    return called[-1]


def _features(model: nn.Module, layer: nn.Module, x: torch.Tensor,
              batch_size: int | None) -> torch.Tensor:
    chunks: list[torch.Tensor] = []
    with Capture({"layer": layer}) as cap, torch.no_grad():
        for s in batch_slices(x.shape[0], batch_size):
            cap.reset()
            model(x[s])
            if not cap.inputs["layer"]:
                raise ValueError(f"layer {type(layer).__name__} is never called by the "
                                 "model's forward")
            chunks.append(cap.inputs["layer"][0])  # a layer called twice: its first input
    return torch.cat([c.reshape(c.shape[0], -1) for c in chunks])


def empirical_nngp(model: nn.Module, x1: Any, x2: Any = None, *,
                   layer: nn.Module | str | None = None,
                   batch_size: int | None = None) -> torch.Tensor:
    """The Gram matrix of a network's last hidden features, normalized by their number.

    K(x, x') = φ(x)·φ(x')/d with φ(x) ∈ R^d the input of ``layer`` (flattened per sample); by
    default the input of the readout: the last ``nn.Linear`` (or occamlab ``Dense`` module of
    ``arch.network``) the forward pass calls.

    Convention: in NTK parameterization the readout computes (w_std/√d)·W·φ + b_std·b, so the
    network's output NNGP is w_std²·φ·φ'/d + b_std². This function returns φ·φ'/d, which converges
    as width → ∞ to the analytic kernel *entering* the readout, E[φ(u)φ(v)] (Lee et al. 2018,
    arXiv 1711.00165, eq. 4); it equals the analytic output NNGP when the readout has w_std = 1,
    b_std = 0.

    Arguments:
        model: a ``torch.nn.Module`` mapping (n, ...) to (n, ...).
        x1: inputs (n1, ...), finite.
        x2: inputs (n2, ...) with the same feature shape; ``None`` means x1.
        layer: the submodule (or its name in ``model.named_modules()``) whose input features are
            used; ``None`` is the last ``nn.Linear`` or occamlab ``Dense`` called.
        batch_size: inputs per forward pass (``None``: all at once).

    Returns:
        K of shape (n1, n2), in the model's dtype, on x1's device.
    """
    _check_model(model)
    check_eval_mode(model, "the empirical NNGP")
    if batch_size is not None:
        check_int(batch_size, "batch_size", ge=1)
    a, b, home = _prepare_pair(model, x1, x2)
    _output_size(model, a)
    module = _find_layer(model, layer, a[:1])
    f1 = _features(model, module, a, batch_size)
    f2 = f1 if b is None else _features(model, module, b, batch_size)
    return (f1 @ f2.T / f1.shape[1]).to(home)
