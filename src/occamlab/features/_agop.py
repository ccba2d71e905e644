"""The average gradient outer product (AGOP) of a network with respect to a layer's input.

Radhakrishnan, Beaglehole, Pandit, Belkin, "Mechanism for feature learning in neural networks and
backpropagation-free machine learning models", Science 2024 (arXiv 2212.13881), Eq. 1 (dense
layers) and the convolutional version of the ansatz (patch AGOP, their Eq. 3 and supplement).

Supported layers are ``nn.Linear``, ``nn.Conv1d`` and ``nn.Conv2d`` (their ``weight`` is the map
applied) and any module that declares the affine-layer protocol:

- ``affine_kind``: ``"linear"``, ``"conv1d"`` or ``"conv2d"``;
- ``effective_weight``: the tensor the layer actually applies, shaped like the matching torch
  layer's weight, (out, in) or (out, in, *taps), so that its output at each position p is
  ``z_p = effective_weight · h_p + b`` for the input patch h_p (after any padding it does).

occamlab's own NTK-parameterized Dense/Conv modules (``arch.network(...)``) declare it with
``effective_weight = scale·weight``; duck typing keeps this room free of imports from kernels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from occamlab._modules import Capture, find_submodule
from occamlab._progress import track
from occamlab._torch import as_tensor, batch_slices, model_device_dtype

__all__ = ["agop", "agops", "supported_layers", "resolve_layer", "layer_weight"]

_TORCH_LAYERS = ((nn.Linear, "linear"), (nn.Conv1d, "conv1d"), (nn.Conv2d, "conv2d"))
_WEIGHT_NDIM = {"linear": 2, "conv1d": 3, "conv2d": 4}  # (out, in, *taps)
_SUPPORTED_TEXT = (
    "nn.Linear, nn.Conv1d and nn.Conv2d, and modules declaring affine_kind ('linear', "
    "'conv1d', 'conv2d') and effective_weight, such as occamlab's own Dense/Conv"
)


def _declared_kind(module: nn.Module) -> Any:
    return getattr(module, "affine_kind", None)


def _affine_kind(module: nn.Module) -> str | None:
    """``"linear"``, ``"conv1d"`` or ``"conv2d"`` for a layer with an AGOP, else ``None``.

    A declared ``affine_kind`` takes precedence over the torch class (a subclass of nn.Linear
    that rescales its weight declares what it really applies).
    """
    kind = _declared_kind(module)
    if kind is not None:
        ok = isinstance(kind, str) and kind in _WEIGHT_NDIM and hasattr(module, "effective_weight")
        return kind if ok else None
    for cls, name in _TORCH_LAYERS:
        if isinstance(module, cls):
            return name
    return None


def _weight(module: nn.Module) -> torch.Tensor:
    """The weight the layer applies, detached: ``effective_weight`` if declared, else ``weight``."""
    with torch.no_grad():
        W = module.effective_weight if _declared_kind(module) is not None else module.weight
    return W.detach()


def supported_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The layers whose input AGOP can be measured, by name, in registration order.

    Supported: ``nn.Linear``, ``nn.Conv1d``, ``nn.Conv2d`` and modules declaring the
    affine-layer protocol (``affine_kind``, ``effective_weight``; see the module docstring), such
    as the Dense/Conv layers of occamlab's ``arch.network(...)``. A model that is itself a single
    supported layer is returned under the name ``""``. Grouped convolutions are left out (their
    patch AGOP is not defined here).
    """
    return {
        name: m
        for name, m in model.named_modules()
        if _affine_kind(m) is not None and getattr(m, "groups", 1) == 1
    }


