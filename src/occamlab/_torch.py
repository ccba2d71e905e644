"""Shared torch plumbing: input conversion and validation, parameter handling, batching.

Every room uses these helpers instead of rewriting them. Nothing here is public API.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from occamlab._check import check_int

__all__ = [
    "as_tensor",
    "check_finite",
    "batch_slices",
    "make_generator",
    "trainable_params",
    "model_device_dtype",
    "call",
    "flatten",
    "unflatten",
    "to_numpy",
    "num_threads",
    "jvp",
]


def check_finite(t: torch.Tensor, name: str) -> torch.Tensor:
    """Raise ``ValueError`` naming ``name`` if ``t`` holds NaN or Inf."""
    if t.is_floating_point() or t.is_complex():
        bad = ~torch.isfinite(t)
        if bool(bad.any()):
            n_nan = int(torch.isnan(t).sum())
            n_inf = int(bad.sum()) - n_nan
            idx = tuple(int(i) for i in torch.nonzero(bad)[0])
            raise ValueError(
                f"{name} contains non-finite values ({n_nan} NaN, {n_inf} Inf; first at index "
                f"{idx}); all entries must be finite"
            )
    return t


def as_tensor(
    x: Any,
    name: str,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    ndim: int | tuple[int, ...] | None = None,
    finite: bool = True,
) -> torch.Tensor:
    """Convert ``x`` (tensor, NumPy array, list, number) to a tensor and validate it.

    Arguments:
        x: the input.
        name: the argument's name, used in error messages.
        dtype: cast to this dtype; ``None`` keeps the input's dtype (Python floats become float64).
        device: move to this device; ``None`` keeps a tensor where it is (NumPy goes to CPU).
        ndim: allowed number(s) of dimensions.
        finite: reject NaN/Inf.

    Returns:
        The tensor; a tensor input that already fits is returned without a copy.
    """
    if isinstance(x, torch.Tensor):
        t = x
    elif isinstance(x, np.ndarray | list | tuple | float | int | np.floating | np.integer):
        try:
            arr = np.asarray(x)
        except ValueError as e:  # ragged lists
            raise ValueError(f"{name} could not be read as an array: {e}") from None
        if arr.dtype == object:
            raise TypeError(f"{name} must be numeric, got an array of Python objects")
        t = torch.from_numpy(arr if arr.flags.c_contiguous else arr.copy(order="C"))
    else:
        raise TypeError(
            f"{name} must be a torch.Tensor or a NumPy array, got {type(x).__name__}"
        )
    if dtype is not None and t.dtype != dtype:
        t = t.to(dtype)
    if device is not None:
        t = t.to(device)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if t.ndim not in allowed:
            raise ValueError(
                f"{name} must have {' or '.join(map(str, allowed))} dimensions, "
                f"got shape {tuple(t.shape)}"
            )
    if finite:
        check_finite(t, name)
    return t


def call_elementwise(fn: Any, x: torch.Tensor, name: str, *, var: str, where: str,
                     requirement: str) -> torch.Tensor:
    """Call the user's elementwise ``fn`` on ``x`` and check what comes back.

    Returns ``fn(x)`` as a float64 tensor of ``x``'s shape on ``x``'s device (a scalar is
    broadcast). ``fn`` not callable is a ``TypeError``; a result of another shape, or NaN/Inf
    anywhere, a ``ValueError`` naming ``name``, the first bad ``var`` value, ``where`` the values
    lie and the ``requirement`` they break.
    """
    if not callable(fn):
        raise TypeError(f"{name} must be a callable of a tensor of {var} values, got "
                        f"{type(fn).__name__}")
    out = fn(x)
    if not isinstance(out, torch.Tensor):
        out = torch.as_tensor(np.asarray(out, dtype=np.float64))
    out = out.to(device=x.device, dtype=torch.float64)
    if out.shape != x.shape:
        if out.numel() != 1:
            raise ValueError(f"{name} must act elementwise (return the same shape as its "
                             f"input): on {var} of shape {tuple(x.shape)} it returned shape "
                             f"{tuple(out.shape)}")
        out = out.reshape(()).expand(x.shape)
    bad = ~torch.isfinite(out)
    if bool(bad.any()):
        n_nan = int(torch.isnan(out).sum())
        raise ValueError(f"{name} is not finite at {var} = {float(x[bad][0]):.4g} ({n_nan} NaN "
                         f"and {int(bad.sum()) - n_nan} Inf values {where}); {requirement}")
    return out


def batch_slices(n: int, batch_size: int | None) -> Iterator[slice]:
    """Slices covering ``range(n)`` in blocks of ``batch_size`` (one block if ``None``)."""
    if batch_size is None or batch_size >= n:
        yield slice(0, n)
        return
    check_int(batch_size, "batch_size", ge=1)
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def make_generator(seed: int | None = None, generator: torch.Generator | None = None,
                   device: torch.device | str = "cpu") -> torch.Generator:
    """The generator to draw from: ``generator`` if given, else a fresh one seeded with ``seed``.

    ``seed=None`` draws a seed from torch's global generator, so results then follow
    ``torch.manual_seed``.
    """
    if generator is not None:
        return generator
    g = torch.Generator(device=device)
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    g.manual_seed(int(seed))
    return g


def trainable_params(model: nn.Module) -> dict[str, torch.Tensor]:
    """Named trainable parameters of ``model`` (detached), in registration order.

    Raises ``ValueError`` if there are none.
    """
    params = {k: p.detach() for k, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise ValueError(
            f"model {type(model).__name__} has no trainable parameters (requires_grad=True)"
        )
    return params


def model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Device and floating dtype of ``model``'s first parameter (CPU/float32 if it has none)."""
    for p in model.parameters():
        return p.device, p.dtype
    return torch.device("cpu"), torch.get_default_dtype()


