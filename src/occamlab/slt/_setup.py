"""Shared set-up of the LLC estimator and its calibration: data, loss, validation, curvature."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import vmap

from occamlab._check import check_choice, check_int, check_real
from occamlab._hvp import hvp as shared_hvp
from occamlab._hvp import hvp_fn
from occamlab._torch import (
    as_tensor,
    flatten,
    model_device_dtype,
    trainable_params,
)
from occamlab.slt._samplers import SAMPLERS, make_loss

# Rows per chunk when the full data set is evaluated (L_n(w*)) and for curvature probes.
_CHUNK = 4096
_CURV_ROWS = 1024


@dataclass
class Problem:
    """A model at w*, its loss and data, ready for the samplers."""

    loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
    w_star: torch.Tensor  # (P,)
    x: torch.Tensor
    y: torch.Tensor
    loss_star: float  # L_n(w*) on the full data
    n: int
    loader_batch: int | None  # a DataLoader's batch size, used as the default batch size

    @property
    def n_params(self) -> int:
        return int(self.w_star.numel())


def _materialize(data: Any) -> tuple[Any, Any, int | None]:
    if isinstance(data, tuple | list) and len(data) == 2:
        return data[0], data[1], None
    if isinstance(data, torch.utils.data.DataLoader):
        xs, ys = [], []
        for batch in data:
            if not isinstance(batch, tuple | list) or len(batch) != 2:
                raise ValueError("data: a DataLoader must yield (inputs, targets) pairs")
            xs.append(torch.as_tensor(batch[0]))
            ys.append(torch.as_tensor(batch[1]))
        if not xs:
            raise ValueError("data: the DataLoader yielded no batches")
        return torch.cat(xs), torch.cat(ys), data.batch_size
    if isinstance(data, torch.utils.data.Dataset):
        try:
            n = len(data)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError("data: a Dataset must have a length (map-style)") from None
        items = [data[i] for i in range(n)]
        if not items or not all(isinstance(it, tuple | list) and len(it) == 2 for it in items):
            raise ValueError("data: a Dataset must hold (input, target) pairs and not be empty")
        return (torch.stack([torch.as_tensor(it[0]) for it in items]),
                torch.stack([torch.as_tensor(it[1]) for it in items]), None)
    raise TypeError(f"data must be an (X, y) pair of tensors/arrays, a Dataset or a DataLoader, "
                    f"got {type(data).__name__}")


def full_loss(loss: Callable, w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float:
    """The mean loss over all rows, in chunks (chunk means weighted by their size)."""
    n = x.shape[0]
    total = 0.0
    with torch.no_grad():
        for s in range(0, n, _CHUNK):
            e = min(s + _CHUNK, n)
            total += float(loss(w, x[s:e], y[s:e])) * (e - s)
    return total / n


def select_params(params: dict[str, torch.Tensor], names: Any) -> dict[str, torch.Tensor]:
    """The parameters named by ``names``: exact names, or module prefixes (``"0"`` → ``"0.*"``)."""
    if names is None:
        return params
    if isinstance(names, str) or not isinstance(names, Sequence) or not names:
        raise ValueError(f"params must be a non-empty list of parameter names, got {names!r}; "
                         f"valid names: {list(params)}")
    chosen = {}
    for name in names:
        hits = [k for k in params if k == name or k.startswith(f"{name}.")]
        if not hits:
            raise ValueError(f"params: {name!r} names no trainable parameter of the model; "
                             f"valid names: {list(params)}")
        chosen.update({k: params[k] for k in hits})
    return {k: params[k] for k in params if k in chosen}  # in registration order


_LOW_PRECISION = (torch.float16, torch.bfloat16)


def check_model(model: nn.Module) -> None:
    """Refuse what makes the sampled loss ill-defined: random layers, too coarse a dtype."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    stochastic = [name or type(m).__name__ for name, m in model.named_modules()
                  if m.training and isinstance(m, nn.modules.dropout._DropoutNd
                                               | nn.modules.batchnorm._BatchNorm)]
    if stochastic:
        raise ValueError(f"model has Dropout/BatchNorm in training mode ({stochastic[:3]}): its "
                         f"loss is random or depends on the batch; call model.eval() first")
    low = sorted({str(p.dtype) for p in model.parameters() if p.dtype in _LOW_PRECISION})
    if low:
        raise ValueError(f"model parameters are {', '.join(low)}: nβ·(L(w) − L(w*)) is far below "
                         f"that precision (≈ 3 significant digits), so the estimate would be "
                         f"noise; convert with model.float() or model.double()")


