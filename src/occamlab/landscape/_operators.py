"""Curvature matrices as linear operators: the Hessian and the generalized Gauss–Newton.

An operator ``A`` of shape (P, P) supports ``A @ v`` for v of shape (P,) and ``A @ V`` for V of
shape (P, k), and ``A.dense()`` for small P. Nothing is ever stored but the point and the data:
each product costs one pass over the data in batches.

- Hessian: H = ∇²L(w), by Hessian–vector products (Pearlmutter 1994, eq. 4).
- GGN: G = Σ_b (n_b/N) J_bᵀ ∇²ℓ_b J_b with J_b = ∂f(x_b; w)/∂w the Jacobian of the outputs and
  ∇²ℓ_b the Hessian of the loss with respect to the outputs (Schraudolph 2002, eq. 8); G = H when
  the model is linear in its parameters, and G ⪰ 0 for a convex loss (MSE, cross-entropy).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.func import vjp, vmap

from occamlab._hvp import hvp, hvp_fn
from occamlab._torch import jvp, unflatten
from occamlab.landscape._objective import Objective, make_objective

__all__ = ["LinearOperator", "HessianOperator", "GGNOperator", "TensorOperator", "hessian",
           "ggn", "as_operator"]

# Columns per batched product (bounds the memory of H @ V to that many HVPs at once).
_COLUMNS = 32
# dense() refuses beyond this many parameters (P² float64 entries: 3.2 GB at 20,000).
_DENSE_MAX = 20_000


class LinearOperator:
    """A square (P, P) operator: ``A @ v``, ``A @ V``, ``A.shape``, ``A.dense()``."""

    shape: tuple[int, int]
    dtype: torch.dtype
    device: torch.device

    def _matmat(self, v: torch.Tensor) -> torch.Tensor:  # v: (k, P) rows; returns (k, P)
        raise NotImplementedError

    def __matmul__(self, v: Any) -> torch.Tensor:
        if not isinstance(v, torch.Tensor):
            v = torch.as_tensor(np.asarray(v))
        p = self.shape[1]
        if v.ndim not in (1, 2) or v.shape[0] != p:
            raise ValueError(f"operator of shape {self.shape} multiplies a vector (P,) or a "
                             f"matrix (P, k) with P = {p}, got shape {tuple(v.shape)}")
        v = v.to(device=self.device, dtype=self.dtype)
        if v.ndim == 1:
            return self._matmat(v.unsqueeze(0))[0]
        cols = [self._matmat(v[:, s:s + _COLUMNS].T).T for s in range(0, v.shape[1], _COLUMNS)]
        return torch.cat(cols, dim=1) if cols else v.clone()

    def dense(self) -> torch.Tensor:
        """The matrix itself, (P, P), from P products (for small P)."""
        p = self.shape[0]
        if p > _DENSE_MAX:
            raise ValueError(f"dense() builds a {p}×{p} matrix; it is meant for P ≤ {_DENSE_MAX}. "
                             f"Use eigenvalues, trace or density, which need only products")
        return self @ torch.eye(p, dtype=self.dtype, device=self.device)

    def __repr__(self) -> str:
        dt = str(self.dtype).replace("torch.", "")
        return f"{type(self).__name__}(shape={self.shape}, dtype={dt}, device={self.device})"


class TensorOperator(LinearOperator):
    """A plain symmetric matrix seen as an operator (so estimators can be checked on it)."""

    def __init__(self, a: torch.Tensor):
        self.a = a
        self.shape = (a.shape[0], a.shape[1])
        self.dtype, self.device = a.dtype, a.device

    def _matmat(self, v: torch.Tensor) -> torch.Tensor:
        return v @ self.a.T

    def dense(self) -> torch.Tensor:
        return self.a.clone()


class _ModelOperator(LinearOperator):
    def __init__(self, objective: Objective, point: torch.Tensor | None = None):
        self.objective = objective
        self.point = objective.w0 if point is None else point
        p = objective.n_params
        self.shape = (p, p)
        self.dtype, self.device = self.point.dtype, self.point.device

    def unflatten(self, v: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split a vector (…, P), e.g. an eigenvector, into tensors named and shaped like the
        parameters (for the model form)."""
        if self.objective.like is None:
            raise ValueError("a plain function's operator has no named parameters")
        return unflatten(v, self.objective.like)


class HessianOperator(_ModelOperator):
    """H = ∇²L(w) at the model's parameters (or at x0 of a function). Build with :func:`hessian`.

    ``point`` holds w (P,); ``objective`` the loss it differentiates. With a single batch the
    gradient's graph is built on the first product and kept, so each later product is one
    backward pass; with several batches every product recomputes each batch's gradient, and
    memory stays that of one batch.
    """

    _apply = None

    def _matmat(self, v: torch.Tensor) -> torch.Tensor:
        obj = self.objective
        if len(obj.weights) == 1:
            if self._apply is None:
                self._apply = hvp_fn(lambda u: obj.batch_loss(u, 0), self.point)[1]
            return self._apply(v[0]).unsqueeze(0) if v.shape[0] == 1 else self._apply(
                v, batched=True)
        if v.shape[0] == 1:  # one vector: plain double backward, no vmap overhead
            return obj.grad_hvp(self.point, v[0])[1].unsqueeze(0)
        return obj.grad_hvp(self.point, v, batched=True)[1]


