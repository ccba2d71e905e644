"""The loss as a function of one flat parameter vector: what every landscape tool differentiates.

L(w) = Σ_b (n_b / N) · loss_fn(model(x_b; w), y_b) over fixed, contiguous batches b of the data, so
the value, gradient and Hessian are those of the full-data mean loss (for a loss that averages over
its rows) and do not depend on ``batch_size``; memory is that of one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from occamlab._hvp import grad_and_hvp
from occamlab._torch import as_tensor, batch_slices, call, check_finite, flatten, unflatten

__all__ = ["Objective", "make_objective", "check_same_architecture", "model_data"]


def _check_scalar(out: Any, what: str) -> None:
    if not isinstance(out, torch.Tensor) or out.ndim != 0:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"{what} must return a scalar (0-d tensor), got {shape}; use a mean "
                         f"reduction such as torch.nn.MSELoss() or nn.CrossEntropyLoss()")


def model_data(data: Any, dtype: torch.dtype, device: torch.device
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate an (X, y) pair; floating arrays are cast to ``dtype``, all moved to ``device``."""
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise TypeError(f"data must be an (X, y) pair of tensors or arrays, got "
                        f"{type(data).__name__}")
    x = as_tensor(data[0], "data inputs X", device=device)
    y = as_tensor(data[1], "data targets y", device=device)
    x = x.to(dtype) if x.is_floating_point() else x
    y = y.to(dtype) if y.is_floating_point() else y
    if x.ndim == 0 or y.ndim == 0 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"data inputs X {tuple(x.shape)} and targets y {tuple(y.shape)} must "
                         f"have the same, non-zero number of rows (first dimension)")
    return x, y


def check_same_architecture(a: nn.Module, b: nn.Module, names: tuple[str, str]) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same parameter names and shapes."""
    for m, n in zip((a, b), names):
        if not isinstance(m, nn.Module):
            raise TypeError(f"{n} must be a torch.nn.Module, got {type(m).__name__}")
    sa = {k: tuple(v.shape) for k, v in a.state_dict().items()}
    sb = {k: tuple(v.shape) for k, v in b.state_dict().items()}
    if sa != sb:
        diff = sorted(set(sa.items()) ^ set(sb.items()))[:4]
        raise ValueError(f"{names[0]} and {names[1]} must have the same architecture (parameter "
                         f"names and shapes); they differ in {diff}")


class Objective:
    """L(w) of a model and its data (or of a plain function) at flat parameters w of shape (P,).

    Built by :func:`make_objective`. ``w0`` is the point the model was given at; ``like`` maps the
    flat vector back to named parameters.
    """

    def __init__(self, fn: Callable[[torch.Tensor, int], torch.Tensor], w0: torch.Tensor,
                 weights: list[float], like: Mapping[str, torch.Tensor] | None = None,
                 outputs: Callable | None = None, losses: Callable | None = None):
        self._fn, self.w0, self.weights, self.like = fn, w0, weights, like
        self._outputs, self._losses = outputs, losses

    @property
    def n_params(self) -> int:
        return int(self.w0.numel())

    def batch_loss(self, w: torch.Tensor, b: int) -> torch.Tensor:
        return self._fn(w, b)

    def value(self, w: torch.Tensor) -> torch.Tensor:
        """L(w), a 0-d tensor (no graph)."""
        with torch.no_grad():
            return sum(c * self._fn(w, b) for b, c in enumerate(self.weights))

    def grad_hvp(self, w: torch.Tensor, v: torch.Tensor, *, batched: bool = False
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """(∇L(w), H(w)·v), summed over the fixed batches; ``v`` (P,) or (k, P) if batched."""
        g_sum = hv_sum = None
        for b, c in enumerate(self.weights):
            g, hv = grad_and_hvp(lambda u, b=b: self._fn(u, b), w, v, batched=batched)
            g_sum = c * g if g_sum is None else g_sum + c * g
            hv_sum = c * hv if hv_sum is None else hv_sum + c * hv
        return g_sum, hv_sum

    def grad(self, w: torch.Tensor) -> torch.Tensor:
        """∇L(w), shape (P,)."""
        out = None
        for b, c in enumerate(self.weights):
            u = w.detach().requires_grad_(True)
            with torch.enable_grad():
                (g,) = torch.autograd.grad(self._fn(u, b), u)
            out = c * g if out is None else out + c * g
        return out

    def ggn_batch(self, b: int) -> tuple[Callable, Callable]:
        """The model's output map w ↦ f(x_b; w) and the loss of outputs o ↦ ℓ(o, y_b)."""
        if self._outputs is None:
            raise ValueError("the generalized Gauss–Newton needs a model and a loss on its "
                             "outputs, not a plain function of the parameters")
        return self._outputs(b), self._losses(b)