def call(model: nn.Module, params: Mapping[str, torch.Tensor], *args: Any,
         tie_weights: bool = True, **kwargs: Any) -> Any:
    """Run ``model`` with ``params`` substituted for its parameters (buffers kept).

    A thin wrapper around ``torch.func.functional_call`` that works under ``vmap`` and ``grad``.
    ``tie_weights=False`` skips the per-call search for tied weights: pass every name then.
    """
    return functional_call(model, dict(params), args, kwargs, tie_weights=tie_weights)


def flatten(params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Concatenate a parameter dict into one vector of shape (P,)."""
    return torch.cat([p.reshape(-1) for p in params.values()])


def unflatten(vec: torch.Tensor, like: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of :func:`flatten`: split ``vec`` (shape (..., P)) into tensors shaped as ``like``.

    Leading batch dimensions of ``vec`` are kept on every piece.
    """
    sizes = [p.numel() for p in like.values()]
    if vec.shape[-1] != sum(sizes):
        raise ValueError(f"vector has {vec.shape[-1]} entries, parameters need {sum(sizes)}")
    lead = vec.shape[:-1]
    return {k: t.reshape(*lead, *p.shape)
            for (k, p), t in zip(like.items(), torch.split(vec, sizes, dim=-1), strict=True)}


def to_numpy(x: Any) -> Any:
    """Tensors (nested in dicts/lists too) to NumPy; other values unchanged."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, dict):
        return {k: to_numpy(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return type(x)(to_numpy(v) for v in x)
    return x


@contextmanager
def num_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` torch intra-op threads, restoring the setting afterwards.

    Small steps (a tiny model's SGLD step, a cache-sized kernel block) are faster on one thread:
    each multithreaded op pays a thread barrier that costs more than the op itself
    (benchmarks/RESULTS.md, "Quality pass").
    """
    before = torch.get_num_threads()
    if n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def jvp(func: Any, primals: Any, tangents: Any, **kwargs: Any) -> Any:
    """``torch.func.jvp``, without passing on torch's notice about its own internals.

    On its first forward-mode pass torch compiles its jvp decompositions with
    ``torch.jit.script`` and warns that ``torch.jit.script`` is deprecated; no code of occamlab
    calls that API, so this one message is not shown to the user.
    """
    import warnings

    from torch.func import jvp as _jvp

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated",
                                category=DeprecationWarning)
        return _jvp(func, primals, tangents, **kwargs)
