"""The kernel after training: does the trained network behave like kernel regression with its
final empirical NTK, and how did that kernel move?

Fort et al. 2020 (arXiv 2010.15110) measure the distance between the empirical NTK at
initialisation and later in training, 1 − ⟨Θ₀, Θ_t⟩_F/(‖Θ₀‖_F‖Θ_t‖_F), and its velocity, and find
most of the motion early; Long 2021 (arXiv 2105.10585) shows that kernel regression with the
*after kernel* (the NTK of the trained network) comes close to the trained network while the
initial kernel does far worse; Atanasov et al. 2022 (arXiv 2111.00034) explain the early
alignment of the kernel with the target (silent alignment).

Kernel regression here uses the empirical NTK traced over the network's outputs (Σ_o Θ_oo, the
same scalar kernel for every output, neural-tangents' ``trace_axes`` convention) with
f̂(x*) = Θ(x*, X)(Θ(X, X) + ridge·I)⁻¹Y.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from occamlab._check import check_instance, check_real
from occamlab._plot import readable_log_axes
from occamlab._result import Result
from occamlab._torch import as_tensor, model_device_dtype
from occamlab.kernels._empirical import empirical_ntk
from occamlab.kernels._predict import gp_inference

__all__ = ["after_kernel", "AfterKernel", "kernel_evolution", "KernelEvolution",
           "kernel_distance"]


def kernel_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """1 − cos(Θ_a, Θ_b) in the Frobenius inner product (Fort et al. 2020, arXiv 2010.15110,
    eq. 2): 0 for kernels equal up to scale, 1 for orthogonal ones."""
    a, b = a.to(torch.float64), b.to(torch.float64)
    return float(1.0 - (a * b).sum() / (torch.linalg.norm(a) * torch.linalg.norm(b)))


def _alignment(k: torch.Tensor, y: torch.Tensor) -> float:
    from occamlab.spectra import alignment  # downstream room; imported when used

    return float(alignment(k, y))


def _targets(y: Any, name: str, n: int, classes: int | None) -> tuple[torch.Tensor, torch.Tensor
                                                                      | None]:
    """Regression targets (n, k) float64, and the class labels (n,) when y holds classes."""
    t = as_tensor(y, name, ndim=(1, 2))
    if t.shape[0] != n:
        raise ValueError(f"{name} has {t.shape[0]} rows but its inputs have {n}; they must match")
    if t.ndim == 1 and not t.is_floating_point():
        if classes is None or int(t.min()) < 0 or int(t.max()) >= classes:
            raise ValueError(f"{name} holds class labels, which need labels in 0..k−1 for a "
                             f"model with k outputs (k = {classes}); got range "
                             f"[{int(t.min())}, {int(t.max())}]")
        return torch.nn.functional.one_hot(t.long(), classes).to(torch.float64), t.long()
    t = t.to(torch.float64)
    return (t[:, None] if t.ndim == 1 else t), None


@dataclass(frozen=True, repr=False)
class AfterKernel(Result):
    """The trained network against kernel regression with its initial and final NTK.

    Attributes:
        network_mse: test MSE of the trained network (mean over all test entries; one-hot
            targets for classes).
        initial_kernel_mse, final_kernel_mse: test MSE of kernel regression with the empirical
            NTK of the initial / trained network.
        network_accuracy, initial_kernel_accuracy, final_kernel_accuracy: test accuracies
            (argmax) when the targets are class labels, else ``None``.
        kernel_distance: 1 − cos(Θ₀, Θ_T) on the training inputs (Fort et al. 2020).
        alignment_initial, alignment_final: centered kernel–target alignment of Θ₀ and Θ_T
            with the training targets (Cortes et al. 2012).
        ridge: the ridge added to the kernels' diagonals.
    """

    network_mse: float
    initial_kernel_mse: float
    final_kernel_mse: float
    network_accuracy: float | None
    initial_kernel_accuracy: float | None
    final_kernel_accuracy: float | None
    kernel_distance: float
    alignment_initial: float
    alignment_final: float
    ridge: float

    def plot(self, ax=None):
        """Bars of the three test MSEs."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4, 3))
        names = ["network", "initial kernel", "final kernel"]
        vals = [self.network_mse, self.initial_kernel_mse, self.final_kernel_mse]
        ax.bar(names, vals, color=["C0", "C1", "C2"])
        ax.set_ylabel("test MSE")
        ax.set_title(f"after kernel (distance {self.kernel_distance:.2f})")
        return ax