def _select(model: nn.Module, params: Any) -> dict[str, torch.Tensor]:
    named = {k: p.detach() for k, p in model.named_parameters() if p.requires_grad}
    if params is None:
        chosen = named
    elif isinstance(params, Mapping):
        unknown = sorted(set(params) - set(named))
        if unknown:
            raise ValueError(f"params names {unknown} are not trainable parameters of the model; "
                             f"valid names: {list(named)}")
        chosen = {}
        for k, v in params.items():
            t = as_tensor(v, f"params[{k!r}]")
            if tuple(t.shape) != tuple(named[k].shape):
                raise ValueError(f"params[{k!r}] has shape {tuple(t.shape)}, the model's "
                                 f"parameter has {tuple(named[k].shape)}")
            chosen[k] = t.detach()
    elif isinstance(params, Iterable) and not isinstance(params, str):
        params = list(params)
        unknown = [k for k in params if k not in named]
        if unknown or not params:
            raise ValueError(f"params must name trainable parameters of the model, got "
                             f"{unknown or params}; valid names: {list(named)}")
        chosen = {k: named[k] for k in params}
    else:
        raise TypeError(f"params must be None, a list of parameter names or a dict name → "
                        f"tensor, got {type(params).__name__}")
    if not chosen:
        raise ValueError(f"model {type(model).__name__} has no trainable parameters")
    return chosen


def make_objective(model: Any, loss_fn: Any = None, data: Any = None, *, params: Any = None,
                   batch_size: int | None = None, dtype: torch.dtype | None = None) -> Objective:
    """The :class:`Objective` of ``(model, loss_fn, data)`` or of a function ``(fn, x0)``.

    Arguments:
        model: an ``nn.Module``, or a callable mapping a flat tensor (P,) to a 0-d tensor.
        loss_fn: ``loss_fn(output, target)`` returning a scalar mean; for a function, its
            starting point x0 (P,).
        data: an (X, y) pair (model form only).
        params: which parameters vary (default all trainable): a list of names, or a dict
            name → tensor giving both the names and the point.
        batch_size: rows per batch (default all): bounds memory, not the result.
        dtype: compute in this dtype (default the model's, or x0's); float64 for theory.
    """
    if not isinstance(model, nn.Module):
        if not callable(model):
            raise TypeError(f"model must be a torch.nn.Module or a callable f(x) of one flat "
                            f"tensor, got {type(model).__name__}")
        if data is not None or params is not None or batch_size is not None:
            raise TypeError("a plain function takes only (fn, x0): data, params and batch_size "
                            "belong to the model form (model, loss_fn, data)")
        x0 = as_tensor(loss_fn, "x0", ndim=1)
        if not x0.is_floating_point():
            x0 = x0.to(torch.float64)
        x0 = x0.to(dtype) if dtype is not None else x0
        fn = model
        try:
            out = fn(x0.clone())
        except Exception as e:  # any failure of the user's function, named
            raise ValueError(f"fn(x0) with x0 of shape {tuple(x0.shape)} failed: {e}") from None
        _check_scalar(out, "fn")
        return Objective(lambda w, b: fn(w), x0.detach().clone(), [1.0])
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(output, target), got "
                        f"{type(loss_fn).__name__}")
    if data is None:
        raise TypeError("data is required with a model: an (X, y) pair")
    chosen = _select(model, params)
    first = next(iter(chosen.values()))
    dtype = dtype or first.dtype
    device = first.device
    chosen = {k: v.to(device=device, dtype=dtype) for k, v in chosen.items()}
    w0 = flatten(chosen).clone()
    check_finite(w0, "model parameters")
    frozen = {k: (v.detach().to(dtype) if v.is_floating_point() else v.detach())
              for k, v in [*model.named_parameters(), *model.named_buffers()] if k not in chosen}
    x, y = model_data(data, dtype, device)
    n = x.shape[0]
    slices = list(batch_slices(n, batch_size))
    weights = [(s.stop - s.start) / n for s in slices]

    def outputs(b: int) -> Callable[[torch.Tensor], torch.Tensor]:
        xb = x[slices[b]]
        return lambda w: call(model, {**frozen, **unflatten(w, chosen)}, xb)

    def losses(b: int) -> Callable[[torch.Tensor], torch.Tensor]:
        yb = y[slices[b]]
        return lambda o: loss_fn(o, yb)

    def fn(w: torch.Tensor, b: int) -> torch.Tensor:
        return loss_fn(outputs(b)(w), y[slices[b]])

    try:
        with torch.no_grad():
            out = fn(w0, 0)
    except (RuntimeError, ValueError, IndexError) as e:
        raise ValueError(f"data of shape X {tuple(x.shape)}, y {tuple(y.shape)} does not fit "
                         f"the model and loss: {str(e).splitlines()[0]}") from None
    _check_scalar(out, "loss_fn")
    return Objective(fn, w0, weights, chosen, outputs, losses)
