"""Working with a user's ``torch.nn.Module``: finding a layer, capturing what passes through it, and
refusing modes that make per-sample derivatives meaningless. Nothing here is public API.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["find_submodule", "Capture", "check_eval_mode"]

def find_submodule(model: nn.Module, layer: nn.Module | str,
                   valid: list[str] | None = None) -> tuple[str, nn.Module]:
    """``(name, module)`` for ``layer`` given as a submodule of ``model`` or its name.

    Raises ``ValueError`` when it is not in ``model`` (listing ``valid`` names, by default the
    first dozen submodules) and ``TypeError`` when it is neither a module nor a string.
    """
    if valid is None:
        valid = [k for k, _ in model.named_modules() if k][:12]
    if isinstance(layer, str):
        named = dict(model.named_modules())
        if layer not in named:
            raise ValueError(f"model has no layer named {layer!r}; valid layers: {valid}")
        return layer, named[layer]
    if isinstance(layer, nn.Module):
        found = [n for n, m in model.named_modules() if m is layer]
        if not found:
            raise ValueError(f"layer {type(layer).__name__} is not a submodule of the model; "
                             f"valid layers: {valid}")
        return found[0], layer
    raise TypeError(f"layer must be an nn.Module, a layer name (str) or None, got "
                    f"{type(layer).__name__}")


class Capture:
    """Forward hooks on named layers that record, per call, each layer's input and output.

    ``with Capture(layers, check=fn) as cap: model(x)`` leaves ``cap.inputs[name]`` and
    ``cap.outputs[name]`` as lists with one entry per call of that layer (the first positional
    input; the output as returned, still attached to the graph). ``check(name, module, input)``
    runs before each call, to reject a wrong input with a message naming the layer.
    ``inputs=False`` records outputs only (no pre-hooks: layers called with keyword arguments
    alone are fine then). The hooks are removed on exit, also after an error.
    """

    def __init__(self, layers: dict[str, nn.Module], check: Any = None, *, inputs: bool = True):
        self.layers = layers
        self.check = check
        self.record_inputs = inputs
        self.inputs: dict[str, list[torch.Tensor]] = {n: [] for n in layers}
        self.outputs: dict[str, list[Any]] = {n: [] for n in layers}
        self.handles: list[Any] = []

    def __enter__(self) -> Capture:
        for name, module in self.layers.items():
            if self.record_inputs:
                self.handles.append(module.register_forward_pre_hook(self._pre(name)))
            self.handles.append(module.register_forward_hook(self._post(name)))
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def _pre(self, name: str):
        def hook(module, args):
            if self.check is not None:
                self.check(module, name, args[0])
            self.inputs[name].append(args[0])

        return hook

    def _post(self, name: str):
        def hook(module, args, out):
            self.outputs[name].append(out)

        return hook

    def reset(self) -> None:
        for v in (*self.inputs.values(), *self.outputs.values()):
            v.clear()


def check_eval_mode(model: nn.Module, what: str) -> None:
    """Refuse a model with Dropout or batch statistics in training mode, naming the module.

    ``what`` names the computation ("the empirical NTK") in the message, which says to call
    ``model.eval()``: in eval mode Dropout is the identity and BatchNorm uses its running
    statistics, so the network is a fixed function of each input.
    """
    for name, m in model.named_modules():
        label = f"module {name or type(m).__name__!r} ({type(m).__name__})"
        if isinstance(m, nn.modules.dropout._DropoutNd) and m.training and m.p > 0:
            raise ValueError(f"{what} needs a deterministic function of each input, but {label} "
                             "is in training mode and drops units at random; call model.eval() "
                             "first")
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if not m.track_running_stats:
                raise ValueError(f"{what} needs a function of each input alone, but {label} has "
                                 "track_running_stats=False and so always normalizes by the "
                                 "statistics of the batch")
            if m.training:
                raise ValueError(f"{what} needs a function of each input alone, but {label} is "
                                 "in training mode and normalizes by the statistics of the "
                                 "batch; call model.eval() first")