def _check_not_constant(loss: Callable, w: torch.Tensor, xb: torch.Tensor,
                        yb: torch.Tensor) -> None:
    # A loss that cannot see the parameters (cross-entropy over one logit is identically 0)
    # would give λ̂ = 0 with perfect diagnostics: refuse it.
    g = torch.Generator(device=w.device).manual_seed(0)
    with torch.no_grad():
        base = loss(w, xb, yb)
        for scale in (1e-2, 1e-1, 1.0):
            step = scale * (w.abs() + 1) * torch.randn(w.shape, generator=g, device=w.device,
                                                       dtype=w.dtype)
            if not bool(loss(w + step, xb, yb) == base):
                return
    raise ValueError(f"the loss is constant ({float(base):.6g}) around w*: it does not depend "
                     f"on the parameters, so there is no learning coefficient to measure (e.g. "
                     f"cross-entropy over a single logit is identically 0: use a regression "
                     f"loss, or one logit per class)")


def load_data(data: Any, device: torch.device, dtype: torch.dtype
              ) -> tuple[torch.Tensor, torch.Tensor, int | None]:
    """``(x, y, loader_batch)`` from any accepted data form, on the model's device and dtype."""
    x_raw, y_raw, loader_batch = _materialize(data)
    x = as_tensor(x_raw, "data inputs X", device=device)
    y = as_tensor(y_raw, "data targets y", device=device)
    if x.is_floating_point():
        x = x.to(dtype)
    if y.is_floating_point():
        y = y.to(dtype)
    if x.ndim == 0 or y.ndim == 0 or x.shape[0] != y.shape[0]:
        raise ValueError(f"data inputs X {tuple(x.shape)} and targets y {tuple(y.shape)} must "
                         f"have the same number of rows (first dimension)")
    if x.shape[0] < 2:
        raise ValueError(f"data must have at least 2 rows, got {x.shape[0]}")
    return x, y, loader_batch


def check_loss(loss: Callable, w_star: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> None:
    """The loss runs on the data, returns a scalar, and depends on the parameters."""
    probe = slice(0, min(x.shape[0], 8))
    try:
        with torch.no_grad():
            out = loss(w_star, x[probe], y[probe])
    except (RuntimeError, ValueError, IndexError) as e:
        raise ValueError(f"data of shape X {tuple(x.shape)}, y {tuple(y.shape)} does not fit "
                         f"the model and loss: {str(e).splitlines()[0]}") from None
    if not isinstance(out, torch.Tensor) or out.numel() != 1 or out.ndim != 0:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"loss_fn must return a scalar mean loss, got {shape}; use a reduction "
                         f"such as 'mean' (e.g. torch.nn.MSELoss())")
    _check_not_constant(loss, w_star, x[:64], y[:64])


def prepare(model: nn.Module, loss_fn: Callable, data: Any, params: Any = None) -> Problem:
    """Validate the model, loss and data; compute w* (the sampled parameters) and L_n(w*)."""
    check_model(model)
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(output, target), got "
                        f"{type(loss_fn).__name__}")
    sampled = select_params(trainable_params(model), params)
    device, dtype = model_device_dtype(model)
    x, y, loader_batch = load_data(data, device, dtype)
    loss = make_loss(model, loss_fn, sampled)
    w_star = flatten(sampled).clone()
    check_loss(loss, w_star, x, y)
    loss_star = full_loss(loss, w_star, x, y)
    if not math.isfinite(loss_star):
        raise ValueError(f"L_n(w*) = {loss_star} is not finite: the model's loss at the given "
                         f"parameters must be finite to measure an LLC there")
    return Problem(loss, w_star, x, y, loss_star, x.shape[0], loader_batch)


