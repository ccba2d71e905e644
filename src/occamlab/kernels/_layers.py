"""Linear layers of the algebra: Dense, Conv (1-D/2-D), Flatten, GlobalAvgPool.

Kernel maps in NTK parameterization (Lee et al. 2019, arXiv 1902.06720, Eq. 7; Novak et al.
2019, arXiv 1810.05148, Eq. 7; Arora et al. 2019, arXiv 1904.11955, §4), with neural-tangents'
conventions:

- Dense: ``Σ' = w²·Σ + b²``, ``Θ' = Σ' + w²·Θ``.
- Conv: the same with Σ, Θ replaced by their average over the filter taps applied to both
  positions of a pair, ``(1/k)·Σₜ Σ(p+t, p'+t)``: fan-in = channels × taps; 'same' pads with
  zeros and the padded taps still count in the average; 'circular' wraps.
- Flatten: the mean of the same-position kernels (then a Dense with fan-in C·P).
- GlobalAvgPool: the mean over all pairs of positions.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

from occamlab._check import check_real
from occamlab.kernels._core import Flow, Layer, State

__all__ = ["Dense", "Conv", "Flatten", "GlobalAvgPool"]

_PADDINGS = ("same", "circular", "valid")


def _randn(shape, generator, dtype, device, std: float = 1.0) -> nn.Parameter:
    # Drawn on CPU from the seeded generator so a seed gives the same network on any device.
    t = torch.randn(*shape, generator=generator, dtype=dtype)
    return nn.Parameter((t if std == 1.0 else t * std).to(device))


class _Parameterized(nn.Module):
    """What Dense and Conv modules share: weight and bias drawn for a parameterization.

    ``forward`` computes ``scale·(W ⋆ x) + b_std·b``; "ntk" draws W, b standard normal with
    scale = w_std/√fan_in, b_std = b_std; "standard" and "mup" draw the same normals rescaled to
    the init standard deviations (w_std/√fan_in; μP's readout w_std/fan_in; b_std) with scale =
    b_std = 1 (the layerwise empirical NTK reads ``scale`` and ``b_std`` as the multipliers).
    ``role`` ("input", "hidden", "readout") sets μP's per-layer learning rates.
    """

    def _draw(self, w_shape, fan_in, fan_out, w_std, b_std, generator, dtype, device,
              parameterization, readout):
        self.parameterization = parameterization
        self.role = "readout" if readout else "hidden"
        self.fan_in, self.fan_out = fan_in, fan_out
        if parameterization == "ntk":
            self.scale, self.b_std, w_init, b_init = w_std / math.sqrt(fan_in), b_std, 1.0, 1.0
        else:
            mup_readout = parameterization == "mup" and readout
            w_init = w_std / (fan_in if mup_readout else math.sqrt(fan_in))
            self.scale, self.b_std, b_init = 1.0, 1.0, b_std
        self.weight = _randn(w_shape, generator, dtype, device, w_init)
        self.bias = _randn((fan_out,), generator, dtype, device, b_init) if b_std else None

    def lr_multipliers(self) -> dict[str, float]:
        """Learning-rate multiplier of each parameter under SGD (μP: Yang et al. 2022, arXiv
        2203.03466, Table 3: input weights and biases ×fan_out, readout weights ×1/fan_in)."""
        if self.parameterization != "mup":
            w, b = 1.0, 1.0
        else:
            w = {"input": float(self.fan_out), "hidden": 1.0,
                 "readout": 1.0 / self.fan_in}[self.role]
            b = float(self.fan_out)
        return {"weight": w} | ({"bias": b} if self.bias is not None else {})


class Dense(Layer):
    """Fully connected layer ``z = (w_std/√fan_in)·W·x + b_std·b``, W and b standard normal.

    Arguments:
        w_std: weight standard deviation (≥ 0).
        b_std: bias standard deviation (≥ 0); 0 means no bias parameter.
    """

    def __init__(self, w_std: float = 1.0, b_std: float = 0.0):
        self.w_std = check_real(w_std, "w_std", ge=0)
        self.b_std = check_real(b_std, "b_std", ge=0)

    def __repr__(self) -> str:
        return f"Dense(w_std={self.w_std:g}, b_std={self.b_std:g})"

    @property
    def has_width(self) -> bool:
        return True

    def out_shape(self, shape):
        if len(shape) != 1:
            raise ValueError(f"Dense needs flat features, got per-example shape {shape} with "
                             "spatial axes; insert Flatten() or GlobalAvgPool() before Dense")
        return shape

    def infer(self, flow: Flow) -> Flow:
        return Flow(self.out_shape(flow.shape), (1, 0), gaussian=True, fresh=True)

    def kernel_step(self, st: State) -> State:
        w2, b2 = self.w_std ** 2, self.b_std ** 2
        b2 = st.nngp.new_tensor(b2)  # a 0-d tensor makes w²·Σ + b² one pass: add(b², Σ, w²)
        nngp = torch.add(b2, st.nngp, alpha=w2)
        ntk = None if st.ntk is None else torch.add(nngp, st.ntk, alpha=w2)
        var1 = torch.add(b2, st.var1, alpha=w2)
        var2 = var1 if st.var2 is st.var1 else torch.add(b2, st.var2, alpha=w2)
        return st.replace(nngp=nngp, ntk=ntk, var1=var1, var2=var2)

    def supports(self, parameterization: str) -> bool:
        return True

    def module(self, shape, width, out, generator, dtype, device, parameterization="ntk"):
        n_out = width if out is None else out
        return _DenseModule(shape[0], n_out, self.w_std, self.b_std, generator, dtype,
                            device, parameterization, out is not None), (n_out,)


class _DenseModule(_Parameterized):
    # The affine-layer protocol read by occamlab.features (which cannot import kernels): the
    # kind of map, and the matrix the layer actually applies.
    affine_kind = "linear"

    def __init__(self, n_in, n_out, w_std, b_std, generator, dtype, device,
                 parameterization="ntk", readout=False):
        super().__init__()
        self._draw((n_out, n_in), n_in, n_out, w_std, b_std, generator, dtype, device,
                   parameterization, readout)

    def forward(self, x):
        z = F.linear(x, self.weight) * self.scale
        return z if self.bias is None else z + self.b_std * self.bias

    @property
    def effective_weight(self) -> torch.Tensor:
        """``scale·weight``, (out, in): the matrix applied to the input (with autograd)."""
        return self.weight * self.scale

    def extra_repr(self) -> str:
        o, i = self.weight.shape
        return (f"{i} → {o}, {self.parameterization} parameterization ({self.role}), "
                f"scale={self.scale:.4g}, b_std={self.b_std:g}")


def _pieces(n: int, offset: int, circular: bool) -> list[tuple[int, int, int]]:
    """(output start, input start, length) runs of ``out[p] = in[p + offset]`` along an axis of
    size ``n``: wrapped when circular, dropped where the input is zero padding otherwise."""
    if circular:
        o = offset % n
        return [r for r in ((0, o, n - o), (n - o, 0, o)) if r[2] > 0]
    if abs(offset) >= n:
        return []
    return [(max(0, -offset), max(0, offset), n - abs(offset))]


def _box(t: torch.Tensor, n_lead: int, spatial: tuple[int, ...], full: bool, dim: int,
         k: int, padding: str) -> torch.Tensor:
    """Average over ``k`` taps along spatial axis ``dim``, shifting both positions of a pair.

    ``t`` is (*lead, P) or (*lead, P, P) with P = prod(spatial); returns the same layout with
    the new spatial size. Shifted views are added in place (no padded copies): padding zeros
    contribute nothing but still count in the 1/k.
    """
    lead = t.shape[:n_lead]
    n = spatial[dim]
    x = t.reshape(*lead, *spatial, *(spatial if full else ()))
    axes = [n_lead + dim] + ([n_lead + len(spatial) + dim] if full else [])
    if padding == "valid":
        n_out, offsets = n - k + 1, range(k)
    else:  # SAME as in XLA/JAX (and torch): the extra tap of an even filter goes last
        n_out, offsets = n, range(-((k - 1) // 2), k - (k - 1) // 2)
    shape = list(x.shape)
    for a in axes:
        shape[a] = n_out
    acc = x.new_zeros(shape)
    for off in offsets:
        runs = ([(0, off, n_out)] if padding == "valid"
                else _pieces(n, off, padding == "circular"))
        for combo in itertools.product(runs, repeat=len(axes)):
            dst, src = acc, x
            for a, (o, i, m) in zip(axes, combo):
                dst, src = dst.narrow(a, o, m), src.narrow(a, i, m)
            dst += src
    acc /= k
    new = list(spatial)
    new[dim] = n_out
    p = math.prod(new)
    return acc.reshape(*lead, p, *((p,) if full else ()))


class Conv(Layer):
    """Convolution with stride 1 over the spatial axes of (N, C, W) or (N, C, H, W) inputs.

    ``z = (w_std/√(C·taps))·(W ⋆ x) + b_std·b`` with W, b standard normal; 1-D or 2-D from the
    input (Novak et al. 2019, arXiv 1810.05148, Eq. 7; neural-tangents ``stax.Conv``).

    Arguments:
        filter_size: taps per spatial axis, an int or a tuple with one entry per axis.
        padding: "same" (zeros; padded taps count in the average), "circular" (wrap) or
            "valid" (no padding, the output shrinks by filter_size − 1).
        w_std, b_std: weight and bias standard deviations (≥ 0).
    """

    def __init__(self, filter_size: int | tuple[int, ...] = 3, padding: str = "same",
                 w_std: float = 1.0, b_std: float = 0.0):
        sizes = (filter_size,) if isinstance(filter_size, int) else tuple(filter_size)
        if not sizes or len(sizes) > 2 or any(
                isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
            raise ValueError(f"filter_size must be a positive int or a tuple of 1 or 2 positive "
                             f"ints, got {filter_size!r}")
        if padding not in _PADDINGS:
            raise ValueError(f"padding must be one of {_PADDINGS}, got {padding!r}")
        self.filter_size, self.padding = sizes, padding
        self.w_std = check_real(w_std, "w_std", ge=0)
        self.b_std = check_real(b_std, "b_std", ge=0)

    def __repr__(self) -> str:
        fs = self.filter_size[0] if len(self.filter_size) == 1 else self.filter_size
        return (f"Conv(filter_size={fs}, padding={self.padding!r}, w_std={self.w_std:g}, "
                f"b_std={self.b_std:g})")

    @property
    def has_width(self) -> bool:
        return True

    def _taps(self, n_spatial: int) -> tuple[int, ...]:
        if len(self.filter_size) == 1:
            return self.filter_size * n_spatial
        if len(self.filter_size) != n_spatial:
            raise ValueError(f"filter_size {self.filter_size} has {len(self.filter_size)} "
                             f"entries but the input has {n_spatial} spatial axes")
        return self.filter_size

    def out_shape(self, shape):
        if len(shape) < 2:
            raise ValueError(f"Conv needs inputs with spatial axes, (N, C, W) or (N, C, H, W); "
                             f"got per-example shape {shape} without any (after Flatten/pooling "
                             "or on flat inputs)")
        spatial = shape[1:]
        taps = self._taps(len(spatial))
        if self.padding == "valid":
            if any(k > n for k, n in zip(taps, spatial)):
                raise ValueError(f"'valid' Conv with filter {taps} does not fit spatial shape "
                                 f"{spatial}; use a smaller filter or padding='same'")
            spatial = tuple(n - k + 1 for k, n in zip(taps, spatial))
        return (shape[0], *spatial)

    def infer(self, flow: Flow) -> Flow:
        return Flow(self.out_shape(flow.shape), (1, 0), gaussian=True, fresh=True)

    def kernel_step(self, st: State) -> State:
        taps = self._taps(len(st.spatial))
        w2, b2 = self.w_std ** 2, self.b_std ** 2

        def conv(t: torch.Tensor, n_lead: int) -> torch.Tensor:
            spatial = st.spatial
            for dim, k in enumerate(taps):
                t = _box(t, n_lead, spatial, st.full, dim, k, self.padding)
                if self.padding == "valid":
                    spatial = (*spatial[:dim], spatial[dim] - k + 1, *spatial[dim + 1:])
            return t

        # conv() returns fresh arrays, so the affine maps can work in place
        nngp = conv(st.nngp, 2).mul_(w2).add_(b2)
        ntk = None if st.ntk is None else conv(st.ntk, 2).mul_(w2).add_(nngp)
        var1 = conv(st.var1, 1).mul_(w2).add_(b2)
        var2 = var1 if st.var2 is st.var1 else conv(st.var2, 1).mul_(w2).add_(b2)
        spatial = tuple(n - k + 1 if self.padding == "valid" else n
                        for k, n in zip(taps, st.spatial))
        return st.replace(nngp=nngp, ntk=ntk, var1=var1, var2=var2, spatial=spatial)

    def supports(self, parameterization: str) -> bool:
        return True

    def module(self, shape, width, out, generator, dtype, device, parameterization="ntk"):
        n_out = width if out is None else out
        taps = self._taps(len(shape) - 1)
        mod = _ConvModule(shape[0], n_out, taps, self.padding, self.w_std, self.b_std,
                          generator, dtype, device, parameterization, out is not None)
        return mod, (n_out, *self.out_shape(shape)[1:])


class _ConvModule(_Parameterized):
    def __init__(self, c_in, c_out, taps, padding, w_std, b_std, generator, dtype, device,
                 parameterization="ntk", readout=False):
        super().__init__()
        self.taps, self.padding = taps, padding
        self._draw((c_out, c_in, *taps), c_in * math.prod(taps), c_out, w_std, b_std,
                   generator, dtype, device, parameterization, readout)

    def forward(self, x):
        if self.padding != "valid":
            pads: list[int] = []
            for k in reversed(self.taps):  # F.pad lists the last axis first
                lo = (k - 1) // 2
                pads += [lo, k - 1 - lo]
            x = F.pad(x, pads, mode="circular" if self.padding == "circular" else "constant")
        conv = F.conv1d if len(self.taps) == 1 else F.conv2d
        z = conv(x, self.weight) * self.scale
        if self.bias is not None:
            z = z + self.b_std * self.bias.reshape(-1, *([1] * len(self.taps)))
        return z

    # The affine-layer protocol read by occamlab.features (see _DenseModule).
    @property
    def affine_kind(self) -> str:
        return "conv1d" if len(self.taps) == 1 else "conv2d"

    @property
    def effective_weight(self) -> torch.Tensor:
        """``scale·weight``, (out, in, *taps): the filter applied to the padded input."""
        return self.weight * self.scale

    def extra_repr(self) -> str:
        return (f"{self.weight.shape[1]} → {self.weight.shape[0]}, taps={self.taps}, "
                f"padding={self.padding!r}, {self.parameterization} parameterization "
                f"({self.role}), scale={self.scale:.4g}, b_std={self.b_std:g}")


class Flatten(Layer):
    """Flatten (C, *spatial) to C·P features; the kernel becomes the mean of the same-position
    kernels (neural-tangents ``stax.Flatten``). A no-op on flat features."""

    reduces = "flatten"

    def __repr__(self) -> str:
        return "Flatten()"

    def out_shape(self, shape):
        return (math.prod(shape),)

    def infer(self, flow: Flow) -> Flow:
        p = math.prod(flow.shape[1:])
        a, b = flow.channels
        return flow.replace(shape=self.out_shape(flow.shape), channels=(a * p, b * p))

    def kernel_step(self, st: State) -> State:
        if not st.spatial:
            return st

        def mean(t: torch.Tensor) -> torch.Tensor:
            d = t.diagonal(dim1=-2, dim2=-1) if st.full else t
            return d.mean(-1, keepdim=True)

        var1 = mean(st.var1)
        return st.replace(nngp=mean(st.nngp), ntk=None if st.ntk is None else mean(st.ntk),
                          var1=var1, var2=var1 if st.var2 is st.var1 else mean(st.var2),
                          spatial=(), full=False)

    def module(self, shape, width, out, generator, dtype, device, parameterization="ntk"):
        return nn.Flatten(), self.out_shape(shape)


class GlobalAvgPool(Layer):
    """Mean over the spatial axes; the kernel becomes the mean over all pairs of positions
    (Arora et al. 2019, arXiv 1904.11955, §4; neural-tangents ``stax.GlobalAvgPool``). Needs the
    full position-by-position covariance upstream, which is where the memory goes (block with
    ``batch_size``)."""

    reduces = "pool"

    def __repr__(self) -> str:
        return "GlobalAvgPool()"

    def out_shape(self, shape):
        if len(shape) < 2:
            raise ValueError(f"GlobalAvgPool needs inputs with spatial axes, (N, C, W) or "
                             f"(N, C, H, W); got per-example shape {shape}")
        return (shape[0],)

    def kernel_step(self, st: State) -> State:
        def mean(t: torch.Tensor) -> torch.Tensor:
            return t.mean((-2, -1))[..., None]

        var1 = mean(st.var1)
        return st.replace(nngp=mean(st.nngp), ntk=None if st.ntk is None else mean(st.ntk),
                          var1=var1, var2=var1 if st.var2 is st.var1 else mean(st.var2),
                          spatial=(), full=False)

    def module(self, shape, width, out, generator, dtype, device, parameterization="ntk"):
        return _GAPModule(), (shape[0],)


class _GAPModule(nn.Module):
    def forward(self, x):
        return x.mean(tuple(range(2, x.ndim)))