def _check_supported(module: nn.Module, name: str) -> None:
    kind = _affine_kind(module)
    declared = _declared_kind(module)
    if kind is None and declared is not None:
        raise TypeError(
            f"layer {name!r} ({type(module).__name__}) declares affine_kind={declared!r}"
            f"{'' if hasattr(module, 'effective_weight') else ' but no effective_weight'}; "
            f"AGOP supports {_SUPPORTED_TEXT}"
        )
    if kind is None:
        raise TypeError(
            f"layer {name!r} is a {type(module).__name__}; AGOP supports {_SUPPORTED_TEXT}"
        )
    W = _weight(module)
    if W.ndim != _WEIGHT_NDIM[kind]:
        raise TypeError(
            f"layer {name!r} ({type(module).__name__}) is a {kind!r} layer but its weight has "
            f"shape {tuple(W.shape)}; expected {_WEIGHT_NDIM[kind]} dimensions "
            "(out, in, *taps)"
        )
    groups = getattr(module, "groups", 1)
    if groups != 1:
        raise TypeError(
            f"layer {name!r} is a grouped convolution (groups={groups}); the patch AGOP "
            "supports groups=1 only"
        )


def resolve_layer(model: nn.Module, layer: nn.Module | str | None) -> tuple[str, nn.Module]:
    """``(name, module)`` for ``layer`` given as a module of ``model``, its name, or ``None``.

    ``None`` means the first supported layer in registration order (``model.named_modules()``).
    Raises ``ValueError`` for a name or module not in ``model`` (listing the valid names) and
    ``TypeError`` for a layer type without an AGOP.
    """
    valid = list(supported_layers(model))
    if layer is None:
        if not valid:
            raise ValueError(
                f"model {type(model).__name__} has no nn.Linear, nn.Conv1d or nn.Conv2d layer, "
                "nor a module declaring affine_kind and effective_weight (as occamlab's own "
                "Dense/Conv do)"
            )
        name = valid[0]
        module = model.get_submodule(name)
    else:
        name, module = find_submodule(model, layer, valid)
    _check_supported(module, name)
    return name, module


def layer_weight(module: nn.Module) -> torch.Tensor:
    """The weight the layer applies as a matrix (out, in·taps), detached, columns matching the
    patch AGOP's axes: ``weight`` of nn.Linear/nn.Conv1d/nn.Conv2d, ``effective_weight`` of a
    module declaring the affine-layer protocol (``scale·weight`` for occamlab's Dense/Conv).

    Raises ``TypeError`` for a module that is not a supported layer.
    """
    if _affine_kind(module) is None:
        raise TypeError(f"{type(module).__name__} is not a supported layer; AGOP supports "
                        f"{_SUPPORTED_TEXT}")
    W = _weight(module)
    return W.reshape(W.shape[0], -1)


def _check_input(module: nn.Module, name: str, h: torch.Tensor) -> None:
    """Raise ``ValueError`` naming the layer when its input has the wrong feature dimension."""
    kind = _affine_kind(module)
    n_in = _weight(module).shape[1]  # in_features or in_channels (groups = 1)
    if kind == "linear":
        if h.ndim < 1 or h.shape[-1] != n_in:
            raise ValueError(
                f"layer {name!r} ({type(module).__name__}) expects inputs with {n_in} features "
                f"in the last dimension, got an input of shape {tuple(h.shape)}; check X's "
                "feature dimension"
            )
    else:
        n_spatial = 1 if kind == "conv1d" else 2
        if h.ndim != n_spatial + 2 or h.shape[1] != n_in:
            raise ValueError(
                f"layer {name!r} ({type(module).__name__}) expects inputs of shape (N, "
                f"{n_in}, {'W' if n_spatial == 1 else 'H, W'}), got "
                f"{tuple(h.shape)}; check X's shape"
            )


def _out_grads(module: nn.Module, g: torch.Tensor) -> torch.Tensor:
    """The output gradient ``∂f/∂z_p`` per position as rows, shape (B·P, out)."""
    if _affine_kind(module) == "linear":
        return g.reshape(-1, g.shape[-1])
    return g.reshape(g.shape[0], g.shape[1], -1).transpose(1, 2).reshape(-1, g.shape[1])


def _input_side(W: torch.Tensor) -> bool:
    """Accumulate in input (patch) space when it is the smaller one (fewer flops); W (out, D)."""
    return W.shape[1] <= W.shape[0]


