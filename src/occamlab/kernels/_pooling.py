"""Local average pooling, ``AvgPool``, in 1-D and 2-D.

Along each spatial axis of size n the layer averages windows of ``k`` positions taken every
``s``: ``z_p = (1/k)·Σ_{t<k} x_{s·p + t − lo}``, a linear map z = A·x with A (n_out, n). The
kernel of every pair of positions follows as Σ' = A·Σ·Aᵀ (one such product per spatial axis,
applied to both positions of a pair), so the layer needs the full position-by-position
covariance (pooling as a linear map of the covariance, as in Novak et al. 2019, arXiv
1810.05148; neural-tangents ``stax.AvgPool``).

Padding (neural-tangents' conventions, ``normalize_edges=False``):

- ``"valid"``: no padding, ``n_out = ⌊(n − k)/s⌋ + 1``;
- ``"same"``: XLA's SAME, ``n_out = ⌈n/s⌉``, ``pad = max((n_out − 1)·s + k − n, 0)`` zeros with
  ``lo = ⌊pad/2⌋`` before; the padded zeros count in the 1/k (PyTorch's
  ``count_include_pad=True``);
- ``"circular"``: the same amounts, wrapped around.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from occamlab.kernels._core import Layer, State

__all__ = ["AvgPool"]

_PADDINGS = ("valid", "same", "circular")


def _sizes(value, name: str) -> tuple[int, ...]:
    sizes = (value,) if isinstance(value, int) else tuple(value)
    if not sizes or len(sizes) > 2 or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in sizes):
        raise ValueError(f"{name} must be a positive int or a tuple of 1 or 2 positive ints, "
                         f"got {value!r}")
    return sizes


def _geometry(n: int, k: int, s: int, padding: str) -> tuple[int, int, int]:
    """(n_out, lo, hi): output size and padding before and after the signal along one axis."""
    if padding == "valid":
        return (n - k) // s + 1, 0, 0
    n_out = -(-n // s)
    pad = max((n_out - 1) * s + k - n, 0)
    return n_out, pad // 2, pad - pad // 2


def _matrix(n: int, k: int, s: int, padding: str, like: torch.Tensor) -> torch.Tensor:
    """A (n_out, n): row p averages the window of output position p (zeros count, or wrap)."""
    n_out, lo, _ = _geometry(n, k, s, padding)
    rows = torch.arange(n_out, device=like.device)[:, None].expand(n_out, k)
    cols = rows * s + torch.arange(k, device=like.device) - lo
    if padding == "circular":
        keep = torch.ones_like(cols, dtype=torch.bool)
        cols = cols % n
    else:
        keep = (cols >= 0) & (cols < n)
    a = torch.zeros(n_out, n, dtype=like.dtype, device=like.device)
    ones = torch.full((int(keep.sum()),), 1.0 / k, dtype=like.dtype, device=like.device)
    return a.index_put_((rows[keep], cols[keep]), ones, accumulate=True)


class AvgPool(Layer):
    """Average pooling over windows of the spatial axes of (N, C, W) or (N, C, H, W) inputs.

    Arguments:
        window: positions per window, an int or a tuple with one entry per spatial axis.
        stride: step between windows (int or tuple); ``None`` is the window, as in PyTorch's
            ``nn.AvgPool1d``. (neural-tangents' ``stax.AvgPool`` defaults to stride 1: pass
            ``stride=1`` for it.)
        padding: "valid", "same" or "circular" (see the module docstring; padded zeros count
            in the average, neural-tangents' ``normalize_edges=False``).

    A window larger than the signal raises ``ValueError``. The pool is linear: it keeps a
    Gaussian input Gaussian, and a pool of activations stays non-Gaussian (an activation after
    it needs a Dense/Conv in between, as in neural-tangents).
    """

    reduces = "pool"  # needs all position pairs

    def __init__(self, window: int | tuple[int, ...] = 2,
                 stride: int | tuple[int, ...] | None = None, padding: str = "valid"):
        self.window = _sizes(window, "window")
        self.stride = None if stride is None else _sizes(stride, "stride")
        if padding not in _PADDINGS:
            raise ValueError(f"padding must be one of {_PADDINGS}, got {padding!r}")
        self.padding = padding

    def __repr__(self) -> str:
        def one(t):
            return t if t is None or len(t) > 1 else t[0]
        return (f"AvgPool(window={one(self.window)}, stride={one(self.stride)}, "
                f"padding={self.padding!r})")

    def _per_axis(self, n_spatial: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        def expand(t, name):
            if len(t) == 1:
                return t * n_spatial
            if len(t) != n_spatial:
                raise ValueError(f"AvgPool {name} {t} has {len(t)} entries but the input has "
                                 f"{n_spatial} spatial axes")
            return t
        window = expand(self.window, "window")
        return window, expand(self.stride or window, "stride")

    def out_shape(self, shape):
        if len(shape) < 2:
            raise ValueError(f"AvgPool needs inputs with spatial axes, (N, C, W) or "
                             f"(N, C, H, W); got per-example shape {shape}")
        spatial = shape[1:]
        window, stride = self._per_axis(len(spatial))
        if any(k > n for k, n in zip(window, spatial)):
            raise ValueError(f"AvgPool window {window} is larger than the signal {spatial}; use "
                             "a window no larger than each spatial axis")
        return (shape[0], *(_geometry(n, k, s, self.padding)[0]
                            for n, k, s in zip(spatial, window, stride)))

    def kernel_step(self, st: State) -> State:
        window, stride = self._per_axis(len(st.spatial))
        mats = [_matrix(n, k, s, self.padding, st.nngp)
                for n, k, s in zip(st.spatial, window, stride)]
        new = tuple(m.shape[0] for m in mats)
        p_out = math.prod(new)

        def pool(t: torch.Tensor, n_lead: int) -> torch.Tensor:
            if len(mats) == 1:  # A·Σ·Aᵀ as two batched matrix products
                return torch.matmul(torch.matmul(mats[0], t), mats[0].T)
            lead = t.shape[:n_lead]
            x = t.reshape(*lead, *st.spatial, *st.spatial)
            ns = len(st.spatial)
            for d, m in enumerate(mats):  # A on position axis d of both positions of a pair
                for axis in (n_lead + d, n_lead + ns + d):
                    x = torch.movedim(torch.tensordot(x, m, dims=([axis], [1])), -1, axis)
            return x.reshape(*lead, p_out, p_out)

        var1 = pool(st.var1, 1)
        return st.replace(nngp=pool(st.nngp, 2), ntk=None if st.ntk is None else pool(st.ntk, 2),
                          var1=var1, var2=var1 if st.var2 is st.var1 else pool(st.var2, 1),
                          spatial=new)

    def module(self, shape, width, out, generator, dtype, device, **kw):
        spatial = shape[1:]
        window, stride = self._per_axis(len(spatial))
        pads: list[int] = []
        for n, k, s in zip(reversed(spatial), reversed(window), reversed(stride)):
            pads += _geometry(n, k, s, self.padding)[1:]  # F.pad lists the last axis first
        pool = (nn.AvgPool1d if len(spatial) == 1 else nn.AvgPool2d)(window, stride)
        if any(pads):
            mode = "circular" if self.padding == "circular" else "constant"
            pool = nn.Sequential(_Pad(tuple(pads), mode), pool)
        return pool, self.out_shape(shape)


class _Pad(nn.Module):
    def __init__(self, pads: tuple[int, ...], mode: str):
        super().__init__()
        self.pads, self.mode = pads, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, list(self.pads), mode=self.mode)

    def extra_repr(self) -> str:
        return f"{self.pads}, mode={self.mode!r}"