def check_sampler(sampler: str) -> str:
    return check_choice(sampler, "sampler", SAMPLERS)


def check_positive(value: Any, name: str, *, allow_zero: bool = False) -> float:
    return check_real(value, name, ge=0) if allow_zero else check_real(value, name, gt=0)


def per_chain_values(value: Any, name: str, chains: int) -> float | list[float]:
    """A positive scalar, or a sequence of one positive value per chain."""
    if isinstance(value, torch.Tensor | Sequence) and not isinstance(value, str):
        vals = [float(v) for v in (value.reshape(-1).tolist() if isinstance(value, torch.Tensor)
                                   else value)]
        if len(vals) != chains:
            raise ValueError(f"{name} has {len(vals)} values; give one value or one per chain "
                             f"({chains})")
        for v in vals:
            check_positive(v, name)
        return vals
    return check_positive(value, name)


def check_batch(batch_size: int | None, n: int) -> int | None:
    if batch_size is None:
        return None
    return min(check_int(batch_size, "batch_size", ge=1), n)


def curvature(loss: Callable, points: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *,
              generators: list[torch.Generator], per_point_y: bool = False, iters: int = 20,
              trace: bool = True, lowest: bool = True,
              precondition: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
    """Extreme eigenvalues and spectral moments of the Hessian H of L at each of K points.

    Arguments:
        points: (K, P) parameters.  y: targets (n, ...), or (K, n, ...) with ``per_point_y``.
        generators: one per point (its probe vectors), so a point's estimate does not depend on
            the others.
        precondition: (K, P, P) symmetric S per point: the moments are then those of S·H·S, the
            Hessian in the coordinates z of w = S·z.

    Returns:
        ``(top, mean_diag, mean_square, bottom)``, each (K,): |largest eigenvalue| by power
        iteration (``iters`` HVPs); tr(H)/P and tr(H²)/P by Hutchinson's estimator with 8
        Rademacher probes (E[zᵀHz] = tr H, E[‖Hz‖²] = tr H²); and the smallest eigenvalue by
        power iteration on top·I − H (an upper bound on it: the Rayleigh quotient from below).
        All on at most 1024 rows; the last three NaN if ``trace`` is False, the last if
        ``lowest`` is.
    """
    m = min(x.shape[0], _CURV_ROWS)
    xs, ys = x[:m], (y[:, :m] if per_point_y else y[:m])
    batched = vmap(loss, in_dims=(0, None, 0 if per_point_y else None))
    k, p = points.shape
    dev, dt = points.device, points.dtype

    def hvp(w: torch.Tensor, v: torch.Tensor, yy: torch.Tensor) -> torch.Tensor:
        # Points are independent, so the Hessian of the summed loss is block diagonal and one
        # product gives every point's HVP at once.
        if precondition is None:
            return shared_hvp(lambda u: batched(u, xs, yy).sum(), w, v)
        s = precondition.repeat(w.shape[0] // k, 1, 1)
        hv = shared_hvp(lambda u: batched(u, xs, yy).sum(), w, (s @ v.unsqueeze(2)).squeeze(2))
        return (s @ hv.unsqueeze(2)).squeeze(2)

    def power(shift: torch.Tensor | None) -> torch.Tensor:
        v = torch.stack([torch.randn(p, generator=g, device=dev, dtype=dt) for g in generators])
        val = torch.zeros(k, device=dev, dtype=dt)
        for _ in range(iters):
            v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-30)
            hv = hvp(points, v, ys)
            if shift is not None:
                hv = shift.unsqueeze(1) * v - hv
            val = (hv * v).sum(dim=1)
            v = hv
        return val

    top = power(None).abs()
    if not trace:
        nan = torch.full_like(top, float("nan"))
        return top, nan, nan, nan
    probes = torch.stack([torch.randint(0, 2, (8, p), generator=g, device=dev)
                          for g in generators], dim=1).to(dt) * 2 - 1  # (8, K, P)
    reps = points.unsqueeze(0).expand(8, k, p).reshape(8 * k, p)
    yy = ys.unsqueeze(0).expand(8, *ys.shape).reshape(8 * k, *ys.shape[1:]) if per_point_y \
        else ys
    hz = hvp(reps, probes.reshape(8 * k, p), yy).reshape(8, k, p)
    diag = (hz * probes).sum(dim=2).mean(dim=0) / p
    square = hz.square().sum(dim=2).mean(dim=0) / p
    bottom = top - power(top) if lowest else torch.full_like(top, float("nan"))
    return top, diag, square, bottom


def gradient_noise(loss: Callable, points: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *,
                   per_point_y: bool = False, groups: int = 8,
                   precondition: torch.Tensor | None = None) -> torch.Tensor:
    """tr(Σ_g)/P at each of K points: Σ_g the covariance of one row's gradient of L.

    The first ≤ 1024 rows are cut into ``groups`` equal groups; group-mean gradients have
    covariance Σ_g/r (r rows each), so tr Σ_g ≈ r·Σⱼ‖ḡⱼ − ḡ‖²/(groups − 1). Returns (K,).
    With ``precondition`` (K, P, P) S per point, tr(S·Σ_g·S)/P (see :func:`curvature`).
    """
    m = min(x.shape[0], _CURV_ROWS)
    r = m // groups
    if r < 1:
        return torch.full((points.shape[0],), float("nan"), device=points.device,
                          dtype=points.dtype)
    per_point = vmap(torch.func.grad(loss), in_dims=(0, None, 0 if per_point_y else None))
    g = torch.stack([per_point(points, x[j * r:(j + 1) * r],
                               y[:, j * r:(j + 1) * r] if per_point_y else y[j * r:(j + 1) * r])
                     for j in range(groups)], dim=1)  # (K, groups, P)
    if precondition is not None:
        g = g @ precondition
    dev = g - g.mean(dim=1, keepdim=True)  # (K, groups, P)
    return r * dev.square().sum(dim=(1, 2)) / (groups - 1) / points.shape[1]


# Hessian-vector products per batched backward when a dense Hessian is built.
_HESS_CHUNK = 64
# Rows of a dense Hessian: on a subset, the residual term Σᵢ rᵢ∇²fᵢ of a minimum does not
# cancel, and its noise (∝ 1/√rows) shows as spurious curvature of either sign.
_HESS_ROWS = 16384


def hessians(loss: Callable, points: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *,
             per_point_y: bool = False, rows: int = _HESS_ROWS) -> torch.Tensor:
    """The dense Hessians (K, P, P) of L at K points (K·P products on at most ``rows`` rows),
    symmetrized. One graph of ∇L serves every product; columns go in batched backwards."""
    m = min(x.shape[0], rows)
    xs, ys = x[:m], (y[:, :m] if per_point_y else y[:m])
    batched = vmap(loss, in_dims=(0, None, 0 if per_point_y else None))
    k, p = points.shape
    _, apply = hvp_fn(lambda u: batched(u, xs, ys).sum(), points)
    eye = torch.eye(p, device=points.device, dtype=points.dtype)
    cols = []
    for j in range(0, p, _HESS_CHUNK):
        basis = eye[j:j + _HESS_CHUNK].unsqueeze(1).expand(-1, k, p)  # (c, K, P)
        try:
            cols.append(apply(basis, batched=True))
        except RuntimeError:  # an operation without a batching rule: one product at a time
            cols.append(torch.stack([apply(b.contiguous()) for b in basis]))
    h = torch.cat(cols).permute(1, 2, 0)  # (K, P, P): [k, :, j] = H_k e_j
    return (h + h.transpose(1, 2)) / 2