def _agop_sums(
    model: nn.Module,
    X: Any,
    layers: dict[str, nn.Module],
    batch_size: int | None,
    progress: bool,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.device]:
    """Per layer, the uncentered AGOP (d, d) and the mean patch gradient per output (k, d).

    Both are averages over samples and positions, accumulated in float64.
    """
    device, dtype = model_device_dtype(model)
    X = as_tensor(X, "X", ndim=None)
    if X.ndim < 2:
        raise ValueError(f"X must have a batch dimension, shape (N, ...), got {tuple(X.shape)}")
    if X.shape[0] < 1:
        raise ValueError("X is empty (0 samples)")
    out_device = X.device
    X = X.to(device=device, dtype=dtype if X.is_floating_point() else X.dtype)
    n = X.shape[0]
    # The effective weight W (out, in·taps) of each layer: its patch gradient is Wᵀ·∂f/∂z_p.
    weights = {k: layer_weight(m).double() for k, m in layers.items()}
    gram = {k: None for k in layers}
    mean = {k: None for k in layers}
    count = {k: 0 for k in layers}
    slices = list(batch_slices(n, batch_size))
    with Capture(layers, check=_check_input) as cap:
        for sl in track(slices, description="AGOP", enabled=progress):
            cap.reset()
            xb = X[sl].detach().requires_grad_(X.is_floating_point())
            with torch.enable_grad():
                try:
                    f = model(xb)
                except RuntimeError as e:
                    raise ValueError(
                        f"model could not be evaluated on X of shape {tuple(X.shape)} (check X's "
                        f"feature dimension): {e}"
                    ) from None
                if not isinstance(f, torch.Tensor):
                    raise TypeError(f"model must return a tensor, got {type(f).__name__}")
                for name in layers:
                    calls = len(cap.outputs[name])
                    if calls != 1:
                        raise ValueError(
                            f"layer {name!r} ran {calls} times in one forward pass; its AGOP is "
                            "defined for a layer used exactly once"
                        )
                zs = [cap.outputs[name][0] for name in layers]
                if not all(z.requires_grad for z in zs):
                    raise ValueError(
                        "the model's output is not differentiable with respect to the layer's "
                        "output (is part of the forward pass run under torch.no_grad?)"
                    )
                f = f.reshape(f.shape[0], -1)
                k = f.shape[1]
                for j in range(k):
                    grads = torch.autograd.grad(
                        f[:, j].sum(), zs, retain_graph=j < k - 1, allow_unused=True
                    )
                    for (name, module), z, g in zip(layers.items(), zs, grads):
                        if g is None:
                            g = torch.zeros_like(z)
                        # A dense or convolutional layer computes z_p = W·h_p + b at each
                        # position p, so the patch gradient is ∂f/∂h_p = Wᵀ·∂f/∂z_p (patches
                        # taken as separate variables, as in the convolutional ansatz) and
                        # Σ_p (∂f/∂h_p)(∂f/∂h_p)ᵀ = Wᵀ(Σ_p ∂f/∂z_p ∂f/∂z_pᵀ)W: accumulate on
                        # whichever side of W is smaller.
                        G = _out_grads(module, g.detach().double())  # (B·P, out)
                        if _input_side(weights[name]):
                            G = G @ weights[name]
                        d = G.shape[-1]
                        if gram[name] is None:
                            gram[name] = torch.zeros(d, d, dtype=torch.float64, device=device)
                            mean[name] = torch.zeros(k, d, dtype=torch.float64, device=device)
                        gram[name] += G.T @ G
                        mean[name][j] += G.sum(0)
                        if j == 0:
                            count[name] += G.shape[0]
    for name in layers:
        if not _input_side(weights[name]):
            W = weights[name]
            gram[name] = W.T @ gram[name] @ W
            mean[name] = mean[name] @ W
    gram = {k: v / count[k] for k, v in gram.items()}
    mean = {k: v / count[k] for k, v in mean.items()}
    return gram, mean, out_device


