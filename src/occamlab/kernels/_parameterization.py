"""μP's optimizer groups and the coordinate check: how training scales with width.

Yang & Hu 2021 (arXiv 2011.14522) show that in standard and NTK parameterization a wide network's
hidden features stop moving (or blow up, at a fixed learning rate in standard parameterization),
while the maximal-update parameterization μP keeps every layer's update of order one as width
grows. The *coordinate check* of Yang et al. 2022 (arXiv 2203.03466, §D.1 and Fig. 5) is the
practical test: train a few steps at several widths and plot the size of each layer's
activations (and of their change) against width; under μP the curves are flat.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from occamlab._check import check_instance, check_int, check_real
from occamlab._modules import Capture
from occamlab._plot import readable_log_axes
from occamlab._result import Result
from occamlab._torch import as_tensor, model_device_dtype

__all__ = ["mup_param_groups", "coordinate_check", "CoordinateCheck"]


def mup_param_groups(net: nn.Module, lr: float) -> list[dict[str, Any]]:
    """Parameter groups for ``torch.optim.SGD`` with each layer's learning rate.

    For a network from ``arch.network(..., parameterization="mup")`` the rates are μP's for SGD
    (Yang et al. 2022, arXiv 2203.03466, Table 3): input weights and every bias lr·fan_out, hidden
    weights lr, readout weights lr/fan_in. Under "ntk" and "standard" every rate is ``lr``; any
    parameter outside occamlab's Dense/Conv layers gets ``lr`` too.

    Arguments:
        net: a network (typically from ``arch.network``).
        lr: the base learning rate η > 0.

    Returns:
        A list of ``{"params": [...], "lr": η·multiplier}``, one per distinct multiplier, that
        covers every trainable parameter once: ``torch.optim.SGD(mup_param_groups(net, lr))``.
    """
    check_instance(net, "net", nn.Module, "a torch.nn.Module")
    lr = check_real(lr, "lr", gt=0)
    mult: dict[int, float] = {}
    for m in net.modules():
        rule = getattr(m, "lr_multipliers", None)
        if callable(rule):
            for name, factor in rule().items():
                mult[id(getattr(m, name))] = factor
    groups: dict[float, list[torch.Tensor]] = {}
    for p in net.parameters():
        if p.requires_grad:
            groups.setdefault(mult.get(id(p), 1.0), []).append(p)
    if not groups:
        raise ValueError(f"net {type(net).__name__} has no trainable parameters")
    return [{"params": ps, "lr": lr * f} for f, ps in groups.items()]


@dataclass(frozen=True, repr=False)
class CoordinateCheck(Result):
    """Sizes of each layer's outputs over a few training steps, at several widths.

    Attributes:
        widths: (W,) the widths.
        layers: names of the recorded layers (leaf modules, in call order), the last the output.
        activation: (W, steps + 1, L) mean |h| of each layer's output at each step (step 0 is
            initialisation), over the training inputs.
        change: (W, steps + 1, L) mean |h_t − h_0|: how far training moved each layer.
        loss: (W, steps + 1) the training loss.
    """

    widths: np.ndarray
    layers: list[str]
    activation: np.ndarray
    change: np.ndarray
    loss: np.ndarray

    def slope(self, layer: int | str = -1, step: int = -1, what: str = "change") -> float:
        """The least-squares log–log slope of ``what`` against width for one layer and step
        (0: the size does not depend on width; +1: it grows linearly)."""
        j = self.layers.index(layer) if isinstance(layer, str) else layer
        if what not in ("change", "activation"):
            raise ValueError(f"what must be 'change' or 'activation', got {what!r}")
        v = getattr(self, what)[:, step, j]
        if np.any(v <= 0):
            raise ValueError(f"{what} of layer {self.layers[j]!r} at step {step} is 0 at some "
                             "width; a log–log slope needs positive sizes")
        return float(np.polyfit(np.log(self.widths), np.log(v), 1)[0])

    def plot(self, ax=None, step: int = -1, what: str = "change"):
        """One line per layer: ``what`` at ``step`` against width, log–log."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 3.5))
        v = getattr(self, what)[:, step]
        for j, name in enumerate(self.layers):
            ax.loglog(self.widths, v[:, j], marker="o", label=name)
        ax.set_xlabel("width")
        ax.set_ylabel("mean |h_t − h_0|" if what == "change" else "mean |h|")
        ax.set_title(f"coordinate check, step {step % self.activation.shape[1]}")
        ax.legend(fontsize=7)
        return readable_log_axes(ax)


