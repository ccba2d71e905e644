"""Training dynamics in function space for any loss, by integrating the kernel ODE.

For a linearized (or infinitely wide) network trained by gradient flow on a loss L(f, y), the
outputs obey df/dt = −Θ·∇_f L(f_train) on the training inputs and df*/dt = −Θ*·∇_f L(f_train)
on any other inputs (Lee et al. 2019, arXiv 1902.06720, eq. 4–5), with time in units of the
learning rate. With momentum β, as in neural-tangents, time is in units of √η and
d²f/dt² = −Θ·∇L + ((β − 1)/√η)·df/dt (the continuous limit of heavy-ball momentum; Qian 1999).
Integrated by scipy's 8th-order Dormand–Prince (DOP853) with tight tolerances; the right-hand
side is evaluated in torch on the kernel's device. Private: public in ``kernels.predict``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from scipy.integrate import solve_ivp

from occamlab._check import check_real
from occamlab._torch import as_tensor
from occamlab.kernels._predict import as_kernel, as_targets, as_times

__all__ = ["gradient_descent"]

# DOP853's local error control: relative 1e-10 on every state entry, absolute 1e-12 times the
# targets' scale; its global error at these settings stays below 1e-8 relative on the tests.
_RTOL, _ATOL = 1e-10, 1e-12


def gradient_descent(loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                     k_train_train: Any, y_train: Any, learning_rate: float = 1.0,
                     momentum: float | None = None) -> Callable:
    """Function-space gradient descent on any loss, solved as an ODE (neural-tangents'
    ``predict.gradient_descent``).

    Arguments:
        loss: ``loss(f_train, y_train) -> scalar`` in torch (differentiable in ``f_train``);
            e.g. ``lambda f, y: -(torch.log_softmax(f, -1) * y).mean()``. ½·mean((f − y)²) gives
            exactly :func:`gradient_descent_mse`'s flow.
        k_train_train: (n, n) NTK on the training inputs.
        y_train: (n, k) or (n,) targets, as ``loss`` expects them.
        learning_rate: times are multiplied by it (by its square root with momentum).
        momentum: β in [0, 1) for heavy-ball momentum, ``None`` for plain gradient descent.

    Returns:
        ``predict_fn(t, fx_train_0=0.0, fx_test_0=None, k_test_train=None)``: ``t`` a finite
        time ≥ 0 or an array of them (any order); ``fx_train_0`` (n, k) or a number; ``fx_test_0``
        (m, k) or a number with ``k_test_train`` (m, n). Returns ``f_train_t`` or
        ``(f_train_t, f_test_t)``, each (*t.shape, rows, k), float64 on the kernel's device.
    """
    if not callable(loss):
        raise TypeError(f"loss must be a callable loss(f, y) -> scalar, got "
                        f"{type(loss).__name__}")
    k = as_kernel(k_train_train, "k_train_train")
    n = k.shape[0]
    if k.shape != (n, n):
        raise ValueError(f"k_train_train must be square (n, n), got {tuple(k.shape)}")
    y, flat = as_targets(y_train, n, rows="k_train_train")
    y = y.to(k.device)
    lr = check_real(learning_rate, "learning_rate", gt=0)
    mu = None
    if momentum is not None:
        beta = check_real(momentum, "momentum", ge=0, lt=1)
        lr = math.sqrt(lr)
        mu = (beta - 1.0) / lr
    target = y[:, 0] if flat else y

    def grad_loss(f: torch.Tensor) -> torch.Tensor:
        f = f.detach().requires_grad_(True)
        with torch.enable_grad():
            value = loss(f[:, 0] if flat else f, target)
            if not isinstance(value, torch.Tensor) or value.numel() != 1:
                raise ValueError("loss must return a scalar tensor")
            (g,) = torch.autograd.grad(value, f)
        return g

    def outputs(f0: Any, name: str, rows: int) -> torch.Tensor:
        f = as_tensor(f0, name, dtype=torch.float64, device=k.device)
        f = f[:, None] if flat and f.ndim == 1 else f
        try:
            return torch.broadcast_to(f, (rows, y.shape[1])).clone()
        except RuntimeError:
            raise ValueError(f"{name} must be a number or have shape ({rows}, {y.shape[1]}), "
                             f"got {tuple(f.shape)}") from None

    def predict_fn(t: Any, fx_train_0: Any = 0.0, fx_test_0: Any = None,
                   k_test_train: Any = None) -> Any:
        if t is None:
            raise ValueError("t must be finite: gradient_descent integrates an ODE (for the "
                             "t → ∞ limit of the MSE use gradient_descent_mse)")
        times, shape = as_times(t, lr)
        if bool(torch.isinf(times).any()):
            raise ValueError("t must be finite: gradient_descent integrates an ODE")
        if fx_test_0 is not None and k_test_train is None:
            raise ValueError("fx_test_0 needs k_test_train, the (m, n) kernel between the test "
                             "and the training inputs")
        ft = fx_train_0 if fx_train_0 is not None else 0.0
        parts = [outputs(ft, "fx_train_0", n)]
        kt = None
        if fx_test_0 is not None:
            kt = as_kernel(k_test_train, "k_test_train", (None, n), device=k.device)
            parts.append(outputs(fx_test_0, "fx_test_0", kt.shape[0]))
        if mu is not None:
            parts += [torch.zeros_like(p) for p in parts]
        sizes = [p.numel() for p in parts]
        shapes = [p.shape for p in parts]

        def rhs(_: float, state: np.ndarray) -> np.ndarray:
            s = torch.from_numpy(state).to(k.device)
            pieces = [c.reshape(sh) for c, sh in zip(torch.split(s, sizes), shapes)]
            g = grad_loss(pieces[0])
            d = [-(k @ g)] + ([-(kt @ g)] if kt is not None else [])
            if mu is not None:
                half = len(pieces) // 2
                d = pieces[half:] + [a + mu * q for a, q in zip(d, pieces[half:])]
            return torch.cat([v.reshape(-1) for v in d]).cpu().numpy()

        s0 = torch.cat([p.reshape(-1) for p in parts]).cpu().numpy()
        grid, inverse = np.unique(times.numpy(), return_inverse=True)
        if grid[-1] == 0:
            states = np.repeat(s0[:, None], len(grid), axis=1)
        else:
            sol = solve_ivp(rhs, (0.0, float(grid[-1])), s0, method="DOP853", t_eval=grid,
                            rtol=_RTOL, atol=_ATOL * max(1.0, float(y.abs().max())))
            if not sol.success:
                raise RuntimeError(f"the ODE solver failed: {sol.message}")
            states = sol.y
        states = torch.from_numpy(states[:, inverse].T.copy()).to(k.device)  # (T, state)
        res = []
        for j, (size, sh) in enumerate(zip(sizes[:2 if kt is not None else 1], shapes)):
            start = sum(sizes[:j])
            r = states[:, start:start + size].reshape(*shape, *sh)
            res.append(r[..., 0] if flat else r)
        if fx_train_0 is None:
            res = res[1:]
        return res[0] if len(res) == 1 else tuple(res)

    return predict_fn