def _krr(k_dd: torch.Tensor, k_td: torch.Tensor, y: torch.Tensor, ridge: float) -> torch.Tensor:
    try:
        return gp_inference(k_dd, y, diag_reg=ridge, diag_reg_absolute_scale=True)("ntk", k_td)
    except ValueError as e:
        if "singular" not in str(e):
            raise
        raise ValueError(f"the empirical NTK on the training inputs is singular (duplicate "
                         f"inputs, or more inputs than parameters); pass ridge > 0 (got "
                         f"{ridge})") from None


def _mse_acc(f: torch.Tensor, y: torch.Tensor, labels: torch.Tensor | None
             ) -> tuple[float, float | None]:
    mse = float(((f - y) ** 2).mean())
    acc = None if labels is None else float((f.argmax(1) == labels.to(f.device)).double().mean())
    return mse, acc


def _outputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        f = model(x)
    return f.reshape(f.shape[0], -1).to(torch.float64)


def after_kernel(model_init: nn.Module, model_trained: nn.Module, x_train: Any, y_train: Any,
                 x_test: Any, y_test: Any, *, ridge: float = 0.0, method: str = "auto",
                 batch_size: int | None = None) -> AfterKernel:
    """Kernel regression with the initial and the trained network's NTK, against the network.

    The *after kernel* (Long 2021, arXiv 2105.10585; Fort et al. 2020, arXiv 2010.15110): if
    training mostly moved the kernel, then regression with the final empirical NTK Θ_T should come
    close to the trained network, and the initial Θ₀ should not. Kernel regression
    f̂ = Θ(x*, X)(Θ(X, X) + ridge·I)⁻¹Y with Θ traced over outputs.

    Arguments:
        model_init: the network at initialisation (a copy kept before training).
        model_trained: the same network after training.
        x_train, x_test: (n, ...) and (m, ...) inputs.
        y_train, y_test: (n, k)/(n,) float targets, or (n,) integer class labels (then one-hot
            targets of the model's k outputs, and accuracies are reported).
        ridge: added to the training kernel's diagonal as it is (K + ridge·I), ≥ 0.
        method, batch_size: passed to :func:`empirical_ntk` ("auto" takes the layerwise path
            for chains of Dense/Conv/Linear layers).

    Returns:
        :class:`AfterKernel`.
    """
    check_instance(model_init, "model_init", nn.Module, "a torch.nn.Module")
    check_instance(model_trained, "model_trained", nn.Module, "a torch.nn.Module")
    ridge = check_real(ridge, "ridge", ge=0)
    device, dtype = model_device_dtype(model_trained)
    xs = [as_tensor(v, name, dtype=dtype, device=device)
          for v, name in ((x_train, "x_train"), (x_test, "x_test"))]
    f_test = _outputs(model_trained, xs[1])
    k = f_test.shape[1]
    ytr, _ = _targets(y_train, "y_train", xs[0].shape[0], k)
    yte, labels = _targets(y_test, "y_test", xs[1].shape[0], k)
    if ytr.shape[1] != k or yte.shape[1] != k:
        raise ValueError(f"targets must have one column per model output ({k}); got "
                         f"{ytr.shape[1]} (train) and {yte.shape[1]} (test)")
    ytr, yte = ytr.to(device), yte.to(device)
    net_mse, net_acc = _mse_acc(f_test, yte, labels)
    out = {}
    for which, model in (("initial", model_init), ("final", model_trained)):
        k_dd = empirical_ntk(model, xs[0], method=method, batch_size=batch_size).double()
        k_td = empirical_ntk(model, xs[1], xs[0], method=method, batch_size=batch_size).double()
        pred = _krr(k_dd, k_td, ytr, ridge)
        out[which] = (k_dd, *_mse_acc(pred, yte, labels))
    return AfterKernel(
        network_mse=net_mse, initial_kernel_mse=out["initial"][1],
        final_kernel_mse=out["final"][1], network_accuracy=net_acc,
        initial_kernel_accuracy=out["initial"][2], final_kernel_accuracy=out["final"][2],
        kernel_distance=kernel_distance(out["initial"][0], out["final"][0]),
        alignment_initial=_alignment(out["initial"][0], ytr),
        alignment_final=_alignment(out["final"][0], ytr), ridge=ridge)