def _mse(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((f - y) ** 2).mean()


def coordinate_check(make_net: Callable[[int], nn.Module], widths: Sequence[int], data: Any, *,
                     steps: int = 3, lr: float = 0.1,
                     loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                     ) -> CoordinateCheck:
    """μP's coordinate check: mean |activation| of every layer over a few SGD steps, per width.

    For each width, ``make_net(width)`` is trained by full-batch SGD on ``data`` for ``steps``
    steps with :func:`mup_param_groups` (so a μP network gets its per-layer rates; others a
    single rate), and the mean absolute value of every leaf module's output on the training
    inputs, and of its change since initialisation, is recorded (Yang et al. 2022, arXiv
    2203.03466, §D.1). Under μP the change of every layer is Θ(1) in width (slopes ≈ 0); in
    standard parameterization at a fixed rate it grows with width; in NTK parameterization the
    hidden features move as 1/√width.

    Arguments:
        make_net: width → a fresh network (seed it inside for reproducibility).
        widths: at least two widths (each ≥ 1).
        data: ``(x, y)`` training inputs (n, ...) and targets (n, k), tensors or arrays.
        steps: SGD steps (≥ 1).
        lr: base learning rate.
        loss: ``loss(f, y)``; default ½·mean((f − y)²).

    Returns:
        :class:`CoordinateCheck`.
    """
    if not callable(make_net):
        raise TypeError(f"make_net must be a callable width → nn.Module, got "
                        f"{type(make_net).__name__}")
    widths = [check_int(w, "width", ge=1) for w in widths]
    if len(widths) < 2:
        raise ValueError(f"widths must hold at least two widths, got {widths}")
    steps = check_int(steps, "steps", ge=1)
    lr = check_real(lr, "lr", gt=0)
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise TypeError("data must be a pair (x, y) of training inputs and targets")
    loss = loss or _mse
    acts, changes, losses, names = [], [], [], None
    for w in widths:
        net = make_net(w)
        check_instance(net, "make_net(width)", nn.Module, "a torch.nn.Module")
        device, dtype = model_device_dtype(net)
        x = as_tensor(data[0], "x", dtype=dtype, device=device)
        y = as_tensor(data[1], "y", dtype=dtype, device=device)
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"y has {y.shape[0]} rows but x has {x.shape[0]}")
        leaves = {k: m for k, m in net.named_modules() if not list(m.children())}
        opt = torch.optim.SGD(mup_param_groups(net, lr))
        first, a_w, c_w, l_w = None, [], [], []
        with Capture(leaves, inputs=False) as cap:
            for step in range(steps + 1):
                cap.reset()
                opt.zero_grad()
                value = loss(net(x), y)
                seen = {k: out[-1].detach() for k, out in cap.outputs.items()
                        if out and isinstance(out[-1], torch.Tensor)}
                if first is None:
                    first, names = {k: v.clone() for k, v in seen.items()}, list(seen)
                elif list(seen) != names:
                    raise ValueError("the network calls different modules at different steps")
                a_w.append([float(seen[k].abs().mean()) for k in names])
                c_w.append([float((seen[k] - first[k]).abs().mean()) for k in names])
                l_w.append(float(value.detach()))
                if step < steps:
                    value.backward()
                    opt.step()
        acts.append(a_w)
        changes.append(c_w)
        losses.append(l_w)
    return CoordinateCheck(np.array(widths, dtype=float), list(names), np.array(acts),
                           np.array(changes), np.array(losses))