def _finish(gram: torch.Tensor, mean: torch.Tensor, centered: bool) -> torch.Tensor:
    if centered:
        full = gram
        gram = gram - mean.T @ mean
        # Constant gradients (a layer followed only by linear maps) leave rounding noise, which
        # would correlate with anything at random: call it the zero matrix it is.
        if float(gram.norm()) <= 1e-12 * float(full.norm()):
            gram = torch.zeros_like(gram)
    return (gram + gram.T) / 2


def agop(
    model: nn.Module,
    X: Any,
    layer: nn.Module | str | None = None,
    centered: bool = False,
    batch_size: int | None = None,
    *,
    progress: bool = False,
) -> torch.Tensor:
    """The AGOP of ``model``'s outputs with respect to the input of ``layer``.

    For a dense layer with input ``h(x)`` this is ``(1/n) Σₓ Σⱼ ∇_h fⱼ(x) ∇_h fⱼ(x)ᵀ``
    (Radhakrishnan et al. 2024, Eq. 1; a multi-output model sums over its outputs j). For a
    convolution the gradient is taken with respect to each input patch (the ``in_channels × taps``
    window that one output position sees, in the order of ``weight.reshape(out, -1)``) and averaged
    over positions as well as samples, so the result is comparable with ``WᵀW`` for the flattened
    filter matrix W (the effective weight: ``scale·weight`` for occamlab's NTK-parameterized
    layers). ``nn.Linear`` applied to inputs with extra dimensions, ``(N, ..., d)``, is
    treated the same way, positions being the extra dimensions.

    The model runs in whatever mode it is in; put a model with batch-dependent layers (batch
    norm) in ``eval()`` mode first, or samples in a batch are coupled.

    Arguments:
        model: any ``nn.Module`` mapping a batch ``X`` to outputs (N, ...) (flattened to (N, k)).
        X: inputs (N, ...) as a tensor or NumPy array; cast to the model's device and dtype.
        layer: a supported submodule (``nn.Linear``, ``nn.Conv1d``, ``nn.Conv2d``, or a module
            declaring ``affine_kind``/``effective_weight`` such as the Dense/Conv layers of
            occamlab's ``arch.network(...)``) or its name in ``model.named_modules()``; ``None``
            takes the first supported layer.
        centered: subtract each output's mean gradient first, giving the covariance of the
            gradients ``(1/n) Σ (∇f − E∇f)(∇f − E∇f)ᵀ`` (zero for a linear model).
        batch_size: samples per forward/backward pass; bounds memory (``None``: all at once).
        progress: show a progress bar over batches.

    Returns:
        The AGOP, a symmetric PSD float64 tensor of shape (d, d) on X's device, where d is the
        layer's ``in_features`` or ``in_channels × kernel taps``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    name, module = resolve_layer(model, layer)
    gram, mean, device = _agop_sums(model, X, {name: module}, batch_size, progress)
    return _finish(gram[name], mean[name], centered).to(device)


def agops(
    model: nn.Module,
    X: Any,
    layers: Sequence[nn.Module | str] | None = None,
    *,
    batch_size: int | None = None,
    progress: bool = False,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Uncentered and centered AGOPs of several layers from one pass over ``X``.

    Arguments:
        model, X, batch_size, progress: as in :func:`agop`.
        layers: layers (modules or names); ``None`` takes every supported layer.

    Returns:
        ``{name: (agop, centered_agop)}``, each (d, d) float64 on X's device, in the given order.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if layers is None:
        chosen = supported_layers(model)
        if not chosen:
            resolve_layer(model, None)  # raises the no-layer error
    else:
        chosen = dict(resolve_layer(model, layer) for layer in layers)
    gram, mean, device = _agop_sums(model, X, chosen, batch_size, progress)
    return {
        n: (_finish(gram[n], mean[n], False).to(device), _finish(gram[n], mean[n], True).to(device))
        for n in chosen
    }