@dataclass(frozen=True, repr=False)
class KernelEvolution(Result):
    """How the empirical NTK moved over training checkpoints (Fort et al. 2020).

    Attributes:
        steps: (C,) the training step of each checkpoint.
        distance: (C,) 1 − cos(Θ₀, Θ_c) from the first checkpoint.
        velocity: (C,) 1 − cos(Θ_{c−1}, Θ_c) per step since the previous checkpoint (NaN at c=0).
        alignment: (C,) centered kernel–target alignment of Θ_c with y.
    """

    steps: np.ndarray
    distance: np.ndarray
    velocity: np.ndarray
    alignment: np.ndarray

    def plot(self, ax=None):
        """Distance and alignment against step (left axis), velocity (right axis, log)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(self.steps, self.distance, "o-", color="C0", label="distance from Θ₀")
        ax.plot(self.steps, self.alignment, "s-", color="C2", label="kernel–target alignment")
        ax.set_xlabel("training step")
        ax.set_ylim(0, 1)
        right = ax.twinx()
        v = self.velocity
        if np.any(v[1:] > 0):
            right.semilogy(self.steps[1:], v[1:], "^--", color="C3", label="velocity")
            readable_log_axes(right)
        right.set_ylabel("kernel velocity (per step)")
        lines = ax.get_lines() + right.get_lines()
        ax.legend(lines, [ln.get_label() for ln in lines], fontsize=7, loc="center right")
        ax.set_title("kernel evolution")
        return ax


def kernel_evolution(checkpoints: Sequence[nn.Module], x: Any, y: Any, *,
                     steps: Sequence[float] | None = None, method: str = "auto",
                     batch_size: int | None = None) -> KernelEvolution:
    """Distance, velocity and target alignment of the empirical NTK over checkpoints.

    Fort et al. 2020 (arXiv 2010.15110), §3: distance 1 − cos(Θ₀, Θ_c) from the first checkpoint,
    velocity the distance between consecutive checkpoints per step, and (Atanasov et al. 2022,
    arXiv 2111.00034) the kernel–target alignment, which rises as the kernel learns the task.

    Arguments:
        checkpoints: ≥ 2 copies of a network over training (e.g. ``copy.deepcopy(net)`` at the
            chosen steps), the first usually at initialisation.
        x: (n, ...) inputs on which the kernels are compared.
        y: (n,)/(n, k) targets, or (n,) integer class labels (one-hot for the alignment).
        steps: the training step of each checkpoint, increasing (default 0, 1, …).
        method, batch_size: passed to :func:`empirical_ntk`.

    Returns:
        :class:`KernelEvolution`.
    """
    checkpoints = list(checkpoints)
    if len(checkpoints) < 2:
        raise ValueError(f"checkpoints must hold at least two networks, got {len(checkpoints)}")
    for i, m in enumerate(checkpoints):
        check_instance(m, f"checkpoints[{i}]", nn.Module, "a torch.nn.Module")
    s = np.arange(len(checkpoints), dtype=float) if steps is None else np.asarray(steps, float)
    if s.shape != (len(checkpoints),) or not np.all(np.isfinite(s)) or np.any(np.diff(s) <= 0):
        raise ValueError(f"steps must be {len(checkpoints)} finite, increasing numbers (one per "
                         f"checkpoint), got {np.asarray(steps).tolist()}")
    device, dtype = model_device_dtype(checkpoints[-1])
    xt = as_tensor(x, "x", dtype=dtype, device=device)
    k = _outputs(checkpoints[-1], xt[:1]).shape[1]
    yt, _ = _targets(y, "y", xt.shape[0], k)
    kernels = [empirical_ntk(m, xt, method=method, batch_size=batch_size).double()
               for m in checkpoints]
    distance = np.array([kernel_distance(kernels[0], kc) for kc in kernels])
    velocity = np.array([np.nan] + [kernel_distance(a, b) / dt for a, b, dt in
                                    zip(kernels[:-1], kernels[1:], np.diff(s))])
    align = np.array([_alignment(kc, yt.to(kc.device)) for kc in kernels])
    return KernelEvolution(s, distance, velocity, align)