class GGNOperator(_ModelOperator):
    """G = Σ_b (n_b/N) J_bᵀ ∇²ℓ_b J_b at the model's parameters. Build with :func:`ggn`."""

    def _matmat(self, v: torch.Tensor) -> torch.Tensor:
        obj, w = self.objective, self.point
        total = torch.zeros_like(v)
        for b, c in enumerate(obj.weights):
            f, loss = obj.ggn_batch(b)
            out, pullback = vjp(f, w)
            jv = vmap(lambda u, f=f: jvp(f, (w,), (u,))[1])(v)  # J v, (k, *out.shape)
            hjv = hvp(loss, out.detach(), jv, batched=True)         # ∇²ℓ J v
            total += c * vmap(pullback)(hjv)[0]                     # Jᵀ ∇²ℓ J v
        return total


def hessian(model: Any, loss_fn: Any = None, data: Any = None, *, params: Any = None,
            batch_size: int | None = None, dtype: torch.dtype | None = None
            ) -> HessianOperator:
    """The Hessian of the loss as a linear operator, or of a scalar function of one flat tensor.

    ``hessian(model, loss_fn, (X, y))`` is the Hessian of L(w) = (1/N) Σₙ ℓ(f(xₙ; w), yₙ) with
    respect to the model's trainable parameters w (flattened in registration order, P entries);
    ``hessian(fn, x0)`` is that of fn at x0.

    Arguments:
        model: an ``nn.Module`` (or ``fn``, a callable from a (P,) tensor to a 0-d tensor).
        loss_fn: ``loss_fn(output, target)`` → scalar mean over the rows (or ``x0``, (P,)).
        data: ``(X, y)`` with X of shape (N, ...) and y (N, ...).
        params: a list of parameter names to differentiate (others fixed), or a dict
            name → tensor (the point); default every trainable parameter at its current value.
        batch_size: rows per pass; the batches are fixed (contiguous), so the operator is
            deterministic and does not depend on it. Memory is O(batch_size).
        dtype: e.g. ``torch.float64`` to compute in double precision.

    Returns:
        A :class:`HessianOperator` of shape (P, P): ``H @ v``, ``H @ V``, ``H.dense()``.

    The model is called in the mode it is in: use ``model.eval()`` for a deterministic operator
    with dropout or batch norm.
    """
    return HessianOperator(make_objective(model, loss_fn, data, params=params,
                                          batch_size=batch_size, dtype=dtype))


def ggn(model: Any, loss_fn: Any, data: Any, *, params: Any = None,
        batch_size: int | None = None, dtype: torch.dtype | None = None) -> GGNOperator:
    """The generalized Gauss–Newton matrix G = Σ_b (n_b/N) J_bᵀ ∇²ℓ_b J_b (Schraudolph 2002).

    Same arguments as :func:`hessian` (model form only). For MSE ∇²ℓ = (2/(N_b·k))·I; for
    cross-entropy ∇²ℓ is diag(p) − ppᵀ per row, averaged; any loss of the outputs works, with
    ∇²ℓ by autograd. G is positive semi-definite for a convex loss and equals H for a model that
    is linear in its parameters.
    """
    if not hasattr(model, "parameters"):
        raise TypeError(f"ggn needs an nn.Module and a loss of its outputs, got "
                        f"{type(model).__name__}")
    return GGNOperator(make_objective(model, loss_fn, data, params=params,
                                      batch_size=batch_size, dtype=dtype))


def as_operator(a: Any, name: str = "operator") -> LinearOperator:
    """An operator from a :class:`LinearOperator`, a square tensor/array, or any object with
    ``@`` and a square ``shape``. Raises ``ValueError`` if it is not square."""
    if isinstance(a, LinearOperator):
        op = a
    elif isinstance(a, torch.Tensor | np.ndarray):
        t = torch.as_tensor(a)
        if t.ndim != 2:
            raise ValueError(f"{name} must be a square matrix (P, P), got shape {tuple(t.shape)}")
        if not t.is_floating_point():
            t = t.to(torch.float64)
        op = TensorOperator(t)
    elif hasattr(a, "__matmul__") and hasattr(a, "shape"):
        op = _Wrapped(a)
    else:
        raise TypeError(f"{name} must be a LinearOperator (landscape.hessian, ggn), a square "
                        f"tensor, or an object with @ and shape, got {type(a).__name__}")
    shape = tuple(op.shape)
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 1:
        raise ValueError(f"{name} must be square (P, P), got shape {shape}")
    return op


class _Wrapped(LinearOperator):
    """Any object with ``@`` and ``shape`` (a SciPy or curvlinops operator, say)."""

    def __init__(self, a: Any):
        self.a = a
        self.shape = tuple(int(s) for s in a.shape)
        self.dtype = getattr(a, "dtype", torch.float64)
        if not isinstance(self.dtype, torch.dtype):
            self.dtype = torch.float64
        self.device = getattr(a, "device", torch.device("cpu"))
        if not isinstance(self.device, torch.device):
            self.device = torch.device("cpu")

    def _matmat(self, v: torch.Tensor) -> torch.Tensor:
        out = self.a @ v.T
        return torch.as_tensor(np.asarray(out) if not isinstance(out, torch.Tensor) else out,
                               dtype=self.dtype, device=self.device).T
